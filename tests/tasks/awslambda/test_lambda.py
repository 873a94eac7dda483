"""Lambda through the sandbox: code copied into the vault nightly, the function recreated at failover (primary
dark) with its code, layers, versions and aliases, environment rewritten to the replica bucket, VPC config on the
recovered subnets and groups; a re-run that makes nothing twice; a drill and its cleanup.

moto 5.2.5's GetFunction and GetLayerVersion hand out code URLs that answer 404 (or "s3://"): the sandbox's
drflow/sandbox/lambda_code.py serves the code at those URLs instead, as S3 serves AWS's presigned ones.
"""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import CallStats, Side
from core.ec2_index import OwnedIndex
from core.handler import TAG_DRILL, TAG_PLAN, ApplyContext
from core.models import Outcome, Resource, ResourceResult
from core.netmap import NetworkMapper
from drflow.sandbox.accounts import recovery_role, session_for
from drflow.sandbox.faults import Faults
from drflow.sandbox.seed_ecr import REPOSITORY, seed_ecr
from drflow.sandbox.seed_lambda import FUNCTION, LAMBDA_TRUST, LAYER, SECRET_VALUE, handler_code, seed_lambda
from drflow.sandbox.seed_s3 import seed_s3
from flows.cleanup import drill_cleanup
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.awslambda.versions import recover_event_sources

REPLICA = f"shop-assets-{ACCOUNT}-{RECOVERY}"
OTHER = "222222222222"


def lam(region: str = RECOVERY):
    return boto3.client("lambda", region_name=region)


def code_of(location: str) -> bytes:
    return urllib.request.urlopen(location).read()


def row(report: dict, name: str = FUNCTION) -> dict:
    return next(d for d in report["details"] if d["key"] == f"lambda:function/{name}")


@pytest.fixture
def thumbnails(shop, sandbox):
    bucket = seed_s3(boto3.Session(), SOURCE, objects=2)["bucket"]
    ids = {**shop, **seed_lambda(boto3.Session(), SOURCE, {**shop, "bucket": bucket})}
    sandbox.app.clear_log()
    return ids


def test_failover_recreates_the_function_from_the_vault_with_translated_configuration(thumbnails, sandbox):
    plan = make_plan()
    staged = run(replicate, plan=plan)
    assert staged["failed"] == []
    vault = boto3.client("s3", region_name=RECOVERY).list_objects_v2(Bucket=plan.vault_bucket, Prefix="shop/lambda/")
    assert len(vault["Contents"]) == 3  # $LATEST, version 1 and the layer: the code is there before any failover

    sandbox.app.clear_log()
    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    sandbox.faults = Faults()
    assert report["failed"] == [], report["failed"]
    assert not [c for c in sandbox.calls if c.region == SOURCE]
    ids = report["identity_map"]
    got = lam().get_function(FunctionName=FUNCTION)
    conf = got["Configuration"]
    assert ids[FUNCTION] == conf["FunctionArn"] and f":{RECOVERY}:" in conf["FunctionArn"]
    assert code_of(got["Code"]["Location"]) == handler_code("2")
    env = conf["Environment"]["Variables"]
    assert env == {"BUCKET": REPLICA, "STAGE": "prod", "API_KEY": SECRET_VALUE,
                   "ASSETS_URL": f"https://{REPLICA}.s3.{RECOVERY}.amazonaws.com/thumbnails/"}
    assert sorted(conf["VpcConfig"]["SubnetIds"]) == sorted([ids[thumbnails["private-a"]],
                                                             ids[thumbnails["private-b"]]])
    assert conf["VpcConfig"]["SecurityGroupIds"] == [ids[thumbnails["sg-app"]]]
    assert all(ids[thumbnails[k]] != thumbnails[k] for k in ("private-a", "private-b", "sg-app"))
    assert conf["Role"] == thumbnails["lambda-role"]  # same account: the production role itself
    assert (conf["Runtime"], conf["Handler"], conf["MemorySize"], conf["Timeout"]) == \
        ("python3.11", "thumbnails.handler", 512, 30)
    assert got["Concurrency"]["ReservedConcurrentExecutions"] == 5
    assert got["Tags"][TAG_PLAN] == "shop" and got["Tags"]["app"] == "shop"

    [layer] = conf["Layers"]
    assert f":{RECOVERY}:" in layer["Arn"] and f":layer:{LAYER}:" in layer["Arn"]
    source_layer = lam(SOURCE).get_layer_version(LayerName=LAYER, VersionNumber=int(thumbnails["lambda-layer"][-1]))
    recovered = lam().get_layer_version(LayerName=LAYER, VersionNumber=int(layer["Arn"].rsplit(":", 1)[1]))
    assert code_of(recovered["Content"]["Location"]) == \
        code_of(source_layer["Content"]["Location"])

    live = lam().get_alias(FunctionName=FUNCTION, Name="live")
    v1 = lam().get_function(FunctionName=FUNCTION, Qualifier=live["FunctionVersion"])
    assert code_of(v1["Code"]["Location"]) == handler_code("1") and v1["Configuration"]["Description"] == "release 1"

    # the queue is protected (tasks/sqs.py): the trigger comes back on the recovered queue, not the primary's
    [mapping] = lam().list_event_source_mappings(FunctionName=FUNCTION)["EventSourceMappings"]
    assert mapping["EventSourceArn"] == f"arn:aws:sqs:{RECOVERY}:{ACCOUNT}:shop-uploads"
    assert not any("not recreated" in w for w in row(report)["warnings"])
    assert SECRET_VALUE not in json.dumps(report, default=str) and SECRET_VALUE not in json.dumps(staged, default=str)

    sandbox.app.clear_log()
    again = run(failover, plan=plan, refresh=True)
    assert again["failed"] == []
    assert [c.operation for c in sandbox.calls if c.write and c.service == "lambda"] == []
    assert [f["FunctionName"] for f in lam().list_functions()["Functions"]] == [FUNCTION]
    assert len(lam().list_layer_versions(LayerName=LAYER)["LayerVersions"]) == 1
    assert [v["Version"] for v in lam().list_versions_by_function(FunctionName=FUNCTION)["Versions"]] == \
        ["$LATEST", live["FunctionVersion"]]


