"""A Lambda event source mapping on a table's stream comes back on the recovered table's stream (the table's
endpoint `stream`, paired by the engine), never on the table's ARN; a stream the recovered table does not have is
named in a warning."""

from __future__ import annotations

import io
import json
import zipfile

import boto3

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import CallStats, Side
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext
from core.models import Outcome, Resource, ResourceResult
from core.netmap import NetworkMapper
from tasks.awslambda.versions import recover_event_sources, source_ref

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("f.py", "def handler(event, context):\n    return None\n")
    return out.getvalue()


def test_a_mapping_on_a_table_stream_comes_back_on_the_recovered_tables_stream(sandbox):
    lam = boto3.client("lambda", region_name=RECOVERY)
    role = boto3.client("iam").create_role(RoleName="f", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    lam.create_function(FunctionName="f", Runtime="python3.11", Role=role["Arn"], Handler="f.handler",
                        Code={"ZipFile": _zip()})
    table = boto3.client("dynamodb", region_name=RECOVERY).create_table(
        TableName="shop-carts", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "cart_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "cart_id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})["TableDescription"]
    source_stream = f"arn:aws:dynamodb:{SOURCE}:{ACCOUNT}:table/shop-carts/stream/2026-12-01T00:00:00.000"
    assert source_ref(source_stream) == "dynamodb:shop-carts"
    mapping = {"starting_position": "LATEST", "batching_window": None, "enabled": True, "batch_size": 10}
    resource = Resource(type="lambda:function", source_id="f", config={"event_sources": [
        {**mapping, "arn": source_stream, "ref": "dynamodb:shop-carts"}]})
    recovered = ResourceResult(
        key=f"dynamodb:table/arn:aws:dynamodb:{SOURCE}:{ACCOUNT}:table/shop-carts", type="dynamodb:table",
        source_id=f"arn:aws:dynamodb:{SOURCE}:{ACCOUNT}:table/shop-carts", name="shop-carts", outcome=Outcome.ADOPTED,
        recovered_id=table["TableArn"], endpoints={source_stream: table["LatestStreamArn"]})
    ctx = ApplyContext(plan=make_plan(), recovery=Side(boto3.Session(), RECOVERY, CallStats()), mode="recover",
                       deps={recovered.key: recovered}, index=OwnedIndex(), net=NetworkMapper({}, {}, RECOVERY))
    assert recover_event_sources(lam, "f", resource, ctx, []) == ["create_event_source_mapping"]
    [made] = lam.list_event_source_mappings(FunctionName="f")["EventSourceMappings"]
    assert made["EventSourceArn"] == table["LatestStreamArn"]
    assert recover_event_sources(lam, "f", resource, ctx, []) == []  # a re-run adds nothing

    without = recovered.model_copy(update={"endpoints": {}})
    warnings: list[str] = []
    ctx.deps = {without.key: without}
    lam.delete_event_source_mapping(UUID=made["UUID"])
    assert recover_event_sources(lam, "f", resource, ctx, warnings) == []
    assert any(source_stream in w and "not recreated" in w for w in warnings)
