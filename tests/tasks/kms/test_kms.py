"""KMS: source keys mapped to recovery keys; keys mapped to "create" made nightly; mapped keys checked first."""

from __future__ import annotations

import json

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.keys import key_problems, mapping, recovery_key
from drflow.sandbox.faults import Faults
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run


def kms(region: str):
    return boto3.client("kms", region_name=region)


def _source_key(alias: str = "alias/shop-data", multi_region: bool = False) -> str:
    key = kms(SOURCE).create_key(Description="shop data", MultiRegion=multi_region,
                                 Tags=[{"TagKey": "app", "TagValue": "shop"}])["KeyMetadata"]
    kms(SOURCE).create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return key["KeyId"]


def _tags(region: str, key_id: str) -> dict[str, str]:
    return {t["TagKey"]: t["TagValue"] for t in kms(region).list_resource_tags(KeyId=key_id)["Tags"]}


def test_a_key_mapped_to_create_is_made_nightly_with_its_alias_and_found_at_failover(shop, sandbox):
    source_id = _source_key()
    plan = make_plan(kms_key_map={"alias/shop-data": "create"})
    first = run(replicate, plan=plan)
    assert first["failed"] == []
    recovered = kms(RECOVERY).describe_key(KeyId="alias/shop-data")["KeyMetadata"]
    assert recovered["KeyId"] != source_id and recovered["KeyState"] == "Enabled"
    assert first["identity_map"][source_id] == recovered["Arn"]
    assert _tags(RECOVERY, recovered["KeyId"])["drflow:source-id"] == source_id
    policy = json.loads(kms(RECOVERY).get_key_policy(KeyId=recovered["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"]

    second = run(replicate, plan=plan, refresh=True)  # read back, found, not written
    assert second["api_calls"]["write"] == 0
    assert len([k for k in kms(RECOVERY).list_keys()["Keys"]]) == 1

    sandbox.app.clear_log()
    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == []
    assert report["identity_map"][source_id] == recovered["Arn"]
    assert [c for c in sandbox.calls if c.region == SOURCE] == []


def test_a_key_a_killed_run_left_without_its_alias_is_found_and_given_it(shop):
    source_id = _source_key()
    plan = make_plan(kms_key_map={"alias/shop-data": "create"})
    # what a run killed between create_key and create_alias leaves: drflow's key, tagged, with no alias
    left = kms(RECOVERY).create_key(Description="shop data", Tags=[
        {"TagKey": "drflow:plan", "TagValue": "shop"}, {"TagKey": "drflow:source-id", "TagValue": source_id}])[
        "KeyMetadata"]
    report = run(replicate, plan=plan)
    assert report["failed"] == []
    assert [k["KeyId"] for k in kms(RECOVERY).list_keys()["Keys"]] == [left["KeyId"]]  # adopted, none made
    assert kms(RECOVERY).describe_key(KeyId="alias/shop-data")["KeyMetadata"]["KeyId"] == left["KeyId"]
    assert report["identity_map"][source_id] == left["Arn"]


def test_a_multi_region_key_is_replicated_under_its_own_id(shop):
    source_id = _source_key(multi_region=True)
    plan = make_plan(kms_key_map={source_id: "create"})
    assert run(replicate, plan=plan)["failed"] == []
    replica = kms(RECOVERY).describe_key(KeyId=source_id)["KeyMetadata"]
    assert replica["MultiRegion"] and replica["KeyId"] == source_id
    assert kms(RECOVERY).describe_key(KeyId="alias/shop-data")["KeyMetadata"]["KeyId"] == source_id


def test_an_alias_held_by_a_foreign_key_is_refused_before_any_write(shop, sandbox):
    _source_key()
    foreign = kms(RECOVERY).create_key()["KeyMetadata"]["KeyId"]
    kms(RECOVERY).create_alias(AliasName="alias/shop-data", TargetKeyId=foreign)
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=make_plan(kms_key_map={"alias/shop-data": "create"}))
    assert any(f == "kms_key_map.alias/shop-data" and foreign in m for f, m in refused.value.problems)
    assert [c for c in sandbox.calls if c.write] == []


def test_mapped_recovery_keys_must_exist_be_enabled_and_usable(shop, sandbox):
    source_id = _source_key()
    disabled = kms(RECOVERY).create_key()["KeyMetadata"]["KeyId"]
    kms(RECOVERY).disable_key(KeyId=disabled)
    locked = kms(RECOVERY).create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "kms:*",
         "Resource": "*"}]}))["KeyMetadata"]["KeyId"]
    plan = make_plan(kms_key_map={source_id: "alias/missing", "alias/shop-data": disabled,
                                  f"arn:aws:kms:{SOURCE}:{ACCOUNT}:alias/other": locked})
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=plan)
    problems = dict(refused.value.problems)
    assert "does not exist" in problems[f"kms_key_map.{source_id}"]
    assert "Disabled" in problems["kms_key_map.alias/shop-data"]
    assert "does not let account" in problems[f"kms_key_map.arn:aws:kms:{SOURCE}:{ACCOUNT}:alias/other"]
    assert [c for c in sandbox.calls if c.write] == []


KEY = {"arn": f"arn:aws:kms:{SOURCE}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
       "id": "1234abcd-12ab-34cd-56ef-1234567890ab", "aliases": ["alias/shop-data"], "multi_region": False,
       "aws_managed": False}
MANAGED = {**KEY, "aliases": ["alias/aws/rds"], "aws_managed": True}


@pytest.mark.parametrize("name", [KEY["id"], KEY["arn"], "alias/shop-data", f"arn:aws:kms:{SOURCE}:{ACCOUNT}:alias/shop-data"])
def test_a_key_is_mapped_by_id_arn_alias_or_alias_arn(name):
    plan = make_plan(kms_key_map={name: "alias/recovery-data"})
    assert mapping(plan, KEY) == "alias/recovery-data"
    assert recovery_key(plan, KEY) == "alias/recovery-data"
    assert key_problems(plan, KEY, "db orders") == []


def test_an_unmapped_customer_key_is_named_and_a_managed_key_maps_itself_in_one_account():
    plan = make_plan()
    [(field, message)] = key_problems(plan, KEY, "rds:db-instance orders")
    assert field == "kms_key_map" and "rds:db-instance orders" in message and KEY["arn"] in message
    assert key_problems(plan, MANAGED, "orders") == []
    assert recovery_key(plan, MANAGED) == "alias/aws/rds"
    other = make_plan(recovery={"account_id": "222222222222", "region": RECOVERY,
                                "role_arn": "arn:aws:iam::222222222222:role/dr"})
    [(_, message)] = key_problems(other, MANAGED, "orders")
    assert "cannot be shared" in message


def test_what_is_shared_across_accounts_under_an_aws_managed_key_is_refused_even_when_mapped():
    """A snapshot or AMI reaches the recovery account by being shared, which AWS refuses under an AWS managed key
    (the sandbox refuses it too: drflow/sandbox/moto_rds.py); a mapping names the copy's key, after the share."""
    mapped = make_plan(recovery={"account_id": "222222222222", "region": RECOVERY,
                                 "role_arn": "arn:aws:iam::222222222222:role/dr"},
                       kms_key_map={"alias/aws/rds": "create"})
    assert key_problems(mapped, MANAGED, "orders") == []  # copied by other means (a replica, a value): fine
    [(field, message)] = key_problems(mapped, MANAGED, "rds:db-instance orders", shared=True)
    assert field == "kms_key_map" and "alias/aws/rds" in message and "customer managed key" in message
    assert key_problems(make_plan(), MANAGED, "orders", shared=True) == []  # one account: nothing is shared