def test_a_rerun_of_the_nightly_copy_copies_nothing_again(thumbnails, sandbox):
    plan = make_plan()
    first = run(replicate, plan=plan)
    assert row(first)["details"]["vault"]["copied"] == 3
    second = run(replicate, plan=plan, refresh=True)
    assert second["failed"] == [] and row(second)["details"]["vault"] == {"copied": 0, "bytes": 0, "present": 3}


def test_failover_refuses_when_the_vault_lost_the_code_before_any_write(thumbnails, sandbox):
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    s3 = boto3.client("s3", region_name=RECOVERY)
    for obj in s3.list_objects_v2(Bucket=plan.vault_bucket, Prefix=f"shop/lambda/functions/{FUNCTION}/")["Contents"]:
        s3.delete_object(Bucket=plan.vault_bucket, Key=obj["Key"])
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan)
    assert f"lambda:function {FUNCTION}" in str(refused.value) and "missing from the vault" in str(refused.value)
    assert not [c for c in sandbox.calls if c.write]


def test_a_drill_makes_a_suffixed_tagged_copy_that_cleanup_removes(thumbnails, sandbox):
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.faults = Faults(dark={SOURCE})
    drill = run(failover, plan=plan, drill=True)
    sandbox.faults = Faults()
    assert drill["failed"] == [], drill["failed"]
    [fn] = lam().list_functions()["Functions"]
    assert fn["FunctionName"].startswith(f"{FUNCTION}-") and fn["FunctionName"] != FUNCTION
    assert lam().list_tags(Resource=fn["FunctionArn"])["Tags"][TAG_DRILL] == drill["drill_id"]
    assert fn["Environment"]["Variables"]["BUCKET"] == REPLICA
    assert fn["VpcConfig"]["SubnetIds"] and thumbnails["private-a"] not in fn["VpcConfig"]["SubnetIds"]

    report = run(drill_cleanup, plan=plan, drill_id=drill["drill_id"])
    assert report["failed"] == []
    assert report["removed"]["lambda:function"] == [fn["FunctionName"]]
    assert lam().list_functions()["Functions"] == []
    assert lam(SOURCE).get_function(FunctionName=FUNCTION)["Configuration"]["State"] == "Active"


def test_a_container_image_function_runs_the_replica_image(shop, sandbox):
    image = seed_ecr(boto3.Session(), SOURCE, {})["ecr-image"]
    role = boto3.client("iam").create_role(RoleName="shop-render", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST),
                                           Tags=[{"Key": "app", "Value": "shop"}])["Role"]["Arn"]
    lam(SOURCE).create_function(FunctionName="shop-render", PackageType="Image", Code={"ImageUri": image}, Role=role,
                                MemorySize=1024, Timeout=60, ImageConfig={"Command": ["render.handler"]},
                                Tags={"app": "shop"})
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    sandbox.faults = Faults()
    assert report["failed"] == [], report["failed"]
    got = lam().get_function(FunctionName="shop-render")
    replica = f"{ACCOUNT}.dkr.ecr.{RECOVERY}.amazonaws.com/{REPOSITORY}"
    assert report["identity_map"][REPOSITORY] == replica
    assert got["Code"]["ImageUri"] == f"{replica}:1.0" and image != got["Code"]["ImageUri"]
    assert got["Configuration"]["ImageConfigResponse"]["ImageConfig"]["Command"] == ["render.handler"]
    assert got["Configuration"]["PackageType"] == "Image" and got["Configuration"]["MemorySize"] == 1024


