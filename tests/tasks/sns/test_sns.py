"""SNS topics, handler-direct on the sandbox: a night stages the topic with its policy and its subscription to the
staged queue (no person is mailed, no function subscribed before it exists); a failover subscribes the recovered
function and lets the recovered topic invoke it, and subscribes the email address (pending, reported); a second
night and a second failover write nothing; a drill's topic is suffixed, reaches only the drill's queue and is
cleaned up; across accounts the topic lands in the recovery account."""

from __future__ import annotations

import io
import json
import zipfile

import boto3

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext, CleanupContext
from core.models import Mode, Resource, ResourceResult
from core.netmap import NetworkMapper
from core.scope import refer
from drflow.sandbox.accounts import recovery_role, session_for
from tasks.sns import TopicHandler

OTHER = "222222222222"
QUEUE, FUNCTION = f"sqs:queue/arn:aws:sqs:{SOURCE}:{ACCOUNT}:orders", "lambda:function/notify"
FILTER = {"kind": ["order"]}


def _arns(region: str, account: str = ACCOUNT) -> dict[str, str]:
    return {"topic": f"arn:aws:sns:{region}:{account}:events", "queue": f"arn:aws:sqs:{region}:{account}:orders",
            "function": f"arn:aws:lambda:{region}:{account}:function:notify"}


def _seed() -> str:
    sns = boto3.client("sns", region_name=SOURCE)
    source = _arns(SOURCE)
    topic = sns.create_topic(Name="events", Tags=[{"Key": "app", "Value": "shop"}],
                             Attributes={"DisplayName": "Shop events"})["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                "Action": "sns:Publish", "Resource": topic}]}))
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=source["queue"],
                  Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps(FILTER)})
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=source["function"])
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@shop.example")
    sns.create_topic(Name="other-team")  # not in scope
    return topic


