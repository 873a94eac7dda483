"""SSM parameters, handler-direct on the sandbox: a String value naming the queue's URL holds the recovered URL, a
SecureString is copied nightly (never into the recovery point) under the mapped key; a second night writes
nothing, a failover reads the staged copy and creates nothing new; a drill's copies live under a drill prefix and
are cleaned up; cross-account the copies land in the recovery account."""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.engine import _paired
from core.handler import ApplyContext, CleanupContext, Unrecoverable
from core.models import Mode, ResourceResult
from core.netmap import NetworkMapper
from core.scope import refer_endpoints
from drflow.sandbox.accounts import recovery_role, session_for
from tasks.sqs import QueueHandler
from tasks.ssm import ParameterHandler

OTHER = "222222222222"
SECRET = "ssm-Distinct-secure-9931"
URL = f"https://sqs.{SOURCE}.amazonaws.com/{ACCOUNT}/orders"


def _seed() -> None:
    boto3.client("sqs", region_name=SOURCE).create_queue(QueueName="orders", tags={"app": "shop"})
    ssm = boto3.client("ssm", region_name=SOURCE)
    tags = [{"Key": "app", "Value": "shop"}]
    ssm.put_parameter(Name="/shop/config/queue-url", Type="String", Value=URL, Tags=tags,
                      Description="where orders go", AllowedPattern="^https://.*$")
    ssm.put_parameter(Name="/shop/config/regions", Type="StringList", Value=f"{URL},static", Tags=tags)
    ssm.put_parameter(Name="/shop/config/api-key", Type="SecureString", Value=SECRET, Tags=tags)
    ssm.put_parameter(Name="/other/untagged", Type="String", Value="x")


def _run(plan, mode=Mode.STAGE, drill_id=None, nightly=True):
    aws = AwsAccess(plan)
    resources = refer_endpoints(QueueHandler().discover(aws.source, plan) + ParameterHandler().discover(
        aws.source, plan))
    results: dict[str, ResourceResult] = {}
    applied_all = {}
    for resource in sorted(resources, key=lambda r: r.type):  # the queue (sqs) before the parameters (ssm)
        handler = QueueHandler() if resource.type == "sqs:queue" else ParameterHandler()
        ctx = ApplyContext(plan=plan, recovery=aws.recovery, mode=mode, net=NetworkMapper({}, {}, RECOVERY),
                           deps={k: results[k] for k in resource.dependencies}, index=OwnedIndex(),
                           drill_id=drill_id, source=aws.source if nightly else None)
        applied = handler.apply(resource, ctx)
        assert handler.find(resource, ctx) == applied.recovered_id
        applied_all[resource.name] = applied
        results[resource.key] = ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id,
                                               name=resource.name, outcome="created", recovered_id=applied.recovered_id,
                                               endpoints=_paired(resource, applied))
    return resources, applied_all


def _value(name, ssm=None):
    ssm = ssm or boto3.client("ssm", region_name=RECOVERY)
    return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]


