"""S3 through the sandbox: replica buckets, replication configuration, the one-time object copy, failover.

moto stores a replication configuration but replicates nothing (no CRR simulation): every object found in a
replica here was put there by drflow's own copy of the pre-existing objects, which is what these tests check.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan, workload_writes
from core.aws import Retryable
from core.ec2_index import OwnedIndex
from core.handler import TAG_PLAN, TAG_SOURCE_ID, ApplyContext
from core.models import Resource
from core.netmap import NetworkMapper
from drflow.sandbox.faults import Faults
from drflow.sandbox.seed_s3 import seed_s3
from drflow.sandbox.server import SECRET, access_key_for
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.s3.buckets import TAG_BACKFILLED
from tasks.s3.replication import replica_policy, replication_config, role_name, role_policy, translate_policy
from tasks.s3.sync import backfill

BUCKET = f"shop-assets-{ACCOUNT}"
REPLICA = f"{BUCKET}-{RECOVERY}"


def s3(region: str = RECOVERY):
    return boto3.client("s3", region_name=region)


def keys_of(bucket: str, region: str = RECOVERY) -> dict[str, int]:
    pages = s3(region).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}


def bucket_row(report: dict, name: str = BUCKET) -> dict:
    return next(d for d in report["details"] if d["key"] == f"s3:bucket/{name}")


def stage(plan, **params) -> dict:
    """A nightly run (the sandbox fixture empties the engine's cache, so nothing comes from an earlier test)."""
    return run(replicate, plan=plan, **params)


@pytest.fixture
def assets(sandbox):
    seeded = seed_s3(boto3.Session(), SOURCE, objects=1000)
    sandbox.app.clear_log()
    return seeded


def test_pre_existing_objects_are_copied_and_replication_is_configured(assets, plan, sandbox):
    report = stage(plan)
    assert report["failed"] == []
    assert report["identity_map"][BUCKET] == REPLICA
    assert keys_of(REPLICA) == keys_of(BUCKET, SOURCE) and len(keys_of(REPLICA)) == 1000
    for key in assets["keys"][::97]:
        assert s3().get_object(Bucket=REPLICA, Key=key)["Body"].read() == \
            s3(SOURCE).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert bucket_row(report)["details"]["backfill"] == {"listed": 1000, "copied": 1000, "bytes": assets["bytes"],
                                                         "skipped": 0, "archived": 0}
    assert s3(SOURCE).get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert s3().get_bucket_versioning(Bucket=REPLICA)["Status"] == "Enabled"
    assert s3().get_bucket_location(Bucket=REPLICA)["LocationConstraint"] == RECOVERY

    config = s3(SOURCE).get_bucket_replication(Bucket=BUCKET)["ReplicationConfiguration"]
    iam = boto3.client("iam", region_name=SOURCE)
    role = iam.get_role(RoleName=role_name(plan, BUCKET))["Role"]
    assert config["Role"] == role["Arn"]
    [rule] = config["Rules"]
    assert rule["Status"] == "Enabled" and rule["Filter"] == {"Prefix": ""}
    assert rule["Destination"]["Bucket"] == f"arn:aws:s3:::{REPLICA}"
    assert rule["DeleteMarkerReplication"] == {"Status": "Enabled"}
    assert "Account" not in rule["Destination"]  # same account: no ownership override
    # the role is drflow's and may do exactly replication of this bucket into its replica
    role_tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}
    assert role_tags[TAG_PLAN] == "shop" and role_tags[TAG_SOURCE_ID] == BUCKET
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    policy = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="s3-replication")["PolicyDocument"]
    grants = {(a, s["Resource"]) for s in policy["Statement"] for a in s["Action"]}
    assert grants == {("s3:GetReplicationConfiguration", f"arn:aws:s3:::{BUCKET}"),
                      ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"),
                      *((a, f"arn:aws:s3:::{BUCKET}/*") for a in ("s3:GetObjectVersionForReplication",
                                                                  "s3:GetObjectVersionAcl",
                                                                  "s3:GetObjectVersionTagging")),
                      *((a, f"arn:aws:s3:::{REPLICA}/*") for a in ("s3:ReplicateObject", "s3:ReplicateDelete",
                                                                   "s3:ReplicateTags"))}
    tags = {t["Key"]: t["Value"] for t in s3().get_bucket_tagging(Bucket=REPLICA)["TagSet"]}
    assert tags[TAG_PLAN] == "shop" and tags[TAG_SOURCE_ID] == BUCKET and tags["app"] == "shop"
    assert TAG_BACKFILLED in tags

    # the next night: the engine's cache (same bucket) and a refresh run (every setting re-read) write nothing
    for params in ({}, {"refresh": True}):
        sandbox.app.clear_log()
        again = run(replicate, plan=plan, **params)
        assert again["failed"] == []
        assert workload_writes(sandbox, plan) == [] and again["api_calls"]["write"] == 0
    assert bucket_row(again)["outcome"] == "unchanged"
    # re-checked, not served from the cache; marked done, so the buckets were not even listed again
    assert "cached" not in bucket_row(again)["details"]
    assert bucket_row(again)["details"]["backfill"]["copied"] == 0 and "done_at" in bucket_row(again)["details"]["backfill"]
    assert keys_of(REPLICA) == keys_of(BUCKET, SOURCE)


