"""EFS: nightly replication to the recovery region, failover with the primary dark, and the replication double.

moto 5.2.5 serves EFS but not its replication API; drflow/sandbox/efs_replication.py adds it to the
sandbox's moto (a test double). Its own tests check every raw response, errors included, against
botocore's EFS model, so that the handler is tested against what the real service would send.
"""

from __future__ import annotations

from typing import Any

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

import model_check
from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.handler import TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID
from drflow.sandbox.accounts import recovery_role
from drflow.sandbox import efs_replication
from drflow.sandbox.efs_replication import REPLICATING
from drflow.sandbox.seed_efs import MOUNT_SUBNETS, seed_efs
from drflow.sandbox.server import SECRET, access_key_for
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from tasks.efs.replication_role import role_name
from flows_helper import run
from model_check import service_model, shape_errors

MODEL = service_model("efs")
OTHER_ACCOUNT = "222222222222"


# -- the sample file system ------------------------------------------------------------------------------

@pytest.fixture
def files(shop, sandbox):
    ids = seed_efs(boto3.Session(), SOURCE, dict(shop))
    sandbox.app.clear_log()
    return ids


def efs(region: str = RECOVERY) -> Any:
    return boto3.client("efs", region_name=region)


def file_system(fs_id: str, region: str = RECOVERY) -> dict[str, Any]:
    return efs(region).describe_file_systems(FileSystemId=fs_id)["FileSystems"][0]


def tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


def replicas(plan_name: str = "shop") -> list[dict[str, Any]]:
    return [fs for fs in efs().describe_file_systems()["FileSystems"] if tags(fs).get(TAG_PLAN) == plan_name]


def mount_targets(fs_id: str) -> list[dict[str, Any]]:
    return efs().describe_mount_targets(FileSystemId=fs_id)["MountTargets"]


def efs_writes(sandbox: Any) -> list[tuple[str, str]]:
    return [(c.region, c.operation) for c in sandbox.calls if c.service == "elasticfilesystem" and c.write]


# -- flows --------------------------------------------------------------------------------------------------

def test_replica_fails_over_writable_mounted_in_the_recovered_network_while_the_primary_is_dark(files, sandbox):
    plan = make_plan()
    staged = run(replicate, plan=plan)
    assert staged["failed"] == []
    [replica] = replicas()
    assert tags(replica)[TAG_SOURCE_ID] == files["efs"] and tags(replica)["Name"] == "shop-files"
    assert replica["FileSystemProtection"]["ReplicationOverwriteProtection"] == REPLICATING
    [replication] = efs(SOURCE).describe_replication_configurations(FileSystemId=files["efs"])["Replications"]
    assert replication["Destinations"][0]["FileSystemId"] == replica["FileSystemId"]
    assert replication["Destinations"][0]["Region"] == RECOVERY
    assert mount_targets(replica["FileSystemId"]) == []  # nightly: nothing mounted, nothing billed per hour

    sandbox.app.clear_log()
    sandbox.faults.dark = {SOURCE}
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    assert {c.region for c in sandbox.calls} == {RECOVERY}  # the primary was never asked
    # EFS could not delete the primary's side (dark: a 5xx, tried once), so only the recovery side's went
    row = next(d for d in report["details"] if d["key"] == f"efs:file-system/{files['efs']}")
    assert any("recovery side only (InternalServerError)" in w for w in row["warnings"])
    idmap = report["identity_map"]
    fs_id = idmap[files["efs"]]
    assert fs_id == replica["FileSystemId"]
    recovered = file_system(fs_id)
    assert recovered["FileSystemProtection"]["ReplicationOverwriteProtection"] == "ENABLED"  # writable
    with pytest.raises(ClientError) as gone:
        efs().describe_replication_configurations(FileSystemId=fs_id)
    assert gone.value.response["Error"]["Code"] == "ReplicationNotFound"
    sandbox.faults.dark = set()  # the primary, back, still lists its side, broken: failback deletes it
    [left] = efs(SOURCE).describe_replication_configurations(FileSystemId=files["efs"])["Replications"]
    assert left["Destinations"][0]["Status"] == "ERROR"
    assert efs().describe_lifecycle_configuration(FileSystemId=fs_id)["LifecyclePolicies"] == [
        {"TransitionToIA": "AFTER_30_DAYS"}]

    mounts = {mt["SubnetId"]: mt for mt in mount_targets(fs_id)}
    assert set(mounts) == {idmap[files[role]] for role in MOUNT_SUBNETS}
    for role, ip in MOUNT_SUBNETS.items():
        mount = mounts[idmap[files[role]]]
        assert mount["IpAddress"] == ip and mount["LifeCycleState"] == "available"
        assert efs().describe_mount_target_security_groups(MountTargetId=mount["MountTargetId"])[
            "SecurityGroups"] == [idmap[files["sg-efs"]]]
    [point] = efs().describe_access_points(FileSystemId=fs_id)["AccessPoints"]
    assert point["PosixUser"] == {"Uid": 1000, "Gid": 1000, "SecondaryGids": [100]}
    assert point["RootDirectory"] == {"Path": "/uploads", "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000,
                                                                           "Permissions": "750"}}
    assert tags(point)[TAG_SOURCE_ID] == files["efs-ap"] and tags(point)["Name"] == "shop-uploads"
    row = next(d for d in report["details"] if d["key"] == f"efs:file-system/{files['efs']}")
    assert row["details"]["access_points"] == {files["efs-ap"]: point["AccessPointId"]}


