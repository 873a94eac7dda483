"""A drill with its own addresses (`network.drill_cidr_map`): the drill VPC and its servers take the mapped CIDRs
and IPs, the pilot light keeps the failover's; a drill target that overlaps a VPC drflow does not own is refused
before any write, naming the field."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
import yaml

from conftest import RECOVERY, SOURCE
from core.handler import TAG_DRILL
from core.plan import PlanError, parse_plan
from drflow.sandbox.workload import seed_workload
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import default_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop-plan.yaml"
DRILL_CIDRS = {"10.0.0.0/16": "10.200.0.0/16", "10.1.0.0/16": "10.201.0.0/16"}


def _plan(drill_cidr_map: dict):
    data = yaml.safe_load(EXAMPLE.read_text())
    data.setdefault("network", {})["drill_cidr_map"] = drill_cidr_map
    return parse_plan(data, set(default_registry()))


def test_a_drill_takes_its_own_addresses_and_the_pilot_light_keeps_the_failovers(sandbox):
    ids = seed_workload(boto3.Session(), SOURCE)
    plan = _plan(DRILL_CIDRS)
    assert run(replicate, plan=plan)["failed"] == []
    drill = run(failover, plan=plan, drill=True)
    assert drill["failed"] == [], drill["failed"]
    ec2 = boto3.client("ec2", region_name=RECOVERY)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:drflow:source-id", "Values": [ids["vpc"]]}])["Vpcs"]
    by_drill = {next((t["Value"] for t in v["Tags"] if t["Key"] == TAG_DRILL), None): v for v in vpcs}
    assert by_drill[drill["drill_id"]]["CidrBlock"] == "10.200.0.0/16"
    assert by_drill[None]["CidrBlock"] == "10.0.0.0/16"  # the staged pilot light: cidr_map (identity here)
    web = ec2.describe_instances(InstanceIds=[drill["identity_map"][ids["web"]]])["Reservations"][0]["Instances"][0]
    assert web["PrivateIpAddress"] == "10.200.10.20"


def test_a_drill_target_overlapping_a_foreign_vpc_is_refused_before_any_write(sandbox):
    seed_workload(boto3.Session(), SOURCE)
    plan = _plan(DRILL_CIDRS)
    assert run(replicate, plan=plan)["failed"] == []
    boto3.client("ec2", region_name=RECOVERY).create_vpc(CidrBlock="10.200.0.0/20")  # another team's VPC
    sandbox.app.clear_log()
    with pytest.raises(PreflightError, match=r"network\.drill_cidr_map\.10\.0\.0\.0/16"):
        run(failover, plan=plan, drill=True)
    assert [c for c in sandbox.calls if c.write] == []


def test_a_drill_cidr_map_is_validated_like_cidr_map():
    with pytest.raises(PlanError) as exc:
        _plan({"10.0.0.0/16": "10.200.0.0/24"})
    assert any(field == "network.drill_cidr_map" for field, _ in exc.value.problems), exc.value.problems
