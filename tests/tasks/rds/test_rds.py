"""RDS and Aurora: snapshot copies staged nightly and pruned, databases restored with the primary dark."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.plan import PlanError
from drflow.sandbox.faults import Faults
from drflow.sandbox.seed_rds import (CLUSTER, CLUSTER_MEMBER, CLUSTER_PARAMETER_GROUP, DB, OPTION_GROUP,
                                     PARAMETER_GROUP, SUBNET_GROUP, seed_rds)
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from accounts_helper import age_source_snapshots


def rds(region: str = RECOVERY):
    return boto3.client("rds", region_name=region)


@pytest.fixture
def dbs(shop, sandbox):
    """The shop's network and databases in the source region, and a key for them in the recovery region."""
    ids = {**shop, **seed_rds(boto3.Session(), SOURCE, shop, aurora=True)}
    ids["recovery-key"] = boto3.client("kms", region_name=RECOVERY).create_key(
        Description="shop data, recovery region")["KeyMetadata"]["Arn"]
    sandbox.app.clear_log()
    return ids


def rds_plan(dbs: dict, **overrides):
    return make_plan(kms_key_map={"alias/shop-data": dbs["recovery-key"]}, **overrides)


def rds_writes(sandbox) -> list:
    return [c for c in sandbox.calls if c.write and c.service == "rds"]


def copies(plan, identifier: str, cluster: bool = False) -> list[dict]:
    """drflow's snapshot copies of one database in the recovery region."""
    client = rds()
    if cluster:
        items = client.describe_db_cluster_snapshots(DBClusterIdentifier=identifier)["DBClusterSnapshots"]
    else:
        items = client.describe_db_snapshots(DBInstanceIdentifier=identifier)["DBSnapshots"]
    return [s for s in items if {"Key": "drflow:plan", "Value": plan.name} in s.get("TagList", [])]


