"""Export mode: a table's rows exported nightly into the vault, imported into a new table at failover.

Nightly: ExportTableToPointInTime (it needs point-in-time recovery on the table: API Reference,
ExportTableToPointInTime, PointInTimeRecoveryUnavailableException) into the vault bucket, under
`<plan>/dynamodb/<table>/`, where DynamoDB writes `AWSDynamoDB/<export id>/manifest-summary.json`, `manifest-files
.json` and `data/*.json.gz` (Developer Guide, "DynamoDB table export output format"). An export younger than half
of the plan's RPO is reused, as database snapshots are (tasks/rds/snapshots.py): a second run in the same night
makes no export, so writes nothing; one export a night is the write a night is for. A cross-account plan's vault is
in the recovery account: its bucket policy lets the source account write that prefix (Developer Guide,
"Requesting a table export in DynamoDB": s3:AbortMultipartUpload, s3:PutObject, s3:PutObjectAcl), and the export
names the bucket's owner (S3BucketOwner).

At failover (primary dark), the newest complete export in the vault (its manifest-summary.json, read on the
recovery side) is imported: ImportTable creates the table with the captured schema and global secondary indexes and
loads the rows; it is asynchronous (IN_PROGRESS, then COMPLETED: botocore's ImportCompleted waiter has the same
acceptors as `wait_import` here). Exports beyond the newest `vault.keep` are deleted from the vault once a new one is complete. ImportTable cannot make local secondary indexes (TableCreationParameters has
none), nor a stream, TTL or tags: the table handler adds those after.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import ClientError

from core.aws import Side, error_code, paginate
from core.handler import ApplyContext, Unrecoverable
from core.plan import Plan

from .schema import wait

EXPORT_TIMEOUT = IMPORT_TIMEOUT = 12 * 3600  # a large table's export or import takes hours
MANIFEST = "manifest-summary.json"
POLICY_SID = "DrflowDynamoDBExportsFromTheSourceAccount"
WRITER_ACTIONS = ["s3:AbortMultipartUpload", "s3:PutObject", "s3:PutObjectAcl"]


def prefix(plan: Plan, table: str) -> str:
    """Where a table's exports go in the vault: under the plan's prefix."""
    return f"{plan.name}/dynamodb/{table}"


def _export_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]  # "<milliseconds since the epoch>-<hex>": sorts by time


def _exports(ddb: Any, table_arn: str) -> list[str]:
    """The table's export ARNs, newest first (ListExports has no botocore paginator: NextToken by hand)."""
    arns, token = [], None
    while True:
        page = ddb.list_exports(TableArn=table_arn, **({"NextToken": token} if token else {}))
        arns += [e["ExportArn"] for e in page.get("ExportSummaries", [])]
        token = page.get("NextToken")
        if not token:
            return sorted(arns, key=_export_id, reverse=True)


def ours(export: dict[str, Any], plan: Plan, table: str) -> bool:
    return export.get("S3Bucket") == plan.vault_bucket and (export.get("S3Prefix") or "").rstrip("/") == prefix(
        plan, table)


def latest(ddb: Any, table_arn: str, plan: Plan, table: str, statuses: tuple[str, ...] = ("COMPLETED",),
           ) -> dict[str, Any] | None:
    """The newest of the table's exports into this plan's vault in one of `statuses` (read-only)."""
    for arn in _exports(ddb, table_arn):
        export = ddb.describe_export(ExportArn=arn)["ExportDescription"]
        if ours(export, plan, table) and export["ExportStatus"] in statuses:
            return export
    return None


def recorded(export: dict[str, Any] | None) -> dict[str, Any]:
    """What the recovery point keeps of an export (Resource.data): which one, and where its manifest is."""
    if not export:
        return {}
    when = export.get("ExportTime") or export.get("StartTime")
    return {"export": {"arn": export["ExportArn"], "manifest": export.get("ExportManifest"),
                       "time": when.isoformat() if isinstance(when, datetime) else when}}


def _fresh(export: dict[str, Any] | None, plan: Plan) -> bool:
    when = (export or {}).get("ExportTime") or (export or {}).get("StartTime")
    return isinstance(when, datetime) and when > datetime.now(timezone.utc) - timedelta(minutes=plan.rpo_minutes / 2)


