"""EC2 servers, recovered through AWS Elastic Disaster Recovery (DRS).

DRS replicates each server's disks and launches it from an EC2 launch template that it keeps per
source server. drflow keeps those templates right every night (the recovered subnet, private IP,
security groups, instance profile, instance type, volumes, tags), and at failover launches each
server once its network and the servers it depends on are up, then waits until it is up itself.

Servers without the replication agent (tag `drs-agent=installed`) are protected by nightly images
instead (tasks/servers/images.py) and launched from them with the same settings.

Before a failover writes anything, every server's private IP is checked against what already runs
in its recovered subnet, so that an address in use is reported up front, not by a failed launch.
"""

from __future__ import annotations

import socket
import time
from datetime import datetime, timezone
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.amis import share_problems
from core.artifacts import console_host
from core.aws import Retryable, Side, error_code, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, ConsoleLink, FailsBack, Preflight
from core.ec2_index import name_of
from core.failback import FailbackContext, FailbackPhase, Step
from core.keys import KeyCatalog
from core.handler import (TAG_PLAN, TAG_SOURCE_ID, Applied, ApplyContext, CleanupContext, ScopeError, Unrecoverable,
                          delete_quietly, tags_of)
from core.models import Mode, Outcome, Phase, Resource, resource_key
from core.ownership import of_plan, same_run_kind
from core.plan import OTHER_DEPENDENCY_RE, Plan, Server
from core.preflight import Quota, account_attribute, applied_quota, to_create

from . import failback, failback_imaged, sources
from .images import (CAPTURE_FORMAT, find_launched, image_problem, launch_from_image, recent_captures,
                     stage_image)
from .launch import LaunchBatcher, drill_launching, in_flight_job, launch_running
from .templates import (DrillLaunch, borrow, give_back, remove_drill_versions, settle_launch_configuration,
                        sync_production, template_of)

SERVER = "ec2:instance"
# Service Quotas: Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances' vCPUs, and the EC2 account
# attribute that counts instances where the quota has no value
VCPU_QUOTA: Quota = ("ec2", "L-1216C47A", "max-instances")
STANDARD_FAMILIES = tuple("acdhimrtz")
DEPENDS_TAG = "drflow:depends-on"
AGENT_TAG = "drs-agent"
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
ALIVE_DRS_STATES = ("PENDING", "RUNNING")  # a recovery instance's ec2InstanceState that an earlier launch may be in
GROUP_TAG = "aws:autoscaling:groupName"  # AWS's tag on every instance an Auto Scaling group launched
DRS_TERMINATE_BATCH = 200  # terminate_recovery_instances takes at most 200 ids
TERMINATE_POLL = {"first": 2.0, "cap": 15.0, "attempts": 120}
CROSS_ACCOUNT_DRS = ("cross-account: DRS replicates this server in the recovery account, so its reverse replication "
                     "would launch it in that account; failing back into the source account needs DRS extended "
                     "source servers there (CreateExtendedSourceServer), which drflow does not automate yet: do it in "
                     "the source account's DRS console")


def _profile_name(instance: dict[str, Any]) -> str | None:
    arn = instance.get("IamInstanceProfile", {}).get("Arn")
    return arn.rsplit("/", 1)[-1] if arn else None