def test_parameters_come_back_translated_and_the_secure_value_never_in_the_recovery_point(sandbox, caplog):
    caplog.set_level(logging.INFO)  # drflow's own lines (botocore's DEBUG wire log is not drflow's)
    _seed()
    plan = make_plan()
    resources, applied = _run(plan)
    params = {r.name: r for r in resources if r.type == "ssm:parameter"}
    assert set(params) == {"/shop/config/queue-url", "/shop/config/regions", "/shop/config/api-key"}
    assert params["/shop/config/queue-url"].dependencies  # on the queue, through the URL its value holds
    assert _value("/shop/config/queue-url")["Value"] == f"https://sqs.{RECOVERY}.amazonaws.com/{ACCOUNT}/orders"
    assert _value("/shop/config/regions")["Value"] == f"https://sqs.{RECOVERY}.amazonaws.com/{ACCOUNT}/orders,static"
    secure = _value("/shop/config/api-key")
    assert (secure["Type"], secure["Value"]) == ("SecureString", SECRET)
    meta = boto3.client("ssm", region_name=RECOVERY).describe_parameters(ParameterFilters=[
        {"Key": "Name", "Values": ["/shop/config/queue-url"]}])["Parameters"][0]
    assert (meta["Description"], meta["AllowedPattern"]) == ("where orders go", "^https://.*$")
    # the secure value is in no captured resource, detail, warning or log line
    everything = json.dumps([r.model_dump(mode="json") for r in resources]) + json.dumps(
        [[a.details, a.warnings] for a in applied.values()]) + caplog.text
    assert SECRET not in everything
    _, again = _run(plan)
    assert not any(a.created or a.changed for a in again.values())  # a second night writes nothing
    _, failover = _run(plan, Mode.RECOVER, nightly=False)  # the primary dark: the staged copy is adopted
    assert not any(a.created for a in failover.values())
    assert _value("/shop/config/api-key")["Value"] == SECRET
    read = ParameterHandler().read_back(params["/shop/config/queue-url"],
                                        applied["/shop/config/queue-url"].recovered_id, ApplyContext(
        plan=plan, recovery=AwsAccess(plan).recovery, mode=Mode.RECOVER, deps={}, net=NetworkMapper({}, {}, RECOVERY),
        index=OwnedIndex()))
    assert read == {"Value": f"https://sqs.{RECOVERY}.amazonaws.com/{ACCOUNT}/orders"}


def test_a_failover_without_a_nightly_copy_of_a_secure_string_refuses_before_writing_it(sandbox):
    _seed()
    with pytest.raises(Unrecoverable, match="/shop/config/api-key"):
        _run(make_plan(), Mode.RECOVER, nightly=False)
    ssm = boto3.client("ssm", region_name=RECOVERY)
    assert "/shop/config/api-key" not in [p["Name"] for p in ssm.describe_parameters()["Parameters"]]


def test_a_parameter_of_that_name_that_is_not_drflows_is_refused(sandbox):
    _seed()
    boto3.client("ssm", region_name=RECOVERY).put_parameter(Name="/shop/config/queue-url", Type="String",
                                                            Value="theirs")
    with pytest.raises(Unrecoverable, match="not drflow's"):
        _run(make_plan())
    assert _value("/shop/config/queue-url")["Value"] == "theirs"


def test_a_drill_copies_under_a_drill_prefix_and_cleanup_removes_them(sandbox):
    _seed()
    plan = make_plan()
    _run(plan)  # production's nightly copy: the drill reads the SecureString from it
    _, applied = _run(plan, Mode.DRILL, drill_id="drill-20261207t035500", nightly=False)
    name = applied["/shop/config/api-key"].details["name"]
    assert name.startswith("/drflow-drill-") and name.endswith("/shop/config/api-key")
    assert _value(name)["Value"] == SECRET
    gone = ParameterHandler().cleanup(CleanupContext(plan=plan, recovery=AwsAccess(plan).recovery,
                                                     drill_id="drill-20261207t035500"))
    assert len(gone) == 3 and all(n.startswith("/drflow-drill-") for n in gone)
    left = [p["Name"] for p in boto3.client("ssm", region_name=RECOVERY).describe_parameters()["Parameters"]]
    assert sorted(left) == ["/shop/config/api-key", "/shop/config/queue-url", "/shop/config/regions"]


def test_cross_account_the_parameters_land_in_the_recovery_account(sandbox):
    _seed()
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY,
                               "role_arn": recovery_role(OTHER, trusted=ACCOUNT)},
                     kms_key_map={"alias/aws/ssm": "alias/aws/ssm"})
    _run(plan)
    other = session_for(OTHER, RECOVERY).client("ssm")
    assert _value("/shop/config/queue-url", other)["Value"] == f"https://sqs.{RECOVERY}.amazonaws.com/{OTHER}/orders"
    assert _value("/shop/config/api-key", other)["Value"] == SECRET
    _, again = _run(plan)
    assert not any(a.created or a.changed for a in again.values())
