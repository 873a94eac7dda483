"""ECR through the sandbox: replica repositories, registry replication merged with the customer's rules, images
copied before any failover, and a failover (and drill) that only reads the recovery side.

moto stores a replication configuration but replicates nothing, so every image found in a replica here was put
there by drflow's own copy (blobs through the layer upload API, then the manifest): what these tests check.
moto 5.2.5 lacks GetDownloadUrlForLayer, keeps no layer bytes and takes one replication rule only: the sandbox's
drflow/sandbox/moto_ecr.py fills those gaps.
"""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest

import model_check

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.handler import TAG_PLAN, TAG_SOURCE_ID
from drflow.sandbox.accounts import recovery_role, session_for
from drflow.sandbox.seed_ecr import REPOSITORY, push_image, seed_ecr
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.ecr.replication import merged_rules

OTHER = "222222222222"
CUSTOMER_RULE = {"destinations": [{"region": "eu-west-1", "registryId": ACCOUNT}],
                 "repositoryFilters": [{"filter": "billing/", "filterType": "PREFIX_MATCH"}]}
REGION_CONDITION = {"StringEquals": {"aws:RequestedRegion": SOURCE}}


def ecr(region: str = RECOVERY, account: str = ACCOUNT):
    return session_for(account, region).client("ecr")


def images(client, repository: str = REPOSITORY) -> dict[str, list[str]]:
    return {d["imageDigest"]: sorted(d.get("imageTags", []))
            for d in client.describe_images(repositoryName=repository)["imageDetails"]}


def blobs(client, digest: str, repository: str = REPOSITORY) -> dict[str, bytes]:
    """Every blob (config and layers) of one image, downloaded the way docker pull does."""
    image = client.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])["images"][0]
    manifest = json.loads(image["imageManifest"])
    out = {}
    for blob in [manifest["config"], *manifest["layers"]]:
        url = client.get_download_url_for_layer(repositoryName=repository, layerDigest=blob["digest"])["downloadUrl"]
        out[blob["digest"]] = urllib.request.urlopen(url).read()
    return out


@pytest.fixture
def registry(sandbox):
    """The shop's repository with its image, a repository policy with a region condition, and a replication rule
    of the customer's own (to another region) that drflow must keep."""
    seeded = seed_ecr(boto3.Session(), SOURCE, {})
    source = ecr(SOURCE)
    policy = json.loads(source.get_repository_policy(repositoryName=REPOSITORY)["policyText"])
    policy["Statement"][0]["Condition"] = REGION_CONDITION
    source.set_repository_policy(repositoryName=REPOSITORY, policyText=json.dumps(policy))
    source.put_replication_configuration(replicationConfiguration={"rules": [CUSTOMER_RULE]})
    sandbox.app.clear_log()
    return seeded


def test_the_replica_holds_the_images_and_policies_and_replication_keeps_the_customer_rule(registry, sandbox):
    plan = make_plan()
    report = run(replicate, plan=plan)
    assert report["failed"] == []
    replica = ecr().describe_repositories(repositoryNames=[REPOSITORY])["repositories"][0]
    assert report["identity_map"][REPOSITORY] == replica["repositoryUri"]
    assert replica["repositoryUri"] == f"{ACCOUNT}.dkr.ecr.{RECOVERY}.amazonaws.com/{REPOSITORY}"
    assert replica["imageScanningConfiguration"]["scanOnPush"] is True
    tags = {t["Key"]: t["Value"] for t in ecr().list_tags_for_resource(resourceArn=replica["repositoryArn"])["tags"]}
    assert tags[TAG_PLAN] == "shop" and tags[TAG_SOURCE_ID] == REPOSITORY and tags["app"] == "shop"

    # the images, byte for byte, before any failover
    assert images(ecr()) == images(ecr(SOURCE)) == {registry["ecr-image-digest"]: ["1.0"]}
    assert blobs(ecr(), registry["ecr-image-digest"]) == blobs(ecr(SOURCE), registry["ecr-image-digest"])

    # the policies, translated
    policy = json.loads(ecr().get_repository_policy(repositoryName=REPOSITORY)["policyText"])
    assert policy["Statement"][0]["Condition"] == {"StringEquals": {"aws:RequestedRegion": RECOVERY}}
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert json.loads(ecr().get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"]) == \
        json.loads(ecr(SOURCE).get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"])

    # replication merged: the customer's rule as it was, plus drflow's
    rules = ecr(SOURCE).describe_registry()["replicationConfiguration"]["rules"]
    assert rules == [CUSTOMER_RULE, {"destinations": [{"region": RECOVERY, "registryId": ACCOUNT}],
                                     "repositoryFilters": [{"filter": REPOSITORY, "filterType": "PREFIX_MATCH"}]}]


def test_a_rerun_copies_only_new_images_and_duplicates_nothing(registry, sandbox):
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    rules = ecr(SOURCE).describe_registry()["replicationConfiguration"]["rules"]
    sandbox.app.clear_log()
    again = run(replicate, plan=plan, refresh=True)
    assert again["failed"] == []
    ecr_writes = [c.operation for c in sandbox.calls if c.write and c.service == "ecr"]
    assert ecr_writes == []  # nothing missing, nothing changed: reads only
    new = push_image(ecr(SOURCE), REPOSITORY, "1.1", {"app/serve": b"#!/bin/sh\necho shop api 1.1\n"})
    third = run(replicate, plan=plan)
    assert third["failed"] == []
    assert images(ecr()) == images(ecr(SOURCE)) and new["digest"] in images(ecr())
    assert blobs(ecr(), new["digest"]) == blobs(ecr(SOURCE), new["digest"])
    assert len(ecr().describe_repositories()["repositories"]) == 1
    assert ecr(SOURCE).describe_registry()["replicationConfiguration"]["rules"] == rules


