"""EFS file systems: replicated into the recovery region by EFS itself, made writable and mounted at failover.

One resource type, `efs:file-system`. Its mount targets and access points are part of its record, not
resources of their own: they belong to exactly one file system, come in and out of scope with it (scope
selects by tags, and access points rarely carry the application's tags), and can only be recreated at
the moment the file system's own `apply` has made the replica usable. Clients mount by the file system's
DNS name, so the identity map needs only the file system; recovered access point ids are in the details.

- Nightly ("stage"): an EFS replication configuration from the source file system to the recovery region
  (re-encrypted with the mapped key), or, in a cross-account plan, to a file system drflow creates in the
  recovery account, through a replication role of the source account (replication_role.py). The replica carries
  drflow's tags, so a failover finds it in the recovery region alone. An existing replication is read and
  compared, never rewritten.
- Pre-flight of a failover or drill: the replica has finished its first sync (until then it is ENABLING and only
  partly copied), and its last sync is within the plan's RPO of the recovery point's capture.
- Failover ("recover"): the replication is deleted from the recovery side, which makes the replica
  writable (both sides; with the primary dark, or refusing, the recovery side's only: LOCAL_CONFIGURATION_ONLY);
  mount targets are created in the recovered subnets with the recovered security groups (same
  IP when it falls in the recovered subnet), access points recreated; a re-run adopts what exists.
- Drill: replication goes on (production DR must not stop for a drill); mount targets in the drill's
  subnets give the drill read-only access to the replicated data. Drill cleanup removes those mount targets
  (mount targets take no tags: they are the drill's when their subnet is) and the drill's access points; the
  replica itself is production's and stays.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.artifacts import console_host
from core.aws import Retryable, Side, error_code, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, ConsoleLink, FailsBack, Preflight
from core.failback import FailbackContext, FailbackPhase, Step
from core.handler import (TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID, Applied, ApplyContext, CleanupContext, ScopeError,
                          Unrecoverable, delete_quietly, tags_of)
from core.keys import KeyCatalog, created_key, key_links, key_problems, recovery_key
from core.models import Mode, Outcome, Phase, Resource, resource_key
from core.ownership import copy_of, in_scope, same_run_kind
from core.plan import Plan
from core.report import drill_commands
from .replication_role import ensure_role

TYPE = "efs:file-system"
SUBNET, GROUP = "ec2:subnet", "ec2:security-group"
DEFAULT_KEY = "alias/aws/elasticfilesystem"  # what EFS encrypts with when no key is named
REPLICATING, DISABLED = "REPLICATING", "DISABLED"
GONE = ("deleting", "deleted")
POLL_SECONDS, POLL_ATTEMPTS = 5, 180  # deleting a replication "can take several minutes" (EFS user guide)


def protection(fs: dict[str, Any]) -> str | None:
    return (fs.get("FileSystemProtection") or {}).get("ReplicationOverwriteProtection")


def replication_of(efs: Any, file_system_id: str) -> dict[str, Any] | None:
    """The replication configuration the file system takes part in (as source or destination), if any."""
    try:
        found = efs.describe_replication_configurations(FileSystemId=file_system_id)["Replications"]
    except ClientError as exc:
        if error_code(exc) == "ReplicationNotFound":
            return None
        raise
    return found[0] if found else None


def fs_id(value: str) -> str:
    return value.rsplit("/", 1)[-1]  # an id, or a file system ARN


def _same_key(kms: Any, a: str, b: str) -> bool:
    """Two names (id, ARN, alias) of one KMS key; a name KMS does not know is compared as it is."""
    if a == b:
        return True
    try:
        return kms.describe_key(KeyId=a)["KeyMetadata"]["Arn"] == kms.describe_key(KeyId=b)["KeyMetadata"]["Arn"]
    except ClientError:
        return False


def dns(fs_id: str, region: str) -> dict[str, str]:
    """The file system's DNS name, as an fstab or a mount helper names it (EFS User Guide, "Mounting with the DNS
    name"). The per-zone form (`<zone>.<fs>.efs...`) is not rewritten: its zone names another region's."""
    return {"dns": f"{fs_id}.efs.{region}.amazonaws.com"}


