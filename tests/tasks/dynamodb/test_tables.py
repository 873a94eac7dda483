"""DynamoDB tables, handler-direct on the sandbox (its DynamoDB shim makes replicas, exports and imports as AWS does,
drflow/sandbox/moto_dynamodb.py): after a failover with the primary dark, the table is in the recovery region with
its index, stream, tags and the sample shop's rows; a second night writes nothing, a second failover creates
nothing; a drill's table is a suffixed copy, removed by cleanup, the live replica untouched; cross-account, the
export lands in the recovery account's vault and is imported there."""

from __future__ import annotations

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext, CleanupContext
from core.models import Mode
from core.netmap import NetworkMapper
from core.ownership import TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID
from core.plan import PlanError
from core.vault import Vault
from drflow.sandbox.accounts import recovery_role, session_for
from drflow.sandbox.faults import Faults
from drflow.sandbox.seed_apps import CART_ROWS, TABLE
from tasks.dynamodb import TableHandler

OTHER = "222222222222"
DRILL = "drill-20261207t035500"


def _seed(pitr: bool = False) -> str:
    """shop-carts as the sample shop seeds it (drflow/sandbox/seed_apps.py), and an untagged table beside it."""
    ddb = boto3.client("dynamodb", region_name=SOURCE)
    arn = ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST", Tags=[{"Key": "app", "Value": "shop"}],
        AttributeDefinitions=[{"AttributeName": "cart_id", "AttributeType": "S"},
                              {"AttributeName": "customer", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "cart_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-customer", "KeySchema": [{"AttributeName": "customer",
                                                                            "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})["TableDescription"]["TableArn"]
    for row in CART_ROWS:
        ddb.put_item(TableName=TABLE, Item=row)
    ddb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    if pitr:
        ddb.update_continuous_backups(TableName=TABLE, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True})
    ddb.create_table(TableName="not-in-scope", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    return arn


def _apply(plan, mode=Mode.STAGE, drill_id=None):
    aws = AwsAccess(plan)
    if mode == Mode.STAGE:
        Vault(aws.vault, plan.vault_bucket, plan.name).ensure()
    handler = TableHandler()
    [resource] = handler.discover(aws.source, plan) if mode == Mode.STAGE else _point[plan.name]
    _point[plan.name] = [resource]
    ctx = ApplyContext(plan=plan, recovery=aws.recovery, mode=mode, deps={}, net=NetworkMapper({}, {}, RECOVERY),
                       index=OwnedIndex(), drill_id=drill_id, source=aws.source if mode == Mode.STAGE else None)
    applied = handler.apply(resource, ctx)
    if applied.recovered_id:
        assert handler.find(resource, ctx) == applied.recovered_id
    return resource, applied


_point: dict = {}  # the recovery point's resource of the last night, as a failover reads it from the vault


def _rows(client, name: str) -> list[dict]:
    items = [i for p in client.get_paginator("scan").paginate(TableName=name) for i in p["Items"]]
    return sorted(items, key=lambda i: i["cart_id"]["S"])


def _writes(sandbox, plan) -> list[str]:
    return [c.operation for c in sandbox.calls if c.write and plan.vault_bucket not in c.operation]


def _assert_recovered(client, name: str, resource) -> dict:
    table = client.describe_table(TableName=name)["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-customer"]
    assert table["KeySchema"] == [{"AttributeName": "cart_id", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["AttributeName"] == "expires"
    assert _rows(client, name) == CART_ROWS
    tags = {t["Key"]: t["Value"] for t in client.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]}
    assert tags["app"] == "shop" and tags[TAG_SOURCE_ID] == resource.source_id
    return table


def test_replica_mode_stages_a_replica_that_a_failover_adopts_with_the_primary_dark(sandbox):
    _seed()
    plan = make_plan()  # same account: tables default auto = replica
    resource, night = _apply(plan)
    assert resource.config["mode"] == "replica" and night.created
    rec = boto3.client("dynamodb", region_name=RECOVERY)
    replica = _assert_recovered(rec, TABLE, resource)
    assert replica["GlobalTableVersion"] == "2019.11.21" and night.recovered_id == replica["TableArn"]
    assert night.endpoints == {"stream": replica["LatestStreamArn"]} and RECOVERY in replica["LatestStreamArn"]
    sandbox.app.clear_log()
    _, again = _apply(plan)
    assert not (again.created or again.changed) and _writes(sandbox, plan) == []  # a second night writes nothing
    boto3.client("dynamodb", region_name=SOURCE).put_item(TableName=TABLE, Item={"cart_id": {"S": "late"},
                                                                                  "customer": {"S": "c"}})
    assert len(_rows(rec, TABLE)) == len(CART_ROWS) + 1  # DynamoDB keeps the replica current

    sandbox.faults = Faults(dark={SOURCE})
    sandbox.app.clear_log()
    _, failover = _apply(plan, Mode.RECOVER)
    assert failover.recovered_id == replica["TableArn"] and not failover.created
    _, second = _apply(plan, Mode.RECOVER)
    assert not (second.created or second.changed)
    assert _writes(sandbox, plan) == [] and all(c.region != SOURCE or c.fault for c in sandbox.calls)


def test_a_replica_mode_drill_copies_the_replica_into_a_suffixed_table_that_cleanup_removes(sandbox):
    _seed()
    plan = make_plan()
    _apply(plan)
    sandbox.faults = Faults(dark={SOURCE})
    resource, drill = _apply(plan, Mode.DRILL, DRILL)
    rec = boto3.client("dynamodb", region_name=RECOVERY)
    name = drill.recovered_id.rsplit("/", 1)[-1]
    assert name.startswith(f"{TABLE}-") and drill.details["copied_from"] == TABLE
    table = _assert_recovered(rec, name, resource)
    tags = {t["Key"]: t["Value"] for t in rec.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]}
    assert tags[TAG_DRILL] == DRILL and tags[TAG_PLAN] == plan.name
    gone = TableHandler().cleanup(CleanupContext(plan=plan, recovery=AwsAccess(plan).recovery))
    assert gone == [name] and rec.list_tables()["TableNames"] == [TABLE]  # the live replica stays
    assert _rows(rec, TABLE) == CART_ROWS


def test_export_mode_imports_the_nightly_export_at_failover(sandbox):
    _seed(pitr=True)
    plan = make_plan(tables={"data": {TABLE: "export"}})
    resource, night = _apply(plan)
    assert night.details["mode"] == "export" and night.details["writes"] == ["export_table_to_point_in_time"]
    assert night.details["manifest"].startswith(f"{plan.name}/dynamodb/{TABLE}/AWSDynamoDB/")
    rec = boto3.client("dynamodb", region_name=RECOVERY)
    assert rec.list_tables()["TableNames"] == []  # nightly: the rows are in the vault, no table yet
    sandbox.app.clear_log()
    again, second_night = _apply(plan)
    assert again.data["export"]["arn"] == night.details["export"]  # the recovery point names the export
    assert not second_night.changed and _writes(sandbox, plan) == []  # tonight's export is reused

    sandbox.faults = Faults(dark={SOURCE})
    sandbox.app.clear_log()
    _, failover = _apply(plan, Mode.RECOVER)
    assert failover.created and failover.details["items"] == len(CART_ROWS)
    table = _assert_recovered(rec, TABLE, resource)
    assert failover.endpoints == {"stream": table["LatestStreamArn"]}
    assert all(c.region != SOURCE for c in sandbox.calls if not c.fault)
    _, second = _apply(plan, Mode.RECOVER)
    assert second.recovered_id == failover.recovered_id and not (second.created or second.changed)
    assert [op for op in _writes(sandbox, plan) if op.startswith(("Create", "Import"))] == ["ImportTable"]

    _, drill = _apply(plan, Mode.DRILL, DRILL)
    assert drill.recovered_id != failover.recovered_id
    _assert_recovered(rec, drill.recovered_id.rsplit("/", 1)[-1], resource)
    gone = TableHandler().cleanup(CleanupContext(plan=plan, recovery=AwsAccess(plan).recovery))
    assert len(gone) == 1 and rec.list_tables()["TableNames"] == [TABLE]


def test_an_import_killed_before_its_tags_is_found_again_and_finished(sandbox):
    _seed(pitr=True)
    plan = make_plan(tables={"default": "export"})
    _apply(plan)
    sandbox.faults = Faults(dark={SOURCE}, fail_write=2)  # ImportTable lands, TagResource is refused
    with pytest.raises(Exception):
        _apply(plan, Mode.RECOVER)
    sandbox.faults = Faults(dark={SOURCE})
    sandbox.app.clear_log()
    resource, again = _apply(plan, Mode.RECOVER)
    assert not again.created and "tag_resource" in again.details["writes"]
    assert "ImportTable" not in _writes(sandbox, plan)
    _assert_recovered(boto3.client("dynamodb", region_name=RECOVERY), TABLE, resource)


def test_cross_account_the_export_lands_in_the_recovery_accounts_vault_and_is_imported_there(sandbox):
    _seed(pitr=True)
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY,
                               "role_arn": recovery_role(OTHER, trusted=ACCOUNT)})
    resource, night = _apply(plan)  # auto: export, across accounts
    assert night.details["writes"] == ["put_bucket_policy", "export_table_to_point_in_time"]
    assert f":{ACCOUNT}:table/{TABLE}/export/" in night.details["export"]
    sandbox.faults = Faults(dark={SOURCE})
    _, failover = _apply(plan, Mode.RECOVER)
    assert f":{OTHER}:table/{TABLE}" in failover.recovered_id
    _assert_recovered(session_for(OTHER, RECOVERY).client("dynamodb"), TABLE, resource)


def test_a_cross_account_export_into_a_bucket_that_does_not_allow_it_fails_as_on_aws(sandbox):
    arn = _seed(pitr=True)
    session_for(OTHER, RECOVERY).client("s3").create_bucket(
        Bucket="closed-vault", CreateBucketConfiguration={"LocationConstraint": RECOVERY})
    ddb = boto3.client("dynamodb", region_name=SOURCE)
    started = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="closed-vault", S3BucketOwner=OTHER,
                                                S3Prefix="x")["ExportDescription"]
    assert started["ExportStatus"] == "IN_PROGRESS"  # AWS exports are asynchronous
    from tasks.dynamodb.schema import wait

    wait(lambda: ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"]["ExportStatus"] != "IN_PROGRESS",
         "export", 10)
    done = ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"]
    assert (done["ExportStatus"], done["FailureCode"]) == ("FAILED", "S3AccessDenied")


def test_without_point_in_time_recovery_an_export_table_is_reported_not_protected(sandbox):
    _seed(pitr=False)
    plan = make_plan(tables={"default": "export"})
    _, night = _apply(plan)
    assert night.skipped and TABLE in night.skipped and "point-in-time recovery is off" in night.warnings[0]
    sandbox.faults = Faults(dark={SOURCE})
    _, failover = _apply(plan, Mode.RECOVER)  # the schema comes back, empty, and the report says so
    assert failover.created and "EMPTY" in failover.warnings[0]


def test_the_plan_refuses_replica_mode_across_accounts_naming_the_field():
    with pytest.raises(PlanError) as refused:
        make_plan(recovery={"account_id": OTHER, "region": RECOVERY, "role_arn": f"arn:aws:iam::{OTHER}:role/r"},
                  tables={"default": "replica", "data": {TABLE: "replica", "other": "export"}})
    fields = [f for f, _ in refused.value.problems]
    assert fields == ["tables.default", f"tables.data.{TABLE}"]
    with pytest.raises(PlanError, match="tables.data: .x. is not a DynamoDB table name"):
        make_plan(tables={"data": {"x": "export"}})  # not a table name (3-255 characters)
    assert make_plan().tables.mode_for(TABLE, cross_account=False) == "replica"


def test_a_night_killed_after_adding_the_replica_finds_it_again_and_only_tags_it(sandbox):
    _seed()
    plan = make_plan()
    Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name).ensure()
    sandbox.faults = Faults(fail_write=2)  # UpdateTable (the replica) lands, TagResource is refused
    with pytest.raises(Exception):
        _apply(plan)
    sandbox.faults = Faults()
    sandbox.app.clear_log()
    resource, again = _apply(plan)
    assert _writes(sandbox, plan) == ["TagResource"] and not again.created
    _assert_recovered(boto3.client("dynamodb", region_name=RECOVERY), TABLE, resource)


def test_exports_beyond_the_vaults_keep_are_deleted_once_a_new_one_is_complete(sandbox, monkeypatch):
    from tasks.dynamodb import exports

    _seed(pitr=True)
    plan = make_plan(tables={"default": "export"}, vault={"keep": 1})
    _, first = _apply(plan)
    monkeypatch.setattr(exports, "_fresh", lambda export, plan: False)  # the next night, a day later
    _, second = _apply(plan)
    assert second.details["writes"] == ["export_table_to_point_in_time", "delete_objects"]
    s3 = boto3.client("s3", region_name=RECOVERY)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=plan.vault_bucket, Prefix=f"{plan.name}/dynamodb/")["Contents"]]
    folders = {k.split("/AWSDynamoDB/")[1].split("/")[0] for k in keys}
    assert folders == {second.details["export"].rsplit("/", 1)[-1]}
    assert not s3.list_object_versions(Bucket=plan.vault_bucket, Prefix=first.details["manifest"]).get("Versions")
