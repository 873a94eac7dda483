"""Which DRS source server replicates an EC2 instance, when DRS lists more than one for it.

Support for the servers handler and DRS failback (not a handler itself). DRS keys nothing by instance: each
registration of the replication agent is a source server of its own, and the instance id is only an
identification hint (`sourceProperties.identificationHints.awsInstanceID`). An agent installed again on the same
machine (DRS user guide, "Reinstalling the agent"), after its source server was disconnected, registers a new one
and the old stays listed, DISCONNECTED, its last-seen time frozen (DRS API Reference, DisconnectSourceServer). DRS
documents no order for DescribeSourceServers, so "the last one listed" may be the stale one.

The rule: a server still replicating wins over those that are not; of several still replicating (two agents on
one machine), none is chosen and both are named, for the operator to disconnect one. When none replicates (the
primary is dark), the one DRS saw last holds the newest data. (DRS's model has no `isArchived`, MGN's has: a
disconnected or stopped replication is what marks a stale DRS source server.)
"""

from __future__ import annotations

from typing import Any

from core.handler import Unrecoverable

NOT_REPLICATING = ("DISCONNECTED", "STOPPED")


def instance_of(server: dict[str, Any]) -> str | None:
    return server.get("sourceProperties", {}).get("identificationHints", {}).get("awsInstanceID")


def replicating(server: dict[str, Any]) -> bool:
    return server.get("dataReplicationInfo", {}).get("dataReplicationState") not in NOT_REPLICATING


def by_instance(servers: list[dict[str, Any]], direction: str = "FAILOVER") -> dict[str, list[dict[str, Any]]]:
    """Instance id -> the source servers of that replication direction DRS lists for it."""
    out: dict[str, list[dict[str, Any]]] = {}
    for server in servers:
        if server.get("replicationDirection", "FAILOVER") == direction and instance_of(server):
            out.setdefault(instance_of(server), []).append(server)
    return out


def choose(candidates: list[dict[str, Any]], instance_id: str, region: str) -> dict[str, Any] | None:
    """The one source server replicating `instance_id` (see the module's rule); None when DRS lists none.
    Unrecoverable when two or more still replicate it."""
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    live = [s for s in candidates if replicating(s)]
    if len(live) > 1:
        ids = ", ".join(sorted(s["sourceServerID"] for s in live))
        raise Unrecoverable(f"DRS source servers {ids} all replicate {instance_id} into {region}: disconnect the "
                            "ones that are not this machine's agent (DisconnectSourceServer), then run again")
    if live:
        return live[0]
    seen = sorted(candidates, key=lambda s: s.get("lifeCycle", {}).get("lastSeenByServiceDateTime") or "")
    newest, runner_up = seen[-1], seen[-2]
    when = newest.get("lifeCycle", {}).get("lastSeenByServiceDateTime")
    if when is None or when == runner_up.get("lifeCycle", {}).get("lastSeenByServiceDateTime"):
        ids = ", ".join(sorted(s["sourceServerID"] for s in candidates))
        raise Unrecoverable(f"DRS source servers {ids} of {instance_id} in {region} are all disconnected and none "
                            "was seen last: choose one, and disconnect or delete the others")
    return newest


GIB = 1024 ** 3


def disk_names(volumes: list[dict[str, Any]], server: dict[str, Any]) -> dict[str, str]:
    """EC2 device name of each captured volume -> the name of that disk as the DRS source server reports it.

    DRS maps a launch template's volumes by the device name as the source server reports it (the name its OS sees:
    /dev/nvme1n1 on a Nitro instance, where EC2 says /dev/xvdb) and disregards a volume that matches no disk (DRS
    user guide, key considerations for EC2 launch templates): written under EC2's names, the volume type, IOPS,
    throughput and encryption drflow keeps would be dropped without a word. A volume named alike is that disk; the
    others are paired, in order, with a disk of their size. Unrecoverable names a volume that matches no disk."""
    disks = [d for d in server.get("sourceProperties", {}).get("disks", []) if d.get("deviceName")]
    free = [d for d in disks if d["deviceName"] not in {v["device"] for v in volumes}]
    out: dict[str, str] = {}
    for volume in volumes:
        if any(d["deviceName"] == volume["device"] for d in disks):
            out[volume["device"]] = volume["device"]
            continue
        match = next((d for d in free if d.get("bytes") == volume["size"] * GIB), None)
        if match is None:
            reported = ", ".join(f"{d['deviceName']} ({d.get('bytes', 0) // GIB} GiB)" for d in disks) or "none"
            raise Unrecoverable(f"volume {volume['device']} ({volume['size']} GiB) matches no disk DRS source server "
                                f"{server.get('sourceServerID')} reports (disks: {reported}): DRS would launch without "
                                "its settings; wait until DRS replicates it, or detach it from the source")
        free.remove(match)
        out[volume["device"]] = match["deviceName"]
    return out
