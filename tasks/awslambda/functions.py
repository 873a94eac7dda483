"""Lambda functions: code copied into the vault nightly, the function recreated from it at failover.

Nightly (stage): the zip of each function version and of each layer version it uses is copied into the vault
(tasks/awslambda/vault.py); nothing else is made on the recovery side. A container-image function's image travels
with its ECR repository (tasks/ecr/repositories.py), which it names by link.

Failover: the function is created from the vault copy with its configuration translated: the role (the
production role in the same account, the recovered one across accounts), VPC config on the recovered subnets and
security groups, environment values that name a protected resource (a bucket's replica...) renamed through the
identity map (values may be secrets: warnings name the variable, never its value), layers published from the
vault, reserved concurrency, versions published in order and aliases pointing at them. An event source mapping
is recreated only when its source is recovered by the same plan; otherwise a warning names it. A drill makes a
suffixed, tagged copy (its event source mappings disabled), which `cleanup` removes.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.aws import Side, error_code, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner, NotFailedBack, Preflight
from core.failback import COMPUTE_LEFT
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable, delete_quietly
from core.images import repository_link, rewritten, source_repository
from core.models import Phase, Resource, resource_key
from core.ownership import in_scope, owned, recovered_name
from core.plan import Plan
from core.policy import references, translate

from .vault import function_code_key, missing_code, prune_code, publish_layer, stage_function_code
from .versions import (aliases, event_sources, latest_code, recover_aliases, recover_event_sources, recover_versions,
                       versions)

NAME_LIMIT = 64  # function names: 64 characters at most
FUNCTION = "lambda:function"
BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SETTINGS = ("Runtime", "Handler", "Description", "Timeout", "MemorySize", "Architectures", "EphemeralStorage",
            "TracingConfig")


def _layer(lam: Any, arn: str, account: str, cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
    *_, owner, _, name, version = arn.split(":")
    if owner != account:  # a public or another account's layer: named as it is (region translated)
        return {"arn": arn, "name": name, "version": version, "foreign": True}
    if arn not in cache:
        lv = lam.get_layer_version(LayerName=name, VersionNumber=int(version))
        cache[arn] = {"arn": arn, "name": name, "version": version, "code_sha256": lv["Content"]["CodeSha256"],
                      "description": lv.get("Description", ""), **{f: lv[f] for f in (
                          "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo") if lv.get(f)}}
    return cache[arn]


def _settings(conf: dict[str, Any]) -> dict[str, Any]:
    """What create_function takes back as it is (GetFunction answers an image's settings in ImageConfigResponse)."""
    out = {k: conf[k] for k in SETTINGS if conf.get(k) not in (None, "", [], {})}
    image_config = (conf.get("ImageConfigResponse") or {}).get("ImageConfig")
    if image_config:
        out["ImageConfig"] = image_config
    return out


def _env_refs(env: dict[str, str]) -> list[str]:
    """Values that may name a bucket (or ARNs of protected resources): refs, so that a protected bucket orders
    before the function and the translation learns its replica's name. A value that names nothing protected
    resolves to nothing."""
    refs = {f"s3:{v}" for v in env.values() if BUCKET_NAME_RE.match(v) and "." not in v[:1]}
    return sorted(refs | set(references(env)))


class FunctionHandler(ClaimsArnKinds, Preflight, Cleaner, NotFailedBack, Audited):
    type: ClassVar[str] = FUNCTION
    phase: ClassVar[Phase] = Phase.COMPUTE
    pilot_light: ClassVar[bool] = True  # the code is copied nightly; the function itself is made at failover
    arn_kinds: ClassVar[tuple[str, ...]] = ("lambda:function",)
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 2  # 2: endpoints in the environment translated (core/references.py)
    not_failed_back: ClassVar[str] = COMPUTE_LEFT  # failback leaves it: the primary's own copy serves

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        """The functions that carry the plan's scope tags (nothing links to a function, so the others are never
        pulled into scope: their code, versions and triggers are not read)."""
        if plan.scope.resource_types and FUNCTION not in plan.scope.resource_types:
            return []
        lam = source.client("lambda")
        layer_cache: dict[str, dict[str, Any]] = {}
        out = []
        for listed in paginate(lam, "list_functions", "Functions"):
            name = listed["FunctionName"]
            tags = lam.list_tags(Resource=listed["FunctionArn"]).get("Tags") or {}
            if not in_scope(tags, plan.scope.tags):
                continue
            got = lam.get_function(FunctionName=name)
            conf = got["Configuration"]
            env = (conf.get("Environment") or {}).get("Variables") or {}
            vpc = conf.get("VpcConfig") or {}
            subnets = sorted(resource_key("ec2:subnet", s) for s in vpc.get("SubnetIds", []))
            groups = sorted(resource_key("ec2:security-group", g) for g in vpc.get("SecurityGroupIds", []))
            role_name = conf["Role"].rsplit("/", 1)[-1]
            links = [f"iam:role:{role_name}"]
            image = None
            if conf.get("PackageType") == "Image":
                image = got["Code"]["ImageUri"]
                repository = source_repository(image, plan.source.account_id, plan.source.region)
                if repository:
                    links.append(repository_link(repository))
            sources = event_sources(lam, name)
            out.append(Resource(
                type=FUNCTION, source_id=name, name=name, arn=conf["FunctionArn"], tags=got.get("Tags") or {},
                config={"package_type": conf.get("PackageType", "Zip"), "code_sha256": conf["CodeSha256"],
                        "image": image, "role": conf["Role"], "role_link": links[0],
                        "settings": _settings(conf),
                        "environment": env, "kms_key_arn": conf.get("KMSKeyArn"),
                        "dead_letter": (conf.get("DeadLetterConfig") or {}).get("TargetArn"),
                        "vpc_config": {"subnets": subnets, "security_groups": groups} if subnets else None,
                        "layers": [_layer(lam, layer["Arn"], plan.source.account_id, layer_cache)
                                   for layer in conf.get("Layers", [])],
                        "reserved_concurrency": (got.get("Concurrency") or {}).get("ReservedConcurrentExecutions"),
                        "versions": versions(lam, name), "aliases": aliases(lam, name), "event_sources": sources},
                dependencies=sorted({*subnets, *groups}), links=links,
                refs=sorted(set(_env_refs(env)) | {s["ref"] for s in sources})))
        return out

    # ---- on the recovery side --------------------------------------------------------------------------

    @staticmethod
    def _function(lam: Any, name: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        try:
            got = lam.get_function(FunctionName=name)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        return got["Configuration"], got.get("Tags") or {}

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._function(ctx.recovery.client("lambda"), recovered_name(resource.source_id, ctx, NAME_LIMIT))
        return found[0]["FunctionArn"] if found and owned(found[1], resource, ctx) else None

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        """The recovered function's documents as Lambda answers now: environment, role, dead-letter target, layers,
        network (for the reference audit; read-only)."""
        config = ctx.recovery.client("lambda").get_function_configuration(FunctionName=recovered_id)
        return {k: config[k] for k in ("Environment", "Role", "DeadLetterConfig", "Layers", "VpcConfig",
                                       "KMSKeyArn", "FileSystemConfigs") if config.get(k)}

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Failover: the vault holds every code the functions need, and no function of the (drill) name exists
        that drflow did not make. Reads only, recovery side only."""
        if ctx.staging:
            return []
        lam, problems = ctx.recovery.client("lambda"), []
        for resource in resources:
            where = f"{FUNCTION} {resource.source_id}"
            missing = missing_code(resource, ctx)
            if missing:
                problems.append((where, f"{len(missing)} code package(s) missing from the vault "
                                 f"s3://{ctx.plan.vault_bucket} (e.g. {missing[0]}): nightly replication never "
                                 "copied them"))
            name = recovered_name(resource.source_id, ctx, NAME_LIMIT)
            found = self._function(lam, name)
            if found and not owned(found[1], resource, ctx):
                problems.append((where, f"function {name} already exists in {ctx.recovery.region} and is not "
                                 "drflow's copy for this plan; rename or remove it"))
        return problems

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if ctx.staging:
            done = stage_function_code(resource, ctx)
            pruned = prune_code(ctx, FUNCTION)
            return Applied(None, changed=bool(done["copied"]), details={
                "vault": done, **({"code_pruned": len(pruned)} if pruned else {})})
        return self._recover(resource, ctx)

    def _recover(self, resource: Resource, ctx: ApplyContext) -> Applied:
        cfg, warnings = resource.config, []
        lam = ctx.recovery.client("lambda")
        name = recovered_name(resource.source_id, ctx, NAME_LIMIT)
        found = self._function(lam, name)
        if found and not owned(found[1], resource, ctx):
            raise Unrecoverable(f"function {name} exists in {ctx.recovery.region} and is not drflow's copy")
        layers, published = [], 0
        for layer in cfg["layers"]:
            if layer.get("foreign"):
                arn = translate(layer["arn"], ctx.translation(resource)).document
                warnings.append(f"layer {layer['arn']} belongs to another account: {arn} is used as it is")
                layers.append(arn)
            else:
                arn, made = publish_layer(lam, layer, ctx)
                layers.append(arn)
                published += made
        wanted = self._configuration(resource, ctx, layers, warnings)
        image = self._image(resource, ctx) if cfg["package_type"] == "Image" else None
        writes: list[str] = []
        if found is None:
            code = ({"ImageUri": image} if image else
                    {"S3Bucket": ctx.plan.vault_bucket, "S3Key": function_code_key(ctx.plan.name, resource, cfg["code_sha256"])})
            lam.create_function(FunctionName=name, Code=code, PackageType=cfg["package_type"], Publish=False,
                                Tags=ctx.tags(resource), **wanted)
            lam.get_waiter("function_active_v2").wait(FunctionName=name)
            writes.append("create_function")
        elif self._drifted(found[0], wanted):
            lam.update_function_configuration(FunctionName=name, **wanted)
            lam.get_waiter("function_updated_v2").wait(FunctionName=name)
            writes.append("update_function_configuration")
        mapping, made = recover_versions(lam, name, resource, ctx)
        writes += made + latest_code(lam, name, resource, ctx, image)
        writes += self._concurrency(lam, name, cfg["reserved_concurrency"])
        writes += recover_aliases(lam, name, cfg["aliases"], mapping, warnings)
        writes += recover_event_sources(lam, name, resource, ctx, warnings)
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        return Applied(arn, created=found is None, changed=bool(writes) and found is not None, warnings=warnings,
                       details={"name": name, "versions": mapping, "layers_published": published, "writes": writes})

    @staticmethod
    def _image(resource: Resource, ctx: ApplyContext) -> str:
        image = resource.config["image"]
        repository = source_repository(image, ctx.plan.source.account_id, ctx.plan.source.region)
        if repository is None:
            return image  # a public image or another registry's: used as it is
        return rewritten(image, ctx.linked(repository_link(repository)).recovered_id)

    def _configuration(self, resource: Resource, ctx: ApplyContext, layers: list[str],
                       warnings: list[str]) -> dict[str, Any]:
        cfg = resource.config
        wanted: dict[str, Any] = dict(cfg["settings"])
        if cfg["package_type"] == "Image":
            wanted.pop("Runtime", None)
            wanted.pop("Handler", None)
        wanted["Role"] = ctx.linked(cfg["role_link"]).recovered_id
        wanted["Layers"] = layers
        wanted["Environment"] = {"Variables": self._environment(resource, ctx, warnings)}
        wanted["VpcConfig"] = ({"SubnetIds": [ctx.ref(s) for s in cfg["vpc_config"]["subnets"]],
                                "SecurityGroupIds": [ctx.ref(g) for g in cfg["vpc_config"]["security_groups"]]}
                               if cfg["vpc_config"] else {"SubnetIds": [], "SecurityGroupIds": []})
        if cfg["dead_letter"]:
            target = translate(cfg["dead_letter"], ctx.translation(resource))
            wanted["DeadLetterConfig"] = {"TargetArn": target.document}
            warnings += [f"dead-letter target: {w}" for w in target.warnings]
        if cfg["kms_key_arn"]:
            warnings.append(f"the environment was encrypted with {cfg['kms_key_arn']}: the recovered function uses "
                            "Lambda's default key")
        return wanted

    @staticmethod
    def _environment(resource: Resource, ctx: ApplyContext, warnings: list[str]) -> dict[str, str]:
        """Values renamed through the identity map (IAM names kept); warnings name the variable, never its value
        (a value may be a secret)."""
        env = resource.config["environment"]
        if not env:
            return {}
        out = translate(env, ctx.translation(resource, skip_type="iam:"))
        for warning in out.warnings:
            variable = warning.split(":", 1)[0].removeprefix("$.")
            warnings.append(f"environment variable {variable} kept as it was: it names an account, network id or "
                            "resource drflow did not recover (value not shown)")
        return out.document

    @staticmethod
    def _drifted(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
        for key, value in wanted.items():
            have = current.get(key)
            if key == "Layers":
                have = [layer["Arn"] for layer in have or []]
            elif key == "Environment":
                have = {"Variables": (have or {}).get("Variables") or {}}
            elif key == "VpcConfig":
                have = {"SubnetIds": sorted((have or {}).get("SubnetIds") or []),
                        "SecurityGroupIds": sorted((have or {}).get("SecurityGroupIds") or [])}
                value = {k: sorted(v) for k, v in value.items()}
            elif key == "ImageConfig":
                have = (current.get("ImageConfigResponse") or {}).get("ImageConfig")
            if have != value:
                return True
        return False

    @staticmethod
    def _concurrency(lam: Any, name: str, reserved: int | None) -> list[str]:
        have = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        if have == reserved:
            return []
        if reserved is None:
            lam.delete_function_concurrency(FunctionName=name)
            return ["delete_function_concurrency"]
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
        return ["put_function_concurrency"]

    # ---- drills ----------------------------------------------------------------------------------------

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' functions (found by their tags), their event source mappings first."""
        lam = ctx.recovery.client("lambda")
        removed = []
        for fn in paginate(lam, "list_functions", "Functions"):
            tags = lam.list_tags(Resource=fn["FunctionArn"]).get("Tags") or {}
            if not ctx.matches(tags):
                continue
            for mapping in paginate(lam, "list_event_source_mappings", "EventSourceMappings",
                                    FunctionName=fn["FunctionName"]):
                delete_quietly(lam.delete_event_source_mapping, UUID=mapping["UUID"])
            if delete_quietly(lam.delete_function, FunctionName=fn["FunctionName"]):
                removed.append(fn["FunctionName"])
        return removed
