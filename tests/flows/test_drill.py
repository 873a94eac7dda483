"""Drills: an isolated copy that leaves production as it was, and a cleanup that removes exactly the drill.

Production is compared before and after as a canonical dump of describe calls in both regions (everything
that does not carry a drflow:drill tag); what remains of a drill is looked for kind by kind in the recovery
region, and again through the Resource Groups Tagging API.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from conftest import RECOVERY, SOURCE, make_plan, workload_writes
from core.handler import TAG_DRILL, tags_of
from core.plan import load_plan
from core.vault import Vault
from core.aws import AwsAccess
from drflow.cli import app
from drflow.sandbox.faults import Faults
from drflow.sandbox.workload import seed_network, seed_servers, seed_workload
from core.capabilities import Cleaner, RemovedAfter
from core.graph import GraphError
from core.models import RecoveryPoint, Resource
from flows.cleanup import drill_cleanup, recovery_points, teardown_order
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import default_registry
from drill_helper import plan_file, inventory, names, of_drill, tagged_with

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop-plan.yaml"
REGIONS = (SOURCE, RECOVERY)
INTERNET_TARGETS = ("NatGatewayId", "EgressOnlyInternetGatewayId", "VpcPeeringConnectionId", "TransitGatewayId")


# -- what exists ---------------------------------------------------------------------------------------------


def production() -> str:
    """Everything without a drill tag in both regions, as one canonical JSON text."""
    dump = {region: {kind: sorted((json.dumps(e["item"], sort_keys=True, default=str) for e in items
                                   if e["drill"] is None))
                     for kind, items in inventory(region).items()} for region in REGIONS}
    return json.dumps(dump, indent=1, sort_keys=True)


def public_dns() -> str:
    """Every public hosted zone and its record sets, as one canonical JSON text (Route 53 is global: no region)."""
    route53 = boto3.client("route53")
    zones = [z for z in route53.list_hosted_zones()["HostedZones"] if not z["Config"].get("PrivateZone")]
    return json.dumps({z["Name"]: route53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]
                       for z in zones}, sort_keys=True, default=str)


def assert_same(before: str) -> None:
    """Production is as it was; on failure, name only the lines that differ (the dump is long)."""
    after = production()
    if after != before:
        old, new = {x.rstrip(",") for x in before.splitlines()}, {x.rstrip(",") for x in after.splitlines()}
        raise AssertionError("production changed:\n- " + "\n- ".join(sorted(old - new)) + "\n+ "
                             + "\n+ ".join(sorted(new - old)))


def assert_isolated(drill_id: str) -> None:
    ec2 = boto3.client("ec2", region_name=RECOVERY)
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": f"tag:{TAG_DRILL}", "Values": [drill_id]}])["Vpcs"]]
    assert vpcs, "the drill made no VPC"
    flt = [{"Name": "vpc-id", "Values": vpcs}]
    assert ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": vpcs}])[
        "InternetGateways"] == []
    assert [n for n in ec2.describe_nat_gateways(Filters=flt)["NatGateways"] if n["State"] != "deleted"] == []
    assert [g for g in ec2.describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]
            if any(a["VpcId"] in vpcs for a in g.get("Attachments", []))] == []
    peerings = [p for p in ec2.describe_vpc_peering_connections()["VpcPeeringConnections"]
                if {p["RequesterVpcInfo"].get("VpcId"), p["AccepterVpcInfo"].get("VpcId")} & set(vpcs)]
    assert peerings == []
    tables = ec2.describe_route_tables(Filters=flt)["RouteTables"]
    assert tables
    for table in tables:
        for route in table["Routes"]:
            assert not route.get("GatewayId", "").startswith(("igw-", "vgw-")), route
            assert not any(route.get(t) for t in INTERNET_TARGETS), route
    elb = boto3.client("elbv2", region_name=RECOVERY)
    for balancer in elb.describe_load_balancers()["LoadBalancers"]:
        if balancer["VpcId"] in vpcs:
            assert balancer["Scheme"] == "internal"


def _cleanup(plan, drill_id: str) -> dict[str, Any]:
    report = run(drill_cleanup, plan=plan, drill_id=drill_id)
    assert report["failed"] == [], report["failed"]
    return report


def _new_drill(plan) -> dict[str, Any]:
    """A drill with an id of its own (ids are the UTC second the drill started)."""
    second = time.strftime("%S", time.gmtime())
    while time.strftime("%S", time.gmtime()) == second:
        time.sleep(0.05)
    report = run(failover, plan=plan, drill=True)
    assert report["failed"] == [], report["failed"]
    return report


# -- the tests -----------------------------------------------------------------------------------------------

def test_a_drill_of_the_sample_shop_is_isolated_and_its_cleanup_removes_exactly_it(sandbox):
    seed_workload(boto3.Session(), SOURCE)
    plan = load_plan(EXAMPLE, set(default_registry()))
    assert run(replicate, plan=plan)["failed"] == []
    before, dns = production(), public_dns()
    assert '"www.shop.example."' in dns  # the shop's public zone, which the sample plan cuts over at failover

    sandbox.faults = Faults(dark={SOURCE})  # a drill, like a failover, needs nothing from the primary
    drill = _new_drill(plan)
    sandbox.faults = Faults()
    drill_id = drill["drill_id"]
    assert public_dns() == dns  # byte for byte: a drill never touches a public zone
    assert_isolated(drill_id)
    made = of_drill(drill_id)
    for kind in ("Vpcs", "Subnets", "RouteTables", "SecurityGroups", "NetworkAcls", "Instances", "LoadBalancers",
                 "TargetGroups", "Listeners", "DBInstances", "DBSubnetGroups", "MountTargets", "AccessPoints"):
        assert made.get(kind), f"the drill made no {kind}: the cleanup below would prove nothing about them"
    assert_same(before)  # the staged pilot light, the replicas and the whole source region as they were

    sandbox.app.clear_log()
    report = _cleanup(plan, drill_id)
    assert [c for c in sandbox.calls if c.region == SOURCE] == []  # the recovery side only
    terminated = [i for i in report["removed"]["ec2:instance"] if i.startswith("i-")]
    servers = [i for i in made["Instances"] if "aws:autoscaling:groupName" not in tags_of(i)]
    assert len(terminated) == len(servers) and all(i.endswith("(via DRS)") for i in terminated)
    assert len(report["removed"]["autoscaling:group"]) == 1  # the batch tier's group, which took its instances
    assert of_drill(drill_id) == {}, names(of_drill(drill_id))
    assert tagged_with(drill_id) == []
    assert_same(before)
    drs = boto3.client("drs", region_name=RECOVERY)
    assert [i for i in drs.describe_recovery_instances(filters={})["items"] if i.get("isDrill")] == []

    sandbox.app.clear_log()
    again = _cleanup(plan, drill_id)
    assert again["removed"] == {} and again["removed_count"] == 0
    assert workload_writes(sandbox, plan) == []  # a second run finds nothing and writes nothing (but its lease)
    assert_same(before)


def test_cleanup_of_one_drill_leaves_another_and_all_removes_both(sandbox):
    ids = seed_network(boto3.Session(), SOURCE)
    seed_servers(boto3.Session(), ids, SOURCE)
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    before = production()
    first, second = _new_drill(plan)["drill_id"], _new_drill(plan)["drill_id"]
    assert first != second
    assert_isolated(first)
    assert_isolated(second)
    kept = of_drill(second)
    assert kept.get("Instances") and kept.get("Vpcs")

    result = CliRunner().invoke(app, ["drill", "cleanup", "--plan", str(plan_file(plan)), "--drill-id", first,
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["drill_id"] == first
    assert of_drill(first) == {}, names(of_drill(first))
    assert of_drill(second) == kept  # the other drill, untouched
    assert_same(before)

    result = CliRunner().invoke(app, ["drill", "cleanup", "--plan", str(plan_file(plan)), "--drill-id", "all"])
    assert result.exit_code == 0, result.output
    assert "resource(s) removed" in result.output and "ec2:vpc" in result.output
    assert of_drill(second) == {}, names(of_drill(second))
    assert tagged_with(second) == []
    assert_same(before)


def test_a_drill_id_that_is_not_one_is_refused_before_any_write(sandbox):
    result = CliRunner().invoke(app, ["drill", "cleanup", "--plan", str(EXAMPLE), "--drill-id", "*"])
    assert result.exit_code == 2 and "not a drill id" in result.output
    assert [c for c in sandbox.calls if c.write] == []


def test_the_teardown_order_removes_dependants_before_what_they_depend_on(sandbox):
    """Every dependency in a real recovery point (the sample shop's) points forward in the teardown order the
    cleanup derives from the vault; every type with a cleanup is in it, and each constraint a handler declares
    holds."""
    seed_workload(boto3.Session(), SOURCE)
    registry = default_registry()
    plan = load_plan(EXAMPLE, set(registry))
    assert run(replicate, plan=plan)["failed"] == []
    vault = Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name)
    point = vault.load("latest")
    order = teardown_order(registry, recovery_points(vault))
    assert len(order) == len(set(order))
    assert set(order) == {t for t, h in registry.items() if isinstance(h, Cleaner)}
    declared = [(first, t) for t, h in registry.items() if isinstance(h, RemovedAfter) for first in h.removed_after]
    assert declared and all(order.index(first) < order.index(then) for first, then in declared)
    by_key = {r.key: r for r in point.resources}
    checked = 0
    for resource in point.resources:
        for dep in resource.dependencies:
            a, b = resource.type, by_key[dep].type
            if a in order and b in order and a != b:
                assert order.index(a) < order.index(b), f"{a} depends on {b}: it must be removed first"
                checked += 1
    assert checked > 20


def _point(*resources: Resource) -> RecoveryPoint:
    side = {"account_id": "111111111111", "region": SOURCE}
    return RecoveryPoint(id="p", plan_name="shop", created_at="2026-01-01T00:00:00Z", source=side, recovery=side,
                         plan={}, resources=list(resources))


def test_the_teardown_order_follows_the_points_and_puts_an_unseen_type_first():
    """From the points alone: a type goes before every type it depends on, in any point (reversed dependencies
    give the reversed order: it is the points' graph, not a list kept elsewhere); a type with a cleanup that no
    point holds (nothing depends on it) goes first; a cycle between types is refused, named."""
    registry = default_registry()
    vpc = Resource(type="ec2:vpc", source_id="vpc-1")
    subnet = Resource(type="ec2:subnet", source_id="subnet-1", dependencies=[vpc.key])
    server = Resource(type="ec2:instance", source_id="i-1", dependencies=[subnet.key])
    order = teardown_order(registry, [_point(vpc, subnet), _point(vpc, subnet, server)])
    assert order.index("ec2:instance") < order.index("ec2:subnet") < order.index("ec2:vpc")
    assert order.index("elasticbeanstalk:environment") < order.index("ec2:subnet")

    backwards = teardown_order(registry, [_point(Resource(type="ec2:vpc", source_id="vpc-1", dependencies=[server.key]),
                                                 Resource(type="ec2:instance", source_id="i-1"))])
    assert backwards.index("ec2:vpc") < backwards.index("ec2:instance")

    loop = [Resource(type="ec2:vpc", source_id="vpc-1", dependencies=[subnet.key]),
            Resource(type="ec2:subnet", source_id="subnet-1", dependencies=[server.key]),
            Resource(type="ec2:instance", source_id="i-1"),
            Resource(type="ec2:instance", source_id="i-2", dependencies=[vpc.key])]
    with pytest.raises(GraphError, match="cycle"):
        teardown_order(registry, [_point(*loop)])


def test_without_a_recovery_point_cleanup_removes_nothing_and_says_why(sandbox):
    plan = make_plan()
    report = run(drill_cleanup, plan=plan)
    assert report["removed"] == {} and report["removed_count"] == 0
    [failure] = report["failed"]
    assert failure.startswith("no recovery point in s3://") and "nothing was removed" in failure
    assert [c for c in sandbox.calls if c.write] == []
