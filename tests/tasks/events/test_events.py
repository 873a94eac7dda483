"""EventBridge buses and rules, handler-direct on the sandbox: a night stages the rule disabled and without
targets; a failover targets the recovered function (its Input translated), lets the recovered rule invoke it and
sets the source's state; a second night and a second failover write nothing; a drill's rule is suffixed, disabled,
reaches only the drill's function and is cleaned up; a custom bus comes back with its translated policy, its rule
on it, in the recovery account of a cross-account plan."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.engine import _paired
from core.handler import ApplyContext, CleanupContext
from core.models import Mode, Resource, ResourceResult
from core.netmap import NetworkMapper
from core.scope import refer, refer_endpoints
from drflow.sandbox.accounts import recovery_role, session_for
from tasks.events import EventBusHandler, RuleHandler

OTHER = "222222222222"
FUNCTION = "lambda:function/nightly"
QUEUE_URL = f"https://sqs.{SOURCE}.amazonaws.com/{ACCOUNT}/orders"
TAGS = [{"Key": "app", "Value": "shop"}]


def _function_arn(region: str, account: str = ACCOUNT, name: str = "nightly") -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def _seed(bus: str | None = None) -> None:
    events = boto3.client("events", region_name=SOURCE)
    if bus:
        arn = events.create_event_bus(Name=bus, Tags=TAGS)["EventBusArn"]
        events.put_permission(EventBusName=bus, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "shop", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "Action": "events:PutEvents", "Resource": arn}]}))
    where = {"EventBusName": bus} if bus else {}
    rule = {"EventPattern": json.dumps({"source": ["shop.orders"]})} if bus else {
        "ScheduleExpression": "cron(0 3 * * ? *)"}
    events.put_rule(Name="nightly", State="ENABLED", Description="the nightly batch", Tags=TAGS, **rule, **where)
    events.put_targets(Rule="nightly", **where, Targets=[{"Id": "fn", "Arn": _function_arn(SOURCE),
                                                          "Input": json.dumps({"queue": QUEUE_URL})}])
    events.put_rule(Name="not-ours", ScheduleExpression="rate(1 day)")  # untagged: out of scope


def _function(region: str, account: str = ACCOUNT, name: str = "nightly") -> str:
    """The recovered function (the Lambda handler's work, done here by hand), with no resource policy."""
    session = session_for(account, region)
    try:
        role = session.client("iam").create_role(RoleName="nightly", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except session.client("iam").exceptions.EntityAlreadyExistsException:
        role = f"arn:aws:iam::{account}:role/nightly"
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return event\n")
    return session.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": code.getvalue()})["FunctionArn"]


def _resources(plan) -> dict[str, Resource]:
    source = AwsAccess(plan).source
    found = EventBusHandler().discover(source, plan) + RuleHandler().discover(source, plan)
    function = Resource(type="lambda:function", source_id="nightly", name="nightly", arn=_function_arn(SOURCE))
    queue = Resource(type="sqs:queue", source_id=f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:orders", name="orders",
                     endpoints={"url": QUEUE_URL})
    found = [r for r in found if r.tags.get("app") == "shop"]  # the plan's scope (the engine selects it)
    return {r.key: r for r in refer_endpoints(refer(found + [function, queue])) if r.type.startswith("events:")}


def _run(plan, mode, function=None, drill_id=None):
    """Apply the buses, then the rules, as the engine orders them; their results by key."""
    aws = AwsAccess(plan)
    account = plan.recovery.account_id
    results = {
        FUNCTION: ResourceResult(key=FUNCTION, type="lambda:function", source_id="nightly", name="nightly",
                                 outcome="created" if function else "skipped", recovered_id=function),
        f"sqs:queue/arn:aws:sqs:{SOURCE}:{ACCOUNT}:orders": ResourceResult(
            key=f"sqs:queue/arn:aws:sqs:{SOURCE}:{ACCOUNT}:orders", type="sqs:queue",
            source_id=f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:orders", name="orders", outcome="created",
            recovered_id=f"arn:aws:sqs:{RECOVERY}:{account}:orders",
            endpoints={QUEUE_URL: f"https://sqs.{RECOVERY}.amazonaws.com/{account}/orders"})}
    applied = {}
    resources = _resources(plan)
    for resource in sorted(resources.values(), key=lambda r: r.type != "events:event-bus"):
        handler = EventBusHandler() if resource.type == "events:event-bus" else RuleHandler()
        ctx = ApplyContext(plan=plan, recovery=aws.recovery, mode=mode, net=NetworkMapper({}, {}, RECOVERY),
                           deps={k: results[k] for k in resource.dependencies if k in results}, index=OwnedIndex(),
                           drill_id=drill_id)
        done = handler.apply(resource, ctx)
        assert handler.find(resource, ctx) == done.recovered_id  # what apply made, find finds
        applied[resource.name] = done
        results[resource.key] = ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id,
                                               name=resource.name, outcome="created", recovered_id=done.recovered_id,
                                               endpoints=_paired(resource, done))
    return resources, applied, ctx


def _targets(name: str, bus: str = "default", events=None) -> list[dict]:
    events = events or boto3.client("events", region_name=RECOVERY)
    return events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]