def test_an_interrupted_copy_resumes_with_the_missing_objects_only(assets, plan, sandbox):
    stage(plan)
    replica = s3()
    gone = sorted(keys_of(REPLICA))[::2]
    for i in range(0, len(gone), 500):
        replica.delete_objects(Bucket=REPLICA, Delete={"Objects": [{"Key": k} for k in gone[i:i + 500]]})
    # as if the first run died half-way: half the objects copied, completion not marked yet
    tags = [t for t in replica.get_bucket_tagging(Bucket=REPLICA)["TagSet"] if t["Key"] != TAG_BACKFILLED]
    replica.put_bucket_tagging(Bucket=REPLICA, Tagging={"TagSet": tags})
    sandbox.app.clear_log()
    report = run(replicate, plan=plan, refresh=True)
    assert report["failed"] == []
    backfill = bucket_row(report)["details"]["backfill"]
    assert backfill["copied"] == len(gone) == 500 and backfill["skipped"] == 500
    assert keys_of(REPLICA) == keys_of(BUCKET, SOURCE)
    copies = [c for c in workload_writes(sandbox, plan) if c.operation == f"PUT /{REPLICA}"]
    assert len(copies) == 500 + 1  # one copy per missing object, and the completion tag


def test_copies_failing_midway_are_retried_later_and_only_they_are_copied(sandbox):
    seed_s3(boto3.Session(), SOURCE, objects=200)
    s3().create_bucket(Bucket=REPLICA, CreateBucketConfiguration={"LocationConstraint": RECOVERY})
    patient = Config(retries={"mode": "standard", "max_attempts": 10})
    source, replica = s3(SOURCE), boto3.client("s3", region_name=RECOVERY, config=patient)
    # the copies are made without botocore retries, so that injected 5xx errors make some of them fail
    writer = boto3.client("s3", region_name=RECOVERY, config=Config(retries={"mode": "standard", "max_attempts": 1}))
    sandbox.faults = Faults(error5xx=0.3, seed=5)
    with pytest.raises(Retryable, match="of 200 object copies"):
        backfill(boto3.client("s3", region_name=SOURCE, config=patient), writer, replica, BUCKET, REPLICA)
    sandbox.faults = Faults()
    copied_before = len(keys_of(REPLICA))
    assert 0 < copied_before < 200
    sandbox.app.clear_log()
    result = backfill(source, writer, replica, BUCKET, REPLICA)
    assert (result.copied, result.skipped) == (200 - copied_before, copied_before)
    assert len([c for c in sandbox.calls if c.write]) == 200 - copied_before
    assert keys_of(REPLICA) == keys_of(BUCKET, SOURCE)


