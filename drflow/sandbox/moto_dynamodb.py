"""Where the sandbox's moto DynamoDB differs from AWS in a way drflow meets: global-table replicas, and table
exports and imports.

moto 5.2.5 accepts `UpdateTable(ReplicaUpdates=...)` and silently does nothing: kinder than AWS, and a handler
"making" a replica would believe it. AWS (global tables version 2019.11.21, DynamoDB Developer Guide, "Global
tables: how it works"; API Reference, UpdateTable `ReplicaUpdates`, `ReplicationGroupUpdate`) creates a table of
the same name in the other region, asynchronously (the replica is CREATING, then ACTIVE), copies the existing
items, and from then on replicates every write in either region to the other; `DescribeTable` in either region lists
the other replicas under `Replicas` and says `GlobalTableVersion: 2019.11.21`. A PROVISIONED table without auto
scaling is refused ("Table write capacity should either be Pay-Per-Request or AutoScaled"); a replica region where
a table of that name already exists is refused. Here the replica is made on a short timer (never in the answer to
UpdateTable itself), writes are replicated at once (AWS: typically within a second), and `Delete` removes the
replica.

Exports (API Reference, ExportTableToPointInTime, ExportDescription; Developer Guide, "DynamoDB table export output
format"): AWS answers the request IN_PROGRESS (always: an export takes minutes), names the export
`arn:aws:dynamodb:<region>:<account>:table/<name>/export/<export id>`, and writes under
`<S3Prefix>/AWSDynamoDB/<export id>/`: `manifest-summary.json` (named by `ExportManifest`), `manifest-files.json`
and `data/<file>.json.gz`. moto names the export after its table's ARN, writes only a data file, under a folder that
is not the export's, may answer COMPLETED at once, and writes into another account's bucket whatever that bucket's
policy says. Here: AWS's ARN and layout, IN_PROGRESS in the answer, and a bucket of another account is written only
when its bucket policy allows the exporting account s3:PutObject (Developer Guide, "Requesting a table export in
DynamoDB", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Requesting.html: the
exporting identity needs s3:PutObject on the bucket of the other account, which its bucket policy grants);
otherwise the export FAILS with S3AccessDenied, as AWS's does.

Imports: AWS answers ImportTable IN_PROGRESS and lists imports with `ListImports` (API Reference, ListImports:
`TableArn` filter, `ImportSummaryList`), which moto lacks: added here.

Installed by drflow.sandbox.server (as the other shims are), so it applies to the sandbox only.
"""

from __future__ import annotations

import copy
import json
import threading
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any
from uuid import uuid4

from moto.core.utils import gzip_compress
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.table_export import TableExport
from moto.dynamodb.models.table_import import TableImport
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.dynamodb.responses import DynamoHandler
from moto.core.responses import ActionResult

GLOBAL_TABLE_VERSION = "2019.11.21"
REPLICA_DELAY = 0.05  # seconds from UpdateTable to an ACTIVE replica (AWS: minutes)
_LOCK = threading.RLock()


def _group(table: Table) -> dict[str, str]:
    """The replication group a table is a member of, {region: replica status}, one dict shared by every member
    (kept on moto's Table objects, so that moto's reset forgets it with them); {} for a regional table."""
    group = getattr(table, "drflow_group", None) or {}
    return group if len(group) > 1 else {}


def _members(table: Table) -> list[Table]:
    """The other live replicas of a table (ACTIVE, in their regions' backends)."""
    group, out = _group(table), []
    for region, status in list(group.items()):
        if region == table.region_name or status != "ACTIVE":
            continue
        other = dynamodb_backends[table.account_id][region].tables.get(table.name)
        if other is not None and getattr(other, "drflow_group", None) is group:
            out.append(other)
    return out


# ---- describe: Replicas and GlobalTableVersion -----------------------------------------------------------

_describe = Table.describe


