"""Failback of an EFS file system: the recovered file system replicates back into the original one.

Support for `FileSystemHandler.fail_back` (file_systems.py), in phase 2 of flows/failback.py. After a failover
the recovered file system (the former replica, writable since the failover deleted the replication) holds what
was written during the outage.
AWS's documented failback (EFS user guide, "Failing back"; "Replicating to an existing file system"):
replicate the recovered file system into the ORIGINAL file system in the primary region. EFS then sends
only the differences, and the original keeps its id, mount targets and access points, so the primary's
clients mount what they always mounted. Two writes make it, both on the original's terms:

1. the original's replication overwrite protection is set to DISABLED (EFS refuses an existing destination
   otherwise); from that moment the original is READ-ONLY, modified only by EFS replication;
2. `CreateReplicationConfiguration` from the recovered file system, destination the original.

A stale configuration the failover could only delete on the recovery side (the primary was dark) still
lists the original as a source; it is deleted first, on the primary's side only. A re-run finds the
failback replication and writes nothing. What follows is the operator's (reported, not done): once the
replication has synced after the last write in the recovery region, delete it (the original becomes
writable, its protection ENABLED again), switch the clients home, and set the recovered file system's
protection to DISABLED so that drflow's nightly run replicates into it again.

Cross-account (the original is in the source account): EFS needs an IAM role in the replicating account
that it assumes, and file system policies on both file systems (EFS user guide, "Replicating across AWS
accounts"); drflow does not make those, so it skips with that reason, before any write.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from core.aws import Side, error_code, is_transient, paginate
from core.handler import TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID, Unrecoverable, tags_of
from core.models import Resource
from .file_systems import DISABLED, REPLICATING, fs_id, protection, replication_of

ENABLED = "ENABLED"
GONE = ("deleting", "deleted")
CROSS_ACCOUNT = ("cross-account: EFS replicates into a file system of another account only through an IAM role of "
                 "the replicating (recovery) account that EFS assumes, and file system policies on both file "
                 "systems (EFS user guide, 'Replicating across AWS accounts'); drflow does not create those. "
                 "Set them up, then replicate the recovered file system into the original")


def recovered_file_system(efs: Any, plan_name: str, source_id: str) -> dict[str, Any] | None:
    """The failover's file system in the recovery region: production's replica (never a drill's)."""
    for fs in paginate(efs, "describe_file_systems", "FileSystems"):
        tags = tags_of(fs)
        if tags.get(TAG_PLAN) == plan_name and tags.get(TAG_SOURCE_ID) == source_id and TAG_DRILL not in tags \
                and fs.get("LifeCycleState") not in GONE:
            return fs
    return None


def _original(efs: Any, resource: Resource, region: str) -> dict[str, Any]:
    try:
        fs = efs.describe_file_systems(FileSystemId=resource.source_id)["FileSystems"][0]
    except ClientError as exc:
        if error_code(exc) != "FileSystemNotFound":
            raise
        fs = None
    if fs is None or fs.get("LifeCycleState") in GONE:
        raise Unrecoverable(f"{resource.label}: the original file system is no longer in {region}; nothing to "
                            "replicate into (replicate the recovered one to a new file system by hand)")
    if fs.get("LifeCycleState") != "available":
        raise Unrecoverable(f"{resource.label}: the original file system is {fs.get('LifeCycleState')}, not available")
    return fs


def replicate_home(resource: Resource, recovery: Side, source: Side, plan_name: str) -> dict[str, Any]:
    """Replicate the recovered file system into the original one (see the module's docstring); returns the
    details for the report, with `created`: whether this call made the replication."""
    refs, sefs = recovery.client("efs"), source.client("efs")
    recovered = recovered_file_system(refs, plan_name, resource.source_id)
    if recovered is None:
        raise Unrecoverable(f"{resource.label}: no recovered file system of this plan in {recovery.region}")
    rec_id, orig_id = recovered["FileSystemId"], resource.source_id
    details: dict[str, Any] = {
        "recovered": rec_id, "replication": f"{rec_id} ({recovery.region}) -> {orig_id} ({source.region})",
        "next": "once the replication has synced after the last write in the recovery region: delete it (the "
                f"original {orig_id} becomes writable again), switch clients home, then set the overwrite "
                f"protection of {rec_id} to DISABLED so the nightly run replicates into it again",
        "warnings": [], "created": False}
    current = replication_of(refs, rec_id)
    if current is not None:
        return _adopt(current, resource, rec_id, source.region, details)
    if protection(recovered) == REPLICATING:
        raise Unrecoverable(f"{resource.label}: {rec_id} is still a read-only replica: the failover did not make it "
                            "writable, so it holds nothing to fail back")
    original = _original(sefs, resource, source.region)
    stale = replication_of(sefs, orig_id)
    if stale is not None:
        _drop_stale(sefs, stale, resource, rec_id, details)
        original = _original(sefs, resource, source.region)
    disabled_now = protection(original) != DISABLED
    if disabled_now:
        sefs.update_file_system_protection(FileSystemId=orig_id, ReplicationOverwriteProtection=DISABLED)
    try:
        made = refs.create_replication_configuration(SourceFileSystemId=rec_id, Destinations=[
            {"Region": source.region, "FileSystemId": original["FileSystemArn"]}])
    except ClientError as exc:
        if disabled_now and not is_transient(exc):  # refused for good: leave the original writable, as it was
            sefs.update_file_system_protection(FileSystemId=orig_id, ReplicationOverwriteProtection=ENABLED)
        raise
    details.update(created=True, status=made["Destinations"][0]["Status"])
    details["warnings"].append(f"the original file system {orig_id} is read-only while it is the replication's "
                               "destination")
    return details


def _adopt(current: dict[str, Any], resource: Resource, rec_id: str, region: str,
           details: dict[str, Any]) -> dict[str, Any]:
    """An earlier failback made the replication: check it points home, write nothing."""
    destination = current["Destinations"][0]
    if fs_id(current["SourceFileSystemId"]) != rec_id or fs_id(destination["FileSystemId"]) != resource.source_id \
            or destination["Region"] != region:
        raise Unrecoverable(f"{resource.label}: {rec_id} already takes part in another replication "
                            f"({current['SourceFileSystemId']} -> {destination['FileSystemId']} in "
                            f"{destination['Region']}); EFS allows one per file system")
    details["status"] = destination["Status"]
    if destination.get("LastReplicatedTimestamp"):
        details["last_replicated"] = str(destination["LastReplicatedTimestamp"])
    if destination["Status"] not in ("ENABLED", "ENABLING"):
        details["warnings"].append(f"the failback replication is {destination['Status']}: "
                                   f"{destination.get('StatusMessage', 'no message')}")
    return details


def _drop_stale(sefs: Any, stale: dict[str, Any], resource: Resource, rec_id: str, details: dict[str, Any]) -> None:
    """The original still lists the nightly replication into the file system the failover recovered (deleted
    there while the primary was dark): delete the primary's side of it. Anything else is not drflow's to undo."""
    destination = stale["Destinations"][0]
    if fs_id(stale["SourceFileSystemId"]) != resource.source_id or fs_id(destination["FileSystemId"]) != rec_id:
        raise Unrecoverable(f"{resource.label}: the original file system takes part in another replication "
                            f"({stale['SourceFileSystemId']} -> {destination['FileSystemId']}); EFS allows one "
                            "per file system: delete it, then fail back again")
    sefs.delete_replication_configuration(SourceFileSystemId=resource.source_id,
                                          DeletionMode="LOCAL_CONFIGURATION_ONLY")
    details["warnings"].append(f"deleted the primary's side of the old replication {resource.source_id} -> {rec_id} "
                               "(the failover could delete only the recovery side)")
