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