def test_databases_come_back_with_the_mapped_key_network_and_settings(dbs, sandbox):
    plan = rds_plan(dbs)
    replicated = run(replicate, plan=plan)
    assert replicated["failed"] == [], replicated["failed"]
    [copy] = copies(plan, DB)
    [cluster_copy] = copies(plan, CLUSTER, cluster=True)
    assert copy["KmsKeyId"] == cluster_copy["KmsKeyId"] == dbs["recovery-key"]
    source_db = rds(SOURCE).describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"][0]

    sandbox.faults = Faults(dark={SOURCE})
    sandbox.app.clear_log()
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    assert [c for c in sandbox.calls if c.region == SOURCE] == []  # not one call went to the primary
    idmap = report["identity_map"]
    assert idmap[DB] == DB and idmap[CLUSTER] == CLUSTER and idmap[CLUSTER_MEMBER] == CLUSTER_MEMBER

    db = rds().describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"][0]
    assert db["DBInstanceStatus"] == "available"
    assert db["StorageEncrypted"] and db["KmsKeyId"] == dbs["recovery-key"]
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == SUBNET_GROUP
    assert {s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]} == {idmap[dbs["db-a"]], idmap[dbs["db-b"]]}
    assert db["DBSubnetGroup"]["VpcId"] == idmap[dbs["vpc"]]
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [idmap[dbs["sg-db"]]]
    for field in ("Engine", "EngineVersion", "DBInstanceClass", "MultiAZ", "StorageType", "AllocatedStorage", "Iops"):
        assert db[field] == source_db[field], field
    assert db["Endpoint"]["Port"] == 5433
    assert [g["DBParameterGroupName"] for g in db["DBParameterGroups"]] == [PARAMETER_GROUP]
    assert [g["OptionGroupName"] for g in db["OptionGroupMemberships"]] == [OPTION_GROUP]
    tags = {t["Key"]: t["Value"] for t in db["TagList"]}
    assert tags["app"] == "shop" and tags["drflow:plan"] == plan.name and tags["drflow:source-id"] == DB
    params = rds().describe_db_parameters(DBParameterGroupName=PARAMETER_GROUP, Source="user")["Parameters"]
    assert {p["ParameterName"]: p["ParameterValue"] for p in params} == {"log_min_duration_statement": "500"}

    cluster = rds().describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
    assert cluster["Engine"] == "aurora-postgresql" and cluster["EngineVersion"] == "13.7"
    assert cluster["KmsKeyId"] == dbs["recovery-key"] and cluster["StorageEncrypted"]
    assert cluster["DBSubnetGroup"] == SUBNET_GROUP and cluster["Port"] == 5432
    assert [g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]] == [idmap[dbs["sg-db"]]]
    assert cluster["DBClusterParameterGroup"] == CLUSTER_PARAMETER_GROUP
    assert [m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"]] == [CLUSTER_MEMBER]
    member = rds().describe_db_instances(DBInstanceIdentifier=CLUSTER_MEMBER)["DBInstances"][0]
    assert member["DBClusterIdentifier"] == CLUSTER and member["DBInstanceClass"] == "db.r6g.large"

    sandbox.app.clear_log()  # a failover started again adopts what the first one restored
    again = run(failover, plan=plan, refresh=True)
    assert again["failed"] == [] and again["identity_map"] == idmap
    assert rds_writes(sandbox) == []
    names = [d["DBInstanceIdentifier"] for d in rds().describe_db_instances()["DBInstances"]]
    assert sorted(names) == sorted([DB, CLUSTER_MEMBER])
    assert [c["DBClusterIdentifier"] for c in rds().describe_db_clusters()["DBClusters"]] == [CLUSTER]


def test_a_key_mapped_to_create_encrypts_the_copies_and_the_restored_databases(dbs, sandbox):
    plan = make_plan(kms_key_map={"alias/shop-data": "create"})
    replicated = run(replicate, plan=plan)
    assert replicated["failed"] == [], replicated["failed"]
    source_key = boto3.client("kms", region_name=SOURCE).describe_key(KeyId="alias/shop-data")["KeyMetadata"]
    made = replicated["identity_map"][source_key["KeyId"]]
    assert made.startswith(f"arn:aws:kms:{RECOVERY}:")
    assert [c["KmsKeyId"] for c in copies(plan, DB)] == [made]
    assert [c["KmsKeyId"] for c in copies(plan, CLUSTER, cluster=True)] == [made]
    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    assert rds().describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"][0]["KmsKeyId"] == made
    assert rds().describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]["KmsKeyId"] == made


def test_a_second_nightly_run_reuses_the_snapshot_and_writes_nothing(dbs, sandbox):
    plan = rds_plan(dbs, rpo_minutes=60)
    age_source_snapshots()  # the automated snapshots are a day old: too old for a 60-minute RPO
    first = run(replicate, plan=plan)
    assert first["failed"] == [] and rds_writes(sandbox)
    taken = [c.operation for c in rds_writes(sandbox) if c.region == SOURCE]
    assert sorted(taken) == ["CreateDBClusterSnapshot", "CreateDBSnapshot"]
    [copy] = copies(plan, DB)
    assert copy["DBSnapshotIdentifier"].startswith(f"drflow-{plan.name}-{DB}-")
    sandbox.app.clear_log()
    second = run(replicate, plan=plan)
    assert second["failed"] == []
    assert rds_writes(sandbox) == [] and second["api_calls"]["write"] == 0
    rows = {r["key"]: r for r in second["details"]}
    assert all(r["outcome"] == "unchanged" for k, r in rows.items() if k.startswith("rds:")), rows
    sandbox.app.clear_log()  # and when every resource is checked again rather than trusted from the cache
    third = run(replicate, plan=plan, refresh=True)
    assert third["failed"] == [] and rds_writes(sandbox) == []
    assert [c["DBSnapshotIdentifier"] for c in copies(plan, DB)] == [copy["DBSnapshotIdentifier"]]
    assert len(copies(plan, CLUSTER, cluster=True)) == 1


