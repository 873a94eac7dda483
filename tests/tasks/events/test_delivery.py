"""Whether a recovered rule may deliver to a recovered queue or topic: the reading of its policy (pure), and the
warning a failover gives when it may not (on the sandbox)."""

from __future__ import annotations

import json

import boto3

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext
from core.models import Mode, Resource, ResourceResult
from core.netmap import NetworkMapper
from core.scope import refer
from tasks.events import RuleHandler
from tasks.events.delivery import allows

RULE = "arn:aws:events:us-west-2:111111111111:rule/shop-nightly"


def _policy(principal, action="sqs:SendMessage", condition=None, effect="Allow"):
    statement = {"Effect": effect, "Principal": principal, "Action": action, "Resource": "*"}
    return {"Statement": [statement | ({"Condition": condition} if condition else {})]}


def test_the_events_principal_from_this_rule_or_any_source_may_deliver():
    events = {"Service": "events.amazonaws.com"}
    assert allows(_policy(events), "sqs:SendMessage", RULE)
    assert allows(_policy(events, condition={"ArnEquals": {"aws:SourceArn": RULE}}), "sqs:SendMessage", RULE)
    assert allows(_policy(events, "sqs:*", {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/shop-*"}}),
                  "sqs:SendMessage", RULE)
    assert allows(_policy("*", ["sns:Publish"]), "sns:Publish", RULE)


def test_another_principal_rule_action_or_a_deny_does_not():
    events = {"Service": "events.amazonaws.com"}
    assert not allows(None, "sqs:SendMessage", RULE)
    assert not allows(_policy({"Service": "sns.amazonaws.com"}), "sqs:SendMessage", RULE)
    primary = "arn:aws:events:us-east-1:111111111111:rule/shop-nightly"  # the source's rule, untranslated
    assert not allows(_policy(events, condition={"ArnEquals": {"aws:SourceArn": primary}}), "sqs:SendMessage", RULE)
    assert not allows(_policy(events, "sqs:ReceiveMessage"), "sqs:SendMessage", RULE)
    assert not allows(_policy(events, effect="Deny"), "sqs:SendMessage", RULE)


def test_a_failover_warns_when_the_recovered_queue_does_not_let_the_rule_deliver(sandbox):
    """On the sandbox: the rule's target is the recovered queue, whose policy (its handler's, translated from the
    source's) lets SNS send but not EventBridge: the queue is targeted as it is, and the report says so."""
    source_queue = f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:audit"
    events = boto3.client("events", region_name=SOURCE)
    events.put_rule(Name="audit", ScheduleExpression="rate(1 hour)", Tags=[{"Key": "app", "Value": "shop"}])
    events.put_targets(Rule="audit", Targets=[{"Id": "q", "Arn": source_queue}])
    recovered = f"arn:aws:sqs:{RECOVERY}:{ACCOUNT}:audit"
    sqs = boto3.client("sqs", region_name=RECOVERY)
    url = sqs.create_queue(QueueName="audit", Attributes={"Policy": json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": recovered}]})})["QueueUrl"]
    plan = make_plan()
    aws = AwsAccess(plan)
    queue = Resource(type="sqs:queue", source_id=source_queue, name="audit")
    [rule] = [r for r in refer(RuleHandler().discover(aws.source, plan) + [queue]) if r.type == "events:rule"]
    deps = {queue.key: ResourceResult(key=queue.key, type="sqs:queue", source_id=source_queue, name="audit",
                                      outcome="created", recovered_id=recovered)}

    def apply():
        ctx = ApplyContext(plan=plan, recovery=aws.recovery, mode=Mode.RECOVER, deps=deps,
                           net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex())
        return RuleHandler().apply(rule, ctx)

    done = apply()
    assert [t["Arn"] for t in boto3.client("events", region_name=RECOVERY).list_targets_by_rule(
        Rule="audit")["Targets"]] == [recovered]
    assert any(recovered in w and "events.amazonaws.com" in w for w in done.warnings)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": recovered, "Condition": {"ArnEquals": {"aws:SourceArn": done.recovered_id}}}]})})
    assert not any("events.amazonaws.com" in w for w in apply().warnings)
