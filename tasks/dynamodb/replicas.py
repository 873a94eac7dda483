"""Replica mode: the table is a global table (version 2019.11.21) with a replica in the recovery region, which
DynamoDB keeps current; nightly staging makes the replica, a failover adopts it (the primary dark: DescribeTable is
answered by the replica's own region), a drill copies it into a table of its own.

The replica is made by UpdateTable on the source table (`ReplicaUpdates: [{Create: {RegionName, KMSMasterKeyId}}]`,
API Reference, UpdateTable and CreateReplicationGroupMemberAction: the key is required when the table is encrypted
with a customer managed key); it is CREATING for a while (minutes for a large table), then ACTIVE, when DynamoDB
has copied the existing items (Developer Guide, "Global tables: how it works"). A global table's replicas share key
schema, indexes, stream and TTL (replicated settings); each replica has its own tags, point-in-time recovery and
deletion protection, which drflow sets on the replica.

A drill never writes to the live replica: it creates a suffixed table with the captured schema and copies the
replica's rows into it (Scan, then BatchWriteItem: read and write capacity in proportion to the table's size;
fine for the tables a drill is for, slow for a table of many gigabytes, see the README).
"""

from __future__ import annotations

from typing import Any

from core.handler import ApplyContext, Unrecoverable

from .schema import active, describe, wait

REPLICA_TIMEOUT = 12 * 3600  # a large table's first replica copies every item
BATCH = 25  # BatchWriteItem: at most 25 put or delete requests


def is_replica_of(table: dict[str, Any] | None, region: str) -> bool:
    """A global table (2019.11.21) member that has a replica in `region`: the recovery region's copy of the source
    table, whoever made it (a replica drflow made but had not tagged yet, or one the owner made)."""
    return bool(table) and table.get("GlobalTableVersion") == "2019.11.21" and any(
        r.get("RegionName") == region for r in table.get("Replicas") or [])


def create_replica(src: Any, name: str, region: str, key: str | None) -> None:
    create: dict[str, Any] = {"RegionName": region}
    if key and key != "alias/aws/dynamodb":
        create["KMSMasterKeyId"] = key
    src.update_table(TableName=name, ReplicaUpdates=[{"Create": create}])


def wait_replica(src: Any, rec: Any, name: str, region: str) -> dict[str, Any]:
    """The replica, once ACTIVE as the source table lists it and as its own region describes it."""
    def ready() -> bool:
        table = describe(src, name) or {}
        status = next((r.get("ReplicaStatus") for r in table.get("Replicas") or [] if r.get("RegionName") == region),
                      None)
        if status in ("CREATION_FAILED", "REGION_DISABLED", "INACCESSIBLE_ENCRYPTION_CREDENTIALS"):
            raise Unrecoverable(f"table {name}: its replica in {region} is {status}")
        return status == "ACTIVE"

    wait(ready, f"table {name}: replica in {region}", REPLICA_TIMEOUT)
    return active(rec, name)


def copy_rows(ddb: Any, source: str, target: str) -> int:
    """Every item of `source` into `target`, in the same region (a drill's copy of the replica); returns how many.
    Items left unprocessed by BatchWriteItem (throttled) are sent again, as its API Reference asks."""
    copied = 0
    for page in ddb.get_paginator("scan").paginate(TableName=source, ConsistentRead=True):
        items = page.get("Items", [])
        for start in range(0, len(items), BATCH):
            requests: dict[str, Any] = {target: [{"PutRequest": {"Item": i}} for i in items[start:start + BATCH]]}
            for _ in range(20):
                requests = ddb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
                if not requests:
                    break
            else:
                raise Unrecoverable(f"table {target}: rows still unprocessed after 20 attempts (throttled)")
        copied += len(items)
    return copied


def drill_source(ctx: ApplyContext, name: str) -> str:
    """The live replica a drill copies (read only), refused when nightly staging never made it."""
    replica = describe(ctx.recovery.client("dynamodb"), name)
    if replica is None:
        raise Unrecoverable(f"table {name}: no replica in {ctx.recovery.region} to copy for the drill; run a nightly "
                            "staging first")
    return name