def test_copies_beyond_keep_snapshots_are_pruned_and_only_drflows(dbs, sandbox):
    plan = rds_plan(dbs, databases={"keep_snapshots": 2})
    # someone else's manual snapshot of the database, in both regions: never drflow's to delete
    rds(SOURCE).create_db_snapshot(DBInstanceIdentifier=DB, DBSnapshotIdentifier="before-upgrade")
    rds().copy_db_snapshot(SourceDBSnapshotIdentifier=f"arn:aws:rds:{SOURCE}:{ACCOUNT}:snapshot:before-upgrade",
                           TargetDBSnapshotIdentifier="before-upgrade-dr", SourceRegion=SOURCE,
                           KmsKeyId=dbs["recovery-key"])
    captured = []
    for night in range(4):
        report = run(replicate, plan=plan)
        assert report["failed"] == [], report["failed"]
        captured.append(sorted(c["DBSnapshotIdentifier"] for c in copies(plan, DB)))
        age_source_snapshots()
    kept = copies(plan, DB)
    assert len(kept) == 2 and len(copies(plan, CLUSTER, cluster=True)) == 2
    newest = sorted(kept, key=lambda s: s["DBSnapshotIdentifier"])
    assert [s["DBSnapshotIdentifier"] for s in newest] == captured[-1]
    assert set(captured[-1]) - set(captured[1]), "the last nights made new copies"
    recovery_ids = {s["DBSnapshotIdentifier"] for s in rds().describe_db_snapshots()["DBSnapshots"]}
    assert "before-upgrade-dr" in recovery_ids
    source = rds(SOURCE).describe_db_snapshots(DBInstanceIdentifier=DB)["DBSnapshots"]
    own = [s for s in source if s["SnapshotType"] == "manual" and s["DBSnapshotIdentifier"].startswith("drflow-")]
    assert len(own) == 1  # drflow's own source snapshot only feeds the next copy
    assert {"before-upgrade"} | {s["DBSnapshotIdentifier"] for s in source if s["SnapshotType"] == "automated"} <= \
        {s["DBSnapshotIdentifier"] for s in source}
    row = next(r for r in report["details"] if r["key"] == f"rds:db-instance/{DB}")
    assert row["details"]["pruned"] and row["details"]["copy"] in captured[-1]


def test_an_encrypted_database_without_key_mapping_is_refused_before_any_write(dbs, sandbox):
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=make_plan())
    text = str(refused.value)
    assert f"DB instance {DB} " in text and f"DB cluster {CLUSTER} " in text and "alias/shop-data" in text
    assert "no mapping" in text
    assert not [c for c in sandbox.calls if c.write]


