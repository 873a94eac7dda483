"""Secrets Manager, handler-direct on the sandbox: the nightly run copies the value into drflow's own secret on
the recovery side (never into the recovery point), a failover rewrites its JSON `host` to the recovered database's
address; a second night writes nothing, a second failover creates nothing; a drill's copy is suffixed and deleted
at once by cleanup; cross-account the copy lands in the recovery account. The value is in no log line, detail,
warning or captured resource."""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext, CleanupContext, Unrecoverable
from core.models import Mode, ResourceResult
from core.netmap import NetworkMapper
from core.scope import refer_endpoints
from drflow.sandbox.accounts import recovery_role, session_for
from tasks.secrets import SecretHandler

OTHER = "222222222222"
PASSWORD = "pw-Distinct-secret-5517"
HOST = f"shop-db.abc123.{SOURCE}.rds.amazonaws.com"
RECOVERED_HOST = f"shop-db.xyz789.{RECOVERY}.rds.amazonaws.com"
DB = "rds:db/shop-db"


def _seed() -> str:
    sm = boto3.client("secretsmanager", region_name=SOURCE)
    arn = sm.create_secret(Name="shop/db", Description="the database", Tags=[{"Key": "app", "Value": "shop"}],
                           SecretString=json.dumps({"host": HOST, "port": 5432, "password": PASSWORD}))["ARN"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/shop-app"},
         "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
    sm.create_secret(Name="other/untagged", SecretString="x")
    return arn


def _db(plan, recovered: bool) -> ResourceResult:
    """The database as the engine hands it to its dependants: recovered (a failover) or not yet (a night)."""
    return ResourceResult(key=DB, type="rds:db", source_id="shop-db", name="shop-db", outcome="created",
                          recovered_id="shop-db" if recovered else None,
                          endpoints={HOST: RECOVERED_HOST} if recovered else {})


def _ctx(plan, mode, deps, drill_id=None, nightly=True):
    aws = AwsAccess(plan)
    return ApplyContext(plan=plan, recovery=aws.recovery, mode=mode, net=NetworkMapper({}, {}, RECOVERY), deps=deps,
                        index=OwnedIndex(), drill_id=drill_id, source=aws.source if nightly else None)


def _discover(plan):
    from core.models import Resource

    found = SecretHandler().discover(AwsAccess(plan).source, plan)
    db = Resource(type="rds:db", source_id="shop-db", name="shop-db", endpoints={"address": HOST})
    return [r for r in refer_endpoints(found + [db]) if r.type != "rds:db"]


def _run(plan, mode=Mode.STAGE, drill_id=None, nightly=True, recovered_db=False):
    (resource,) = _discover(plan)
    ctx = _ctx(plan, mode, {DB: _db(plan, recovered_db)} if DB in resource.dependencies else {}, drill_id, nightly)
    applied = SecretHandler().apply(resource, ctx)
    assert SecretHandler().find(resource, ctx) == applied.recovered_id
    return resource, applied, ctx


def _value(arn, sm=None):
    sm = sm or boto3.client("secretsmanager", region_name=RECOVERY)
    return json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])


def test_the_secret_is_staged_nightly_and_names_the_recovered_database_after_failover(sandbox, caplog):
    caplog.set_level(logging.INFO)  # drflow's own lines (botocore's DEBUG wire log is not drflow's)
    _seed()
    plan = make_plan()
    resource, night, _ = _run(plan)
    assert resource.dependencies == [DB]  # from the address the value names, not from the value
    assert night.created and _value(night.recovered_id)["password"] == PASSWORD
    _, again, _ = _run(plan)
    assert not (again.created or again.changed)  # a second night writes nothing
    resource, failover, ctx = _run(plan, Mode.RECOVER, nightly=False, recovered_db=True)
    assert failover.recovered_id == night.recovered_id and not failover.created
    assert _value(failover.recovered_id) == {"host": RECOVERED_HOST, "port": 5432, "password": PASSWORD}
    sm = boto3.client("secretsmanager", region_name=RECOVERY)
    described = sm.describe_secret(SecretId=failover.recovered_id)
    assert described["Description"] == "the database"
    policy = json.loads(sm.get_resource_policy(SecretId=failover.recovered_id)["ResourcePolicy"])
    assert policy["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{ACCOUNT}:role/shop-app"
    _, second, _ = _run(plan, Mode.RECOVER, nightly=False, recovered_db=True)
    assert not (second.created or second.changed)  # a second failover creates nothing new
    assert SecretHandler().read_back(resource, failover.recovered_id, ctx)["SecretString"]["host"] == RECOVERED_HOST
    everything = json.dumps(resource.model_dump(mode="json")) + caplog.text + json.dumps(
        [[a.details, a.warnings] for a in (night, again, failover, second)])
    assert PASSWORD not in everything


def test_a_failover_without_a_nightly_copy_refuses_and_names_the_secret(sandbox):
    _seed()
    with pytest.raises(Unrecoverable, match="shop/db") as raised:
        _run(make_plan(), Mode.RECOVER, nightly=False, recovered_db=True)
    assert PASSWORD not in str(raised.value)
    assert boto3.client("secretsmanager", region_name=RECOVERY).list_secrets()["SecretList"] == []


def test_a_secret_of_that_name_that_is_not_drflows_is_refused(sandbox):
    _seed()
    boto3.client("secretsmanager", region_name=RECOVERY).create_secret(Name="shop/db", SecretString="theirs")
    with pytest.raises(Unrecoverable, match="not drflow's"):
        _run(make_plan())


def test_a_drill_copy_is_suffixed_translated_and_deleted_at_once(sandbox):
    _seed()
    plan = make_plan()
    _, night, _ = _run(plan)
    _, drill, _ = _run(plan, Mode.DRILL, drill_id="drill-20261207t035500", nightly=False, recovered_db=True)
    name = drill.details["name"]
    assert name.startswith("shop/db-") and drill.recovered_id != night.recovered_id
    assert _value(drill.recovered_id)["host"] == RECOVERED_HOST
    gone = SecretHandler().cleanup(CleanupContext(plan=plan, recovery=AwsAccess(plan).recovery,
                                                  drill_id="drill-20261207t035500"))
    assert gone == [name]
    left = boto3.client("secretsmanager", region_name=RECOVERY).list_secrets()["SecretList"]
    assert [s["Name"] for s in left] == ["shop/db"]  # production's copy stays; the drill's is gone, not scheduled


def test_cross_account_the_copy_lands_in_the_recovery_account(sandbox):
    _seed()
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY,
                               "role_arn": recovery_role(OTHER, trusted=ACCOUNT)})
    _, night, _ = _run(plan)
    assert f":{OTHER}:" in night.recovered_id
    other = session_for(OTHER, RECOVERY).client("secretsmanager")
    assert _value(night.recovered_id, other)["password"] == PASSWORD
    policy = json.loads(other.get_resource_policy(SecretId=night.recovered_id)["ResourcePolicy"])
    assert policy["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{OTHER}:role/shop-app"
    _, again, _ = _run(plan)
    assert not (again.created or again.changed)
    _, failover, _ = _run(plan, Mode.RECOVER, nightly=False, recovered_db=True)
    assert _value(failover.recovered_id, other)["host"] == RECOVERED_HOST