def test_settings_land_translated_on_the_replica(sandbox, monkeypatch):
    seed_s3(boto3.Session(), SOURCE, objects=3)
    src_kms, rec_kms = boto3.client("kms", region_name=SOURCE), boto3.client("kms", region_name=RECOVERY)
    source_key = src_kms.create_key()["KeyMetadata"]
    src_kms.create_alias(AliasName="alias/shop-assets", TargetKeyId=source_key["KeyId"])
    recovery_key = rec_kms.create_key()["KeyMetadata"]
    rec_kms.create_alias(AliasName="alias/shop-assets-dr", TargetKeyId=recovery_key["KeyId"])
    source = s3(SOURCE)
    source.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": source_key["Arn"]},
        "BucketKeyEnabled": True}]})
    lifecycle = [{"ID": "expire-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30},
                  "NoncurrentVersionExpiration": {"NoncurrentDays": 7}}]
    source.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": lifecycle})
    block = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
             "RestrictPublicBuckets": True}
    source.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration=block)
    source.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Reader", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/reader"},
         "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}]}))
    plan = make_plan(kms_key_map={"alias/shop-assets": "alias/shop-assets-dr"})
    report = stage(plan)
    assert report["failed"] == []
    replica = s3()
    rule = replica.get_bucket_encryption(Bucket=REPLICA)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms",
                                                          "KMSMasterKeyID": recovery_key["Arn"]}
    assert rule["BucketKeyEnabled"] is True
    assert replica.get_bucket_lifecycle_configuration(Bucket=REPLICA)["Rules"] == lifecycle
    assert replica.get_public_access_block(Bucket=REPLICA)["PublicAccessBlockConfiguration"] == block
    policy = json.loads(replica.get_bucket_policy(Bucket=REPLICA)["Policy"])
    assert policy["Statement"][0]["Resource"] == [f"arn:aws:s3:::{REPLICA}", f"arn:aws:s3:::{REPLICA}/*"]
    [repl] = source.get_bucket_replication(Bucket=BUCKET)["ReplicationConfiguration"]["Rules"]
    assert repl["Destination"]["EncryptionConfiguration"] == {"ReplicaKmsKeyID": recovery_key["Arn"]}
    assert repl["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
    role_policy = boto3.client("iam", region_name=SOURCE).get_role_policy(
        RoleName=role_name(plan, BUCKET), PolicyName="s3-replication")["PolicyDocument"]
    kms = {s["Sid"]: (s["Action"], s["Resource"]) for s in role_policy["Statement"] if s["Sid"].startswith(("Dec", "Enc"))}
    assert kms == {"DecryptSource": (["kms:Decrypt"], source_key["Arn"]),
                   "EncryptReplica": (["kms:Encrypt", "kms:GenerateDataKey"], recovery_key["Arn"])}


def test_a_bucket_key_mapped_to_create_encrypts_the_replica_with_the_key_drflow_made(sandbox):
    seed_s3(boto3.Session(), SOURCE, objects=2)
    src_kms = boto3.client("kms", region_name=SOURCE)
    key = src_kms.create_key()["KeyMetadata"]
    src_kms.create_alias(AliasName="alias/shop-assets", TargetKeyId=key["KeyId"])
    s3(SOURCE).put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["KeyId"]}}]})
    report = stage(make_plan(kms_key_map={"alias/shop-assets": "create"}))
    assert report["failed"] == []
    made = report["identity_map"][key["KeyId"]]  # the kms:key resource ran first: the bucket depends on it
    assert made.startswith(f"arn:aws:kms:{RECOVERY}:") and made != key["Arn"]
    rule = s3().get_bucket_encryption(Bucket=REPLICA)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == made
    [repl] = s3(SOURCE).get_bucket_replication(Bucket=BUCKET)["ReplicationConfiguration"]["Rules"]
    assert repl["Destination"]["EncryptionConfiguration"] == {"ReplicaKmsKeyID": made}


def test_an_encrypted_bucket_without_key_mapping_is_refused_before_any_write(sandbox, plan):
    seed_s3(boto3.Session(), SOURCE, objects=1)
    key = boto3.client("kms", region_name=SOURCE).create_key()["KeyMetadata"]
    s3(SOURCE).put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["KeyId"]}}]})
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=plan)
    assert any(f == "kms_key_map" and BUCKET in m and key["Arn"] in m for f, m in refused.value.problems)
    assert [c for c in sandbox.calls if c.write] == []