def test_a_database_whose_key_cannot_be_described_fails_alone_and_the_rest_replicates(dbs, sandbox):
    """A key policy that denies kms:DescribeKey to drflow's credentials (moto refuses DescribeKey under a Deny
    statement for it, as AWS does for an explicit deny): only that database fails, named with its key and the
    permission; the other databases are copied and the run finishes."""
    source_kms = boto3.client("kms", region_name=SOURCE)
    locked = source_kms.create_key(Description="ledger data")["KeyMetadata"]
    rds(SOURCE).create_db_instance(
        DBInstanceIdentifier="ledger-db", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
        MasterUsername="ledger", MasterUserPassword="sandbox-only-password", DBSubnetGroupName=SUBNET_GROUP,
        VpcSecurityGroupIds=[dbs["sg-db"]], StorageEncrypted=True, KmsKeyId=locked["Arn"],
        Tags=[{"Key": "app", "Value": "shop"}])
    policy = json.loads(source_kms.get_key_policy(KeyId=locked["KeyId"], PolicyName="default")["Policy"])
    policy["Statement"].append({"Sid": "NoDescribe", "Effect": "Deny", "Principal": {"AWS": "*"},
                                "Action": "kms:DescribeKey", "Resource": "*"})
    source_kms.put_key_policy(KeyId=locked["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    plan = rds_plan(dbs)
    report = run(replicate, plan=plan)
    [failure] = report["failed"]
    assert failure.startswith("rds:db-instance/ledger-db: ")
    assert locked["Arn"] in failure and "kms:DescribeKey" in failure
    rows = {r["key"]: r for r in report["details"]}
    assert rows["rds:db-instance/ledger-db"]["outcome"] == "failed"
    assert len(copies(plan, DB)) == 1 and len(copies(plan, CLUSTER, cluster=True)) == 1
    assert copies(plan, "ledger-db") == []
    assert report["recovery_point_complete"] is False


def test_a_database_encrypted_with_the_default_key_fails_over_without_a_key_mapping(shop, sandbox):
    """StorageEncrypted with no KmsKeyId: RDS uses the account's AWS managed key alias/aws/rds (made on first use,
    KeyManager AWS; the sandbox answers so, drflow/sandbox/moto_kms.py). In one account its counterpart is the
    recovery region's own alias/aws/rds: the copies and the restored databases use it, and no plan mapping is
    needed."""
    source = rds(SOURCE)
    source.create_db_subnet_group(DBSubnetGroupName="orders-subnets", DBSubnetGroupDescription="orders",
                                  SubnetIds=[shop["db-a"], shop["db-b"]], Tags=[{"Key": "app", "Value": "shop"}])
    common = {"MasterUsername": "orders", "MasterUserPassword": "sandbox-only-password", "StorageEncrypted": True,
              "DBSubnetGroupName": "orders-subnets", "VpcSecurityGroupIds": [shop["sg-db"]],
              "Tags": [{"Key": "app", "Value": "shop"}]}
    source.create_db_instance(DBInstanceIdentifier="orders-db", Engine="postgres", DBInstanceClass="db.t3.micro",
                              AllocatedStorage=20, **common)
    source.create_db_cluster(DBClusterIdentifier="orders-aurora", Engine="aurora-postgresql", **common)
    source_key = source.describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]["KmsKeyId"]
    assert boto3.client("kms", region_name=SOURCE).describe_key(KeyId=source_key)["KeyMetadata"]["KeyManager"] == "AWS"
    plan = make_plan()  # no kms_key_map
    replicated = run(replicate, plan=plan)
    assert replicated["failed"] == [], replicated["failed"]
    recovery_key = boto3.client("kms", region_name=RECOVERY).describe_key(KeyId="alias/aws/rds")["KeyMetadata"]
    assert recovery_key["KeyManager"] == "AWS" and recovery_key["Arn"] != source_key
    assert [c["KmsKeyId"] for c in copies(plan, "orders-db")] == [recovery_key["Arn"]]
    assert [c["KmsKeyId"] for c in copies(plan, "orders-aurora", cluster=True)] == [recovery_key["Arn"]]

    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    db = rds().describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]
    cluster = rds().describe_db_clusters(DBClusterIdentifier="orders-aurora")["DBClusters"][0]
    assert db["StorageEncrypted"] and db["KmsKeyId"] == recovery_key["Arn"]
    assert cluster["StorageEncrypted"] and cluster["KmsKeyId"] == recovery_key["Arn"]


def test_keeping_no_snapshot_is_refused(dbs, sandbox):
    with pytest.raises(PlanError) as refused:
        rds_plan(dbs, databases={"keep_snapshots": 0})
    assert "databases.keep_snapshots" in str(refused.value)
    assert not [c for c in sandbox.calls if c.write]


def test_failover_refuses_a_recovery_point_whose_copy_was_pruned(dbs, sandbox):
    plan = rds_plan(dbs)
    assert run(replicate, plan=plan)["failed"] == []
    [copy] = copies(plan, DB)
    rds().delete_db_snapshot(DBSnapshotIdentifier=copy["DBSnapshotIdentifier"])
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan)
    assert copy["DBSnapshotIdentifier"] in str(refused.value) and "pruned" in str(refused.value)
    assert not [c for c in sandbox.calls if c.write]


def test_failover_refuses_to_take_over_a_database_that_is_not_drflows(dbs, sandbox):
    plan = rds_plan(dbs)
    assert run(replicate, plan=plan)["failed"] == []
    rds().create_db_instance(DBInstanceIdentifier=CLUSTER_MEMBER, Engine="postgres", DBInstanceClass="db.t3.micro",
                             AllocatedStorage=20, MasterUsername="someone", MasterUserPassword="not-drflows-1")
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan)
    assert f"DB instance {CLUSTER_MEMBER} already exists in {RECOVERY} and is not drflow's" in str(refused.value)
    assert not [c for c in sandbox.calls if c.write]


