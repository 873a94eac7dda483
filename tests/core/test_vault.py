"""The vault on the recovery side: a private, versioned, encrypted bucket of immutable recovery points."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import RECOVERY
from core.aws import AwsAccess
from core.models import Endpoint, RecoveryPoint, Resource
from core.vault import Vault, VaultError


def _point(plan, minutes: int, complete: bool = True) -> RecoveryPoint:
    when = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(minutes=minutes)
    return RecoveryPoint(id=RecoveryPoint.new_id(when), plan_name=plan.name, created_at=when,
                         source=Endpoint(account_id="111111111111", region="us-east-1"),
                         recovery=Endpoint(account_id="111111111111", region=RECOVERY), plan=plan.public_dict(),
                         resources=[Resource(type="ec2:vpc", source_id=f"vpc-{minutes}")], complete=complete)


@pytest.fixture
def vault(sandbox, plan):
    v = Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name)
    v.ensure()
    return v


def test_bucket_is_created_private_versioned_and_encrypted(vault, plan):
    s3 = boto3.client("s3", region_name=RECOVERY)
    assert s3.get_bucket_location(Bucket=plan.vault_bucket)["LocationConstraint"] == RECOVERY
    assert s3.get_bucket_versioning(Bucket=plan.vault_bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=plan.vault_bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    rules = s3.get_bucket_encryption(Bucket=plan.vault_bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert vault.ensure() == []  # already right: no write


def test_a_vault_another_run_created_meanwhile_or_a_killed_run_left_untagged_is_taken_as_it_is(sandbox, plan):
    s3 = boto3.client("s3", region_name=RECOVERY)
    s3.create_bucket(Bucket=plan.vault_bucket, CreateBucketConfiguration={"LocationConstraint": RECOVERY})
    vault = Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name)
    missing = {"Error": {"Code": "404", "Message": "Not Found"}}  # what this run saw before the other one created it
    vault._s3.head_bucket = lambda **kw: (_ for _ in ()).throw(ClientError(missing, "HeadBucket"))
    writes = vault.ensure()  # the other run's bucket, found at CreateBucket (BucketAlreadyOwnedByYou), is ours
    assert "create_bucket" not in writes and "put_bucket_tagging" in writes  # left untagged: tagged now
    tags = s3.get_bucket_tagging(Bucket=plan.vault_bucket)["TagSet"]
    assert {"Key": "drflow:vault", "Value": "true"} in tags
    assert s3.get_bucket_versioning(Bucket=plan.vault_bucket)["Status"] == "Enabled"


def test_points_are_immutable_listed_and_loaded(vault, plan):
    first, second = _point(plan, 1), _point(plan, 2)
    vault.write(first)
    vault.write(second)
    with pytest.raises(VaultError, match="immutable"):
        vault.write(first)
    assert vault.ids() == [first.id, second.id]
    assert vault.load("latest") == second
    assert vault.load(first.id) == first
    with pytest.raises(VaultError, match="not found"):
        vault.load("20990101T000000000Z")


def test_latest_skips_incomplete_points(vault, plan):
    vault.write(_point(plan, 1))
    vault.write(_point(plan, 2, complete=False))
    assert vault.load("latest").id == _point(plan, 1).id


def test_retention_deletes_every_version_of_old_points(vault, plan):
    points = [_point(plan, m) for m in range(5)]
    for p in points:
        vault.write(p)
    assert vault.prune(keep=2) == [p.id for p in points[:3]]
    assert vault.ids() == [p.id for p in points[3:]]
    versions = boto3.client("s3", region_name=RECOVERY).list_object_versions(Bucket=plan.vault_bucket)
    assert len(versions.get("Versions", [])) == 2 and not versions.get("DeleteMarkers")


def test_empty_vault_explains_itself(sandbox, plan):
    with pytest.raises(VaultError, match="has the replication flow run"):
        Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name).load("latest")


def test_a_point_is_complete_only_once_marked_and_latest_is_the_newest_complete_one(vault, plan):
    done, killed = _point(plan, 1, complete=False), _point(plan, 2, complete=False)
    for point in (done, killed):
        vault.write(point)
    with pytest.raises(VaultError, match="no complete recovery point"):
        vault.load("latest")
    vault.mark_complete(done.id)
    vault.mark_complete(done.id)  # a retried run marks it again: no error, still one marker
    assert vault.load("latest").id == done.id and vault.load("latest").complete
    assert vault.load(killed.id).complete is False
    assert [(row["id"], row["complete"]) for row in vault.summaries()] == [(killed.id, False), (done.id, True)]


def test_retention_keeps_the_newest_complete_points_however_many_runs_failed_after_them(vault, plan):
    points = [_point(plan, m, complete=False) for m in range(6)]
    for point in points:
        vault.write(point)
    for point in points[:2]:
        vault.mark_complete(point.id)  # then four nights that never completed
    assert vault.prune(keep=1) == [points[0].id]
    assert vault.ids() == [p.id for p in points[1:]] and vault.load("latest").id == points[1].id
    keys = [o["Key"] for o in boto3.client("s3", region_name=RECOVERY).list_objects_v2(
        Bucket=plan.vault_bucket, Prefix=f"{plan.name}/complete/")["Contents"]]
    assert keys == [f"{plan.name}/complete/{points[1].id}.json"]  # the pruned point's marker went with it