def test_a_foreign_bucket_with_the_replica_name_is_refused_before_any_write(sandbox, plan):
    seed_s3(boto3.Session(), SOURCE, objects=2)
    s3().create_bucket(Bucket=REPLICA, CreateBucketConfiguration={"LocationConstraint": RECOVERY})
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=plan)
    [(field, message)] = refused.value.problems
    assert field == f"s3:bucket {BUCKET}" and "collision" in message and REPLICA in message
    assert [c for c in sandbox.calls if c.write] == []
    assert keys_of(REPLICA) == {}


def test_two_buckets_mapped_to_one_replica_are_refused_before_any_write(sandbox):
    seed_s3(boto3.Session(), SOURCE, objects=1)
    seed_s3(boto3.Session(), SOURCE, objects=1, bucket="shop-media")
    plan = make_plan(buckets={"names": {"shop-media": REPLICA}})
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=plan)
    [(field, message)] = refused.value.problems
    assert field == "buckets.names.shop-media" and BUCKET in message and "shop-media" in message and REPLICA in message
    assert [c for c in sandbox.calls if c.write] == []


def test_a_replica_named_like_a_source_bucket_is_refused(sandbox):
    seed_s3(boto3.Session(), SOURCE, objects=1)
    s3(SOURCE).create_bucket(Bucket="shop-old")
    plan = make_plan(buckets={"names": {BUCKET: "shop-old"}})
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=plan)
    assert refused.value.problems == [(f"buckets.names.{BUCKET}", f"the replica of bucket {BUCKET} would be "
                                       f"shop-old, which is a bucket of the source region {SOURCE}")]


def test_failover_with_the_primary_dark_recovers_to_the_replica(sandbox, plan):
    seed_s3(boto3.Session(), SOURCE, objects=20)
    assert stage(plan)["failed"] == []
    sandbox.app.clear_log()
    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == []
    assert report["identity_map"][BUCKET] == REPLICA
    assert [c for c in sandbox.calls if c.region == SOURCE] == []
    drill = run(failover, plan=plan, drill=True)
    assert drill["identity_map"][BUCKET] == REPLICA
    assert any("live replica" in w for w in bucket_row(drill)["warnings"])


def test_failover_without_a_staged_replica_is_refused(sandbox, plan):
    seed_s3(boto3.Session(), SOURCE, objects=1)
    stage(plan)
    s3().delete_bucket_tagging(Bucket=REPLICA)
    s3().delete_objects(Bucket=REPLICA, Delete={"Objects": [
        {"Key": v["Key"], "VersionId": v["VersionId"]} for v in s3().list_object_versions(Bucket=REPLICA)["Versions"]]})
    s3().delete_bucket(Bucket=REPLICA)
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan)
    assert any(f == f"s3:bucket {BUCKET}" and "does not exist" in m for f, m in refused.value.problems)


def test_cross_account_the_replica_belongs_to_the_recovery_account(sandbox, monkeypatch, tmp_path):
    other = "222222222222"
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[dr]\naws_access_key_id = {access_key_for(other)}\naws_secret_access_key = {SECRET}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    seed_s3(boto3.Session(), SOURCE, objects=30)
    plan = make_plan(recovery={"account_id": other, "region": RECOVERY, "credentials": {"profile": "dr"}})
    report = stage(plan)
    assert report["failed"] == []
    replica = boto3.Session(profile_name="dr").client("s3", region_name=RECOVERY)
    assert REPLICA in [b["Name"] for b in replica.list_buckets()["Buckets"]]  # the recovery account's bucket
    assert REPLICA not in [b["Name"] for b in s3(SOURCE).list_buckets()["Buckets"]]
    assert len(keys_of(REPLICA)) == 30
    [rule] = s3(SOURCE).get_bucket_replication(Bucket=BUCKET)["ReplicationConfiguration"]["Rules"]
    assert rule["Destination"]["Account"] == other
    assert rule["Destination"]["AccessControlTranslation"] == {"Owner": "Destination"}
    policy = json.loads(replica.get_bucket_policy(Bucket=REPLICA)["Policy"])
    role = boto3.client("iam", region_name=SOURCE).get_role(RoleName=role_name(plan, BUCKET))["Role"]["Arn"]
    assert {s["Sid"]: s["Principal"]["AWS"] for s in policy["Statement"]} == {
        "DrflowReplication": role, "DrflowReplicationBucket": role, "DrflowBackfill": f"arn:aws:iam::{ACCOUNT}:root"}