def test_failover_refuses_a_database_whose_key_mapping_was_removed_from_the_plan(dbs, sandbox):
    plan = rds_plan(dbs)
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan.model_copy(update={"kms_key_map": {}}))
    assert f"DB instance {DB} " in str(refused.value) and f"DB cluster {CLUSTER} " in str(refused.value)
    assert not [c for c in sandbox.calls if c.write]


def test_a_drill_restores_beside_production_under_its_own_names(dbs, sandbox):
    plan = rds_plan(dbs)
    assert run(replicate, plan=plan)["failed"] == []
    report = run(failover, plan=plan, drill=True)
    assert report["failed"] == [], report["failed"]
    drill_db = report["identity_map"][DB]
    assert drill_db != DB and drill_db.startswith(DB + "-") and len(drill_db) <= 63
    db = rds().describe_db_instances(DBInstanceIdentifier=drill_db)["DBInstances"][0]
    tags = {t["Key"]: t["Value"] for t in db["TagList"]}
    assert tags["drflow:drill"] == report["drill_id"]
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == report["identity_map"][SUBNET_GROUP] != SUBNET_GROUP
    assert not db.get("PubliclyAccessible")


class StubSide:
    """One side's RDS client, stubbed: the engine's Side, minus everything a stubbed test does not need."""

    def __init__(self, region: str, client) -> None:
        self.region = region
        self._client = client

    def client(self, service: str, region: str | None = None):
        assert service == "rds" and region in (None, self.region)
        return self._client