def wait_export(ddb: Any, arn: str, table: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(ddb.describe_export(ExportArn=arn)["ExportDescription"])
        if found["ExportStatus"] == "FAILED":
            raise Unrecoverable(f"table {table}: export {arn} failed: {found.get('FailureCode')}: "
                                f"{found.get('FailureMessage')}")
        return found["ExportStatus"] == "COMPLETED"

    wait(done, f"table {table}: export {arn}", EXPORT_TIMEOUT)
    return found


def stage(resource: Any, ctx: ApplyContext) -> tuple[dict[str, Any], list[str]]:
    """Tonight's export of one table (reused when fresh enough, or one a killed run started). Returns the export
    and the writes made."""
    plan, table, source = ctx.plan, resource.name, ctx.source
    assert source is not None
    ddb = source.client("dynamodb")
    fresh = latest(ddb, resource.arn, plan, table, ("COMPLETED", "IN_PROGRESS"))
    writes: list[str] = []
    if not _fresh(fresh, plan):
        if plan.cross_account:
            writes += grant_source_writes(ctx.recovery, plan)
        kwargs: dict[str, Any] = {"TableArn": resource.arn, "S3Bucket": plan.vault_bucket,
                                  "S3Prefix": prefix(plan, table), "ExportFormat": "DYNAMODB_JSON",
                                  "ExportType": "FULL_EXPORT"}
        if plan.cross_account:
            kwargs["S3BucketOwner"] = plan.recovery.account_id
        fresh = ddb.export_table_to_point_in_time(**kwargs)["ExportDescription"]
        writes.append("export_table_to_point_in_time")
    assert fresh is not None
    if fresh["ExportStatus"] != "COMPLETED":
        fresh = wait_export(ddb, fresh["ExportArn"], table)
    if writes:
        writes += prune(ctx.recovery, plan, table)
    return fresh, writes


def _folders(s3: Any, plan: Plan, table: str) -> list[str]:
    """The table's complete exports in the vault (those with a manifest summary), oldest first, as key prefixes."""
    keys = paginate(s3, "list_objects_v2", "Contents", Bucket=plan.vault_bucket, Prefix=f"{prefix(plan, table)}/AWSDynamoDB/")
    return sorted({k["Key"].rsplit("/", 1)[0] + "/" for k in keys if k["Key"].endswith(MANIFEST)},
                  key=lambda f: f.rstrip("/").rsplit("/", 1)[-1])


def prune(recovery: Side, plan: Plan, table: str) -> list[str]:
    """Every version of the exports older than the newest `vault.keep` complete ones (a night makes one export,
    as it makes one recovery point: as many are kept); returns the writes made."""
    s3 = recovery.client("s3")
    doomed = _folders(s3, plan, table)[:-plan.vault.keep]
    for folder in doomed:
        versions = paginate(s3, "list_object_versions", "Versions", Bucket=plan.vault_bucket, Prefix=folder)
        markers = paginate(s3, "list_object_versions", "DeleteMarkers", Bucket=plan.vault_bucket, Prefix=folder)
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions + markers]
        for start in range(0, len(objects), 1000):
            s3.delete_objects(Bucket=plan.vault_bucket, Delete={"Objects": objects[start:start + 1000], "Quiet": True})
    return ["delete_objects"] if doomed else []


def grant_source_writes(recovery: Side, plan: Plan) -> list[str]:
    """The vault's bucket policy lets the source account write the plan's table exports (a cross-account export
    writes into a bucket of another account only when that bucket's policy allows it)."""
    s3 = recovery.client("s3")
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=plan.vault_bucket)["Policy"])
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucketPolicy":
            raise
        policy = {"Version": "2012-10-17", "Statement": []}
    wanted = {"Sid": POLICY_SID, "Effect": "Allow",
              "Principal": {"AWS": f"arn:aws:iam::{plan.source.account_id}:root"}, "Action": WRITER_ACTIONS,
              "Resource": f"arn:aws:s3:::{plan.vault_bucket}/{plan.name}/dynamodb/*"}
    statements = [s for s in policy.get("Statement", []) if s.get("Sid") != POLICY_SID]
    if wanted in policy.get("Statement", []):
        return []
    s3.put_bucket_policy(Bucket=plan.vault_bucket, Policy=json.dumps({**policy, "Statement": statements + [wanted]}))
    return ["put_bucket_policy"]


def manifest(vault: Side, plan: Plan, table: str, before: datetime | None = None) -> dict[str, Any] | None:
    """The newest complete export of a table in the vault (its manifest summary, with its key), read on the recovery
    side only; `before`: the newest taken at or before that moment (a failover to a point in time)."""
    s3 = vault.client("s3")
    if before is not None and before.tzinfo is None:
        before = before.replace(tzinfo=timezone.utc)
    try:
        keys = [o["Key"] for o in paginate(s3, "list_objects_v2", "Contents", Bucket=plan.vault_bucket,
                                           Prefix=f"{prefix(plan, table)}/AWSDynamoDB/") if o["Key"].endswith(MANIFEST)]
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucket":
            return None
        raise
    for key in sorted(keys, key=lambda k: k.rsplit("/", 2)[-2], reverse=True):
        summary = json.loads(s3.get_object(Bucket=plan.vault_bucket, Key=key)["Body"].read())
        taken = datetime.fromisoformat(summary["exportTime"])
        if before is None or taken <= before:
            return {**summary, "key": key, "data": key.rsplit("/", 1)[0] + "/data/"}
    return None


def wait_import(ddb: Any, arn: str, table: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(ddb.describe_import(ImportArn=arn)["ImportTableDescription"])
        if found["ImportStatus"] in ("FAILED", "CANCELLED", "CANCELLING"):
            raise Unrecoverable(f"table {table}: import {arn} {found['ImportStatus'].lower()}: "
                                f"{found.get('FailureCode')}: {found.get('FailureMessage')}")
        return found["ImportStatus"] == "COMPLETED"

    wait(done, f"table {table}: import {arn}", IMPORT_TIMEOUT)
    return found


def imported_by_us(ddb: Any, table_arn: str, plan: Plan, table: str) -> dict[str, Any] | None:
    """The import that made (or is making) a table from this plan's exports of `table`: how a re-run knows an
    untagged table as the one a killed run started importing."""
    imports, token = [], None
    while True:
        page = ddb.list_imports(TableArn=table_arn, **({"NextToken": token} if token else {}))
        imports += page.get("ImportSummaryList", [])
        token = page.get("NextToken")
        if not token:
            break
    for summary in imports:
        source = summary.get("S3BucketSource") or {}
        if source.get("S3Bucket") == plan.vault_bucket and (source.get("S3KeyPrefix") or "").startswith(
                prefix(plan, table) + "/") and summary.get("ImportStatus") in ("IN_PROGRESS", "COMPLETED"):
            return summary
    return None