def test_a_second_nightly_run_makes_no_efs_write_even_when_it_rechecks(files, sandbox):
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    # the sandbox's log names REST calls by method and path: the replication (source), the replica's tags
    assert [region for region, _ in efs_writes(sandbox)] == [SOURCE, RECOVERY]
    for refresh in (False, True):  # cached, then re-read and compared
        sandbox.app.clear_log()
        assert run(replicate, plan=plan, refresh=refresh)["failed"] == []
        assert efs_writes(sandbox) == []
    assert len(replicas()) == 1


def test_a_failover_rerun_converges_on_the_same_mount_targets_and_access_points(files, sandbox):
    plan = make_plan()
    run(replicate, plan=plan)
    first = run(failover, plan=plan)
    fs_id = first["identity_map"][files["efs"]]
    before = sorted(mt["MountTargetId"] for mt in mount_targets(fs_id))
    points = efs().describe_access_points(FileSystemId=fs_id)["AccessPoints"]
    sandbox.app.clear_log()
    again = run(failover, plan=plan, refresh=True)  # re-applies everything instead of trusting the cache
    assert again["failed"] == [] and again["identity_map"][files["efs"]] == fs_id
    assert sorted(mt["MountTargetId"] for mt in mount_targets(fs_id)) == before and len(before) == 2
    assert efs().describe_access_points(FileSystemId=fs_id)["AccessPoints"] == points and len(points) == 1
    assert efs_writes(sandbox) == []


def test_a_drill_mounts_the_read_only_replica_and_leaves_replication_running(files, sandbox):
    plan = make_plan()
    run(replicate, plan=plan)
    sandbox.faults.dark = {SOURCE}
    report = run(failover, plan=plan, drill=True)
    assert report["failed"] == []
    fs_id = report["identity_map"][files["efs"]]
    assert file_system(fs_id)["FileSystemProtection"]["ReplicationOverwriteProtection"] == REPLICATING
    assert efs().describe_replication_configurations(FileSystemId=fs_id)["Replications"][0][
        "SourceFileSystemId"] == files["efs"]
    drill_subnets = {report["identity_map"][files[role]] for role in MOUNT_SUBNETS}
    assert {mt["SubnetId"] for mt in mount_targets(fs_id)} == drill_subnets
    subnet_tags = [tags(s) for s in boto3.client("ec2", region_name=RECOVERY).describe_subnets(
        SubnetIds=sorted(drill_subnets))["Subnets"]]
    assert all(t[TAG_DRILL] == report["drill_id"] for t in subnet_tags)
    [point] = efs().describe_access_points(FileSystemId=fs_id)["AccessPoints"]
    assert tags(point)[TAG_DRILL] == report["drill_id"]
    row = next(d for d in report["details"] if d["key"] == f"efs:file-system/{files['efs']}")
    assert any("read-only" in w for w in row["warnings"])

    sandbox.faults.dark = set()  # the real failover after the drill takes the replica over, drill mounts included
    real = run(failover, plan=plan)
    assert real["failed"] == [], real["failed"]
    assert {mt["SubnetId"] for mt in mount_targets(fs_id)} == {real["identity_map"][files[r]] for r in MOUNT_SUBNETS}
    assert file_system(fs_id)["FileSystemProtection"]["ReplicationOverwriteProtection"] == "ENABLED"