def test_cross_account_the_function_runs_as_the_recovered_role_from_the_recovery_vault(thumbnails, sandbox):
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY,
                               "role_arn": recovery_role(OTHER, trusted=ACCOUNT)})
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    sandbox.faults = Faults()
    assert report["failed"] == [], report["failed"]
    other = session_for(OTHER, RECOVERY).client("lambda")
    got = other.get_function(FunctionName=FUNCTION)
    conf = got["Configuration"]
    assert conf["Role"] == f"arn:aws:iam::{OTHER}:role/shop-lambda"
    assert conf["Environment"]["Variables"]["BUCKET"] == f"shop-assets-{ACCOUNT}-{RECOVERY}"
    assert code_of(got["Code"]["Location"]) == handler_code("2")
    assert f":{OTHER}:" in conf["Layers"][0]["Arn"]
    assert session_for(OTHER, RECOVERY).client("s3").list_objects_v2(
        Bucket=plan.vault_bucket, Prefix="shop/lambda/")["KeyCount"] == 3


def test_a_failover_from_a_newer_recovery_point_brings_the_new_code_to_the_recovered_function(thumbnails, sandbox):
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    assert run(failover, plan=plan)["failed"] == []
    lam(SOURCE).update_function_code(FunctionName=FUNCTION, ZipFile=handler_code("3"))
    assert run(replicate, plan=plan)["failed"] == []
    report = run(failover, plan=plan)
    assert report["failed"] == []
    assert "update_function_code" in row(report)["details"]["writes"]
    assert code_of(lam().get_function(FunctionName=FUNCTION)["Code"]["Location"]) == handler_code("3")
    assert len(lam().list_versions_by_function(FunctionName=FUNCTION)["Versions"]) == 2  # $LATEST and 1, no more


def test_an_event_source_the_plan_recovered_gets_its_mapping_back_and_one_it_did_not_is_named(sandbox):
    """The mapping step alone (no handler recovers queues yet): a queue in the identity map gets its mapping, on the
    recovered queue, disabled in a drill; a queue that is not gets a warning naming it; a re-run adds nothing."""
    role = boto3.client("iam").create_role(RoleName="f", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]
    lam().create_function(FunctionName="f", Runtime="python3.11", Role=role["Arn"], Handler="thumbnails.handler",
                          Code={"ZipFile": handler_code("1")})
    sqs = boto3.client("sqs", region_name=RECOVERY)
    url = sqs.create_queue(QueueName="shop-uploads-dr")["QueueUrl"]
    recovered = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = {"starting_position": None, "batching_window": None, "enabled": True, "batch_size": 5}
    resource = Resource(type="lambda:function", source_id="f", config={"event_sources": [
        {**source, "arn": f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:shop-uploads", "ref": "sqs:shop-uploads"},
        {**source, "arn": f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:billing", "ref": "sqs:billing"}]})
    queue = ResourceResult(key="sqs:queue/shop-uploads", type="sqs:queue", source_id="shop-uploads",
                           outcome=Outcome.CREATED, recovered_id=recovered)
    ctx = ApplyContext(plan=make_plan(), recovery=Side(boto3.Session(), RECOVERY, CallStats()), mode="drill",
                       deps={queue.key: queue}, index=OwnedIndex(), net=NetworkMapper({}, {}, RECOVERY),
                       drill_id="drill-20260101T000000Z")
    warnings: list[str] = []
    assert recover_event_sources(lam(), "f", resource, ctx, warnings) == ["create_event_source_mapping"]
    [mapping] = lam().list_event_source_mappings(FunctionName="f")["EventSourceMappings"]
    assert (mapping["EventSourceArn"], mapping["BatchSize"], mapping["State"]) == (recovered, 5, "Disabled")
    assert any(f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:billing" in w and "not recreated" in w for w in warnings)
    assert any("created disabled" in w for w in warnings)
    assert recover_event_sources(lam(), "f", resource, ctx, []) == []


def test_code_that_no_kept_recovery_point_names_is_pruned_from_the_vault(thumbnails, sandbox):
    plan = make_plan(vault={"keep": 1})
    assert run(replicate, plan=plan)["failed"] == []
    lam(SOURCE).update_function_code(FunctionName=FUNCTION, ZipFile=handler_code("3"))
    second = run(replicate, plan=plan)
    # the first point is kept (with its code) until this night completes: its code goes the night after
    assert second["failed"] == [] and "code_pruned" not in row(second)["details"]
    third = run(replicate, plan=plan, refresh=True)  # (refresh: an unchanged function's staging is cached)
    assert third["failed"] == [] and row(third)["details"]["code_pruned"] == 1
    s3 = boto3.client("s3", region_name=RECOVERY)
    kept = s3.list_object_versions(Bucket=plan.vault_bucket, Prefix="shop/lambda/")
    assert len(kept["Versions"]) == 3 and not kept.get("DeleteMarkers")  # version 1, the new $LATEST, the layer
    assert run(failover, plan=plan)["failed"] == []
    assert code_of(lam().get_function(FunctionName=FUNCTION)["Code"]["Location"]) == handler_code("3")
