"""Cross-account KMS: each key the other account must use lets it, checked before the nightly writes.

Runs against the sandbox with both accounts' state (each account reached with its sandbox access key; the
recovery side through a role in the recovery account, as drflow reaches it).
"""

from __future__ import annotations

import json

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.keys import SHARED_SNAPSHOT_ACTIONS, policy_grants, replica_key_problems, snapshot_key_problems
from core.models import Resource
from drflow.sandbox.accounts import recovery_role, session_for
from drflow.sandbox.seed_rds import seed_rds
from drflow.sandbox.seed_s3 import seed_s3
from flows.common import PreflightError
from flows.replicate import replicate
from flows_helper import run
from tasks.kms import SOURCE_REPLICATION_SID

OTHER = "222222222222"
BUCKET = f"shop-assets-{ACCOUNT}"


def kms(account: str = ACCOUNT, region: str = SOURCE):
    return session_for(account, region).client("kms")


def grant(account: str, region: str, key_id: str, principal: str, actions: list[str]) -> None:
    """Add one Allow statement to a key's policy, as its owner would."""
    client = kms(account, region)
    policy = json.loads(client.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    policy["Statement"].append({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions,
                                "Resource": "*"})
    client.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))


def recovery_key(alias: str) -> str:
    key = kms(OTHER, RECOVERY).create_key(Description=alias)["KeyMetadata"]
    kms(OTHER, RECOVERY).create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return key["Arn"]


def encrypted_bucket(alias: str = "alias/shop-assets") -> str:
    seed_s3(boto3.Session(), SOURCE, objects=2)
    key = kms().create_key()["KeyMetadata"]
    kms().create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    boto3.client("s3", region_name=SOURCE).put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}}]})
    return key["Arn"]


def cross_plan(**overrides):
    role = recovery_role(OTHER, trusted=ACCOUNT)
    return make_plan(recovery={"account_id": OTHER, "region": RECOVERY, "role_arn": role}, **overrides)


def test_keys_the_other_account_cannot_use_are_named_before_any_write(shop, sandbox):
    db_key = seed_rds(boto3.Session(), SOURCE, dict(shop))["kms-key"]  # its policy trusts only its own account
    encrypted_bucket()
    data_dr, assets_dr = recovery_key("alias/shop-data-dr"), recovery_key("alias/shop-assets-dr")
    plan = cross_plan(kms_key_map={"alias/shop-data": data_dr, "alias/shop-assets": assets_dr})
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=plan)
    problems = dict(refused.value.problems)
    shared = problems["rds:db-instance/shop-db"]
    assert db_key in shared and f"arn:aws:iam::{OTHER}:root" in shared
    assert all(action in shared for action in SHARED_SNAPSHOT_ACTIONS)
    replica = problems["kms_key_map.alias/shop-assets"]
    assert BUCKET in replica and assets_dr in replica and "kms:Encrypt, kms:GenerateDataKey" in replica
    assert f"arn:aws:iam::{ACCOUNT}:role/drflow/*" in replica
    assert "kms_key_map.alias/shop-data" not in problems  # the database's recovery key is used by OTHER only
    assert [c for c in sandbox.calls if c.write] == []


def _resources(plan) -> list[Resource]:
    from core.keys import KeyCatalog

    catalog = KeyCatalog(AwsAccess(plan).source)
    return [Resource(type="rds:db-instance", source_id="shop-db", config={"kms_key": catalog.describe("alias/shop-data")}),
            Resource(type="s3:bucket", source_id=BUCKET, config={"kms_key": catalog.describe("alias/shop-assets")})]


def cross_account_key_problems(plan, resources: list[Resource], source, recovery) -> list[tuple[str, str]]:
    """What the database and bucket handlers' pre-flights ask core.keys before a cross-account night."""
    return (snapshot_key_problems(plan, [r for r in resources if r.type.startswith("rds:")], source)
            + replica_key_problems(plan, [r for r in resources if r.type == "s3:bucket"], recovery))


