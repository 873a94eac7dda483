"""Replica mode against botocore's Stubber with the real dynamodb model: moto 5.2.5 does not implement UpdateTable's
ReplicaUpdates (the sandbox's shim stands in for it, drflow/sandbox/moto_dynamodb.py); here every request drflow
sends and every answer it reads is checked against botocore's service model, as AWS documents the calls (API
Reference: UpdateTable `ReplicaUpdates`, CreateReplicationGroupMemberAction; DescribeTable `Replicas`,
`GlobalTableVersion`)."""

from __future__ import annotations

from datetime import datetime, timezone

import botocore.session
from botocore.stub import ANY, Stubber

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext
from core.models import Mode, Resource
from core.netmap import NetworkMapper
from core.ownership import TAG_PLAN, TAG_SOURCE_ID
from tasks.dynamodb import TableHandler
from tasks.dynamodb.schema import capture

NAME = "shop-carts"
SOURCE_ARN = f"arn:aws:dynamodb:{SOURCE}:{ACCOUNT}:table/{NAME}"
REPLICA_ARN = f"arn:aws:dynamodb:{RECOVERY}:{ACCOUNT}:table/{NAME}"
STREAM = f"{REPLICA_ARN}/stream/2026-12-07T03:00:00.000"


class _Side:
    """A side whose dynamodb client is a stubbed one (what core.aws.Side hands out)."""

    def __init__(self, region: str):
        self.region, self.label = region, ""
        self.ddb = botocore.session.get_session().create_client(
            "dynamodb", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
        self.stub = Stubber(self.ddb)

    def client(self, service: str, region: str | None = None, attempts: int | None = None):
        assert service == "dynamodb"
        return self.ddb


def _table(arn: str, replicas: list[dict] | None = None, status: str = "ACTIVE", stream: str | None = None) -> dict:
    table = {"TableName": NAME, "TableArn": arn, "TableStatus": status,
             "AttributeDefinitions": [{"AttributeName": "cart_id", "AttributeType": "S"}],
             "KeySchema": [{"AttributeName": "cart_id", "KeyType": "HASH"}],
             "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
             "CreationDateTime": datetime(2026, 12, 1, tzinfo=timezone.utc), "DeletionProtectionEnabled": False,
             "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    if replicas is not None:
        table.update(GlobalTableVersion="2019.11.21", Replicas=replicas)
    if stream:
        table["LatestStreamArn"] = stream
    return table


def _resource() -> Resource:
    cfg = capture(_table(SOURCE_ARN), {"TimeToLiveStatus": "DISABLED"},
                  {"ContinuousBackupsStatus": "ENABLED",
                   "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}})
    return Resource(type="dynamodb:table", source_id=SOURCE_ARN, arn=SOURCE_ARN, name=NAME, tags={"app": "shop"},
                    config={**cfg, "mode": "replica", "kms_key": None},
                    endpoints={"stream": f"{SOURCE_ARN}/stream/2026-12-01T00:00:00.000"})


def _ctx(plan, mode, source, recovery):
    return ApplyContext(plan=plan, recovery=recovery, mode=mode, deps={}, net=NetworkMapper({}, {}, RECOVERY),
                        index=OwnedIndex(), source=source)


def test_nightly_staging_adds_a_replica_with_update_table_and_tags_it_once_active():
    plan = make_plan()
    source, recovery = _Side(SOURCE), _Side(RECOVERY)
    missing = {"TableName": NAME}
    recovery.stub.add_client_error("describe_table", "ResourceNotFoundException", expected_params=missing)
    source.stub.add_response("update_table", {"TableDescription": _table(SOURCE_ARN, [
        {"RegionName": RECOVERY, "ReplicaStatus": "CREATING"}], status="UPDATING")},
        {"TableName": NAME, "ReplicaUpdates": [{"Create": {"RegionName": RECOVERY}}]})
    source.stub.add_response("describe_table", {"Table": _table(SOURCE_ARN, [
        {"RegionName": RECOVERY, "ReplicaStatus": "CREATING", "ReplicaStatusPercentProgress": "40"}],
        status="UPDATING")}, missing)
    source.stub.add_response("describe_table", {"Table": _table(SOURCE_ARN, [
        {"RegionName": RECOVERY, "ReplicaStatus": "ACTIVE"}])}, missing)
    replica = {"Table": _table(REPLICA_ARN, [{"RegionName": SOURCE, "ReplicaStatus": "ACTIVE"}], stream=STREAM)}
    recovery.stub.add_response("describe_table", replica, missing)
    recovery.stub.add_response("list_tags_of_resource", {"Tags": []}, {"ResourceArn": REPLICA_ARN})
    recovery.stub.add_response("tag_resource", {}, {"ResourceArn": REPLICA_ARN, "Tags": ANY})
    recovery.stub.add_response("describe_table", replica, missing)
    with source.stub, recovery.stub:
        applied = TableHandler().apply(_resource(), _ctx(plan, Mode.STAGE, source, recovery))
        source.stub.assert_no_pending_responses()
        recovery.stub.assert_no_pending_responses()
    assert (applied.recovered_id, applied.created) == (REPLICA_ARN, True)
    assert applied.endpoints == {"stream": STREAM}


def test_a_failover_adopts_the_replica_with_the_primary_dark_and_writes_nothing():
    plan = make_plan()
    recovery = _Side(RECOVERY)  # no source side: a failover never has one
    missing = {"TableName": NAME}
    replica = {"Table": _table(REPLICA_ARN, [{"RegionName": SOURCE, "ReplicaStatus": "ACTIVE"}], stream=STREAM)}
    ours = {"Tags": [{"Key": "app", "Value": "shop"}, {"Key": TAG_PLAN, "Value": plan.name},
                     {"Key": TAG_SOURCE_ID, "Value": SOURCE_ARN}]}
    recovery.stub.add_response("describe_table", replica, missing)
    recovery.stub.add_response("list_tags_of_resource", ours, {"ResourceArn": REPLICA_ARN})
    recovery.stub.add_response("describe_table", replica, missing)
    recovery.stub.add_response("list_tags_of_resource", ours, {"ResourceArn": REPLICA_ARN})
    recovery.stub.add_response("describe_table", replica, missing)
    with recovery.stub:
        applied = TableHandler().apply(_resource(), _ctx(plan, Mode.RECOVER, None, recovery))
        recovery.stub.assert_no_pending_responses()
    assert (applied.recovered_id, applied.created, applied.changed) == (REPLICA_ARN, False, False)
    assert applied.endpoints == {"stream": STREAM}
