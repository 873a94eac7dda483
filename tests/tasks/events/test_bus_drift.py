"""A staged bus whose source changed is put right in place: its settings with UpdateEventBus, which moto 5.2.5 lacks
(so against botocore's Stubber with the real events model: each call's parameters validated against it), and a
policy the source dropped removed (on the sandbox)."""

from __future__ import annotations

import json

import boto3
from botocore.stub import Stubber

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext
from core.models import Mode, Resource
from core.netmap import NetworkMapper
from tasks.events import EventBusHandler

SOURCE_ARN = f"arn:aws:events:{SOURCE}:{ACCOUNT}:event-bus/orders-bus"
OWN = f"arn:aws:events:{RECOVERY}:{ACCOUNT}:event-bus/orders-bus"


def _bus(**config) -> Resource:
    return Resource(type="events:event-bus", source_id=SOURCE_ARN, name="orders-bus", arn=SOURCE_ARN, config={
        "description": None, "kms_key": None, "policy": None, "dead_letter": None, "archives": [], **config})


def _ctx(plan) -> ApplyContext:
    return ApplyContext(plan=plan, recovery=AwsAccess(plan).recovery, mode=Mode.STAGE, deps={},
                        net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex())


def test_a_drifted_description_is_updated_in_place(sandbox):
    ctx = _ctx(make_plan())
    with Stubber(ctx.recovery.client("events")) as events:
        events.add_response("describe_event_bus", {"Name": "orders-bus", "Arn": OWN, "Description": "orders"},
                            {"Name": "orders-bus"})
        events.add_response("list_tags_for_resource", {"Tags": [
            {"Key": "drflow:plan", "Value": "shop"}, {"Key": "drflow:source-id", "Value": SOURCE_ARN}]},
            {"ResourceARN": OWN})
        events.add_response("update_event_bus", {"Arn": OWN}, {"Name": "orders-bus", "Description": "orders, v2"})
        applied = EventBusHandler().apply(_bus(description="orders, v2"), ctx)
        events.assert_no_pending_responses()
    assert applied.changed and not applied.created and applied.recovered_id == OWN


def test_a_policy_the_source_dropped_is_removed(sandbox):
    plan = make_plan()
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "shop", "Effect": "Allow", "Action": "events:PutEvents",
                                                      "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                      "Resource": SOURCE_ARN}]}
    EventBusHandler().apply(_bus(policy=policy), _ctx(plan))
    events = boto3.client("events", region_name=RECOVERY)
    assert json.loads(events.describe_event_bus(Name="orders-bus")["Policy"])["Statement"][0]["Resource"] == OWN
    dropped = EventBusHandler().apply(_bus(), _ctx(plan))
    assert dropped.changed and "Policy" not in events.describe_event_bus(Name="orders-bus")
    assert not EventBusHandler().apply(_bus(), _ctx(plan)).changed