def test_granted_keys_pass_and_a_partial_grant_names_what_is_missing(shop, sandbox):
    db_key = seed_rds(boto3.Session(), SOURCE, dict(shop))["kms-key"]
    encrypted_bucket()
    data_dr, assets_dr = recovery_key("alias/shop-data-dr"), recovery_key("alias/shop-assets-dr")
    plan = cross_plan(kms_key_map={"alias/shop-data": data_dr, "alias/shop-assets": assets_dr})
    aws = AwsAccess(plan)
    grant(ACCOUNT, SOURCE, db_key, OTHER, ["kms:Decrypt"])  # by account id, and only one of the three actions
    grant(OTHER, RECOVERY, assets_dr, f"arn:aws:iam::{ACCOUNT}:role/drflow/drflow-s3-shop", ["kms:GenerateDataKey*"])
    problems = dict(cross_account_key_problems(plan, _resources(plan), aws.source, aws.recovery))
    assert "kms:CreateGrant, kms:DescribeKey" in problems["rds:db-instance/shop-db"]
    assert "kms:Decrypt" not in problems["rds:db-instance/shop-db"].split("Action")[-1]
    assert "Action kms:Encrypt (" in problems["kms_key_map.alias/shop-assets"]
    grant(ACCOUNT, SOURCE, db_key, f"arn:aws:iam::{OTHER}:root", ["kms:CreateGrant", "kms:DescribeKey"])
    grant(OTHER, RECOVERY, assets_dr, f"arn:aws:iam::{ACCOUNT}:root", ["kms:*"])
    assert cross_account_key_problems(plan, _resources(plan), aws.source, aws.recovery) == []
    same = make_plan(kms_key_map={"alias/shop-data": "alias/aws/rds"})
    assert cross_account_key_problems(same, _resources(plan), aws.source, aws.recovery) == []  # one account: none


def test_policy_grants_reads_wildcards_principal_forms_and_unconditional_denies():
    policy = {"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::222222222222:root"]}, "Action": "kms:*"},
        {"Effect": "Allow", "Principal": "*", "Action": ["kms:Describe*"]},
        {"Effect": "Deny", "Principal": {"AWS": "222222222222"}, "Action": "kms:CreateGrant"},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},  # a conditional deny does not stop drflow
        {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:Encrypt"}]}
    assert policy_grants(policy, {"222222222222", "arn:aws:iam::222222222222:root"}, SHARED_SNAPSHOT_ACTIONS) == \
        {"kms:Decrypt", "kms:DescribeKey"}
    assert policy_grants(policy, {"333333333333"}, SHARED_SNAPSHOT_ACTIONS) == {"kms:DescribeKey"}
    roles = {"arn:aws:iam::111111111111:role/drflow/*"}
    assert policy_grants({"Statement": {"Effect": "Allow", "Action": "kms:Encrypt", "Principal": {
        "AWS": "arn:aws:iam::111111111111:role/drflow/drflow-s3-x"}}}, roles, ["kms:Encrypt"]) == {"kms:Encrypt"}
    assert policy_grants({"Statement": {"Effect": "Allow", "Action": "kms:Encrypt", "Principal": {
        "AWS": "arn:aws:iam::111111111111:role/app"}}}, roles, ["kms:Encrypt"]) == set()


def test_a_key_drflow_creates_in_a_cross_account_plan_lets_the_source_replication_role_encrypt(sandbox):
    source_key = encrypted_bucket()
    plan = cross_plan(kms_key_map={"alias/shop-assets": "create"})
    staged = run(replicate, plan=plan)
    assert staged["failed"] == [], staged["failed"]
    made = staged["identity_map"][source_key.rsplit("/", 1)[-1]]
    assert made.startswith(f"arn:aws:kms:{RECOVERY}:{OTHER}:key/")
    policy = json.loads(kms(OTHER, RECOVERY).get_key_policy(KeyId=made, PolicyName="default")["Policy"])
    [ours] = [s for s in policy["Statement"] if s.get("Sid") == SOURCE_REPLICATION_SID]
    assert ours["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert ours["Condition"] == {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/drflow/*"},
                                 "StringEquals": {"kms:ViaService": f"s3.{RECOVERY}.amazonaws.com"}}
    # the key drflow made passes the check it would face if the plan named it directly
    named = cross_plan(kms_key_map={"alias/shop-assets": made})
    aws = AwsAccess(named)
    bucket = Resource(type="s3:bucket", source_id=BUCKET,
                      config={"kms_key": {"arn": source_key, "id": source_key.rsplit("/", 1)[-1],
                                          "aliases": ["alias/shop-assets"], "multi_region": False,
                                          "aws_managed": False}})
    assert cross_account_key_problems(named, [bucket], aws.source, aws.recovery) == []
    # a key made before the statement existed gets it back on the next run
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != SOURCE_REPLICATION_SID]
    kms(OTHER, RECOVERY).put_key_policy(KeyId=made, PolicyName="default", Policy=json.dumps(policy))
    again = run(replicate, plan=plan, refresh=True)
    assert again["failed"] == [] and again["identity_map"][source_key.rsplit("/", 1)[-1]] == made
    restored = json.loads(kms(OTHER, RECOVERY).get_key_policy(KeyId=made, PolicyName="default")["Policy"])
    assert [s["Sid"] for s in restored["Statement"] if s.get("Sid") == SOURCE_REPLICATION_SID] == \
        [SOURCE_REPLICATION_SID]