def _replica(resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
    """The recovery region's replica of the file system: production's, whatever the mode (a drill mounts the
    production replica read-only; it never makes its own)."""
    efs = ctx.recovery.client("efs")
    for fs in paginate(efs, "describe_file_systems", "FileSystems"):
        tags = tags_of(fs)
        if copy_of(tags, resource, ctx) and TAG_DRILL not in tags and fs.get("LifeCycleState") not in GONE:
            return fs
    return None


def _mount_target(efs: Any, mt: dict[str, Any]) -> dict[str, Any]:
    groups = efs.describe_mount_target_security_groups(MountTargetId=mt["MountTargetId"])["SecurityGroups"]
    return {"subnet": resource_key(SUBNET, mt["SubnetId"]), "ip": mt.get("IpAddress"),
            "az": mt.get("AvailabilityZoneName"), "security_groups": sorted(resource_key(GROUP, g) for g in groups)}


def _access_point(ap: dict[str, Any]) -> dict[str, Any]:
    return {"id": ap["AccessPointId"], "name": ap.get("Name") or "", "posix_user": ap.get("PosixUser"),
            "root_directory": ap.get("RootDirectory"), "tags": tags_of(ap)}


class FileSystemHandler(ClaimsArnKinds, Preflight, Cleaner, ConsoleLink, FailsBack):
    type: ClassVar[str] = TYPE
    phase: ClassVar[Phase] = Phase.DATA
    arn_kinds: ClassVar[tuple[str, ...]] = ("elasticfilesystem:file-system", "elasticfilesystem:access-point")
    pilot_light: ClassVar[bool] = True  # replication is staged nightly; the replica costs storage, not compute
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    failback_phase: ClassVar[FailbackPhase] = FailbackPhase.DATA
    failback_plan: ClassVar[str] = "replicate the recovered file system into the original one (same account)"

    def fail_back(self, resource: Resource, ctx: FailbackContext) -> Step:
        """The recovered file system replicates into the original one (failback.py); same account only."""
        from .failback import CROSS_ACCOUNT, replicate_home  # failback.py builds on this module

        if ctx.plan.cross_account:
            return Step(Outcome.SKIPPED, None, {"reason": CROSS_ACCOUNT})
        details = replicate_home(resource, ctx.aws.recovery, ctx.aws.source, ctx.plan.name)
        return Step(Outcome.CREATED if details.pop("created") else Outcome.ADOPTED, resource.source_id, details)

    def console_url(self, recovered_id: str, region: str) -> str:
        return f"{console_host(region)}/efs/home?region={region}#/file-systems/{recovered_id}"

    # -- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        efs, keys = source.client("efs"), KeyCatalog(source)
        out, problems = [], []
        for fs in paginate(efs, "describe_file_systems", "FileSystems"):
            tags = tags_of(fs)
            if not in_scope(tags, plan.scope.tags) or fs.get("LifeCycleState") in GONE:
                continue
            fs_id = fs["FileSystemId"]
            name = tags.get("Name") or fs.get("Name") or ""
            label = f"EFS file system {fs_id}" + (f" ({name})" if name else "")
            key_id = fs.get("KmsKeyId") or (DEFAULT_KEY if fs.get("Encrypted") else None)
            key = keys.describe(key_id) if key_id else None
            problems += key_problems(plan, key, label)
            if protection(fs) == REPLICATING:
                problems.append((label, "is itself the read-only destination of a replication; EFS cannot "
                                        "replicate it again (protect its source instead)"))
            mounts = sorted((_mount_target(efs, mt) for mt in
                             paginate(efs, "describe_mount_targets", "MountTargets", FileSystemId=fs_id)),
                            key=lambda m: m["subnet"])
            points = sorted((_access_point(ap) for ap in
                             paginate(efs, "describe_access_points", "AccessPoints", FileSystemId=fs_id)),
                            key=lambda a: a["id"])
            deps = {m["subnet"] for m in mounts} | {g for m in mounts for g in m["security_groups"]}
            out.append(Resource(
                type=TYPE, source_id=fs_id, arn=fs.get("FileSystemArn", ""), name=name, tags=tags,
                config={"performance_mode": fs.get("PerformanceMode"), "throughput_mode": fs.get("ThroughputMode"),
                        "provisioned_mibps": fs.get("ProvisionedThroughputInMibps"),
                        "availability_zone": fs.get("AvailabilityZoneName"), "encrypted": bool(fs.get("Encrypted")),
                        "kms_key": key,
                        "lifecycle": efs.describe_lifecycle_configuration(FileSystemId=fs_id)["LifecyclePolicies"],
                        "mount_targets": mounts, "access_points": points},
                dependencies=sorted(deps), links=key_links(plan, key), endpoints=dns(fs_id, source.region)))
        if problems:
            raise ScopeError(problems)
        return out

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        replica = _replica(resource, ctx)
        return replica["FileSystemId"] if replica else None

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Before a failover or drill writes anything: every file system has its replica in the recovery region,
        synced recently enough (see `_sync_problem`); and before a drill, no other drill (nor anything else) has
        mounted it (see `_mounted_by_others`)."""
        if ctx.staging:
            return []
        problems = []
        for resource in resources:
            replica = _replica(resource, ctx)
            if replica is None:
                problems.append((resource.label, f"no EFS replica in {ctx.recovery.region}: the nightly replication "
                                                 "never ran for it (or its replica was deleted), so there is no data "
                                                 "to fail over to"))
                continue
            stale = self._sync_problem(resource, ctx, replica)
            if stale:
                problems.append((resource.label, stale))
            if ctx.mode == Mode.DRILL:
                problems += self._mounted_by_others(resource, ctx, replica["FileSystemId"])
        return problems

    def _sync_problem(self, resource: Resource, ctx: ApplyContext, replica: dict[str, Any]) -> str | None:
        """Why the replica holds too little to fail over to, if it does. EFS sets a destination's
        LastReplicatedTimestamp only when a sync has completed ("any changes that occurred after this time might
        not be fully replicated", botocore's Destination): a replication that never finished its first sync
        (ENABLING) has a half-copied replica, which a failover would make writable as it is. A last sync longer
        than the plan's RPO before the recovery point's capture means EFS had stopped keeping up before that night
        (PAUSED, ERROR, a backlog). The age is measured from the capture, not from now: with the primary dark EFS
        cannot sync at all, and an outage longer than the RPO must not refuse the failover it calls for. A replica
        no longer replicating (a failover's re-run) has nothing to check."""
        fs_id = replica["FileSystemId"]
        replication = replication_of(ctx.recovery.client("efs"), fs_id)
        if replication is None:
            return None
        destination = replication["Destinations"][0]
        last = destination.get("LastReplicatedTimestamp")
        if not last:
            return (f"the replica {fs_id} in {ctx.recovery.region} has not finished its first sync (replication "
                    f"{destination['Status']}): it holds part of the data at most, and failing over would make it "
                    "writable as it is; wait until the replication is ENABLED with a last synced time, then retry")
        reference = ctx.captured_at or datetime.now(timezone.utc)
        allowed = timedelta(minutes=ctx.plan.rpo_minutes)
        if last < reference - allowed:
            return (f"the replica {fs_id} last synced at {last.isoformat()}, "
                    f"{(reference - last).total_seconds() / 60:.0f} min before the recovery point was captured "
                    f"({reference.isoformat()}); the plan's RPO is {ctx.plan.rpo_minutes} min (replication "
                    f"{destination['Status']}: {destination.get('StatusMessage', 'no message')})")
        return None

    def _mounted_by_others(self, resource: Resource, ctx: ApplyContext, fs_id: str) -> list[tuple[str, str]]:
        """A file system's mount targets all live in one VPC, so a drill can mount the replica only where nothing
        else has: another drill holding it is named with its cleanup command (this drill's own mount targets, a
        resumed drill's, are no obstacle). A real failover is never refused for this: it takes the replica over."""
        efs, ec2 = ctx.recovery.client("efs"), ctx.recovery.client("ec2")
        targets = [mt for mt in paginate(efs, "describe_mount_targets", "MountTargets", FileSystemId=fs_id)
                   if mt.get("LifeCycleState") not in GONE]
        if not targets:
            return []
        subnets = {s["SubnetId"]: tags_of(s) for s in ec2.describe_subnets(
            SubnetIds=sorted({mt["SubnetId"] for mt in targets}))["Subnets"]}
        holders: dict[str | None, list[str]] = {}
        for mt in targets:
            drill = subnets.get(mt["SubnetId"], {}).get(TAG_DRILL)
            if drill != ctx.drill_id:
                holders.setdefault(drill, []).append(f"{mt['MountTargetId']} in {mt['SubnetId']}")
        problems = []
        for drill, mounts in sorted(holders.items(), key=lambda h: h[0] or ""):
            if drill:
                why = (f"drill {drill} has mounted the replica {fs_id} ({', '.join(mounts)}); a file system's mount "
                       "targets share one VPC, so two drills cannot mount it at once: remove that drill first "
                       f"({drill_commands(drill)['cleanup']})")
            else:
                why = (f"the replica {fs_id} is mounted outside any drill ({', '.join(mounts)}): it is in use (a "
                       "real failover?), and a drill can mount it only in its own VPC")
            problems.append((resource.label, why))
        return problems

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        return self._stage(resource, ctx) if ctx.staging else self._recover(resource, ctx)

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' access points and mount targets on the plan's replicas; waits until the mount targets are
        gone (their network interfaces hold the drill's subnets and security groups)."""
        efs, ec2 = ctx.recovery.client("efs"), ctx.recovery.client("ec2")
        out: list[str] = []
        mounts: list[str] = []
        for fs in paginate(efs, "describe_file_systems", "FileSystems"):
            if tags_of(fs).get(TAG_PLAN) != ctx.plan.name or fs.get("LifeCycleState") in GONE:
                continue
            fs_id = fs["FileSystemId"]
            out += [f"{ap['AccessPointId']} ({fs_id})" for ap in
                    paginate(efs, "describe_access_points", "AccessPoints", FileSystemId=fs_id)
                    if ctx.matches(ap.get("Tags")) and delete_quietly(efs.delete_access_point,
                                                                       AccessPointId=ap["AccessPointId"])]
            targets = [mt for mt in paginate(efs, "describe_mount_targets", "MountTargets", FileSystemId=fs_id)
                       if mt.get("LifeCycleState") not in GONE]
            if not targets:
                continue
            subnets = ec2.describe_subnets(SubnetIds=sorted({mt["SubnetId"] for mt in targets}))["Subnets"]
            drill_subnets = {s["SubnetId"] for s in subnets if ctx.matches(s.get("Tags"))}
            for mt in targets:
                if mt["SubnetId"] in drill_subnets and delete_quietly(efs.delete_mount_target,
                                                                      MountTargetId=mt["MountTargetId"]):
                    mounts.append(mt["MountTargetId"])
                    out.append(f"{mt['MountTargetId']} ({fs_id}, {mt['SubnetId']})")
        self._wait_mounts_gone(efs, mounts)
        return out

    def _wait_mounts_gone(self, efs: Any, mount_ids: list[str]) -> None:
        # boto3 has no EFS waiters: poll each deleted mount target until EFS no longer knows it
        for _ in range(POLL_ATTEMPTS):
            left = []
            for mount_id in mount_ids:
                try:
                    found = efs.describe_mount_targets(MountTargetId=mount_id)["MountTargets"]
                except ClientError as exc:
                    if error_code(exc) != "MountTargetNotFound":
                        raise
                    found = []
                left += [m["MountTargetId"] for m in found if m.get("LifeCycleState") != "deleted"]
            if not left:
                return
            mount_ids = left
            time.sleep(POLL_SECONDS)
        raise Retryable(f"EFS mount targets still deleting after {POLL_SECONDS * POLL_ATTEMPTS} s: {mount_ids}")

    # -- nightly: the replication ------------------------------------------------------------------------

    def _stage(self, resource: Resource, ctx: ApplyContext) -> Applied:
        efs = ctx.recovery.client("efs")
        replica = _replica(resource, ctx)
        if replica is not None:
            replication = replication_of(efs, replica["FileSystemId"])
            if replication is not None:
                return self._in_place(resource, ctx, replica, replication)
            if protection(replica) != DISABLED:
                raise Unrecoverable(f"the replica {replica['FileSystemId']} in {ctx.recovery.region} no longer "
                                    "replicates and is writable (failed over?); drflow will not overwrite it. "
                                    "Fail back, or delete the replica to start replication afresh")
        else:
            adopted = self._adopt_untagged(resource, ctx)
            if adopted is not None:
                return adopted
            if ctx.plan.cross_account:
                replica = self._create_destination(resource, ctx)
        return self._replicate(resource, ctx, replica)

    def _in_place(self, resource: Resource, ctx: ApplyContext, replica: dict[str, Any],
                  replication: dict[str, Any]) -> Applied:
        """The replication exists: read and compare, no write."""
        source = fs_id(replication["SourceFileSystemId"])
        if source != resource.source_id:
            raise Unrecoverable(f"the replica {replica['FileSystemId']} replicates {source}, not {resource.source_id}")
        destination = replication["Destinations"][0]
        warnings = []
        if destination["Status"] not in ("ENABLED", "ENABLING"):
            warnings.append(f"replication to {replica['FileSystemId']} is {destination['Status']}: "
                            f"{destination.get('StatusMessage', 'no message')}")
        wanted, actual = self._recovery_key(resource, ctx), replica.get("KmsKeyId")
        if wanted and actual and not _same_key(ctx.recovery.client("kms"), wanted, actual):
            warnings.append(f"the replica is encrypted with {actual}, the plan now maps {wanted}; "
                            "a replica's key cannot change: delete the replica to re-replicate with the new key")
        return Applied(replica["FileSystemId"], warnings=warnings,
                       endpoints=dns(replica["FileSystemId"], ctx.recovery.region),
                       details={"replication": destination["Status"],
                                "last_replicated": str(destination.get("LastReplicatedTimestamp", ""))})

    def _adopt_untagged(self, resource: Resource, ctx: ApplyContext) -> Applied | None:
        """A replication a previous run created but did not get to tag: tag its destination, create nothing."""
        assert ctx.source is not None, "replication is configured during nightly staging only"
        replication = replication_of(ctx.source.client("efs"), resource.source_id)
        if replication is None:
            return None
        destination = replication["Destinations"][0]
        owner = destination.get("OwnerId") or ctx.plan.source.account_id
        if destination["Region"] != ctx.recovery.region or owner != ctx.plan.recovery.account_id:
            raise Unrecoverable(f"{resource.label} already replicates to {destination['FileSystemId']} in "
                                f"{destination['Region']} (account {owner}); EFS allows one replication per "
                                "file system: delete that configuration, or leave this file system out of scope")
        replica_id = fs_id(destination["FileSystemId"])
        ctx.recovery.client("efs").tag_resource(ResourceId=replica_id, Tags=ctx.tag_list(resource))
        return Applied(replica_id, changed=True, details={"replication": destination["Status"], "adopted": True},
                       endpoints=dns(replica_id, ctx.recovery.region))

    def _recovery_key(self, resource: Resource, ctx: ApplyContext) -> str | None:
        key = resource.config["kms_key"]
        return recovery_key(ctx.plan, key, created=created_key(ctx, key))

    def _create_destination(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any]:
        """Cross-account: the replica is a file system of the recovery account, made by drflow (tagged at
        birth, so a re-run finds it) with its overwrite protection disabled, so that EFS may replicate into it."""
        cfg = resource.config
        efs = ctx.recovery.client("efs")
        kwargs: dict[str, Any] = {
            "CreationToken": hashlib.sha256(f"{ctx.plan.name}:{resource.source_id}".encode()).hexdigest()[:64],
            "PerformanceMode": cfg["performance_mode"] or "generalPurpose", "Encrypted": True,
            "ThroughputMode": cfg["throughput_mode"] or "bursting", "Tags": ctx.tag_list(resource)}
        kms = self._recovery_key(resource, ctx)
        if kms:
            kwargs["KmsKeyId"] = kms
        if cfg["throughput_mode"] == "provisioned" and cfg["provisioned_mibps"]:
            kwargs["ProvisionedThroughputInMibps"] = cfg["provisioned_mibps"]
        if cfg["availability_zone"]:
            kwargs["AvailabilityZoneName"] = ctx.net.az(cfg["availability_zone"])
        replica = efs.create_file_system(**kwargs)
        efs.update_file_system_protection(FileSystemId=replica["FileSystemId"], ReplicationOverwriteProtection=DISABLED)
        return replica

    def _replicate(self, resource: Resource, ctx: ApplyContext, replica: dict[str, Any] | None) -> Applied:
        assert ctx.source is not None, "replication is configured during nightly staging only"
        cfg = resource.config
        destination: dict[str, Any] = {"Region": ctx.recovery.region}
        if replica is not None:  # cross-account: the file system drflow made in the recovery account
            destination["FileSystemId"] = replica["FileSystemArn"]
            # EFS replicates across accounts only through a role of the source account (replication_role.py)
            destination["RoleArn"] = ensure_role(resource, ctx, replica["FileSystemArn"])
        else:
            kms = self._recovery_key(resource, ctx)
            if kms:
                destination["KmsKeyId"] = kms
            if cfg["availability_zone"]:
                destination["AvailabilityZoneName"] = ctx.net.az(cfg["availability_zone"])
        replication = ctx.source.client("efs").create_replication_configuration(
            SourceFileSystemId=resource.source_id, Destinations=[destination])
        replica_id = fs_id(replication["Destinations"][0]["FileSystemId"])
        if replica is None:  # EFS made the destination: mark it drflow's, so a failover finds it without the source
            ctx.recovery.client("efs").tag_resource(ResourceId=replica_id, Tags=ctx.tag_list(resource))
        return Applied(replica_id, created=True, details={"replication": replication["Destinations"][0]["Status"]},
                       endpoints=dns(replica_id, ctx.recovery.region))

    # -- failover and drill ------------------------------------------------------------------------------

    def _recover(self, resource: Resource, ctx: ApplyContext) -> Applied:
        efs = ctx.recovery.client("efs")
        replica = _replica(resource, ctx)
        if replica is None:
            raise Unrecoverable(f"no EFS replica of {resource.label} in {ctx.recovery.region} (never replicated)")
        fs_id = replica["FileSystemId"]
        warnings: list[str] = []
        changed = False
        if ctx.mode == Mode.RECOVER:
            changed |= self._make_writable(ctx, efs, replica, warnings)
            changed |= self._lifecycle(efs, fs_id, resource.config["lifecycle"])
        else:
            warnings.append(f"drill: the replica {fs_id} stays read-only (replication goes on for production); "
                            "the drill's mount targets give read-only access to the replicated data")
        mounts, mounted = self._mount_targets(resource, ctx, efs, fs_id, warnings)
        points, made = self._access_points(resource, ctx, efs, fs_id)
        return Applied(fs_id, changed=changed or mounted or made, warnings=warnings,
                       endpoints=dns(fs_id, ctx.recovery.region),
                       details={"writable": ctx.mode == Mode.RECOVER, "mount_targets": mounts, "access_points": points})

    def _make_writable(self, ctx: ApplyContext, efs: Any, replica: dict[str, Any], warnings: list[str]) -> bool:
        """Delete the replication from the recovery side, then wait until EFS has turned the replica writable. A
        re-run finds it writable already and writes nothing.

        ALL_CONFIGURATIONS (EFS's default) deletes the source's side too, which needs the primary. When EFS cannot
        (the primary dark: a 5xx; or refused: another account's file system policy), LOCAL_CONFIGURATION_ONLY
        deletes the recovery side's only, which is what makes the replica writable (botocore's
        DeleteReplicationConfigurationRequest.DeletionMode). The first call is made once, without botocore's
        retries (ten attempts with backoff, about a minute against a dark primary), and a failure is never
        re-raised for the task to retry: a failover must not wait on the primary, and the fallback does not need
        it. What is left on the primary's side, failback deletes (failback.py)."""
        fs_id = replica["FileSystemId"]
        if replication_of(efs, fs_id) is None and protection(replica) != REPLICATING:
            return False
        try:
            once = ctx.recovery.client("efs", attempts=1)
            once.delete_replication_configuration(SourceFileSystemId=fs_id, DeletionMode="ALL_CONFIGURATIONS")
        except ClientError as exc:
            if error_code(exc) != "ReplicationNotFound":
                self._delete_local(efs, fs_id)
                warnings.append(f"replication deleted on the recovery side only ({error_code(exc)}); the source "
                                "file system still lists it: delete it there once the primary is back")
        # boto3 has no EFS waiters, and EFS takes minutes to make a replica writable: poll its description
        for _ in range(POLL_ATTEMPTS):
            fs = efs.describe_file_systems(FileSystemId=fs_id)["FileSystems"][0]
            if protection(fs) != REPLICATING and fs["LifeCycleState"] == "available":
                return True
            time.sleep(POLL_SECONDS)
        raise Retryable(f"the replica {fs_id} is still read-only after {POLL_SECONDS * POLL_ATTEMPTS} s")

    def _delete_local(self, efs: Any, fs_id: str) -> None:
        try:
            efs.delete_replication_configuration(SourceFileSystemId=fs_id, DeletionMode="LOCAL_CONFIGURATION_ONLY")
        except ClientError as exc:
            if error_code(exc) != "ReplicationNotFound":  # gone meanwhile (the first call did delete it after all)
                raise

    def _lifecycle(self, efs: Any, fs_id: str, policies: list[dict[str, Any]]) -> bool:
        current = efs.describe_lifecycle_configuration(FileSystemId=fs_id)["LifecyclePolicies"]
        if current == policies:
            return False
        efs.put_lifecycle_configuration(FileSystemId=fs_id, LifecyclePolicies=policies)
        return True

    def _mount_targets(self, resource: Resource, ctx: ApplyContext, efs: Any, fs_id: str,
                       warnings: list[str]) -> tuple[dict[str, str], bool]:
        """One mount target per recovered subnet, adopted by subnet on a re-run; returns {subnet: mount target}."""
        wanted = [(ctx.ref(m["subnet"]), sorted(ctx.ref(g) for g in m["security_groups"]), m)
                  for m in resource.config["mount_targets"]]
        if not wanted:
            return {}, False
        ec2 = ctx.recovery.client("ec2")
        subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(SubnetIds=sorted({w[0] for w in wanted}))["Subnets"]}
        vpc = next(iter(subnets.values()))["VpcId"]
        existing = paginate(efs, "describe_mount_targets", "MountTargets", FileSystemId=fs_id)
        changed = self._clear_other_vpc(ctx, efs, ec2, [mt for mt in existing if mt.get("VpcId") != vpc], warnings)
        by_subnet = {mt["SubnetId"]: mt for mt in existing if mt.get("VpcId") == vpc}
        out: dict[str, str] = {}
        for subnet_id, groups, mount in wanted:
            found = by_subnet.get(subnet_id)
            if found is None:
                out[subnet_id] = self._create_mount_target(ctx, efs, fs_id, subnets[subnet_id], groups, mount,
                                                           warnings)
                changed = True
                continue
            out[subnet_id] = found["MountTargetId"]
            current = efs.describe_mount_target_security_groups(MountTargetId=found["MountTargetId"])["SecurityGroups"]
            if sorted(current) != groups:
                efs.modify_mount_target_security_groups(MountTargetId=found["MountTargetId"], SecurityGroups=groups)
                changed = True
        self._wait_available(efs, fs_id)
        return out, changed

    def _clear_other_vpc(self, ctx: ApplyContext, efs: Any, ec2: Any, others: list[dict[str, Any]],
                         warnings: list[str]) -> bool:
        """A file system's mount targets all live in one VPC. Mount targets a drill left on the replica are
        removed at failover (the failover wins); anything else, or any of them during a drill, is named."""
        if not others:
            return False
        subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(
            SubnetIds=sorted({mt["SubnetId"] for mt in others}))["Subnets"]}
        drills = [mt for mt in others if TAG_DRILL in tags_of(subnets.get(mt["SubnetId"], {}))]
        if ctx.mode != Mode.RECOVER or len(drills) != len(others):
            names = ", ".join(f"{mt['MountTargetId']} ({mt['SubnetId']}, {mt.get('VpcId')})" for mt in others)
            raise Unrecoverable(f"the replica is already mounted in another VPC: {names}; a file system's mount "
                                "targets share one VPC (clean up the earlier drill first)")
        by_drill: dict[str, list[str]] = {}
        for mt in drills:
            if delete_quietly(efs.delete_mount_target, MountTargetId=mt["MountTargetId"]):
                by_drill.setdefault(tags_of(subnets[mt["SubnetId"]])[TAG_DRILL], []).append(mt["MountTargetId"])
        self._wait_mounts_gone(efs, [mt["MountTargetId"] for mt in drills])  # until then EFS refuses the new VPC
        for drill, mounts in sorted(by_drill.items()):
            warnings.append(f"the failover took the replica over from drill {drill}: removed its mount target(s) "
                            f"{', '.join(mounts)}; the drill's other resources remain "
                            f"({drill_commands(drill)['cleanup']})")
        return True

    def _create_mount_target(self, ctx: ApplyContext, efs: Any, fs_id: str, subnet: dict[str, Any],
                             groups: list[str], mount: dict[str, Any], warnings: list[str]) -> str:
        kwargs: dict[str, Any] = {"FileSystemId": fs_id, "SubnetId": subnet["SubnetId"], "SecurityGroups": groups}
        ip = ctx.net.ip(mount["ip"]) if mount.get("ip") else None
        if ip and ipaddress.ip_address(ip) in ipaddress.ip_network(subnet["CidrBlock"]):
            kwargs["IpAddress"] = ip  # the same address, so clients with it in /etc/fstab keep working
        try:
            return efs.create_mount_target(**kwargs)["MountTargetId"]
        except ClientError as exc:
            if error_code(exc) != "IpAddressInUse" or "IpAddress" not in kwargs:
                raise
            del kwargs["IpAddress"]
            warnings.append(f"{ip} is in use in {subnet['SubnetId']}: the mount target got another address")
            return efs.create_mount_target(**kwargs)["MountTargetId"]

    def _wait_available(self, efs: Any, fs_id: str) -> None:
        # boto3 has no EFS waiters: poll until every mount target of the file system is available
        for _ in range(POLL_ATTEMPTS):
            states = [mt["LifeCycleState"] for mt in
                      paginate(efs, "describe_mount_targets", "MountTargets", FileSystemId=fs_id)]
            if all(s == "available" for s in states):
                return
            if any(s in ("error", "deleted") for s in states):
                raise Unrecoverable(f"a mount target of {fs_id} failed: {states}")
            time.sleep(POLL_SECONDS)
        raise Retryable(f"mount targets of {fs_id} not available after {POLL_SECONDS * POLL_ATTEMPTS} s")

    def _access_points(self, resource: Resource, ctx: ApplyContext, efs: Any,
                       fs_id: str) -> tuple[dict[str, str], bool]:
        """Each access point recreated once (found by its tags, created with a deterministic token)."""
        mine = {}
        for ap in paginate(efs, "describe_access_points", "AccessPoints", FileSystemId=fs_id):
            tags = tags_of(ap)
            if tags.get(TAG_PLAN) == ctx.plan.name and same_run_kind(ap.get("Tags"), ctx):
                mine.setdefault(tags.get(TAG_SOURCE_ID), ap["AccessPointId"])
        out, changed = {}, False
        for point in resource.config["access_points"]:
            if point["id"] in mine:
                out[point["id"]] = mine[point["id"]]
                continue
            tags = {k: v for k, v in point["tags"].items() if not k.startswith("aws:")}
            tags.update({TAG_PLAN: ctx.plan.name, TAG_SOURCE_ID: point["id"]})
            if ctx.drill_id:
                tags[TAG_DRILL] = ctx.drill_id
            token = f"{ctx.plan.name}:{ctx.mode}:{ctx.drill_id}:{resource.source_id}:{point['id']}"
            kwargs: dict[str, Any] = {"ClientToken": hashlib.sha256(token.encode()).hexdigest()[:64],
                                      "FileSystemId": fs_id,
                                      "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
            if point["posix_user"]:
                kwargs["PosixUser"] = point["posix_user"]
            if point["root_directory"]:
                kwargs["RootDirectory"] = point["root_directory"]
            out[point["id"]] = efs.create_access_point(**kwargs)["AccessPointId"]
            changed = True
        return out, changed