def _volumes(instance: dict[str, Any], volumes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for mapping in instance.get("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs") or {}
        volume = volumes.get(ebs.get("VolumeId", ""), {})
        entry = {"device": mapping["DeviceName"], "type": volume.get("VolumeType", "gp3"),
                 "size": volume.get("Size", 8), "encrypted": bool(volume.get("Encrypted")),
                 "delete_on_termination": bool(ebs.get("DeleteOnTermination", True))}
        for field, key in (("Iops", "iops"), ("Throughput", "throughput")):
            if volume.get(field) and entry["type"] in ("io1", "io2", "gp3"):
                entry[key] = volume[field]
        out.append(entry)
    return sorted(out, key=lambda v: v["device"])


def _volume_keys(instance: dict[str, Any], volumes: dict[str, dict[str, Any]], keys: KeyCatalog
                 ) -> dict[str, dict[str, Any]]:
    """The keys encrypting the instance's EBS volumes, by ARN (DescribeVolumes, Volume.KmsKeyId)."""
    ids = [(m.get("Ebs") or {}).get("VolumeId", "") for m in instance.get("BlockDeviceMappings", [])]
    arns = sorted({volumes[i]["KmsKeyId"] for i in ids if volumes.get(i, {}).get("Encrypted") and
                   volumes[i].get("KmsKeyId")})
    return {arn: keys.describe(arn) for arn in arns}


def _server_names(instances: list[dict[str, Any]]) -> dict[str, str]:
    """Name tag or instance id -> instance id; a Name used twice is ambiguous and left out."""
    names: dict[str, str] = {}
    seen: dict[str, int] = {}
    for inst in instances:
        name = name_of(inst)
        if name:
            seen[name] = seen.get(name, 0) + 1
            names[name] = inst["InstanceId"]
    names = {n: i for n, i in names.items() if seen[n] == 1}
    names.update({i["InstanceId"]: i["InstanceId"] for i in instances})
    return names


def _spec(plan: Plan, instance: dict[str, Any]) -> Server:
    """The plan's entry for a server (by Name tag, or by instance id); an empty one when it has none."""
    return plan.servers.get(name_of(instance)) or plan.servers.get(instance["InstanceId"]) or Server()


def server_dependencies(instances: list[dict[str, Any]], plan: Plan) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Instance id -> the instance ids it depends on, from the plan and from the `drflow:depends-on` tag;
    and instance id -> the data resources it depends on ("rds:orders"), left to core.scope.link.

    Every name that matches no server (or two) is reported at once, naming where it came from.
    """
    names = _server_names(instances)
    problems: list[tuple[str, str]] = []
    for name in plan.servers:
        if name not in names:
            problems.append((f"servers.{name}", f"no single instance in {plan.source.region} has this Name tag or id"))
    out: dict[str, list[str]] = {}
    links: dict[str, list[str]] = {}
    for inst in instances:
        own = name_of(inst) or inst["InstanceId"]
        declared = [(f"servers.{own}.depends_on", d) for d in _spec(plan, inst).depends_on]
        tag = tags_of(inst).get(DEPENDS_TAG, "")
        declared += [(f"tag {DEPENDS_TAG} of {inst['InstanceId']}", d.strip()) for d in tag.split(",") if d.strip()]
        deps = []
        for where, dep in declared:
            if dep not in names and OTHER_DEPENDENCY_RE.match(dep):
                links.setdefault(inst["InstanceId"], []).append(dep)
                continue
            if dep not in names:
                problems.append((where, f"unknown server {dep!r} (no single instance with this Name tag or id)"))
            elif names[dep] != inst["InstanceId"]:
                deps.append(names[dep])
        out[inst["InstanceId"]] = sorted(set(deps))
    if problems:
        raise ScopeError(problems)
    return out, {i: sorted(set(refs)) for i, refs in links.items()}


def _profile_link(instance: dict[str, Any]) -> list[str]:
    """The instance profile the server launches with: recovered (cross-account) before the server."""
    name = _profile_name(instance)
    return [f"iam:instance-profile:{name}"] if name else []


def template_data(resource: Resource, ctx: ApplyContext, devices: dict[str, str] | None = None) -> dict[str, Any]:
    """The launch template a recovered server starts from, with the recovered ids of its dependencies. `devices`:
    a volume's device name in the template by its EC2 one (DRS's disk names, tasks/servers/sources.py)."""
    cfg = resource.config
    interface = {"DeviceIndex": 0, "SubnetId": ctx.ref(cfg["subnet"]), "PrivateIpAddress": ctx.net.ip(cfg["private_ip"]),
                 "Groups": sorted(ctx.ref(g) for g in cfg["security_groups"]), "DeleteOnTermination": True}
    volumes = []
    for v in cfg["volumes"]:
        ebs = {"VolumeSize": v["size"], "VolumeType": v["type"], "Encrypted": v["encrypted"],
               "DeleteOnTermination": v["delete_on_termination"]}
        ebs.update({k: v[key] for k, key in (("Iops", "iops"), ("Throughput", "throughput")) if key in v})
        volumes.append({"DeviceName": (devices or {}).get(v["device"], v["device"]), "Ebs": ebs})
    tags = ctx.tag_list(resource)
    data: dict[str, Any] = {"InstanceType": cfg["instance_type"], "NetworkInterfaces": [interface],
                            "BlockDeviceMappings": volumes,
                            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags},
                                                  {"ResourceType": "volume", "Tags": tags}]}
    if cfg["instance_profile"]:
        data["IamInstanceProfile"] = {"Name": cfg["instance_profile"]}
    return data


class ServerHandler(ClaimsArnKinds, Preflight, Cleaner, ConsoleLink, FailsBack):
    type: ClassVar[str] = SERVER
    phase: ClassVar[Phase] = Phase.SERVERS
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:instance", "ec2:volume", "ec2:network-interface")
    pilot_light: ClassVar[bool] = True  # the launch template sync is free; the launch happens at failover
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    failback_phase: ClassVar[FailbackPhase] = FailbackPhase.SERVERS
    failback_plan: ClassVar[str] = ("DRS reverse replication then a launch in the primary; imaged: AMI, copy home, "
                                    "launch")

    def console_url(self, recovered_id: str, region: str) -> str:
        return f"{console_host(region)}/ec2/home?region={region}#InstanceDetails:instanceId={recovered_id}"

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        ec2 = source.client("ec2")
        reservations = paginate(ec2, "describe_instances", "Reservations",
                                Filters=[{"Name": "instance-state-name", "Values": LIVE_STATES}])
        # an Auto Scaling group's instances (its own, or those of a Beanstalk environment or an ECS capacity
        # provider) are recovered by recovering the group: the group launches new ones
        instances = [i for r in reservations for i in r["Instances"] if GROUP_TAG not in tags_of(i)]
        volume_ids = [m["Ebs"]["VolumeId"] for i in instances for m in i.get("BlockDeviceMappings", []) if "Ebs" in m]
        volumes = {v["VolumeId"]: v for v in paginate(ec2, "describe_volumes", "Volumes", VolumeIds=volume_ids)} \
            if volume_ids else {}
        depends, links = server_dependencies(instances, plan)
        now = datetime.now(timezone.utc)
        captured_at = now.strftime(CAPTURE_FORMAT)
        recent = recent_captures(source, plan, now) if any(
            tags_of(i).get(AGENT_TAG) != "installed" for i in instances) else {}
        keys = KeyCatalog(source)
        out = []
        for inst in instances:
            if not inst.get("SubnetId"):
                continue  # EC2-Classic or a transitional state: nothing to place
            name = name_of(inst) or inst["InstanceId"]
            spec = _spec(plan, inst)
            subnet = resource_key("ec2:subnet", inst["SubnetId"])
            groups = sorted(resource_key("ec2:security-group", g["GroupId"]) for g in inst.get("SecurityGroups", []))
            servers = [resource_key(SERVER, d) for d in depends[inst["InstanceId"]]]
            method = "drs" if tags_of(inst).get(AGENT_TAG) == "installed" else "image"
            out.append(Resource(
                type=SERVER, source_id=inst["InstanceId"], name=name, tags=tags_of(inst),
                arn=f"arn:aws:ec2:{source.region}:{inst.get('OwnerId', '')}:instance/{inst['InstanceId']}",
                config={"vpc": resource_key("ec2:vpc", inst["VpcId"]), "subnet": subnet,
                        "method": method,
                        "instance_type": inst["InstanceType"], "private_ip": inst["PrivateIpAddress"],
                        "security_groups": groups, "instance_profile": _profile_name(inst),
                        "volumes": _volumes(inst, volumes),
                        "health_check": spec.health_check.model_dump() if spec.health_check else None,
                        "depends_on": sorted(depends[inst["InstanceId"]]),
                        # an imaged server's image is shared across accounts: the keys of its snapshots (its
                        # volumes', CreateImage keeps them) decide whether AWS lets it be
                        **({"kms_keys": _volume_keys(inst, volumes, keys)} if method == "image" else {})},
                # an imaged server's data is a new image every night: its capture time is part of the record
                data={"image": {"captured_at": recent.get(inst["InstanceId"], captured_at)}}
                if method == "image" else {},
                links=[*links.get(inst["InstanceId"], []), *_profile_link(inst)],
                dependencies=sorted({subnet, *groups, *servers})))
        return out

    # -- DRS lookups ---------------------------------------------------------------------------------

    def _source_server(self, ctx: ApplyContext, instance_id: str) -> dict[str, Any]:
        """The DRS source server replicating this instance (listed once per run): the live one where an agent
        reinstalled left a stale one beside it, refused where two replicate it (tasks/servers/sources.py)."""
        def listing() -> dict[str, list[dict[str, Any]]]:
            return sources.by_instance(paginate(ctx.recovery.client("drs"), "describe_source_servers", "items",
                                                filters={}))

        server = sources.choose(ctx.shared.once("drs-source-servers", listing).get(instance_id, []), instance_id,
                                ctx.recovery.region)
        if server is None:
            raise Unrecoverable(f"no DRS source server replicates {instance_id} into {ctx.recovery.region}: "
                                "install the replication agent, or wait for the initial sync")
        return server

    def _sync_template(self, resource: Resource, ctx: ApplyContext,
                       server_id: str) -> tuple[str, bool, DrillLaunch | None]:
        """Make the server's DRS launch template launch it into the recovered network; True when written.

        A drill only borrows the template for its launch (tasks/servers/templates.py): the DrillLaunch says what to
        give back once DRS has decided it."""
        drs, ec2 = ctx.recovery.client("drs"), ctx.recovery.client("ec2")
        config = drs.get_launch_configuration(sourceServerID=server_id)
        changed = settle_launch_configuration(drs, server_id, config)
        template_id = config["ec2LaunchTemplateID"]
        devices = sources.disk_names(resource.config["volumes"], self._source_server(ctx, resource.source_id))
        data = template_data(resource, ctx, devices)
        if ctx.mode == Mode.DRILL:
            borrowed, written = borrow(ctx, template_id, data)
            return template_id, changed or written, borrowed
        # staging leaves a launching drill's version the default; a failover never waits for a drill
        launching = (lambda: drill_launching(ctx, server_id)) if ctx.staging else (lambda: False)
        return template_id, sync_production(ec2, template_id, data, launching) or changed, None

    def _existing_launch(self, ctx: ApplyContext, server_id: str) -> str | None:
        """A recovery instance this plan (and drill) already launched for the server, still alive.

        DRS puts start_recovery's tags on the job, not on the instance; the instance carries the launch
        template's tags, drflow's among them, so those decide whose it is."""
        drs, ec2 = ctx.recovery.client("drs"), ctx.recovery.client("ec2")
        items = paginate(drs, "describe_recovery_instances", "items", filters={"sourceServerIDs": [server_id]})
        # DRS keeps listing a recovery instance whose EC2 instance was terminated (TERMINATED, then NOT_FOUND once
        # EC2 forgets it, within about an hour): only those DRS still sees alive are described, by filter, so that
        # one EC2 forgot between the two calls is simply not returned (by id: InvalidInstanceID.NotFound)
        ids = [i["ec2InstanceID"] for i in items if i.get("ec2InstanceID") and bool(i.get("isDrill")) == (
            ctx.mode == Mode.DRILL) and i.get("ec2InstanceState") in ALIVE_DRS_STATES]
        if not ids:
            return None
        alive = [{"Name": "instance-id", "Values": ids}, {"Name": "instance-state-name", "Values": ["pending", "running"]}]
        for reservation in paginate(ec2, "describe_instances", "Reservations", Filters=alive):
            for instance in reservation["Instances"]:
                tags = instance.get("Tags", [])
                if (of_plan(tags, ctx) and same_run_kind(tags, ctx)
                        and instance["State"]["Name"] in ("pending", "running")):
                    return instance["InstanceId"]
        return None

    # -- the handler protocol ------------------------------------------------------------------------

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        if resource.config["method"] == "image":
            return find_launched(resource, ctx)
        return self._existing_launch(ctx, self._source_server(ctx, resource.source_id)["sourceServerID"])

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Before a failover: what each server launches from is there (its image copy, or its DRS source server
        with a recovery snapshot), and its private IP is not in use in its recovered subnet by anything but its
        own copy."""
        shares = self._share_problems(resources, ctx)
        if ctx.staging:
            return shares  # the rest is checked before a failover, when it matters
        return shares + self._launch_problems(resources, ctx) + self._ip_problems(resources, ctx) + self._quota(resources, ctx)

    @staticmethod
    def _share_problems(resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """A cross-account night shares each imaged server's image with the recovery account (core.amis): one
        whose volumes are under the AWS managed EBS key is refused before anything is imaged."""
        return [(f"servers.{r.name}", f"{message} (its volumes), or install the DRS agent on it (tag {AGENT_TAG}=installed), which replicates it without an image")
                for r in resources if r.config["method"] == "image"
                for message in share_problems(ctx.plan, r.config.get("kms_keys", {}), f"the image of server {r.name}")]

    def _quota(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """The servers to launch fit in the recovery region's vCPU quota of standard instances (or, where Service
        Quotas has no value, in the instance count of the EC2 account attributes)."""
        ec2, region = ctx.recovery.client("ec2"), ctx.plan.recovery.region
        servers = to_create(ec2, ctx.plan, resources, "describe_instances", "Reservations", ctx.drill_id)
        if not servers:
            return []
        running = [i for r in paginate(ec2, "describe_instances", "Reservations",
                                       Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
                   for i in r["Instances"]]
        limit = applied_quota(ctx.recovery, VCPU_QUOTA[:2] + (None,))
        if limit is None:  # no Service Quotas value: the account attribute counts instances, not vCPUs
            limit = account_attribute(ec2, VCPU_QUOTA[2])
            if limit is not None and len(running) + len(servers) > limit:
                return [("quota.instances", f"{len(servers)} server(s) to launch and {len(running)} running exceed "
                         f"the {int(limit)} instances allowed in {region} (EC2 max-instances): raise the instance "
                         "quota")]
            return []
        standard = [t for t in [r.config["instance_type"] for r in servers] + [i["InstanceType"] for i in running]
                    if t[0] in STANDARD_FAMILIES]
        vcpus = {t["InstanceType"]: t["VCpuInfo"]["DefaultVCpus"] for t in paginate(
            ec2, "describe_instance_types", "InstanceTypes", InstanceTypes=sorted(set(standard)))} if standard else {}
        need = sum(vcpus.get(r.config["instance_type"], 0) for r in servers)
        used = sum(vcpus.get(i["InstanceType"], 0) for i in running)
        if used + need > limit:
            return [("quota.vcpus", f"{need} vCPUs of standard instances to launch and {used} running exceed the "
                     f"{int(limit)} allowed in {region}: raise 'Running On-Demand Standard instances'")]
        return []

    def _launch_problems(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        problems = []
        for resource in resources:
            if resource.config["method"] == "image":
                problem = image_problem(resource, ctx)
            else:
                problem = self._drs_problem(resource, ctx)
            if problem:
                problems.append((f"servers.{resource.name}", problem))
        return problems

    def _drs_problem(self, resource: Resource, ctx: ApplyContext) -> str | None:
        try:
            server = self._source_server(ctx, resource.source_id)
            sources.disk_names(resource.config["volumes"], server)
        except Unrecoverable as exc:
            return str(exc)
        server_id = server["sourceServerID"]
        filters = {"toDateTime": ctx.point_in_time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")} \
            if ctx.point_in_time else {}
        snapshots = ctx.recovery.client("drs").describe_recovery_snapshots(
            sourceServerID=server_id, filters=filters, order="DESC", maxResults=1)["items"]
        if snapshots:
            return None
        when = f" at or before {filters['toDateTime']}" if filters else ""
        return (f"DRS source server {server_id} of {resource.source_id} has no recovery snapshot{when} in "
                f"{ctx.recovery.region} (initial sync not finished, or the point in time is too early)")

    def _ip_problems(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        wanted = {ctx.net.ip(r.config["private_ip"]): r for r in resources}
        if not wanted:
            return []
        ec2 = ctx.recovery.client("ec2")
        interfaces = paginate(ec2, "describe_network_interfaces", "NetworkInterfaces",
                              Filters=[{"Name": "addresses.private-ip-address", "Values": sorted(wanted)}])
        subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(
            SubnetIds=sorted({i["SubnetId"] for i in interfaces}))["Subnets"]} if interfaces else {}
        problems = []
        for eni in interfaces:
            resource = wanted.get(eni.get("PrivateIpAddress"))
            subnet = subnets.get(eni["SubnetId"], {})
            source_subnet = resource.config["subnet"].split("/", 1)[1] if resource else None
            if not resource or tags_of(subnet).get(TAG_SOURCE_ID) != source_subnet \
                    or not same_run_kind(subnet.get("Tags"), ctx) \
                    or tags_of(subnet).get(TAG_PLAN) != ctx.plan.name:
                continue  # another network: no conflict there
            owner = eni.get("Attachment", {}).get("InstanceId")
            if owner and self._is_copy_of(ec2, owner, resource, ctx):
                continue  # this server's own earlier recovery: adopted, not a conflict
            problems.append((f"servers.{resource.name}", f"private IP {eni['PrivateIpAddress']} is in use in "
                             f"{eni['SubnetId']} by {eni['NetworkInterfaceId']}" + (f" ({owner})" if owner else "")
                             + "; free it, or move the network with network.cidr_map"))
        return problems

    @staticmethod
    def _is_copy_of(ec2: Any, instance_id: str, resource: Resource, ctx: ApplyContext) -> bool:
        instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        return tags_of(instance).get(TAG_SOURCE_ID) == resource.source_id and same_run_kind(instance.get("Tags"), ctx)

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if resource.config["method"] == "image":
            return self._apply_image(resource, ctx)
        server_id = self._source_server(ctx, resource.source_id)["sourceServerID"]
        if ctx.staging:
            template_id, changed, _ = self._sync_template(resource, ctx, server_id)
            return Applied(None, changed=changed, details={"source_server": server_id, "launch_template": template_id})
        existing = self._existing_launch(ctx, server_id)
        if existing:
            if ctx.mode == Mode.DRILL:  # a drill killed after its launch and before it gave the template back
                template_id = template_of(ctx.recovery.client("drs"), server_id)
                if template_id:
                    give_back(ctx, template_id)
            self._wait_up(resource, ctx, existing)
            return Applied(existing, details={"source_server": server_id})
        template_id, _, borrowed = self._sync_template(resource, ctx, server_id)
        batcher = LaunchBatcher.for_run(ctx)
        started = time.monotonic()
        following = in_flight_job(ctx, server_id)  # a killed earlier attempt's launch: follow it, not a second one
        snapshot = None
        try:
            if following:
                job_id, status = batcher.follow(following, server_id)
            else:
                snapshot = self._snapshot(ctx, server_id) if ctx.point_in_time else None
                job_id, status = batcher.launch(server_id, snapshot)
        except Exception:
            # undecided: while DRS may still read the template the drill's version stays (a retry follows the job
            # and gives it back; drill cleanup does if nothing else does); otherwise production's default now
            if borrowed and not launch_running(ctx, server_id):
                give_back(ctx, template_id, borrowed)
            raise
        given_back = give_back(ctx, template_id, borrowed) if borrowed else None  # launched or failed: DRS read it
        waits = batcher.capacity_waits(server_id)  # DRS's capacity held by other jobs: why the launch came late
        if status["launchStatus"] != "LAUNCHED":
            raise Retryable(f"DRS launch of {resource.source_id} ({resource.name}) in job {job_id}: "
                            f"{status['launchStatus']}")
        instance_id = self._instance_of(ctx, status["recoveryInstanceID"])
        launched = time.monotonic()
        self._wait_up(resource, ctx, instance_id)
        return Applied(instance_id, created=not following, details={
            "source_server": server_id, "job": job_id, "resumed_job": bool(following), "launch_template": template_id,
            "snapshot": snapshot, **({"launch_template_default_restored": given_back} if borrowed else {}),
            **({"capacity_waits": waits} if waits else {}),
            "private_ip": ctx.net.ip(resource.config["private_ip"]),
            "launch_seconds": round(launched - started, 3), "up_seconds": round(time.monotonic() - started, 3)})

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """Terminate the drills' instances (see `_terminate_drill_instances`), then delete the drills' versions of
        the servers' DRS launch templates, putting production's default back where a killed drill left its own."""
        return self._terminate_drill_instances(ctx) + _drill_template_versions(ctx)

    def _terminate_drill_instances(self, ctx: CleanupContext) -> list[str]:
        """Terminate the drills' instances: through DRS when DRS launched them (so that DRS forgets its recovery
        instances too), with EC2 otherwise; then wait until EC2 says terminated (their interfaces hold the
        drill's subnets and security groups)."""
        ec2 = ctx.recovery.client("ec2")
        reservations = paginate(ec2, "describe_instances", "Reservations", Filters=ctx.ec2_filters() + [
            {"Name": "instance-state-name", "Values": LIVE_STATES}])
        instances = sorted(i["InstanceId"] for r in reservations for i in r["Instances"] if ctx.matches(i.get("Tags")))
        if not instances:
            return _drill_volumes(ctx)
        by_drs = _recovery_instances(ctx, set(instances))
        drs = ctx.recovery.client("drs")
        recovery_ids = sorted(by_drs.values())
        jobs = [drs.terminate_recovery_instances(recoveryInstanceIDs=recovery_ids[i:i + DRS_TERMINATE_BATCH])["job"]["jobID"]
                for i in range(0, len(recovery_ids), DRS_TERMINATE_BATCH)]
        _wait_drs_jobs(drs, jobs)
        plain = [i for i in instances if i not in by_drs]
        if plain:
            ec2.terminate_instances(InstanceIds=plain)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=instances, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
        return [f"{i} (via DRS)" if i in by_drs else i for i in instances] + _drill_volumes(ctx)

    def _snapshot(self, ctx: ApplyContext, server_id: str) -> str:
        """The newest DRS point-in-time snapshot taken at or before the failover's point in time."""
        moment = ctx.point_in_time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        items = paginate(ctx.recovery.client("drs"), "describe_recovery_snapshots", "items", sourceServerID=server_id,
                         filters={"toDateTime": moment}, order="DESC")
        if not items:
            raise Unrecoverable(f"DRS has no snapshot of {server_id} at or before {moment}")
        # the DRS model requires only expectedTimestamp: `timestamp` (when it was actually taken) may be missing
        return max(items, key=lambda i: i.get("timestamp") or i["expectedTimestamp"])["snapshotID"]

    def _apply_image(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if ctx.staging:
            image_id, written = stage_image(resource, ctx)
            return Applied(None, created=written, details={"image": image_id})
        existing = find_launched(resource, ctx)
        created = existing is None
        instance_id = existing or launch_from_image(resource, ctx, template_data(resource, ctx))
        self._wait_up(resource, ctx, instance_id)
        return Applied(instance_id, created=created, details={"private_ip": ctx.net.ip(resource.config["private_ip"])})

    def _instance_of(self, ctx: ApplyContext, recovery_instance_id: str) -> str:
        items = ctx.recovery.client("drs").describe_recovery_instances(
            filters={"recoveryInstanceIDs": [recovery_instance_id]})["items"]
        return items[0]["ec2InstanceID"] if items else recovery_instance_id

    def _wait_up(self, resource: Resource, ctx: ApplyContext, instance_id: str) -> None:
        """Up means running, then passing the plan's health check if it has one: EC2 status checks, a TCP port."""
        ec2 = ctx.recovery.client("ec2")
        ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 5, "MaxAttempts": 120})
        check = resource.config.get("health_check") or {}
        if check.get("status_checks"):
            ec2.get_waiter("instance_status_ok").wait(InstanceIds=[instance_id],
                                                      WaiterConfig={"Delay": 15, "MaxAttempts": 60})
        if check.get("port"):
            address = ctx.net.ip(resource.config["private_ip"])
            if not tcp_ready(address, check["port"], check["timeout_seconds"]):
                raise Retryable(f"{resource.name}: nothing answers on {address}:{check['port']} after "
                                f"{check['timeout_seconds']} s")

    # -- failback (flows/failback.py, phase 3) --------------------------------------------------------------

    def fail_back(self, resource: Resource, ctx: FailbackContext) -> Step:
        """DRS reverse replication then a launch in the primary (failback.py); a server without the agent is
        imaged, copied home and launched there (failback_imaged.py)."""
        aws, plan, marker = ctx.aws, ctx.plan, ctx.marker
        if resource.config.get("method") == "image":
            share_with = plan.source.account_id if plan.cross_account else None
            details = failback_imaged.fail_back_image(resource, aws.recovery, aws.source, plan.name,
                                                      marker["completed_at"], ctx.home_id, share_with=share_with)
            return Step(Outcome.CREATED if details.pop("launched") else Outcome.ADOPTED, details["instance"], details)
        if plan.cross_account:
            return Step(Outcome.SKIPPED, None, {"reason": CROSS_ACCOUNT_DRS})
        details = failback.fail_back(resource, aws.recovery, aws.source, plan.name, marker["completed_at"],
                                     ctx.home_id)
        return Step(Outcome.CREATED if details.get("job") else Outcome.ADOPTED, details["instance"], details)


def _drill_volumes(ctx: CleanupContext) -> list[str]:
    """Delete the drills' volumes that outlived their instance (a disk the source keeps on termination keeps that
    setting in the drill's launch template too); the launch tagged them with the drill."""
    ec2 = ctx.recovery.client("ec2")
    volumes = paginate(ec2, "describe_volumes", "Volumes", Filters=ctx.ec2_filters() + [
        {"Name": "status", "Values": ["available"]}])
    gone = []
    for volume in volumes:
        if ctx.matches(volume.get("Tags")) and delete_quietly(ec2.delete_volume, VolumeId=volume["VolumeId"]):
            gone.append(volume["VolumeId"])
    return sorted(gone)


def _drill_template_versions(ctx: CleanupContext) -> list[str]:
    """The drills' versions of the DRS launch templates of the recovery region's source servers."""
    drs = ctx.recovery.client("drs")
    try:
        servers = paginate(drs, "describe_source_servers", "items", filters={})
    except ClientError as exc:
        if error_code(exc) == "UninitializedAccountException":
            return []  # DRS was never set up in this region: no template of its own
        raise
    out: list[str] = []
    for server in servers:
        template_id = template_of(drs, server["sourceServerID"])
        if template_id:
            out += remove_drill_versions(ctx, template_id)
    return out


def _recovery_instances(ctx: CleanupContext, instance_ids: set[str]) -> dict[str, str]:
    """EC2 instance id -> DRS recovery instance id, for those of the instances DRS launched."""
    try:
        items = paginate(ctx.recovery.client("drs"), "describe_recovery_instances", "items", filters={})
    except ClientError as exc:
        if error_code(exc) == "UninitializedAccountException":
            return {}  # DRS was never set up in this region: nothing was launched by it
        raise
    return {i["ec2InstanceID"]: i["recoveryInstanceID"] for i in items if i.get("ec2InstanceID") in instance_ids}


def _wait_drs_jobs(drs: Any, job_ids: list[str]) -> None:
    """Poll DRS's terminate jobs with backoff until they complete (DRS has no waiter)."""
    delay = TERMINATE_POLL["first"]
    for _ in range(int(TERMINATE_POLL["attempts"])):
        if not job_ids:
            return
        jobs = drs.describe_jobs(filters={"jobIDs": job_ids})["items"]
        job_ids = [j["jobID"] for j in jobs if j["status"] != "COMPLETED"]
        if not job_ids:
            return
        time.sleep(delay)
        delay = min(TERMINATE_POLL["cap"], delay * 2)
    raise Retryable(f"DRS terminate jobs not completed: {job_ids}")


def tcp_ready(host: str, port: int, timeout: float, interval: float = 2.0) -> bool:
    """True once a TCP connection to host:port succeeds, trying until `timeout` seconds have passed.

    A plain loop: neither botocore nor Prefect has a waiter for a port on the server itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(5.0, max(0.1, timeout))):
                return True
        except OSError:
            if time.monotonic() + interval > deadline:
                return False
            time.sleep(interval)