def test_an_encrypted_file_system_without_a_key_mapping_is_refused_before_any_write(shop, sandbox):
    key = boto3.client("kms", region_name=SOURCE).create_key(Description="shop files")["KeyMetadata"]
    ids = seed_efs(boto3.Session(), SOURCE, dict(shop), kms_key_id=key["Arn"])
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=make_plan())
    assert any(f == "kms_key_map" and ids["efs"] in m and key["Arn"] in m for f, m in refused.value.problems)
    assert [c for c in sandbox.calls if c.write] == []


def test_an_encrypted_file_system_is_replicated_with_the_mapped_recovery_key(shop, sandbox):
    key = boto3.client("kms", region_name=SOURCE).create_key(Description="shop files")["KeyMetadata"]
    target = boto3.client("kms", region_name=RECOVERY).create_key(Description="shop files DR")["KeyMetadata"]
    ids = seed_efs(boto3.Session(), SOURCE, dict(shop), kms_key_id=key["Arn"])
    report = run(replicate, plan=make_plan(kms_key_map={key["Arn"]: target["Arn"]}))
    assert report["failed"] == []
    [replica] = replicas()
    assert replica["Encrypted"] and replica["KmsKeyId"] == target["Arn"]
    assert tags(replica)[TAG_SOURCE_ID] == ids["efs"]
    # a new mapping cannot re-key a replica: named, and nothing is rewritten
    other = boto3.client("kms", region_name=RECOVERY).create_key(Description="new DR key")["KeyMetadata"]
    sandbox.app.clear_log()
    again = run(replicate, plan=make_plan(kms_key_map={key["Arn"]: other["Arn"]}), refresh=True)
    row = next(d for d in again["details"] if d["key"] == f"efs:file-system/{ids['efs']}")
    assert any("cannot change" in w for w in row["warnings"]) and efs_writes(sandbox) == []


def test_a_key_mapped_to_create_encrypts_the_replica_with_the_key_drflow_made(shop, sandbox):
    source_kms = boto3.client("kms", region_name=SOURCE)
    key = source_kms.create_key(Description="shop files")["KeyMetadata"]
    source_kms.create_alias(AliasName="alias/shop-files", TargetKeyId=key["KeyId"])
    ids = seed_efs(boto3.Session(), SOURCE, dict(shop), kms_key_id=key["Arn"])
    report = run(replicate, plan=make_plan(kms_key_map={"alias/shop-files": "create"}))
    assert report["failed"] == [], report["failed"]
    made = report["identity_map"][key["KeyId"]]
    [replica] = replicas()
    assert tags(replica)[TAG_SOURCE_ID] == ids["efs"]
    recovery_kms = boto3.client("kms", region_name=RECOVERY)
    assert recovery_kms.describe_key(KeyId=replica["KmsKeyId"])["KeyMetadata"]["Arn"] == \
        recovery_kms.describe_key(KeyId=made)["KeyMetadata"]["Arn"]


def test_failover_is_refused_when_the_nightly_replication_never_made_a_replica(files, sandbox):
    plan = make_plan()
    run(replicate, plan=plan)
    [replica] = replicas()
    efs().delete_replication_configuration(SourceFileSystemId=replica["FileSystemId"])
    efs().delete_file_system(FileSystemId=replica["FileSystemId"])
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan)
    assert any(files["efs"] in f and "nightly replication never ran" in m for f, m in refused.value.problems)
    assert [c for c in sandbox.calls if c.write] == []


