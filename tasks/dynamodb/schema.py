"""A table's shape as drflow captures it from DescribeTable, and the calls that give a recovered table that shape.

What is captured (botocore's dynamodb model, TableDescription): key schema, attribute definitions, global and
local secondary indexes (name, keys, projection, provisioned throughput), billing mode and provisioned throughput,
the stream (StreamSpecification), encryption (SSEDescription: the key is mapped through the plan like any other),
table class, deletion protection; beside it TTL (DescribeTimeToLive) and point-in-time recovery
(DescribeContinuousBackups). Counters and states (item count, size, status, index status, decreases today) are not:
they are no part of what the table is.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from botocore.exceptions import ClientError

from core.aws import error_code, paginate
from core.handler import Unrecoverable
from core.ownership import tag_dict

TABLE = "dynamodb:table"
NOT_FOUND = {"ResourceNotFoundException", "TableNotFoundException"}
PAY_PER_REQUEST = "PAY_PER_REQUEST"
# what a poll waits between two reads (seconds): short first (an empty table is ACTIVE in seconds), then at most the
# period botocore's own DynamoDB waiters poll at (waiters-2.json: TableExists, ExportCompleted, ImportCompleted: 20)
POLL = (0.05, 0.2, 0.5, 1, 2, 5, 10, 20)


def describe(ddb: Any, name: str) -> dict[str, Any] | None:
    try:
        return ddb.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return None
        raise


def tags(ddb: Any, arn: str) -> dict[str, str]:
    return tag_dict(paginate(ddb, "list_tags_of_resource", "Tags", ResourceArn=arn))


def _throughput(value: dict[str, Any] | None) -> dict[str, int] | None:
    if not value or not value.get("ReadCapacityUnits"):
        return None  # on demand: DescribeTable answers 0/0
    return {"ReadCapacityUnits": value["ReadCapacityUnits"], "WriteCapacityUnits": value["WriteCapacityUnits"]}


def _index(index: dict[str, Any]) -> dict[str, Any]:
    out = {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}
    throughput = _throughput(index.get("ProvisionedThroughput"))
    if throughput:
        out["ProvisionedThroughput"] = throughput
    return out


def capture(table: dict[str, Any], ttl: dict[str, Any], pitr: dict[str, Any]) -> dict[str, Any]:
    """The table's shape, from DescribeTable, DescribeTimeToLive and DescribeContinuousBackups."""
    stream = table.get("StreamSpecification") or {}
    return {
        "attributes": sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "key_schema": table["KeySchema"],
        "billing_mode": (table.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED",
        "throughput": _throughput(table.get("ProvisionedThroughput")),
        "gsis": sorted((_index(i) for i in table.get("GlobalSecondaryIndexes") or []), key=lambda i: i["IndexName"]),
        "lsis": sorted((_index(i) for i in table.get("LocalSecondaryIndexes") or []), key=lambda i: i["IndexName"]),
        "stream": stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        "table_class": (table.get("TableClassSummary") or {}).get("TableClass") or "STANDARD",
        "deletion_protection": bool(table.get("DeletionProtectionEnabled")),
        "ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None,
        "pitr": (pitr.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus") == "ENABLED",
    }


def sse_specification(key: str | None) -> dict[str, Any] | None:
    """SSESpecification for the recovery key (None: DynamoDB's default, an AWS owned key). The AWS managed key
    `alias/aws/dynamodb` is asked for by SSEType KMS without a key (API Reference, SSESpecification)."""
    if key is None:
        return None
    if key in ("alias/aws/dynamodb",):
        return {"Enabled": True, "SSEType": "KMS"}
    return {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}


def creation(cfg: dict[str, Any], name: str, key: str | None) -> dict[str, Any]:
    """The parameters CreateTable and ImportTable's TableCreationParameters share."""
    params: dict[str, Any] = {"TableName": name, "AttributeDefinitions": cfg["attributes"],
                              "KeySchema": cfg["key_schema"], "BillingMode": cfg["billing_mode"]}
    if cfg["billing_mode"] != PAY_PER_REQUEST and cfg["throughput"]:
        params["ProvisionedThroughput"] = cfg["throughput"]
    gsis = [{k: v for k, v in i.items() if k != "ProvisionedThroughput" or cfg["billing_mode"] != PAY_PER_REQUEST}
            for i in cfg["gsis"]]
    if gsis:
        params["GlobalSecondaryIndexes"] = gsis
    sse = sse_specification(key)
    if sse:
        params["SSESpecification"] = sse
    return params


def wait(check: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll `check` until it is True (DynamoDB's table creations, replicas, exports and imports are asynchronous);
    Unrecoverable naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    for attempt in range(10_000):
        if check():
            return
        if time.monotonic() > deadline:
            raise Unrecoverable(f"{what}: not done after {int(timeout)} s")
        time.sleep(POLL[min(attempt, len(POLL) - 1)])


def active(ddb: Any, name: str, timeout: float = 3600) -> dict[str, Any]:
    """The table once ACTIVE (a table is CREATING or UPDATING for a while after CreateTable and UpdateTable)."""
    found: dict[str, Any] = {}

    def ready() -> bool:
        found.update(describe(ddb, name) or {"TableStatus": "MISSING"})
        return found["TableStatus"] == "ACTIVE"

    wait(ready, f"table {name}", timeout)
    return found


def reconcile(ddb: Any, table: dict[str, Any], cfg: dict[str, Any], wanted_tags: dict[str, str],
              *, stream: bool = True, ttl: bool = True, deletion_protection: bool = True) -> list[str]:
    """Tags, stream, TTL, point-in-time recovery and deletion protection of a recovered table put right (each only
    when it differs: a second run writes nothing). Returns the writes made."""
    writes: list[str] = []
    name, arn = table["TableName"], table["TableArn"]
    have = tags(ddb, arn)
    missing = {k: v for k, v in wanted_tags.items() if have.get(k) != v}
    if missing:
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in sorted(missing.items())])
        writes.append("tag_resource")
    spec = table.get("StreamSpecification") or {}
    have_stream = spec.get("StreamViewType") if spec.get("StreamEnabled") else None
    if stream and cfg["stream"] and have_stream != cfg["stream"]:
        if have_stream:  # a stream's view type is set when it is enabled: off first, then on
            ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
            active(ddb, name)
        ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": True,
                                                              "StreamViewType": cfg["stream"]})
        active(ddb, name)
        writes.append("update_table:stream")
    if deletion_protection and bool(table.get("DeletionProtectionEnabled")) != cfg["deletion_protection"]:
        ddb.update_table(TableName=name, DeletionProtectionEnabled=cfg["deletion_protection"])
        active(ddb, name)
        writes.append("update_table:deletion_protection")
    if ttl and cfg["ttl"]:
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING") or current.get("AttributeName") != cfg["ttl"]:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True,
                                                                             "AttributeName": cfg["ttl"]})
            writes.append("update_time_to_live")
    if cfg["pitr"]:
        current = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        if (current.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus") != "ENABLED":
            ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True})
            writes.append("update_continuous_backups")
    return writes
