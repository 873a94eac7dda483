"""SQS queues, handler-direct on the sandbox: the recovered queue keeps its attributes, its redrive points at the
recovered dead-letter queue, its policy is translated; a second apply writes nothing; a drill's copy is suffixed
and cleaned up."""

from __future__ import annotations

import json

import boto3

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.engine import _paired
from core.handler import ApplyContext, CleanupContext
from core.models import Mode, ResourceResult
from core.netmap import NetworkMapper
from core.scope import refer
from tasks.sqs import QueueHandler


def _seed() -> dict[str, str]:
    sqs = boto3.client("sqs", region_name=SOURCE)
    dlq = sqs.create_queue(QueueName="orders-dlq", tags={"app": "shop"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="orders", tags={"app": "shop"}, Attributes={
        "VisibilityTimeout": "45", "DelaySeconds": "3",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "4"})})["QueueUrl"]
    arn = f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:orders"
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
         "Resource": arn}]})})
    return {"dlq": dlq_arn, "queue": arn, "url": queue}


def _apply_all(plan, mode=Mode.STAGE, drill_id=None):
    handler = QueueHandler()
    aws = AwsAccess(plan)
    resources = {r.name: r for r in refer(handler.discover(aws.source, plan))}
    results: dict[str, ResourceResult] = {}
    writes = []
    for name in ("orders-dlq", "orders"):
        resource = resources[name]
        ctx = ApplyContext(plan=plan, recovery=aws.recovery, mode=mode, deps={k: results[k] for k in resource.dependencies},
                           net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex(), drill_id=drill_id)
        applied = handler.apply(resource, ctx)
        writes.append(applied.created or applied.changed)
        assert handler.find(resource, ctx) == applied.recovered_id
        results[resource.key] = ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id,
                                               name=resource.name, outcome="created", recovered_id=applied.recovered_id,
                                               endpoints=_paired(resource, applied))
    return resources, results, writes


def test_a_queue_comes_back_with_its_dead_letter_queue_and_translated_policy(sandbox):
    seeded = _seed()
    plan = make_plan()
    resources, results, writes = _apply_all(plan)
    assert writes == [True, True]
    assert resources["orders"].dependencies == [resources["orders-dlq"].key]  # the redrive target first
    sqs = boto3.client("sqs", region_name=RECOVERY)
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["VisibilityTimeout"], attrs["DelaySeconds"]) == ("45", "3")
    assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"] == f"arn:aws:sqs:{RECOVERY}:{ACCOUNT}:orders-dlq"
    assert json.loads(attrs["Policy"])["Statement"][0]["Resource"] == f"arn:aws:sqs:{RECOVERY}:{ACCOUNT}:orders"
    assert results[resources["orders"].key].endpoints == {seeded["url"]: url}
    assert url == f"https://sqs.{RECOVERY}.amazonaws.com/{ACCOUNT}/orders"  # the sandbox answers as AWS does
    _, _, again = _apply_all(plan)
    assert again == [False, False]  # a second night writes nothing


def test_a_drill_queue_is_suffixed_points_at_the_drill_dlq_and_is_cleaned_up(sandbox):
    _seed()
    plan = make_plan()
    _, results, _ = _apply_all(plan, Mode.DRILL, drill_id="drill-20261207t035500")
    sqs = boto3.client("sqs", region_name=RECOVERY)
    names = sorted(u.rsplit("/", 1)[-1] for u in sqs.list_queues().get("QueueUrls", []))
    assert len(names) == 2 and all(n.startswith("orders") and n not in ("orders", "orders-dlq") for n in names)
    drill_dlq = next(r.recovered_id for r in results.values() if r.name == "orders-dlq")
    url = next(u for u in sqs.list_queues()["QueueUrls"] if "dlq" not in u)
    redrive = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
                         ["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == drill_dlq
    gone = QueueHandler().cleanup(CleanupContext(plan=plan, recovery=AwsAccess(plan).recovery))
    assert len(gone) == 2 and sqs.list_queues().get("QueueUrls", []) == []