def _describe_with_replicas(self: Table, base_key: str = "TableDescription") -> dict[str, Any]:
    result = _describe(self, base_key)
    group = _group(self)
    if group:
        body = result[base_key]
        body["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
        body["Replicas"] = [{"RegionName": region, "ReplicaStatus": status}
                            for region, status in sorted(group.items()) if region != self.region_name]
        if group.get(self.region_name) == "CREATING":
            body["TableStatus"] = "CREATING"
    return result


# ---- replicated writes ----------------------------------------------------------------------------------

_put_item, _delete_item = Table.put_item, Table.delete_item
_local = threading.local()


def _put_replicated(self: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    item = _put_item(self, item_attrs, *args, **kwargs)
    if not getattr(_local, "replicating", False):
        _local.replicating = True
        try:
            for other in _members(self):
                _put_item(other, copy.deepcopy(item.to_json()["Attributes"]))
        finally:
            _local.replicating = False
    return item


def _delete_replicated(self: Table, hash_key: Any, range_key: Any) -> Any:
    item = _delete_item(self, hash_key, range_key)
    if item is not None and not getattr(_local, "replicating", False):
        _local.replicating = True
        try:
            for other in _members(self):
                _delete_item(other, hash_key, range_key)
        finally:
            _local.replicating = False
    return item


def _backend_update_item_hook() -> None:
    """UpdateItem changes the stored item in place (moto's Item.update_with_*): replicate its result."""
    original = DynamoDBBackend.update_item

    def update_item(self: DynamoDBBackend, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        item = original(self, table_name, key, *args, **kwargs)
        table = self.get_table(table_name)
        for other in _members(table):
            _put_item(other, copy.deepcopy(item.to_json()["Attributes"]))
        return item

    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]


# ---- UpdateTable ReplicaUpdates -------------------------------------------------------------------------

def _autoscaled(table: Table) -> bool:
    try:
        from moto.applicationautoscaling.models import applicationautoscaling_backends

        targets = applicationautoscaling_backends[table.account_id][table.region_name].targets
    except (ImportError, KeyError):
        return False
    return any(f"table/{table.name}" in str(key) for key in (targets.get("dynamodb") or {}))


def _create_replica(table: Table, region: str) -> None:
    backend = dynamodb_backends[table.account_id][region]
    if region == table.region_name:
        raise MockValidationException(f"Cannot add replica in the table's own region {region}")
    if table.name in backend.tables:
        raise MockValidationException(
            f"Failed to create a the new replica of table with name: '{table.name}' because one or more replicas "
            "already existed as tables.")
    if table.billing_mode != "PAY_PER_REQUEST" and not _autoscaled(table):
        raise MockValidationException("Table write capacity should either be Pay-Per-Request or AutoScaled.")
    if not table.latest_stream_label:  # a replicated table streams its changes (NEW_AND_OLD_IMAGES)
        table.set_stream_specification({"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    with _LOCK:
        group = table.__dict__.setdefault("drflow_group", {table.region_name: "ACTIVE"})
        group[region] = "CREATING"
    replica = backend.create_table(
        name=table.name, schema=copy.deepcopy(table.schema), throughput=None if table.billing_mode ==
        "PAY_PER_REQUEST" else dict(ReadCapacityUnits=table.throughput["ReadCapacityUnits"],
                                    WriteCapacityUnits=table.throughput["WriteCapacityUnits"]),
        attr=copy.deepcopy(table.attr), global_indexes=[i.describe() for i in table.global_indexes] or None,
        indexes=[i.describe() for i in table.indexes] or None, streams=copy.deepcopy(table.stream_specification),
        billing_mode=table.billing_mode, sse_specification=None, tags=[], deletion_protection_enabled=False,
        warm_throughput=None)
    replica.drflow_group = group
    replica.ttl = copy.deepcopy(table.ttl)  # TTL settings are the global table's (replicated to every replica)

    def done() -> None:
        for item in table.all_items():
            _put_item(replica, copy.deepcopy(item.to_json()["Attributes"]))
        with _LOCK:
            if group.get(region) == "CREATING":
                group[region] = "ACTIVE"

    threading.Timer(REPLICA_DELAY, done).start()


def _delete_replica(table: Table, region: str) -> None:
    with _LOCK:
        group = _group(table)
        if region not in group or region == table.region_name:
            raise MockValidationException(f"Replica in {region} does not exist for table {table.name}")
        group.pop(region)
    dynamodb_backends[table.account_id][region].tables.pop(table.name, None)


_update_table = DynamoHandler.update_table


def _update_table_with_replicas(self: DynamoHandler) -> ActionResult:
    updates = self.body.get("ReplicaUpdates") or []
    if updates:
        table = self.dynamodb_backend.get_table(self.body["TableName"])
        for update in updates:
            if "Create" in update:
                _create_replica(table, update["Create"]["RegionName"])
            elif "Delete" in update:
                _delete_replica(table, update["Delete"]["RegionName"])
    return _update_table(self)


_delete_table = DynamoDBBackend.delete_table


def _delete_table_leaving_group(self: DynamoDBBackend, name: str) -> Any:
    gone = _delete_table(self, name)
    with _LOCK:
        _group(gone).pop(self.region_name, None)
    return gone


# ---- exports --------------------------------------------------------------------------------------------

_export_init = TableExport.__init__


def _export_init_as_aws(self: TableExport, *args: Any, **kwargs: Any) -> None:
    _export_init(self, *args, **kwargs)
    self.export_id = f"{int(datetime.now(timezone.utc).timestamp() * 1000):014d}-{uuid4().hex[:8]}"
    table = self.table
    self.arn = f"arn:{self.partition}:dynamodb:{table.region_name}:{table.account_id}:table/{table.name}/export/" \
               f"{self.export_id}"
    self.start_time = self.export_time = datetime.now(timezone.utc)
    self.end_time: datetime | None = None
    self.folder = f"{self.s3_prefix.rstrip('/')}/AWSDynamoDB/{self.export_id}" if self.s3_prefix \
        else f"AWSDynamoDB/{self.export_id}"
    self.manifest = f"{self.folder}/manifest-summary.json"
    self.answered = False


def _may_write(bucket: Any, writer: str, key: str) -> bool:
    """A bucket policy statement allowing `writer` (the exporting account) s3:PutObject on `key`: the grant a
    bucket of another account needs (this checks Allow statements only, which is what drflow writes)."""
    if not bucket.policy:
        return False
    for statement in json.loads(bucket.policy.decode()).get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        names = principal.get("AWS", []) if isinstance(principal, dict) else principal
        names = [names] if isinstance(names, str) else names or []
        if not any(n == "*" or n == writer or f":{writer}:" in n for n in names):
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatchcase("s3:PutObject", a) for a in actions) and any(
                fnmatchcase(f"arn:aws:s3:::{bucket.name}/{key}", r) for r in resources):
            return True
    return False


def _export_to_s3(self: TableExport, s3_backend: Any) -> None:
    table = self.table
    bucket = s3_backend.buckets[self.s3_bucket]
    if self.account_id != table.account_id and not _may_write(bucket, table.account_id, self.manifest):
        self.status, self.failure_code, self.failure_message = "FAILED", "S3AccessDenied", "Access Denied"
        return
    lines = []
    for item in table.all_items():
        lines.append(dynamo_json_dump(item.to_json(root_attr_name="Item")))
        self.item_count += 1
    body = ("\n".join(lines) + "\n").encode() if lines else b""
    self.processed_bytes = len(body)
    data_key = f"{self.folder}/data/{uuid4().hex}.json.gz"
    s3_backend.put_object(self.s3_bucket, data_key, gzip_compress(body))
    files = json.dumps({"itemCount": self.item_count, "md5Checksum": "", "etag": "", "dataFileS3Key": data_key})
    s3_backend.put_object(self.s3_bucket, f"{self.folder}/manifest-files.json", files.encode())
    self.end_time = datetime.now(timezone.utc)
    summary = {"version": "2020-06-30", "exportArn": self.arn, "startTime": self.start_time.isoformat(),
               "endTime": self.end_time.isoformat(), "tableArn": table.table_arn, "tableId": "",
               "exportTime": self.export_time.isoformat(), "s3Bucket": self.s3_bucket, "s3Prefix": self.s3_prefix,
               "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": None,
               "manifestFilesS3Key": f"{self.folder}/manifest-files.json", "billedSizeBytes": self.processed_bytes,
               "itemCount": self.item_count, "outputFormat": "DYNAMODB_JSON", "exportType": "FULL_EXPORT"}
    s3_backend.put_object(self.s3_bucket, self.manifest, json.dumps(summary).encode())
    self.status = "COMPLETED"


_export_response = TableExport.response


def _export_response_as_aws(self: TableExport) -> dict[str, Any]:
    out = _export_response(self)
    if not self.answered:  # the answer to ExportTableToPointInTime itself: AWS's export has not begun
        self.answered = True
        out.update(ExportStatus="IN_PROGRESS", ItemCount=0, BilledSizeBytes=0)
    out.update(TableArn=self.table.table_arn, StartTime=self.start_time, ExportTime=self.export_time,
               ExportManifest=self.manifest)
    if self.end_time:
        out["EndTime"] = self.end_time
    return {k: v for k, v in out.items() if v is not None}


# ---- imports --------------------------------------------------------------------------------------------

_import_init, _import_response = TableImport.__init__, TableImport.response


def _import_init_as_aws(self: TableImport, *args: Any, **kwargs: Any) -> None:
    _import_init(self, *args, **kwargs)
    self.answered = False
    self.start_time = datetime.now(timezone.utc)


def _import_response_as_aws(self: TableImport) -> dict[str, Any]:
    out = _import_response(self)
    if not self.answered:
        self.answered = True
        out.update(ImportStatus="IN_PROGRESS", ProcessedItemCount=0, ImportedItemCount=0)
    out.update(S3BucketSource=self.s3_source, StartTime=self.start_time)
    return {k: v for k, v in out.items() if v is not None}


def _list_imports(self: DynamoHandler) -> ActionResult:
    table_arn = self.body.get("TableArn")
    summaries = [{"ImportArn": i.arn, "ImportStatus": i.status, "TableArn": i.table_arn,
                  "S3BucketSource": i.s3_source, "InputFormat": "DYNAMODB_JSON", "StartTime": i.start_time}
                 for i in self.dynamodb_backend.table_imports.values() if table_arn in (None, i.table_arn)]
    return ActionResult({"ImportSummaryList": summaries})


def install() -> None:
    Table.describe = _describe_with_replicas  # type: ignore[method-assign]
    Table.put_item = _put_replicated  # type: ignore[method-assign]
    Table.delete_item = _delete_replicated  # type: ignore[method-assign]
    if not getattr(DynamoDBBackend.update_item, "_drflow", False):
        _backend_update_item_hook()
        DynamoDBBackend.update_item._drflow = True  # type: ignore[attr-defined]
    DynamoHandler.update_table = _update_table_with_replicas  # type: ignore[method-assign]
    DynamoDBBackend.delete_table = _delete_table_leaving_group  # type: ignore[method-assign]
    TableExport.__init__ = _export_init_as_aws  # type: ignore[method-assign]
    TableExport._backup_to_s3_file = _export_to_s3  # type: ignore[method-assign]
    TableExport.response = _export_response_as_aws  # type: ignore[method-assign]
    TableImport.__init__ = _import_init_as_aws  # type: ignore[method-assign]
    TableImport.response = _import_response_as_aws  # type: ignore[method-assign]
    DynamoHandler.list_imports = _list_imports  # type: ignore[attr-defined]