def test_cross_account_shares_the_source_snapshot_then_copies_it_in_the_recovery_account():
    """moto hides a snapshot shared with another account from that account, so this path runs against
    botocore's Stubber with the real RDS service model: every call, its side, order and parameters are checked."""
    from botocore.stub import Stubber

    from core.ec2_index import OwnedIndex

    from core.handler import ApplyContext
    from core.models import Resource
    from core.netmap import NetworkMapper
    from tasks.rds.snapshots import INSTANCE_SNAPSHOTS, TAG_CAPTURED, choose_snapshot, stage_copy

    other = "222222222222"
    recovery_key = f"arn:aws:kms:{RECOVERY}:{other}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    plan = make_plan(recovery={"account_id": other, "region": RECOVERY, "role_arn": f"arn:aws:iam::{other}:role/dr"},
                     kms_key_map={"alias/shop-data": recovery_key},
                     databases={"keep_snapshots": 1})
    now = datetime.now(timezone.utc)
    automated = {"DBSnapshotIdentifier": "rds:shop-db-auto", "SnapshotType": "automated", "Status": "available",
                 "SnapshotCreateTime": now - timedelta(minutes=5), "TagList": []}
    snap = choose_snapshot(plan, INSTANCE_SNAPSHOTS, DB, f"arn:aws:rds:{SOURCE}:{ACCOUNT}:db:{DB}", [automated], now)
    assert not snap["automated"], "AWS shares only manual snapshots: a fresh automated one is not enough"
    assert snap["id"] == snap["copy"] and snap["id"].startswith(f"drflow-shop-{DB}-")
    key = {"arn": f"arn:aws:kms:{SOURCE}:{ACCOUNT}:key/k1", "id": "k1", "aliases": ["alias/shop-data"],
           "multi_region": False, "aws_managed": False}
    resource = Resource(type="rds:db-instance", source_id=DB, name=DB, config={"kms_key": key},
                        data={"snapshot": snap})
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="stubbed", region_name=SOURCE)
    source, recovery = session.client("rds", region_name=SOURCE), session.client("rds", region_name=RECOVERY)
    tags = [{"Key": "drflow:plan", "Value": "shop"}, {"Key": "drflow:source-id", "Value": DB},
            {"Key": TAG_CAPTURED, "Value": snap["captured_at"]}]

    def drflow_copy(identifier: str, captured: str, status: str = "available") -> dict:
        return {"DBSnapshotIdentifier": identifier, "DBInstanceIdentifier": DB, "Status": status,
                "SnapshotType": "manual", "TagList": [*tags[:2], {"Key": TAG_CAPTURED, "Value": captured}]}

    older = drflow_copy(f"drflow-shop-{DB}-20261120t000000z", "2026-11-20T00:00:00Z")
    oldest = drflow_copy(f"drflow-shop-{DB}-20261110t000000z", "2026-11-10T00:00:00Z")
    someone_elses = {"DBSnapshotIdentifier": "before-upgrade", "DBInstanceIdentifier": DB, "Status": "available",
                     "SnapshotType": "manual", "TagList": [{"Key": "drflow:plan", "Value": "shop"}]}
    by_id = {"DBSnapshotIdentifier": snap["id"]}
    with Stubber(source) as src, Stubber(recovery) as rec:
        rec.add_client_error("describe_db_snapshots", "DBSnapshotNotFound", http_status_code=404,
                             expected_params={"DBSnapshotIdentifier": snap["copy"]})
        src.add_client_error("describe_db_snapshots", "DBSnapshotNotFound", http_status_code=404,
                             expected_params=by_id)
        src.add_response("create_db_snapshot", {"DBSnapshot": drflow_copy(snap["id"], snap["captured_at"], "creating")},
                         {**by_id, "DBInstanceIdentifier": DB, "Tags": tags})
        src.add_response("describe_db_snapshots", {"DBSnapshots": [drflow_copy(snap["id"], snap["captured_at"])]},
                         by_id)  # the waiter
        src.add_response("describe_db_snapshot_attributes", {"DBSnapshotAttributesResult": {
            **by_id, "DBSnapshotAttributes": [{"AttributeName": "restore", "AttributeValues": []}]}}, by_id)
        src.add_response("modify_db_snapshot_attribute", {"DBSnapshotAttributesResult": by_id},
                         {**by_id, "AttributeName": "restore", "ValuesToAdd": [other]})
        rec.add_response("copy_db_snapshot", {"DBSnapshot": drflow_copy(snap["copy"], snap["captured_at"], "pending")},
                         {"SourceDBSnapshotIdentifier": f"arn:aws:rds:{SOURCE}:{ACCOUNT}:snapshot:{snap['id']}",
                          "TargetDBSnapshotIdentifier": snap["copy"], "SourceRegion": SOURCE, "KmsKeyId": recovery_key,
                          "Tags": tags})
        rec.add_response("describe_db_snapshots", {"DBSnapshots": [
            drflow_copy(snap["copy"], snap["captured_at"], "pending"), older, oldest, someone_elses]},
            {"DBInstanceIdentifier": DB, "SnapshotType": "manual"})
        rec.add_response("delete_db_snapshot", {"DBSnapshot": oldest},
                         {"DBSnapshotIdentifier": oldest["DBSnapshotIdentifier"]})
        src.add_response("describe_db_snapshots",
                         {"DBSnapshots": [drflow_copy(snap["id"], snap["captured_at"]), older]},
                         {"DBInstanceIdentifier": DB, "SnapshotType": "manual"})
        src.add_response("delete_db_snapshot", {"DBSnapshot": older},
                         {"DBSnapshotIdentifier": older["DBSnapshotIdentifier"]})
        ctx = ApplyContext(plan=plan, recovery=StubSide(RECOVERY, recovery), mode="stage", deps={},
                           net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex(), source=StubSide(SOURCE, source))
        written, details = stage_copy(resource, ctx, INSTANCE_SNAPSHOTS)
        src.assert_no_pending_responses()
        rec.assert_no_pending_responses()
    assert written and details["copied"] and details["taken"]
    # the newest finished copy is kept while tonight's is still copying; someone else's snapshot is never touched
    assert details["pruned"] == [oldest["DBSnapshotIdentifier"]]
    assert details["pruned_source"] == [older["DBSnapshotIdentifier"]]