def test_failover_with_the_primary_dark_uses_the_replica_and_writes_nothing(registry, sandbox):
    from drflow.sandbox.faults import Faults

    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.app.clear_log()
    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == []
    assert report["identity_map"][REPOSITORY] == registry["ecr-repository-uri"].replace(SOURCE, RECOVERY)
    assert not [c for c in sandbox.calls if c.service == "ecr" and (c.write or c.region == SOURCE)]
    drill = run(failover, plan=plan, drill=True)
    assert drill["failed"] == [] and drill["identity_map"][REPOSITORY] == report["identity_map"][REPOSITORY]
    assert not [c for c in sandbox.calls if c.service == "ecr" and c.write]


def test_failover_refuses_a_replica_that_lost_an_image_before_any_write(registry, sandbox):
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    ecr().batch_delete_image(repositoryName=REPOSITORY, imageIds=[{"imageDigest": registry["ecr-image-digest"]}])
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan)
    assert registry["ecr-image-digest"] in str(refused.value) and "not in the replica" in str(refused.value)
    assert not [c for c in sandbox.calls if c.write]


def test_cross_account_the_recovery_registry_lets_the_source_replicate_and_holds_the_images(registry, sandbox):
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY,
                               "role_arn": recovery_role(OTHER, trusted=ACCOUNT)})
    report = run(replicate, plan=plan)
    assert report["failed"] == []
    replica = ecr(account=OTHER)
    assert images(replica) == images(ecr(SOURCE))
    assert blobs(replica, registry["ecr-image-digest"]) == blobs(ecr(SOURCE), registry["ecr-image-digest"])
    assert report["identity_map"][REPOSITORY] == f"{OTHER}.dkr.ecr.{RECOVERY}.amazonaws.com/{REPOSITORY}"
    statement = json.loads(replica.get_registry_policy()["policyText"])["Statement"]
    assert [(s["Principal"], sorted(s["Action"])) for s in statement] == [
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, ["ecr:CreateRepository", "ecr:ReplicateImage"])]
    policy = json.loads(replica.get_repository_policy(repositoryName=REPOSITORY)["policyText"])
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{OTHER}:root"}  # the account, translated
    rules = ecr(SOURCE).describe_registry()["replicationConfiguration"]["rules"]
    assert rules[0] == CUSTOMER_RULE and rules[1]["destinations"] == [{"region": RECOVERY, "registryId": OTHER}]


def test_the_merge_widens_only_a_rule_that_replicates_nowhere_else():
    dest = {"region": RECOVERY, "registryId": ACCOUNT}
    ours = {"destinations": [dest], "repositoryFilters": [{"filter": "shop/web", "filterType": "PREFIX_MATCH"}]}
    mixed = {"destinations": [dest, {"region": "eu-west-1", "registryId": ACCOUNT}],
             "repositoryFilters": [{"filter": "billing/", "filterType": "PREFIX_MATCH"}]}
    merged = merged_rules([mixed, ours], REPOSITORY, dest)
    assert merged[0] == mixed and merged[1]["repositoryFilters"][-1] == {"filter": REPOSITORY,
                                                                         "filterType": "PREFIX_MATCH"}
    assert merged_rules(merged, REPOSITORY, dest) is None  # covered: no write
    assert merged_rules([{"destinations": [dest]}], REPOSITORY, dest) is None  # a rule with no filter covers all
    assert merged_rules([mixed], REPOSITORY, dest) == [mixed, {"destinations": [dest], "repositoryFilters": [
        {"filter": REPOSITORY, "filterType": "PREFIX_MATCH"}]}]


def test_the_sandbox_ecr_extensions_answer_as_the_ecr_model_says(registry, sandbox):
    """moto_ecr.py's answers, checked against botocore's ECR model (its errors carry no HTTP status in the model,
    which model_check wants: those are checked by code and status here)."""
    seen: set[str] = set()
    client = model_check.validating_client("ecr", SOURCE, seen)
    image = client.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": "1.0"}])["images"][0]
    layer = json.loads(image["imageManifest"])["layers"][0]["digest"]
    assert client.get_download_url_for_layer(repositoryName=REPOSITORY, layerDigest=layer)["layerDigest"] == layer
    plain = ecr(SOURCE)
    with pytest.raises(plain.exceptions.LayersNotFoundException) as missing:
        plain.get_download_url_for_layer(repositoryName=REPOSITORY, layerDigest="sha256:" + "0" * 64)
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    rules = [CUSTOMER_RULE, {"destinations": [{"region": RECOVERY, "registryId": ACCOUNT}]}]
    client.put_replication_configuration(replicationConfiguration={"rules": rules})
    with pytest.raises(plain.exceptions.ValidationException):
        plain.put_replication_configuration(replicationConfiguration={"rules": [CUSTOMER_RULE] * 11})
    assert client.describe_registry()["replicationConfiguration"]["rules"] == rules
    assert seen >= {"GetDownloadUrlForLayer", "PutReplicationConfiguration"}