def test_failover_is_refused_for_a_replica_that_never_synced_or_last_synced_beyond_the_rpo(files, sandbox):
    plan = make_plan(rpo_minutes=60)
    run(replicate, plan=plan, synced=False)  # a failover right after the first night: EFS still ENABLING
    [replica] = replicas()
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan)
    assert any(files["efs"] in f and "has not finished its first sync (replication ENABLING)" in m
               for f, m in refused.value.problems), refused.value.problems
    assert [c for c in sandbox.calls if c.write and plan.vault_bucket not in c.operation] == []
    assert file_system(replica["FileSystemId"])["FileSystemProtection"]["ReplicationOverwriteProtection"] == \
        REPLICATING  # still the read-only replica: nothing made it writable
    # synced once, three hours before the night's capture, then never again (a backlog): beyond a 60 min RPO
    efs_replication.sync(replica["FileSystemId"], at=(datetime.now(timezone.utc) - timedelta(hours=3)).timestamp())
    with pytest.raises(PreflightError) as stale:
        run(failover, plan=plan)
    assert any(files["efs"] in f and "min before the recovery point was captured" in m and "RPO is 60 min" in m
               for f, m in stale.value.problems), stale.value.problems
    efs_replication.sync(replica["FileSystemId"])  # caught up: the failover goes ahead
    assert run(failover, plan=plan, dry_run=True)["problems"] == []


def test_a_cross_account_plan_replicates_into_a_file_system_drflow_made_in_the_recovery_account(files, sandbox):
    role = recovery_role(OTHER_ACCOUNT, trusted=ACCOUNT)  # the sandbox's STS checks the role like AWS
    plan = make_plan(recovery={"account_id": OTHER_ACCOUNT, "region": RECOVERY, "role_arn": role})
    staged = run(replicate, plan=plan)
    assert staged["failed"] == [], staged["failed"]
    theirs = boto3.client("efs", region_name=RECOVERY, aws_access_key_id=access_key_for(OTHER_ACCOUNT),
                          aws_secret_access_key=SECRET)
    [replica] = [fs for fs in theirs.describe_file_systems()["FileSystems"] if tags(fs).get(TAG_PLAN) == "shop"]
    assert replica["OwnerId"] == OTHER_ACCOUNT and replicas() == []  # in the recovery account, not the source's
    [replication] = efs(SOURCE).describe_replication_configurations(FileSystemId=files["efs"])["Replications"]
    assert replication["Destinations"][0]["FileSystemId"] == replica["FileSystemId"]
    assert replication["Destinations"][0]["OwnerId"] == OTHER_ACCOUNT
    # EFS replicates across accounts through a role of the SOURCE account that it may assume (botocore's RoleArn)
    iam = boto3.client("iam")
    role = iam.get_role(RoleName=role_name("shop", files["efs"]))["Role"]
    assert replication["Destinations"][0]["RoleArn"] == role["Arn"] and role["Path"] == "/drflow/"
    assert role["Arn"].split(":")[4] == ACCOUNT
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "elasticfilesystem.amazonaws.com"}
    granted = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="efs-replication")["PolicyDocument"]
    assert {s["Resource"]: "elasticfilesystem:ReplicationWrite" in s["Action"] for s in granted["Statement"]} == {
        replica["FileSystemArn"]: True, file_system(files["efs"], SOURCE)["FileSystemArn"]: False}
    sandbox.app.clear_log()
    assert run(replicate, plan=plan, refresh=True)["failed"] == []
    assert [c for c in sandbox.calls if c.write and c.service in ("iam", "elasticfilesystem")] == []
    sandbox.faults.dark = {SOURCE}
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    recovered = theirs.describe_file_systems(FileSystemId=replica["FileSystemId"])["FileSystems"][0]
    assert recovered["FileSystemProtection"]["ReplicationOverwriteProtection"] == "ENABLED"
    assert len(theirs.describe_mount_targets(FileSystemId=replica["FileSystemId"])["MountTargets"]) == 2