def test_discovery_records_each_database_with_its_groups_network_and_key(dbs):
    from core.aws import AwsAccess
    from core.models import Resource, resource_key
    from core.scope import link
    from tasks.registry import default_registry

    plan = rds_plan(dbs)
    registry = default_registry()
    source = AwsAccess(plan).source
    found = {r.key: r for t in registry if t.startswith("rds:") for r in registry[t].discover(source, plan)}
    db = found[f"rds:db-instance/{DB}"]
    assert db.name == db.source_id == DB
    assert db.dependencies == sorted([
        f"rds:db-subnet-group/{SUBNET_GROUP}", f"rds:db-parameter-group/{PARAMETER_GROUP}",
        f"rds:option-group/{OPTION_GROUP}", resource_key("ec2:security-group", dbs["sg-db"])])
    assert db.config["kms_key"]["aliases"] == ["alias/shop-data"]
    assert db.data["snapshot"]["automated"]  # moto's automated snapshot of a new database is fresh enough
    member = found[f"rds:db-instance/{CLUSTER_MEMBER}"]
    assert member.dependencies == [f"rds:db-cluster/{CLUSTER}"] and member.data == {}  # default.* group: none
    cluster = found[f"rds:db-cluster/{CLUSTER}"]
    assert f"rds:db-cluster-parameter-group/{CLUSTER_PARAMETER_GROUP}" in cluster.dependencies
    assert found[f"rds:db-subnet-group/{SUBNET_GROUP}"].dependencies == sorted(
        resource_key("ec2:subnet", dbs[s]) for s in ("db-a", "db-b"))
    assert not [k for k in found if "/default" in k]
    # a server whose plan says depends_on: [rds:shop-db, rds:shop-aurora] waits for both
    server = Resource(type="ec2:instance", source_id="i-0app", name="app", links=[f"rds:{DB}", f"rds:{CLUSTER}"])
    linked = {r.key: r for r in link([*found.values(), server])}
    assert linked["ec2:instance/i-0app"].dependencies == [f"rds:db-cluster/{CLUSTER}", f"rds:db-instance/{DB}"]


def test_a_staged_group_that_drifted_is_put_right_and_nothing_else_is_written(dbs, sandbox):
    plan = rds_plan(dbs)
    assert run(replicate, plan=plan)["failed"] == []
    rds().modify_db_parameter_group(DBParameterGroupName=PARAMETER_GROUP, Parameters=[
        {"ParameterName": "log_min_duration_statement", "ParameterValue": "9000", "ApplyMethod": "immediate"},
        {"ParameterName": "work_mem", "ParameterValue": "65536", "ApplyMethod": "immediate"}])
    sandbox.app.clear_log()
    report = run(replicate, plan=plan, refresh=True)
    assert report["failed"] == []
    params = rds().describe_db_parameters(DBParameterGroupName=PARAMETER_GROUP, Source="user")["Parameters"]
    assert {p["ParameterName"]: p.get("ParameterValue") for p in params} == {"log_min_duration_statement": "500"}
    assert sorted(c.operation for c in rds_writes(sandbox)) == ["ModifyDBParameterGroup", "ResetDBParameterGroup"]