def _ctx(plan) -> ApplyContext:
    return ApplyContext(plan=plan, recovery=None, mode="stage", deps={}, index=OwnedIndex(),  # type: ignore[arg-type]
                        net=NetworkMapper({}, {}, RECOVERY))


def test_cross_account_replication_hands_ownership_to_the_recovery_account():
    plan = make_plan(recovery={"account_id": "222222222222", "region": RECOVERY,
                               "role_arn": "arn:aws:iam::222222222222:role/dr"})
    resource = Resource(type="s3:bucket", source_id=BUCKET, name=BUCKET, config={
        "replica": plan.replica_bucket(BUCKET), "kms_key": None, "policy": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}})
    replica = f"{BUCKET}-{RECOVERY}"
    role = f"arn:aws:iam::{ACCOUNT}:role/drflow/{role_name(plan, BUCKET)}"
    rule = replication_config(resource, _ctx(plan), role, None)["Rules"][0]
    assert rule["Destination"] == {"Bucket": f"arn:aws:s3:::{replica}", "Account": "222222222222",
                                   "AccessControlTranslation": {"Owner": "Destination"}}
    policy, _ = replica_policy(resource, _ctx(plan))
    translated, *drflow = policy["Statement"]
    assert translated["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
    assert translated["Resource"] == f"arn:aws:s3:::{replica}/*"
    replication = next(s for s in drflow if s["Sid"] == "DrflowReplication")
    assert replication["Principal"] == {"AWS": role} and "s3:ObjectOwnerOverrideToBucketOwner" in replication["Action"]
    actions = {a for s in role_policy(resource, _ctx(plan), None)["Statement"] for a in s["Action"]}
    assert "s3:ObjectOwnerOverrideToBucketOwner" in actions


def test_policy_translation_touches_only_the_bucket_and_the_account():
    policy = {"Statement": [{"Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*", "arn:aws:s3:::logs-archive/*"],
                             "Principal": {"AWS": "arn:aws:iam::111111111111:role/app"},
                             "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111",
                                                            "s3:prefix": "logs/1111111111112"}}}]}
    plan = make_plan(recovery={"account_id": "222222222222", "region": RECOVERY,
                               "role_arn": "arn:aws:iam::222222222222:role/dr"})
    translated = translate_policy(policy, "logs", "logs-dr", plan)
    out = translated.document["Statement"][0]
    assert out["Resource"] == ["arn:aws:s3:::logs-dr", "arn:aws:s3:::logs-dr/*", "arn:aws:s3:::logs-archive/*"]
    assert out["Principal"] == {"AWS": "arn:aws:iam::222222222222:role/app"}
    assert out["Condition"]["StringEquals"] == {"aws:SourceAccount": "222222222222", "s3:prefix": "logs/1111111111112"}
    # the prefix holds the source account id inside a name: kept, and said so
    assert [w for w in translated.warnings if "logs/1111111111112" in w]


def test_listings_are_paired_in_key_order_and_only_changed_objects_are_copied_again():
    from datetime import datetime, timedelta

    from tasks.s3.sync import Listed, needs_copy, pairs

    t = datetime(2026, 1, 1)
    src = [("a", Listed(1, "e1", t)), ("b", Listed(2, "e2", t)), ("d", Listed(3, "e3", t)), ("é", Listed(4, "e4", t))]
    rep = [("0", Listed(1, "x", t)), ("b", Listed(2, "e2", t)), ("c", Listed(9, "x", t)), ("é", Listed(4, "e4", t))]
    assert [(k, r is not None) for k, _, r in pairs(iter(src), iter(rep))] == [
        ("a", False), ("b", True), ("d", False), ("é", True)]
    source = Listed(5, "md5", t)
    later, earlier = t + timedelta(minutes=1), t - timedelta(minutes=1)
    assert not needs_copy(source, Listed(5, "md5", later))
    assert not needs_copy(source, Listed(5, "kms-etag", later))  # re-encrypted copy: another ETag, same object
    assert needs_copy(source, Listed(5, "old", earlier))  # the source changed after its copy
    assert needs_copy(source, Listed(4, "md5", later)) and needs_copy(source, None)