def _grants(function: str, lam=None) -> list[dict]:
    lam = lam or boto3.client("lambda", region_name=RECOVERY)
    return json.loads(lam.get_policy(FunctionName=function)["Policy"])["Statement"]


def test_a_rule_is_staged_disabled_and_targets_the_recovered_function_at_failover(sandbox):
    _seed()
    plan = make_plan()
    resources, night, _ = _run(plan, Mode.STAGE)
    queue = f"sqs:queue/arn:aws:sqs:{SOURCE}:{ACCOUNT}:orders"
    assert [r.dependencies for r in resources.values()] == [[FUNCTION, queue]]  # its target, the queue it names
    events = boto3.client("events", region_name=RECOVERY)
    staged = events.describe_rule(Name="nightly")
    assert staged["State"] == "DISABLED" and staged["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert _targets("nightly") == [] and night["nightly"].created
    _, again, _ = _run(plan, Mode.STAGE)
    assert not (again["nightly"].created or again["nightly"].changed)  # a second night writes nothing

    function = _function(RECOVERY)
    _, failover, ctx = _run(plan, Mode.RECOVER, function=function)
    rule = failover["nightly"]
    assert rule.recovered_id == staged["Arn"] and not rule.created and rule.changed
    assert events.describe_rule(Name="nightly")["State"] == "ENABLED"
    [target] = _targets("nightly")
    assert target["Arn"] == function
    assert json.loads(target["Input"]) == {"queue": f"https://sqs.{RECOVERY}.amazonaws.com/{ACCOUNT}/orders"}
    [grant] = _grants(function)
    assert grant["Principal"] == {"Service": "events.amazonaws.com"}
    assert grant["Condition"]["ArnLike"]["AWS:SourceArn"] == rule.recovered_id
    _, second, _ = _run(plan, Mode.RECOVER, function=function)
    assert not (second["nightly"].created or second["nightly"].changed)  # a second failover writes nothing
    assert len(_grants(function)) == 1
    read = RuleHandler().read_back(resources[next(iter(resources))], rule.recovered_id, ctx)
    assert read["Targets"][0]["Arn"] == function and SOURCE not in json.dumps(read)


def test_a_drill_rule_is_suffixed_disabled_reaches_the_drill_function_and_is_cleaned_up(sandbox):
    _seed()
    plan = make_plan()
    drill_function = _function(RECOVERY, name="nightly-drill1")
    drill_id = "drill-20261207t035500"
    _, drill, _ = _run(plan, Mode.DRILL, function=drill_function, drill_id=drill_id)
    rule = drill["nightly"]
    name = rule.recovered_id.rsplit("/", 1)[-1]
    assert name.startswith("nightly-") and name != "nightly"
    events = boto3.client("events", region_name=RECOVERY)
    assert events.describe_rule(Name=name)["State"] == "DISABLED"
    assert [t["Arn"] for t in _targets(name)] == [drill_function]  # never production's function
    assert any("disabled" in w for w in rule.warnings)
    gone = RuleHandler().cleanup(CleanupContext(plan=plan, recovery=AwsAccess(plan).recovery, drill_id=drill_id))
    assert gone == [name] and events.list_rules()["Rules"] == []


def test_a_custom_bus_and_its_rule_land_in_the_recovery_account(sandbox):
    _seed(bus="shop-bus")
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY,
                               "role_arn": recovery_role(OTHER, trusted=ACCOUNT)})
    function = _function(RECOVERY, OTHER)
    _, night, _ = _run(plan, Mode.STAGE)
    _, failover, _ = _run(plan, Mode.RECOVER, function=function)
    bus = failover["shop-bus"]
    assert bus.recovered_id == f"arn:aws:events:{RECOVERY}:{OTHER}:event-bus/shop-bus" and not bus.created
    events = session_for(OTHER, RECOVERY).client("events")
    policy = json.loads(events.describe_event_bus(Name="shop-bus")["Policy"])
    assert policy["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{OTHER}:root"
    assert policy["Statement"][0]["Resource"] == bus.recovered_id
    rule = events.describe_rule(Name="nightly", EventBusName="shop-bus")
    assert rule["State"] == "ENABLED" and json.loads(rule["EventPattern"]) == {"source": ["shop.orders"]}
    assert [t["Arn"] for t in _targets("nightly", "shop-bus", events)] == [function]
    assert boto3.client("events", region_name=RECOVERY).list_event_buses()["EventBuses"] == [
        b for b in boto3.client("events", region_name=RECOVERY).list_event_buses()["EventBuses"]
        if b["Name"] == "default"]  # nothing made in the source account


def test_the_sandbox_refuses_what_aws_refuses(sandbox):
    """drflow/sandbox/moto_events.py (from the events branch): moto is kinder than the API reference here."""
    events = boto3.client("events", region_name=SOURCE)
    events.create_event_bus(Name="orders-bus")
    events.put_rule(Name="placed", EventBusName="orders-bus", EventPattern=json.dumps({"source": ["shop"]}))
    events.put_targets(Rule="placed", EventBusName="orders-bus", Targets=[{"Id": "q", "Arn": f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:q"}])
    with pytest.raises(ClientError):  # DeleteRule: "Before you can delete the rule, you must remove all targets"
        events.delete_rule(Name="placed", EventBusName="orders-bus")
    events.remove_targets(Rule="placed", EventBusName="orders-bus", Ids=["q"])
    with pytest.raises(ClientError, match="rules"):  # DeleteEventBus: "All rules ... need to be deleted"
        events.delete_event_bus(Name="orders-bus")
    # PutRule: "If you are updating an existing rule, any tags you specify in the PutRule operation are ignored"
    arn = events.put_rule(Name="placed", EventBusName="orders-bus", EventPattern=json.dumps({"source": ["shop"]}),
                          Tags=[{"Key": "drflow:plan", "Value": "shop"}])["RuleArn"]
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == []
    events.delete_rule(Name="placed", EventBusName="orders-bus")
    events.delete_event_bus(Name="orders-bus")
    assert [b["Name"] for b in events.list_event_buses()["EventBuses"]] == ["default"]


def test_a_night_after_a_failover_leaves_the_recovered_rule_firing(sandbox):
    """Nightly replication goes on after a real failover (once the primary answers again, before failback): staging
    the rule again must not disable the recovered rule that now serves, nor take its targets away."""
    _seed()
    plan = make_plan()
    _run(plan, Mode.STAGE)
    function = _function(RECOVERY)
    _run(plan, Mode.RECOVER, function=function)
    _, night, _ = _run(plan, Mode.STAGE)
    events = boto3.client("events", region_name=RECOVERY)
    assert events.describe_rule(Name="nightly")["State"] == "ENABLED"
    assert [t["Arn"] for t in _targets("nightly")] == [function]
    assert not (night["nightly"].created or night["nightly"].changed)