def test_an_aurora_snapshot_is_copied_across_accounts_and_regions_in_one_step(dbs, sandbox):
    """The Aurora User Guide ("DB cluster snapshot copying": "You can copy snapshots to another AWS Region or account
    in a single step") and botocore's CopyDBClusterSnapshot model (a source ARN "in a different account and a
    different Amazon Web Services Region") allow what drflow does: share in the source account, then one copy by the
    recovery account into the recovery region. Pinned against what the sandbox, as AWS, still refuses: a snapshot
    not shared with the copying account, and an encrypted one copied without KmsKeyId."""

    from core.aws import AwsAccess
    from core.engine import RunSpec
    from core.models import Mode
    from drflow.sandbox.accounts import recovery_role, session_for
    from tasks.rds.databases import DbClusterHandler
    from tasks.rds.snapshots import CLUSTER_SNAPSHOTS, stage_copy
    from tasks.registry import default_registry

    other = "222222222222"
    recovery_key = session_for(other, RECOVERY).client("kms").create_key(Description="shop data, DR")["KeyMetadata"]
    plan = make_plan(recovery={"account_id": other, "region": RECOVERY,
                               "role_arn": recovery_role(other, trusted=ACCOUNT)},
                     kms_key_map={"alias/shop-data": recovery_key["Arn"]})
    aws = AwsAccess(plan)
    [cluster] = [r for r in DbClusterHandler().discover(aws.source, plan) if r.source_id == CLUSTER]
    snap = cluster.data["snapshot"]
    assert not snap["automated"]  # AWS shares manual snapshots only
    ctx = RunSpec(plan=plan, aws=aws, registry=default_registry(), mode=Mode.STAGE, scope="stage").context({})
    written, details = stage_copy(cluster, ctx, CLUSTER_SNAPSHOTS)
    assert written and details["copied"] and details["taken"]
    recovery_rds = session_for(other, RECOVERY).client("rds")
    [copy] = recovery_rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snap["copy"])["DBClusterSnapshots"]
    assert copy["KmsKeyId"] == recovery_key["Arn"] and copy["DBClusterIdentifier"] == CLUSTER
    attributes = rds(SOURCE).describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier=snap["id"])[
        "DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]
    assert {"AttributeName": "restore", "AttributeValues": [other]} in attributes

    unshared = rds(SOURCE).create_db_cluster_snapshot(DBClusterSnapshotIdentifier="not-shared",
                                                      DBClusterIdentifier=CLUSTER)["DBClusterSnapshot"]
    with pytest.raises(ClientError) as hidden:
        recovery_rds.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=unshared["DBClusterSnapshotArn"],
                                              TargetDBClusterSnapshotIdentifier="stolen", SourceRegion=SOURCE,
                                              KmsKeyId=recovery_key["Arn"])
    assert hidden.value.response["Error"]["Code"] == "DBClusterSnapshotNotFoundFault"
    with pytest.raises(ClientError) as keyless:
        recovery_rds.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier=snap["arn"],
                                              TargetDBClusterSnapshotIdentifier="keyless", SourceRegion=SOURCE)
    assert keyless.value.response["Error"]["Code"] == "InvalidParameterCombination"
    assert "KmsKeyId" in keyless.value.response["Error"]["Message"]
    assert [s["DBClusterSnapshotIdentifier"] for s in recovery_rds.describe_db_cluster_snapshots()[
        "DBClusterSnapshots"] if s["SnapshotType"] == "manual"] == [snap["copy"]]


def test_the_sandbox_refuses_to_share_a_snapshot_under_the_aws_managed_key(shop, sandbox):
    """As AWS does (RDS User Guide, "Sharing a DB snapshot"): the share that a cross-account night would make of a
    database encrypted by default is refused; the same snapshot under a customer key is shared."""
    source = rds(SOURCE)
    source.create_db_instance(DBInstanceIdentifier="orders-db", Engine="postgres", DBInstanceClass="db.t3.micro",
                              AllocatedStorage=20, MasterUsername="orders", MasterUserPassword="sandbox-only-password",
                              StorageEncrypted=True)
    source.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="orders-manual")
    with pytest.raises(ClientError) as refused:
        source.modify_db_snapshot_attribute(DBSnapshotIdentifier="orders-manual", AttributeName="restore",
                                            ValuesToAdd=["222222222222"])
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "AWS managed key" in refused.value.response["Error"]["Message"]
    attrs = source.describe_db_snapshot_attributes(DBSnapshotIdentifier="orders-manual")
    assert all(a["AttributeValues"] == [] for a in attrs["DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
               if a["AttributeName"] == "restore")
    key = boto3.client("kms", region_name=SOURCE).create_key()["KeyMetadata"]["Arn"]
    source.copy_db_snapshot(SourceDBSnapshotIdentifier="orders-manual", TargetDBSnapshotIdentifier="orders-cmk",
                            KmsKeyId=key)
    source.modify_db_snapshot_attribute(DBSnapshotIdentifier="orders-cmk", AttributeName="restore",
                                        ValuesToAdd=["222222222222"])
