"""Elastic Beanstalk: applications with their versions staged nightly, environments created at failover.

Applications and application versions cost nothing: nightly, each version's source bundle is copied from the
source's S3 into the vault bucket on the recovery side, under a key made of the application, the version label
and the bundle's ETag as discovered; the recovery point (written before staging) therefore already names the
copy a failover deploys. The application and its versions are then created in the recovery region from those
copies. A drill uses the staged application as it is.

Environments run instances and load balancers: created at failover, on the same platform (a platform ARN moved
to the recovery region), tier and version label, with their option settings translated: the VPC, subnets and
security groups to the recovered ones (resource keys in the record), the instance profile by link, certificate
ARNs to the ACM handler's recovery certificates (linked) or the plan's certificate map, and every other value
(environment variables among them) through core.policy.translate, so that a protected bucket named in a
variable is the replica. Environment variable values may be secrets: they are never logged, and a warning
about one names the variable, never its value. Security groups Beanstalk made for the environment itself (its
CloudFormation stack's) are left to it: the new environment makes its own. A drill suffixes the environment
name and CNAME prefix (the prefix is global to the region); drill cleanup terminates the drills' environments
and waits until they are gone.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.aws import Side, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner, NotFailedBack, Preflight
from core.certificates import certificate_links, issued_recovery_certificate, unrecovered_certificates
from core.failback import COMPUTE_LEFT
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable
from core.models import Mode, Phase, Resource, resource_key
from core.ownership import copy_of, recovered_name
from core.plan import Plan
from core.policy import references, translate
from core.vault import Vault

NAME_LIMIT = 40  # environment names: 40 characters at most (CNAME prefixes: 63)
APPLICATION = "elasticbeanstalk:application"
ENVIRONMENT = "elasticbeanstalk:environment"
ENV_VARS = "aws:elasticbeanstalk:application:environment"
ID_LISTS = {("aws:ec2:vpc", "Subnets"): "ec2:subnet", ("aws:ec2:vpc", "ELBSubnets"): "ec2:subnet",
            ("aws:autoscaling:launchconfiguration", "SecurityGroups"): "ec2:security-group",
            ("aws:elbv2:loadbalancer", "SecurityGroups"): "ec2:security-group",
            ("aws:elbv2:loadbalancer", "ManagedSecurityGroup"): "ec2:security-group",
            ("aws:elb:loadbalancer", "SecurityGroups"): "ec2:security-group",
            ("aws:elb:loadbalancer", "ManagedSecurityGroup"): "ec2:security-group",
            ("aws:ec2:vpc", "VPCId"): "ec2:vpc"}
PROFILE = ("aws:autoscaling:launchconfiguration", "IamInstanceProfile")
CERTIFICATES = ("SSLCertificateArns", "SSLCertificateId")
SKIPPED_NAMESPACES = ("aws:cloudformation:template:parameter",)  # Beanstalk's own stack inputs: not settable
MANAGED_GROUP_TAGS = ("elasticbeanstalk:environment-id", "elasticbeanstalk:environment-name")


def _tags(client: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceArn=arn).get("ResourceTags", [])}


def _user_tags(resource: Resource, ctx: ApplyContext) -> list[dict[str, str]]:
    """drflow's tags, without the ones Beanstalk sets itself (elasticbeanstalk:*), which a caller may not."""
    return [t for t in ctx.tag_list(resource) if not t["Key"].startswith("elasticbeanstalk:")]


def bundle_key(plan_name: str, application: str, label: str, etag: str, key: str) -> str:
    """Where a version's source bundle is kept in the vault bucket (the ETag: a label reused for new content
    is a new copy)."""
    return f"beanstalk/{plan_name}/{application}/{label}/{etag.strip(chr(34))[:32]}/{key.rsplit('/', 1)[-1]}"


