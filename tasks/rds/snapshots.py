"""RDS and Aurora snapshot copies: which snapshot a night ships, its copy in the recovery region, pruning.

Support for the RDS handlers (not a handler itself). The choice of snapshot is made at discovery and
kept in `Resource.data`, so that it drives the engine's cache: a night that finds a snapshot fresh
enough for the plan's RPO (younger than half of `rpo_minutes`: an automated one, or drflow's own from
an earlier night) records that snapshot; otherwise it records the deterministic identifier of a new
manual snapshot for staging to take. Either way the copy in the recovery region gets a deterministic
identifier too, so a re-run finds the copy instead of copying twice, and a second run right after the
first records the very same data: its resource is unchanged and costs nothing.

Instances and clusters use two parallel APIs (create_db_snapshot / create_db_cluster_snapshot, ...);
`SnapshotApi` names the differences once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import ClientError

from core.aws import Side, error_code, paginate
from core.handler import TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID, ApplyContext, Unrecoverable, tags_of
from core.keys import created_key, recovery_key
from core.models import Resource
from core.plan import Plan

TAG_CAPTURED = "drflow:captured-at"
STAMP = "%Y-%m-%dT%H:%M:%SZ"
# a cross-region copy of a large database takes hours; the source snapshot of a few hundred GiB, less
SNAPSHOT_WAIT = {"Delay": 30, "MaxAttempts": 480}


@dataclass(frozen=True)
class SnapshotApi:
    """One flavour of the RDS snapshot API: "DBSnapshot" (instances) or "DBClusterSnapshot" (Aurora)."""

    prefix: str   # DBSnapshot | DBClusterSnapshot: the response's field names start with it
    word: str     # db_snapshot | db_cluster_snapshot: the operations' names contain it
    owner: str    # DBInstanceIdentifier | DBClusterIdentifier
    arn_kind: str  # snapshot | cluster-snapshot (in the snapshot's ARN)

    @property
    def id_field(self) -> str:
        return f"{self.prefix}Identifier"

    def call(self, client: Any, verb: str, **kwargs: Any) -> Any:
        """client.<verb>_<word>(...), e.g. call(rds, "create", ...) -> create_db_cluster_snapshot."""
        return getattr(client, verb.format(self.word) if "{}" in verb else f"{verb}_{self.word}")(**kwargs)

    def describe(self, client: Any, snapshot_id: str) -> dict[str, Any] | None:
        try:
            items = self.call(client, "describe_{}s", **{self.id_field: snapshot_id})[f"{self.prefix}s"]
        except ClientError as exc:
            if "NotFound" in error_code(exc):
                return None
            raise
        return items[0] if items else None

    def listing(self, client: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return paginate(client, f"describe_{self.word}s", f"{self.prefix}s", **kwargs)


INSTANCE_SNAPSHOTS = SnapshotApi("DBSnapshot", "db_snapshot", "DBInstanceIdentifier", "snapshot")
CLUSTER_SNAPSHOTS = SnapshotApi("DBClusterSnapshot", "db_cluster_snapshot", "DBClusterIdentifier", "cluster-snapshot")


def snapshot_name(plan: Plan, db_id: str, captured_at: str) -> str:
    """drflow-<plan>-<db>-<UTC time>: a valid snapshot identifier (letters, digits, single hyphens)."""
    stamp = captured_at.replace("-", "").replace(":", "").lower()
    return re.sub(r"-{2,}", "-", f"drflow-{plan.name}-{db_id}-{stamp}".lower())


def _drflow_tagged(item: dict[str, Any], plan: Plan, db_id: str) -> bool:
    """A snapshot drflow made for this plan and database (a copy, or a source snapshot it took)."""
    tags = tags_of({"Tags": item.get("TagList")})
    return (tags.get(TAG_PLAN) == plan.name and tags.get(TAG_SOURCE_ID) == db_id and TAG_CAPTURED in tags
            and TAG_DRILL not in tags)


def source_snapshots(source: Side, api: SnapshotApi) -> dict[str, list[dict[str, Any]]]:
    """Every snapshot in the source region, by database: one paginated listing for all of them."""
    by_db: dict[str, list[dict[str, Any]]] = {}
    for item in api.listing(source.client("rds")):
        by_db.setdefault(item.get(api.owner, ""), []).append(item)
    return by_db


def choose_snapshot(plan: Plan, api: SnapshotApi, db_id: str, db_arn: str, snapshots: list[dict[str, Any]],
                    now: datetime) -> dict[str, Any]:
    """Which snapshot tonight ships (see the module's docstring); recorded in the resource's data.

    A cross-account plan never picks an automated snapshot: AWS shares only manual ones.
    """
    cutoff = now - timedelta(minutes=plan.rpo_minutes / 2)
    fresh = [s for s in snapshots if s.get("Status") == "available" and s.get("SnapshotCreateTime")
             and s["SnapshotCreateTime"] >= cutoff
             and ((s.get("SnapshotType") == "automated" and not plan.cross_account)
                  or (s.get("SnapshotType") == "manual" and _drflow_tagged(s, plan, db_id)))]
    arn_prefix = db_arn.rsplit(":", 2)[0]  # arn:aws:rds:<region>:<account>
    if fresh:
        best = max(fresh, key=lambda s: s["SnapshotCreateTime"])
        own = best["SnapshotType"] == "manual"
        captured = (tags_of({"Tags": best.get("TagList")})[TAG_CAPTURED] if own
                    else best["SnapshotCreateTime"].astimezone(timezone.utc).strftime(STAMP))
        snapshot_id = best[api.id_field]
    else:
        captured, own = now.astimezone(timezone.utc).strftime(STAMP), True
        snapshot_id = snapshot_name(plan, db_id, captured)
    return {"id": snapshot_id, "arn": f"{arn_prefix}:{api.arn_kind}:{snapshot_id}", "captured_at": captured,
            "automated": not own, "copy": snapshot_name(plan, db_id, captured)}


def _tags(ctx: ApplyContext, resource: Resource) -> list[dict[str, str]]:
    """Tags of drflow's snapshots: found, ordered and pruned by them. Never a drill tag (staging only)."""
    return [{"Key": TAG_PLAN, "Value": ctx.plan.name}, {"Key": TAG_SOURCE_ID, "Value": resource.source_id},
            {"Key": TAG_CAPTURED, "Value": resource.data["snapshot"]["captured_at"]}]


def _ensure_source_snapshot(resource: Resource, ctx: ApplyContext, api: SnapshotApi) -> bool:
    """The chosen source snapshot exists and is available (taken now when the night's choice was a new one),
    and is shared with the recovery account in a cross-account plan. True when that took a write."""
    assert ctx.source is not None, "snapshots are taken during nightly staging only"
    rds = ctx.source.client("rds")
    snap = resource.data["snapshot"]
    found = api.describe(rds, snap["id"])
    written = False
    if found is None:
        if snap["automated"]:
            raise Unrecoverable(f"automated snapshot {snap['id']} of {resource.source_id} is gone (expired since "
                                "discovery); the next nightly run takes a new one")
        api.call(rds, "create", **{api.id_field: snap["id"], api.owner: resource.source_id,
                                   "Tags": _tags(ctx, resource)})
        written = True
    if found is None or found.get("Status") != "available":
        rds.get_waiter(f"{api.word}_available").wait(**{api.id_field: snap["id"]}, WaiterConfig=SNAPSHOT_WAIT)
    if ctx.plan.cross_account:
        written |= _share(rds, api, snap["id"], ctx.plan.recovery.account_id)
    return written


def _share(rds: Any, api: SnapshotApi, snapshot_id: str, account: str) -> bool:
    """Let the recovery account copy the snapshot (the restore attribute); True when that took a write."""
    result = api.call(rds, "describe_{}_attributes", **{api.id_field: snapshot_id})[f"{api.prefix}AttributesResult"]
    for attribute in result.get(f"{api.prefix}Attributes", []):
        if attribute.get("AttributeName") == "restore" and account in attribute.get("AttributeValues", []):
            return False
    api.call(rds, "modify_{}_attribute", **{api.id_field: snapshot_id, "AttributeName": "restore",
                                            "ValuesToAdd": [account]})
    return True


def stage_copy(resource: Resource, ctx: ApplyContext, api: SnapshotApi) -> tuple[bool, dict[str, Any]]:
    """Make sure tonight's snapshot has its copy in the recovery region (re-encrypted with the mapped key),
    then prune; returns (written, details for the report).

    The copy is not waited for: a failover waits for it if it is still copying, and pruning keeps enough
    finished copies meanwhile.
    """
    rds = ctx.recovery.client("rds")
    snap = resource.data["snapshot"]
    details: dict[str, Any] = {"snapshot": snap["id"], "copy": snap["copy"], "captured_at": snap["captured_at"]}
    copy = api.describe(rds, snap["copy"])
    written = details["copied"] = False
    if copy is None:
        source_key = resource.config.get("kms_key")
        key = recovery_key(ctx.plan, source_key, created_key(ctx, source_key))  # before any write: it may refuse
        written = _ensure_source_snapshot(resource, ctx, api)
        details["taken"] = written and not snap["automated"]
        kwargs: dict[str, Any] = {f"Source{api.id_field}": snap["arn"], f"Target{api.id_field}": snap["copy"],
                                  "SourceRegion": ctx.plan.source.region, "Tags": _tags(ctx, resource)}
        if key:
            kwargs["KmsKeyId"] = key
        copy = api.call(rds, "copy", **kwargs)[api.prefix]
        written = details["copied"] = True
    details["copy_status"] = copy.get("Status")
    details["pruned"] = _prune_copies(ctx, api, resource.source_id, snap["copy"])
    details["pruned_source"] = _prune_source(ctx, api, resource.source_id, snap["id"])
    return written or bool(details["pruned"] or details["pruned_source"]), details


def _prune_copies(ctx: ApplyContext, api: SnapshotApi, db_id: str, current: str) -> list[str]:
    """Keep the newest `databases.keep_snapshots` finished copies (plus any still copying) of drflow's own."""
    rds = ctx.recovery.client("rds")
    copies = sorted((s for s in api.listing(rds, **{api.owner: db_id, "SnapshotType": "manual"})
                     if _drflow_tagged(s, ctx.plan, db_id)),
                    key=lambda s: tags_of({"Tags": s.get("TagList")})[TAG_CAPTURED], reverse=True)
    finished = [s for s in copies if s.get("Status") == "available"]
    keep = {s[api.id_field] for s in finished[:ctx.plan.databases.keep_snapshots]} | {current}
    pruned = []
    for snapshot in finished:
        if snapshot[api.id_field] not in keep:
            api.call(rds, "delete", **{api.id_field: snapshot[api.id_field]})
            pruned.append(snapshot[api.id_field])
    return pruned


def _prune_source(ctx: ApplyContext, api: SnapshotApi, db_id: str, current: str) -> list[str]:
    """drflow's own manual snapshots in the source region only feed the next copy: keep the newest."""
    assert ctx.source is not None
    rds = ctx.source.client("rds")
    own = sorted((s for s in api.listing(rds, **{api.owner: db_id, "SnapshotType": "manual"})
                  if _drflow_tagged(s, ctx.plan, db_id)),
                 key=lambda s: tags_of({"Tags": s.get("TagList")})[TAG_CAPTURED], reverse=True)
    pruned = []
    for snapshot in own[1:]:
        if snapshot[api.id_field] != current and snapshot.get("Status") == "available":
            api.call(rds, "delete", **{api.id_field: snapshot[api.id_field]})
            pruned.append(snapshot[api.id_field])
    return pruned


def copy_problem(resource: Resource, ctx: ApplyContext, api: SnapshotApi) -> str | None:
    """Why the recovery point's snapshot copy cannot be restored from, if it cannot (read-only)."""
    snap = resource.data.get("snapshot")
    if not snap:
        return None
    copy = api.describe(ctx.recovery.client("rds"), snap["copy"])
    if copy is None:
        return (f"snapshot copy {snap['copy']} (captured {snap['captured_at']}) is not in {ctx.recovery.region}: "
                f"pruned (the plan keeps {ctx.plan.databases.keep_snapshots}) or never copied (did the nightly "
                "run stage it?)")
    if copy.get("Status") not in ("available", "copying", "creating", "pending"):
        return f"snapshot copy {snap['copy']} is {copy.get('Status')}, not available"
    return None


def ready_copy(resource: Resource, ctx: ApplyContext, api: SnapshotApi) -> str:
    """The recovery point's snapshot copy, waited for if it is still copying; its identifier."""
    problem = copy_problem(resource, ctx, api)
    if problem:
        raise Unrecoverable(problem)
    copy_id = resource.data["snapshot"]["copy"]
    ctx.recovery.client("rds").get_waiter(f"{api.word}_available").wait(**{api.id_field: copy_id},
                                                                          WaiterConfig=SNAPSHOT_WAIT)
    return copy_id


# ---- failback: the recovered database's data, copied back to the primary region ------------------------

TAG_FAILBACK = "drflow:failback"


def copy_back(resource: Resource, plan: Plan, recovery: Side, source: Side, api: SnapshotApi, recovered_id: str,
              failed_over_at: str) -> dict[str, Any]:
    """Snapshot the recovered database in the recovery region and copy the snapshot into the primary region,
    re-encrypted with the source database's own key. Named after the failover it undoes, so a re-run adopts
    both instead of taking new ones; tagged `drflow:failback`, never `drflow:captured-at`, so nightly pruning
    leaves them alone. The restore from the copy is left to the operator (the original database may still be
    there, with writes the recovery side never saw): the report names the copy to restore from."""
    stamp = re.sub(r"[^0-9a-z]", "", failed_over_at.lower().split(".")[0].split("+")[0])  # 20260102t030405
    name = re.sub(r"-{2,}", "-", f"drflow-{plan.name}-{resource.source_id}-failback-{stamp}".lower())
    tags = [{"Key": TAG_PLAN, "Value": plan.name}, {"Key": TAG_SOURCE_ID, "Value": resource.source_id},
            {"Key": TAG_FAILBACK, "Value": failed_over_at}]
    rds, primary = recovery.client("rds"), source.client("rds")
    details: dict[str, Any] = {"snapshot": name, "copy": name, "copy_region": source.region,
                               "taken": False, "copied": False}
    snapshot = api.describe(rds, name)
    if snapshot is None:
        snapshot = api.call(rds, "create", **{api.id_field: name, api.owner: recovered_id, "Tags": tags})[api.prefix]
        details["taken"] = True
    rds.get_waiter(f"{api.word}_available").wait(**{api.id_field: name}, WaiterConfig=SNAPSHOT_WAIT)
    if plan.cross_account:  # the copy is made by the primary account: let it read the snapshot
        _share(rds, api, name, plan.source.account_id)
    copy = api.describe(primary, name)
    if copy is None:
        kwargs: dict[str, Any] = {f"Source{api.id_field}": snapshot[f"{api.prefix}Arn"],
                                  f"Target{api.id_field}": name, "SourceRegion": recovery.region, "Tags": tags}
        key = (resource.config.get("kms_key") or {}).get("arn")
        if key:
            kwargs["KmsKeyId"] = key
        api.call(primary, "copy", **kwargs)
        details["copied"] = True
    primary.get_waiter(f"{api.word}_available").wait(**{api.id_field: name}, WaiterConfig=SNAPSHOT_WAIT)
    return details