# -- the replication double ----------------------------------------------------------------------------------

def validating_client(region: str = RECOVERY, seen: set[str] | None = None, account: str | None = None) -> Any:
    """A boto3 EFS client that asserts every raw response (errors included) against the model."""
    return model_check.validating_client("efs", region, seen, account)


def code_of(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"]


def test_the_validator_catches_what_the_model_forbids():
    destination = MODEL.shape_for("Destination")
    assert shape_errors(destination, {"Status": "ENABLED", "FileSystemId": "fs-0123456789abcdef0",
                                      "Region": "us-west-2", "LastReplicatedTimestamp": 1.5}) == []
    assert shape_errors(destination, {"Status": "DONE", "FileSystemId": "fs-x", "Extra": 1}) == [
        "$.Region: required member missing", "$.Status: 'DONE' not in enum ReplicationStatus",
        "$.FileSystemId: 'fs-x' does not match FileSystemId's pattern", "$.Extra: not a member of Destination"]


def test_replication_double_speaks_the_efs_model_over_http(sandbox):
    seen: set[str] = set()
    source, recovery = validating_client(SOURCE, seen), validating_client(RECOVERY, seen)
    fs_id = source.create_file_system(CreationToken="data", Encrypted=True, Tags=[{"Key": "Name", "Value": "data"}],
                                      ThroughputMode="elastic")["FileSystemId"]
    assert source.describe_file_systems(FileSystemId=fs_id)["FileSystems"][0]["FileSystemProtection"] == {
        "ReplicationOverwriteProtection": "ENABLED"}
    assert code_of(source.describe_replication_configurations, FileSystemId=fs_id) == "ReplicationNotFound"
    assert code_of(source.describe_replication_configurations, FileSystemId="fs-0000000000000000a") == \
        "FileSystemNotFound"
    assert code_of(source.create_replication_configuration, SourceFileSystemId="fs-0000000000000000a",
                   Destinations=[{"Region": RECOVERY}]) == "FileSystemNotFound"

    made = source.create_replication_configuration(SourceFileSystemId=fs_id, Destinations=[
        {"Region": RECOVERY, "KmsKeyId": "alias/dr"}])
    replica_id = made["Destinations"][0]["FileSystemId"]
    assert made["SourceFileSystemId"] == fs_id and made["SourceFileSystemRegion"] == SOURCE
    # ENABLING, with no last synced time, until the first sync has finished (EFS user guide, replication status)
    assert made["SourceFileSystemOwnerId"] == ACCOUNT and made["Destinations"][0]["Status"] == "ENABLING"
    assert "LastReplicatedTimestamp" not in made["Destinations"][0]
    efs_replication.CLOCK.advance(efs_replication.FIRST_SYNC_SECONDS)
    [synced] = source.describe_replication_configurations(FileSystemId=fs_id)["Replications"]
    assert synced["Destinations"][0]["Status"] == "ENABLED"
    assert synced["Destinations"][0]["LastReplicatedTimestamp"] >= synced["CreationTime"]
    replica = recovery.describe_file_systems(FileSystemId=replica_id)["FileSystems"][0]
    assert replica["FileSystemProtection"]["ReplicationOverwriteProtection"] == REPLICATING
    assert replica["ThroughputMode"] == "elastic" and replica["Encrypted"]
    assert replica["KmsKeyId"] == "alias/dr"
    # both sides describe it, by either file system, and in their region's listing
    for client, name in ((source, fs_id), (recovery, replica_id)):
        [seen_there] = client.describe_replication_configurations(FileSystemId=name)["Replications"]
        assert seen_there["SourceFileSystemArn"] == made["SourceFileSystemArn"]
        listed = client.describe_replication_configurations()["Replications"]
        assert [r["SourceFileSystemId"] for r in listed] == [fs_id]
    assert code_of(source.create_replication_configuration, SourceFileSystemId=fs_id,
                   Destinations=[{"Region": RECOVERY}]) == "ValidationException"  # one replication per file system
    assert code_of(recovery.update_file_system_protection, FileSystemId=replica_id,
                   ReplicationOverwriteProtection="DISABLED") == "ReplicationAlreadyExists"
    assert code_of(source.delete_file_system, FileSystemId=fs_id) == "BadRequest"

    # failover: deleted from the destination's side, the replica becomes writable, both sides forget it
    recovery.delete_replication_configuration(SourceFileSystemId=replica_id)
    replica = recovery.describe_file_systems(FileSystemId=replica_id)["FileSystems"][0]
    assert replica["FileSystemProtection"]["ReplicationOverwriteProtection"] == "ENABLED"
    assert code_of(source.describe_replication_configurations, FileSystemId=fs_id) == "ReplicationNotFound"
    assert code_of(recovery.delete_replication_configuration, SourceFileSystemId=replica_id) == "ReplicationNotFound"
    assert seen >= {"CreateReplicationConfiguration", "DescribeReplicationConfigurations",
                    "DeleteReplicationConfiguration", "UpdateFileSystemProtection", "DescribeFileSystems"}


def test_an_existing_destination_needs_its_protection_disabled_and_a_local_delete_leaves_the_other_side(sandbox):
    source, recovery = validating_client(SOURCE), validating_client(RECOVERY)
    fs_id = source.create_file_system(CreationToken="src")["FileSystemId"]
    target = recovery.create_file_system(CreationToken="dst", Encrypted=True)
    destination = [{"Region": RECOVERY, "FileSystemId": target["FileSystemArn"]}]
    assert code_of(source.create_replication_configuration, SourceFileSystemId=fs_id,
                   Destinations=destination) == "ValidationException"  # protection ENABLED: refused
    assert recovery.update_file_system_protection(FileSystemId=target["FileSystemId"],
                                                  ReplicationOverwriteProtection="DISABLED")[
        "ReplicationOverwriteProtection"] == "DISABLED"
    made = source.create_replication_configuration(SourceFileSystemId=fs_id, Destinations=destination)
    assert made["Destinations"][0]["FileSystemId"] == target["FileSystemId"]
    recovery.delete_replication_configuration(SourceFileSystemId=target["FileSystemId"],
                                              DeletionMode="LOCAL_CONFIGURATION_ONLY")
    assert recovery.describe_file_systems(FileSystemId=target["FileSystemId"])["FileSystems"][0][
        "FileSystemProtection"]["ReplicationOverwriteProtection"] == "ENABLED"
    [left] = source.describe_replication_configurations(FileSystemId=fs_id)["Replications"]
    assert left["Destinations"][0]["Status"] == "ERROR"  # the source side still lists it, broken


def test_a_destination_in_another_account_lives_in_that_accounts_backend(sandbox):
    source = validating_client(SOURCE)
    other = validating_client(RECOVERY, account=OTHER_ACCOUNT)
    fs_id = source.create_file_system(CreationToken="src")["FileSystemId"]
    target = other.create_file_system(CreationToken="dst", Encrypted=True)
    other.update_file_system_protection(FileSystemId=target["FileSystemId"], ReplicationOverwriteProtection="DISABLED")
    destination = {"Region": RECOVERY, "FileSystemId": target["FileSystemArn"]}
    # botocore's DestinationToCreate.RoleArn: required across accounts, a role of the SOURCE account EFS assumes
    with pytest.raises(ClientError) as no_role:
        source.create_replication_configuration(SourceFileSystemId=fs_id, Destinations=[destination])
    assert no_role.value.response["Error"]["Code"] == "BadRequest"
    assert "RoleArn is required for cross-account replication" in no_role.value.response["Error"]["Message"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                "Principal": {"Service": "elasticfilesystem.amazonaws.com"}}]})
    theirs = boto3.client("iam", aws_access_key_id=access_key_for(OTHER_ACCOUNT), aws_secret_access_key=SECRET)
    wrong_account = theirs.create_role(RoleName="efs-repl", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    untrusting = boto3.client("iam").create_role(RoleName="not-efs", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "ec2.amazonaws.com"}}]}))["Role"]["Arn"]
    for role in (wrong_account, untrusting, f"arn:aws:iam::{ACCOUNT}:role/missing"):
        assert code_of(source.create_replication_configuration, SourceFileSystemId=fs_id,
                       Destinations=[{**destination, "RoleArn": role}]) == "BadRequest", role
    assert code_of(other.describe_replication_configurations, FileSystemId=target["FileSystemId"]) == \
        "ReplicationNotFound"  # nothing was made by the refused calls
    role = boto3.client("iam").create_role(RoleName="efs-repl", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    made = source.create_replication_configuration(SourceFileSystemId=fs_id, Destinations=[
        {**destination, "RoleArn": role}])
    assert made["Destinations"][0]["OwnerId"] == OTHER_ACCOUNT and made["Destinations"][0]["RoleArn"] == role
    assert other.describe_replication_configurations(FileSystemId=target["FileSystemId"])["Replications"][0][
        "SourceFileSystemOwnerId"] == ACCOUNT
    assert code_of(efs().describe_file_systems, FileSystemId=target["FileSystemId"]) == \
        "FileSystemNotFound"  # not in the source account's recovery region (moto's own error, not the double's)


def test_a_dark_source_is_not_synced_nor_deleted_from_the_other_side_but_a_local_delete_works(sandbox):
    source, recovery = validating_client(SOURCE), validating_client(RECOVERY)
    fs_id = source.create_file_system(CreationToken="src")["FileSystemId"]
    replica_id = source.create_replication_configuration(SourceFileSystemId=fs_id, Destinations=[
        {"Region": RECOVERY}])["Destinations"][0]["FileSystemId"]
    sandbox.faults.dark = {SOURCE}
    efs_replication.CLOCK.advance(efs_replication.FIRST_SYNC_SECONDS * 2)  # EFS cannot read a dark source
    [pending] = recovery.describe_replication_configurations(FileSystemId=replica_id)["Replications"]
    assert pending["Destinations"][0]["Status"] == "ENABLING" and "LastReplicatedTimestamp" not in \
        pending["Destinations"][0]
    once = boto3.client("efs", region_name=RECOVERY, config=Config(retries={"mode": "standard", "max_attempts": 1}))
    with pytest.raises(ClientError) as failed:  # ALL_CONFIGURATIONS needs the dark side: a 5xx, nothing deleted
        once.delete_replication_configuration(SourceFileSystemId=replica_id)
    assert failed.value.response["Error"]["Code"] == "InternalServerError"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert recovery.describe_replication_configurations(FileSystemId=replica_id)["Replications"]
    recovery.delete_replication_configuration(SourceFileSystemId=replica_id, DeletionMode="LOCAL_CONFIGURATION_ONLY")
    assert recovery.describe_file_systems(FileSystemId=replica_id)["FileSystems"][0]["FileSystemProtection"][
        "ReplicationOverwriteProtection"] == "ENABLED"
    sandbox.faults.dark = set()
    [left] = source.describe_replication_configurations(FileSystemId=fs_id)["Replications"]
    assert left["Destinations"][0]["Status"] == "ERROR"  # the primary's side was not touched while it was dark


def test_the_double_is_registered_in_process_too():
    with mock_aws():
        client = boto3.client("efs", region_name=SOURCE, aws_access_key_id="x", aws_secret_access_key="x")
        fs_id = client.create_file_system(CreationToken="x")["FileSystemId"]
        made = client.create_replication_configuration(SourceFileSystemId=fs_id, Destinations=[{"Region": RECOVERY}])
        replica = boto3.client("efs", region_name=RECOVERY, aws_access_key_id="x", aws_secret_access_key="x")
        assert replica.describe_file_systems(FileSystemId=made["Destinations"][0]["FileSystemId"])["FileSystems"][0][
            "FileSystemProtection"]["ReplicationOverwriteProtection"] == REPLICATING