class ApplicationHandler(ClaimsArnKinds, Preflight):
    type: ClassVar[str] = APPLICATION
    phase: ClassVar[Phase] = Phase.COMPUTE
    arn_kinds: ClassVar[tuple[str, ...]] = ("elasticbeanstalk:application", "elasticbeanstalk:applicationversion")
    pilot_light: ClassVar[bool] = True  # an application and its versions are free
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        eb, s3 = source.client("elasticbeanstalk"), source.client("s3")
        out = []
        for app in eb.describe_applications()["Applications"]:
            name = app["ApplicationName"]
            versions, bundles = [], {}
            for v in paginate(eb, "describe_application_versions", "ApplicationVersions", ApplicationName=name):
                bundle = v.get("SourceBundle") or {}
                if not bundle.get("S3Bucket"):
                    continue  # built from CodeCommit or CodeBuild: no bundle to copy (see the report)
                versions.append({"label": v["VersionLabel"], "description": v.get("Description", ""),
                                 "bucket": bundle["S3Bucket"], "key": bundle["S3Key"]})
                etag = s3.head_object(Bucket=bundle["S3Bucket"], Key=bundle["S3Key"])["ETag"]
                bundles[v["VersionLabel"]] = bundle_key(plan.name, name, v["VersionLabel"], etag, bundle["S3Key"])
            out.append(Resource(type=APPLICATION, source_id=name, name=name, arn=app.get("ApplicationArn", ""),
                                tags=_tags(eb, app["ApplicationArn"]) if app.get("ApplicationArn") else {},
                                config={"description": app.get("Description", ""),
                                        "versions": sorted(versions, key=lambda v: v["label"])},
                                data={"bundles": bundles}))
        return out

    def _stage_bundles(self, resource: Resource, ctx: ApplyContext) -> int:
        """Copy each version's bundle into the vault bucket, once (streamed: another account's bucket is not
        readable with the recovery side's credentials, nor the vault with the source's)."""
        assert ctx.source is not None
        src, vault = ctx.source.client("s3"), ctx.recovery.client("s3")
        copied = 0
        for v in resource.config["versions"]:
            key = resource.data["bundles"][v["label"]]
            if vault.list_objects_v2(Bucket=ctx.plan.vault_bucket, Prefix=key, MaxKeys=1).get("KeyCount"):
                continue
            body = src.get_object(Bucket=v["bucket"], Key=v["key"])["Body"]
            vault.upload_fileobj(body, ctx.plan.vault_bucket, key)
            copied += 1
        return copied

    def _prune(self, ctx: ApplyContext) -> list[str]:
        """Delete the bundle copies that no recovery point the vault keeps names (this night's is written before
        staging; older ones are pruned after it). Once per run, by whichever application is staged."""
        def prune() -> list[str]:
            vault = Vault(ctx.recovery, ctx.plan.vault_bucket, ctx.plan.name)
            wanted = {key for point_id in vault.retained(ctx.plan.vault.keep) for r in vault.load(point_id).resources
                      if r.type == APPLICATION for key in r.data.get("bundles", {}).values()}
            if not wanted:
                return []  # no point names a bundle: nothing is pruned on a vault that could not be read
            s3, bucket, prefix = ctx.recovery.client("s3"), ctx.plan.vault_bucket, f"beanstalk/{ctx.plan.name}/"
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}  # every version: the vault is versioned
                      for kind in ("Versions", "DeleteMarkers")
                      for v in paginate(s3, "list_object_versions", kind, Bucket=bucket, Prefix=prefix)
                      if v["Key"] not in wanted]
            for start in range(0, len(doomed), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start:start + 1000], "Quiet": True})
            return sorted({d["Key"] for d in doomed})
        return ctx.shared.once("beanstalk-bundle-prune", prune)

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Before a failover: every version's bundle copy is in the vault (a version whose copy is missing
        cannot be created, and an environment running it cannot start)."""
        if ctx.staging:
            return []
        vault = ctx.recovery.client("s3")
        return [(f"beanstalk.{r.name}", f"version {v['label']}: no copy of its source bundle in "
                 f"s3://{ctx.plan.vault_bucket}/{r.data['bundles'][v['label']]} (the nightly copy has not run or failed)")
                for r in resources for v in r.config["versions"]
                if not vault.list_objects_v2(Bucket=ctx.plan.vault_bucket, Prefix=r.data["bundles"][v["label"]],
                                             MaxKeys=1).get("KeyCount")]

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        apps = ctx.recovery.client("elasticbeanstalk").describe_applications(
            ApplicationNames=[resource.name])["Applications"]
        return apps[0]["ApplicationName"] if apps else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        eb = ctx.recovery.client("elasticbeanstalk")
        copied = self._stage_bundles(resource, ctx) if ctx.staging else 0
        pruned = self._prune(ctx) if ctx.staging else []
        apps = eb.describe_applications(ApplicationNames=[resource.name])["Applications"]
        if apps:
            tags = _tags(eb, apps[0]["ApplicationArn"])
            if not copy_of(tags, resource, ctx):
                raise Unrecoverable(f"Beanstalk application {resource.name} exists in {ctx.recovery.region} but was "
                                    "not made by drflow for this plan; rename or remove it")
        if ctx.mode == Mode.DRILL:  # a drill deploys the staged application's versions, and changes nothing in it
            if not apps:
                raise Unrecoverable(f"Beanstalk application {resource.name} was not staged in {ctx.recovery.region}")
            return Applied(resource.name)
        created = not apps
        if created:
            eb.create_application(ApplicationName=resource.name, Description=resource.config["description"],
                                  Tags=_user_tags(resource, ctx))
        have = {v["VersionLabel"] for v in paginate(eb, "describe_application_versions", "ApplicationVersions",
                                                    ApplicationName=resource.name)}
        made = []
        for v in resource.config["versions"]:
            if v["label"] in have:
                continue
            eb.create_application_version(
                ApplicationName=resource.name, VersionLabel=v["label"], Description=v["description"],
                SourceBundle={"S3Bucket": ctx.plan.vault_bucket, "S3Key": resource.data["bundles"][v["label"]]},
                Process=True)
            made.append(v["label"])
        return Applied(resource.name, created=created, changed=bool(made or copied) and not created,
                       details={"versions_created": made, "bundles_copied": copied,
                                **({"bundles_pruned": len(pruned)} if pruned else {})})


class EnvironmentHandler(ClaimsArnKinds, Preflight, Cleaner, NotFailedBack, Audited):
    type: ClassVar[str] = ENVIRONMENT
    phase: ClassVar[Phase] = Phase.COMPUTE
    arn_kinds: ClassVar[tuple[str, ...]] = ("elasticbeanstalk:environment",)
    pilot_light: ClassVar[bool] = False  # an environment runs instances and a load balancer
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    not_failed_back: ClassVar[str] = COMPUTE_LEFT  # failback leaves it: the primary's own copy serves

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        eb = source.client("elasticbeanstalk")
        out = []
        for env in paginate(eb, "describe_environments", "Environments", IncludeDeleted=False):
            if env.get("Status") in ("Terminating", "Terminated"):
                continue
            settings = eb.describe_configuration_settings(ApplicationName=env["ApplicationName"],
                                                          EnvironmentName=env["EnvironmentName"])[
                "ConfigurationSettings"][0]["OptionSettings"]
            managed = self._managed_groups(source, settings)
            options, deps, links, refs = [], set(), [f"{APPLICATION}:{env['ApplicationName']}"], set()
            for o in settings:
                namespace, name, value = o["Namespace"], o["OptionName"], o.get("Value")
                if value in (None, "") or namespace in SKIPPED_NAMESPACES:
                    continue
                kind = ID_LISTS.get((namespace, name))
                if kind:
                    items = [resource_key(kind, i) for i in value.split(",") if i and i not in managed]
                    deps.update(items)
                    value = items
                elif (namespace, name) == PROFILE:
                    links.append(f"iam:instance-profile:{value.rsplit('/', 1)[-1]}")
                elif namespace == ENV_VARS:
                    refs.update(references(value))
                elif name == "ServiceRole":
                    refs.add(f"iam:role:{value.rsplit('/', 1)[-1]}")
                elif name in CERTIFICATES:
                    links += certificate_links(plan, value.split(","))
                entry = {"Namespace": namespace, "OptionName": name, "Value": value}
                if o.get("ResourceName"):
                    entry["ResourceName"] = o["ResourceName"]
                options.append(entry)
            tier = env.get("Tier") or {}
            out.append(Resource(
                type=ENVIRONMENT, source_id=env["EnvironmentId"], name=env["EnvironmentName"],
                arn=env.get("EnvironmentArn", ""), tags=_tags(eb, env["EnvironmentArn"]),
                config={"application": env["ApplicationName"], "name": env["EnvironmentName"],
                        "vpc": next((o["Value"][0] for o in options if (o["Namespace"], o["OptionName"]) ==
                                     ("aws:ec2:vpc", "VPCId") and o["Value"]), None),
                        "solution_stack": env.get("SolutionStackName"), "platform_arn": env.get("PlatformArn"),
                        "tier": {k: tier[k] for k in ("Name", "Type", "Version") if tier.get(k)},
                        "version_label": env.get("VersionLabel"), "description": env.get("Description", ""),
                        "cname_prefix": env["CNAME"].split(".", 1)[0] if env.get("CNAME") and
                        tier.get("Name") != "Worker" else None,
                        "options": sorted(options, key=lambda o: (o["Namespace"], o["OptionName"]))},
                links=links, refs=sorted(refs), dependencies=sorted(deps)))
        return out

    @staticmethod
    def _managed_groups(source: Side, settings: list[dict[str, Any]]) -> set[str]:
        """The security groups in the settings that Beanstalk made for the environment (its stack's)."""
        ids = sorted({i for o in settings if ID_LISTS.get((o["Namespace"], o["OptionName"])) == "ec2:security-group"
                      for i in (o.get("Value") or "").split(",") if i.startswith("sg-")})
        if not ids:
            return set()
        groups = source.client("ec2").describe_security_groups(GroupIds=ids)["SecurityGroups"]
        return {g["GroupId"] for g in groups if any(t["Key"] in MANAGED_GROUP_TAGS for t in g.get("Tags", []))}

    def _options(self, resource: Resource, ctx: ApplyContext) -> tuple[list[dict[str, Any]], list[str]]:
        """The option settings for the recovery side, and warnings that never quote an environment variable."""
        out, warnings = [], []
        translation = ctx.translation(resource)
        for o in resource.config["options"]:
            entry, where = dict(o), f"{o['Namespace']} {o['OptionName']}"
            value = o["Value"]
            if isinstance(value, list):
                entry["Value"] = ",".join(ctx.ref(k) or "" for k in value)
            elif (o["Namespace"], o["OptionName"]) == PROFILE:
                entry["Value"] = ctx.linked(f"iam:instance-profile:{value.rsplit('/', 1)[-1]}").recovered_id or value
            elif o["OptionName"] in CERTIFICATES:
                entry["Value"] = ",".join(issued_recovery_certificate(ctx, a, f"environment {resource.name} {where}")
                                          for a in value.split(","))
            else:
                translated = translate(value, translation)
                entry["Value"] = translated.document
                if translated.warnings:
                    warnings.append(f"{where}: value kept as it is: it names something drflow did not recover" if
                                    o["Namespace"] == ENV_VARS else f"{where}: " + "; ".join(translated.warnings))
            out.append(entry)
        return out, warnings

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        if ctx.staging:
            return []
        problems = [(f"beanstalk.{r.name}", f"{o['Namespace']} {o['OptionName']} uses {a}, which has no mapping to a "
                     f"certificate in {ctx.plan.recovery.region} and which drflow does not recover (not found in ACM "
                     f"in {ctx.plan.source.region})") for r in resources for o in r.config["options"]
                    if o["OptionName"] in CERTIFICATES for a in unrecovered_certificates(r, o["Value"].split(","),
                                                                                         ctx.plan)]
        eb = ctx.recovery.client("elasticbeanstalk")
        for r in resources:
            prefix = r.config["cname_prefix"]
            if prefix and not self._find(r, ctx) and not eb.check_dns_availability(
                    CNAMEPrefix=recovered_name(prefix, ctx, 63))["Available"]:
                problems.append((f"beanstalk.{r.name}", f"CNAME prefix {prefix} is taken in {ctx.plan.recovery.region}"))
        return problems

    def _find(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        eb = ctx.recovery.client("elasticbeanstalk")
        name = recovered_name(resource.name, ctx, NAME_LIMIT)
        envs = [e for e in eb.describe_environments(ApplicationName=resource.config["application"],
                                                    EnvironmentNames=[name], IncludeDeleted=False)["Environments"]
                if e.get("Status") not in ("Terminating", "Terminated")]
        if not envs:
            return None
        tags = _tags(eb, envs[0]["EnvironmentArn"])
        if not copy_of(tags, resource, ctx):
            raise Unrecoverable(f"Beanstalk environment {name} exists in {ctx.recovery.region} but was not made by "
                                "drflow for this plan; rename or remove it")
        return envs[0]

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        env = self._find(resource, ctx)
        return env["EnvironmentId"] if env else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        eb = ctx.recovery.client("elasticbeanstalk")
        cfg = resource.config
        env = self._find(resource, ctx)
        options, warnings = self._options(resource, ctx)
        created = env is None
        if created:
            kwargs: dict[str, Any] = {
                "ApplicationName": ctx.linked(f"{APPLICATION}:{cfg['application']}").recovered_id,
                "EnvironmentName": recovered_name(resource.name, ctx, NAME_LIMIT), "Description": cfg["description"],
                "Tier": cfg["tier"], "OptionSettings": options, "Tags": _user_tags(resource, ctx)}
            if cfg["version_label"]:
                kwargs["VersionLabel"] = cfg["version_label"]
            if cfg["platform_arn"]:
                kwargs["PlatformArn"] = translate(cfg["platform_arn"], ctx.translation(resource)).document
            else:
                kwargs["SolutionStackName"] = cfg["solution_stack"]
            if cfg["cname_prefix"]:
                kwargs["CNAMEPrefix"] = recovered_name(cfg["cname_prefix"], ctx, 63)
            env = eb.create_environment(**kwargs)
        eb.get_waiter("environment_exists").wait(ApplicationName=cfg["application"],
                                                 EnvironmentIds=[env["EnvironmentId"]],
                                                 WaiterConfig={"Delay": 20, "MaxAttempts": 90})
        return Applied(env["EnvironmentId"], created=created,
                       warnings=warnings, details={"cname": env.get("CNAME"), "name": env["EnvironmentName"]})

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        """The recovered environment's option settings as Beanstalk answers them now (environment variables
        included: core.audit reports a finding's path and token, never the value it scanned)."""
        eb = ctx.recovery.client("elasticbeanstalk")
        envs = eb.describe_environments(EnvironmentIds=[recovered_id], IncludeDeleted=False)["Environments"]
        if not envs:
            return {}
        [settings] = eb.describe_configuration_settings(ApplicationName=envs[0]["ApplicationName"],
                                                        EnvironmentName=envs[0]["EnvironmentName"])[
            "ConfigurationSettings"]
        return {"OptionSettings": {f"{o['Namespace']} {o['OptionName']}": o["Value"]
                                   for o in settings.get("OptionSettings", [])
                                   if o.get("Value") not in (None, "") and o["Namespace"] not in SKIPPED_NAMESPACES}}

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """Terminate the drills' environments (with their instances and load balancers), and wait until they are:
        their instances hold the drill's subnets and security groups."""
        eb = ctx.recovery.client("elasticbeanstalk")
        envs = [e for e in paginate(eb, "describe_environments", "Environments", IncludeDeleted=False)
                if e.get("Status") not in ("Terminating", "Terminated") and ctx.matches(_tags(eb, e["EnvironmentArn"]))]
        for env in envs:
            eb.terminate_environment(EnvironmentId=env["EnvironmentId"], TerminateResources=True)
        if envs:
            eb.get_waiter("environment_terminated").wait(EnvironmentIds=[e["EnvironmentId"] for e in envs],
                                                         WaiterConfig={"Delay": 20, "MaxAttempts": 90})
        return sorted(f"{e['EnvironmentId']} ({e['EnvironmentName']})" for e in envs)