def _function(region: str, account: str = ACCOUNT) -> str:
    """The recovered function (the Lambda handler's work, done here by hand), with no resource policy."""
    session = session_for(account, region)
    role = session.client("iam").create_role(RoleName="notify", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return event\n")
    return session.client("lambda").create_function(
        FunctionName="notify", Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": code.getvalue()})["FunctionArn"]


def _resource(plan) -> Resource:
    found = [r for r in TopicHandler().discover(AwsAccess(plan).source, plan) if r.name == "events"]
    others = [Resource(type="sqs:queue", source_id=_arns(SOURCE)["queue"], name="orders"),
              Resource(type="lambda:function", source_id="notify", name="notify", arn=_arns(SOURCE)["function"])]
    [topic] = [r for r in refer(found + others) if r.type == "sns:topic"]
    return topic


def _deps(plan, recovered_function: str | None, queue: str) -> dict[str, ResourceResult]:
    return {QUEUE: ResourceResult(key=QUEUE, type="sqs:queue", source_id=_arns(SOURCE)["queue"], name="orders",
                                  outcome="created", recovered_id=queue),
            FUNCTION: ResourceResult(key=FUNCTION, type="lambda:function", source_id="notify",
                                     name="notify", outcome="created" if recovered_function else "skipped",
                                     recovered_id=recovered_function)}


def _apply(plan, mode, function=None, drill_id=None, queue=None, region=RECOVERY):
    resource = _resource(plan)
    aws = AwsAccess(plan)
    queue = queue or _arns(region, plan.recovery.account_id)["queue"]
    ctx = ApplyContext(plan=plan, recovery=aws.recovery, mode=mode, deps=_deps(plan, function, queue),
                       net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex(), drill_id=drill_id)
    handler = TopicHandler()
    applied = handler.apply(resource, ctx)
    assert handler.find(resource, ctx) == applied.recovered_id  # what apply made, find finds
    return resource, applied, ctx


def _subscriptions(topic: str, sns=None) -> dict[str, dict]:
    sns = sns or boto3.client("sns", region_name=RECOVERY)
    return {s["Protocol"]: s for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]}


def test_a_night_stages_the_topic_and_its_queue_subscription_and_mails_nobody(sandbox):
    _seed()
    plan = make_plan()
    resource, night, _ = _apply(plan, Mode.STAGE)
    assert sorted(resource.dependencies) == [FUNCTION, QUEUE]  # the subscriptions' targets come first
    recovered = _arns(RECOVERY)
    assert night.created and night.recovered_id == recovered["topic"]
    sns = boto3.client("sns", region_name=RECOVERY)
    subs = _subscriptions(night.recovered_id)
    assert set(subs) == {"sqs"} and subs["sqs"]["Endpoint"] == recovered["queue"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=subs["sqs"]["SubscriptionArn"])["Attributes"]
    assert attrs["RawMessageDelivery"] == "true" and json.loads(attrs["FilterPolicy"]) == FILTER
    topic = sns.get_topic_attributes(TopicArn=night.recovered_id)["Attributes"]
    assert topic["DisplayName"] == "Shop events"
    assert json.loads(topic["Policy"])["Statement"][0]["Resource"] == recovered["topic"]
    assert any("email" in s and "failover" in s for s in night.details["not subscribed"])
    assert "oncall@shop.example" not in json.dumps(night.details)
    _, again, _ = _apply(plan, Mode.STAGE)
    assert not (again.created or again.changed)  # a second night writes nothing


def test_a_failover_subscribes_the_recovered_function_and_lets_the_topic_invoke_it(sandbox):
    _seed()
    plan = make_plan()
    _, night, _ = _apply(plan, Mode.STAGE)
    function = _function(RECOVERY)
    resource, failover, ctx = _apply(plan, Mode.RECOVER, function=function)
    assert failover.recovered_id == night.recovered_id and not failover.created and failover.changed
    subs = _subscriptions(failover.recovered_id)
    assert subs["lambda"]["Endpoint"] == function
    assert subs["email"]["SubscriptionArn"] == "PendingConfirmation"
    assert any("confirmation" in w for w in failover.warnings)
    policy = json.loads(boto3.client("lambda", region_name=RECOVERY).get_policy(FunctionName="notify")["Policy"])
    [grant] = policy["Statement"]
    assert grant["Principal"] == {"Service": "sns.amazonaws.com"}
    assert grant["Condition"]["ArnLike"]["AWS:SourceArn"] == failover.recovered_id
    _, second, _ = _apply(plan, Mode.RECOVER, function=function)
    assert not (second.created or second.changed)  # a second failover creates nothing new
    assert len(json.loads(boto3.client("lambda", region_name=RECOVERY).get_policy(
        FunctionName="notify")["Policy"])["Statement"]) == 1
    read = TopicHandler().read_back(resource, failover.recovered_id, ctx)
    assert {s["endpoint"] for s in read["Subscriptions"]} >= {function, _arns(RECOVERY)["queue"]}


def test_a_drill_topic_is_suffixed_reaches_only_the_drill_queue_and_is_cleaned_up(sandbox):
    _seed()
    plan = make_plan()
    drill_queue = f"arn:aws:sqs:{RECOVERY}:{ACCOUNT}:orders-drill1"
    _, drill, _ = _apply(plan, Mode.DRILL, drill_id="drill-20261207t035500", queue=drill_queue)
    assert drill.recovered_id.startswith(_arns(RECOVERY)["topic"] + "-")
    subs = _subscriptions(drill.recovered_id)
    assert set(subs) == {"sqs"} and subs["sqs"]["Endpoint"] == drill_queue  # no person, no URL, not production's
    sns = boto3.client("sns", region_name=RECOVERY)
    gone = TopicHandler().cleanup(CleanupContext(plan=plan, recovery=AwsAccess(plan).recovery,
                                                 drill_id="drill-20261207t035500"))
    assert gone == [drill.recovered_id.rsplit(":", 1)[-1]]
    assert sns.list_topics()["Topics"] == []


def test_cross_account_the_topic_lands_in_the_recovery_account(sandbox):
    _seed()
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY,
                               "role_arn": recovery_role(OTHER, trusted=ACCOUNT)})
    _, night, _ = _apply(plan, Mode.STAGE)
    theirs = _arns(RECOVERY, OTHER)
    assert night.recovered_id == theirs["topic"]
    sns = session_for(OTHER, RECOVERY).client("sns")
    assert _subscriptions(night.recovered_id, sns)["sqs"]["Endpoint"] == theirs["queue"]
    policy = json.loads(sns.get_topic_attributes(TopicArn=night.recovered_id)["Attributes"]["Policy"])
    assert policy["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{OTHER}:root"
    assert boto3.client("sns", region_name=RECOVERY).list_topics()["Topics"] == []  # nothing in the source account
