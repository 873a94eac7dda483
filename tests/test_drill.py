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
from typer.testing import CliRunner

from conftest import RECOVERY, SOURCE, make_plan
from core.handler import TAG_DRILL, tags_of
from core.plan import load_plan
from core.vault import Vault
from core.aws import AwsAccess
from drflow.cli import app
from drflow.sandbox.faults import Faults
from drflow.sandbox.workload import seed_network, seed_servers, seed_workload
from flows.cleanup import TEARDOWN_ORDER, drill_cleanup, teardown_order
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import default_registry

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "shop-plan.yaml"
REGIONS = (SOURCE, RECOVERY)
INTERNET_TARGETS = ("NatGatewayId", "EgressOnlyInternetGatewayId", "VpcPeeringConnectionId", "TransitGatewayId")


# -- what exists ---------------------------------------------------------------------------------------------

def _drill_of(tags: Any) -> str | None:
    tags = {t["Key"]: t["Value"] for t in tags} if isinstance(tags, list) else (tags or {})
    return tags.get(TAG_DRILL)


def _elb_tags(elb: Any, arns: list[str]) -> dict[str, list[dict[str, str]]]:
    out = {}
    for start in range(0, len(arns), 20):
        for d in elb.describe_tags(ResourceArns=arns[start:start + 20])["TagDescriptions"]:
            out[d["ResourceArn"]] = d.get("Tags", [])
    return out


def inventory(region: str) -> dict[str, list[dict[str, Any]]]:
    """Every resource of the kinds a drill makes, as described, with its drill id (None: production)."""
    ec2, elb = boto3.client("ec2", region_name=region), boto3.client("elbv2", region_name=region)
    rds, efs = boto3.client("rds", region_name=region), boto3.client("efs", region_name=region)
    out: dict[str, list[dict[str, Any]]] = {}
    # deleted endpoints and NAT gateways stay listed for a while, as terminated instances do: gone for good
    gone = {"VpcEndpoints": ("State", "deleted"), "NatGateways": ("State", "deleted")}
    for op, key in (("describe_vpcs", "Vpcs"), ("describe_subnets", "Subnets"),
                    ("describe_route_tables", "RouteTables"), ("describe_security_groups", "SecurityGroups"),
                    ("describe_network_acls", "NetworkAcls"), ("describe_dhcp_options", "DhcpOptions"),
                    ("describe_internet_gateways", "InternetGateways"),
                    ("describe_egress_only_internet_gateways", "EgressOnlyInternetGateways"),
                    ("describe_nat_gateways", "NatGateways"), ("describe_addresses", "Addresses"),
                    ("describe_vpc_endpoints", "VpcEndpoints"), ("describe_vpc_peering_connections",
                                                                 "VpcPeeringConnections")):
        field, value = gone.get(key, ("", None))
        out[key] = [{"drill": _drill_of(i.get("Tags")), "item": i} for i in getattr(ec2, op)()[key]
                    if str(i.get(field, "")).lower() != value or not _drill_of(i.get("Tags"))]
    group_drill = {g["item"]["GroupId"]: g["drill"] for g in out["SecurityGroups"]}
    out["SecurityGroupRules"] = [{"drill": group_drill.get(r["GroupId"]), "item": r}
                                 for r in ec2.describe_security_group_rules()["SecurityGroupRules"]]
    out["Instances"] = [{"drill": _drill_of(i.get("Tags")), "item": i}
                        for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                        if i["State"]["Name"] != "terminated" or not _drill_of(i.get("Tags"))]
    balancers = elb.describe_load_balancers()["LoadBalancers"]
    groups = elb.describe_target_groups()["TargetGroups"]
    listeners = [li for b in balancers for li in elb.describe_listeners(LoadBalancerArn=b["LoadBalancerArn"])["Listeners"]]
    tags = _elb_tags(elb, [b["LoadBalancerArn"] for b in balancers] + [g["TargetGroupArn"] for g in groups]
                     + [li["ListenerArn"] for li in listeners])
    for key, items, arn in (("LoadBalancers", balancers, "LoadBalancerArn"), ("TargetGroups", groups, "TargetGroupArn"),
                            ("Listeners", listeners, "ListenerArn")):
        out[key] = [{"drill": _drill_of(tags.get(i[arn])), "item": i} for i in items]
    for op, key in (("describe_db_instances", "DBInstances"), ("describe_db_clusters", "DBClusters")):
        # LatestRestorableTime moves on by itself
        out[key] = [{"drill": _drill_of(i.get("TagList")), "item": {k: v for k, v in i.items()
                                                                    if k != "LatestRestorableTime"}}
                    for i in getattr(rds, op)()[key]]
    db_drill = {d["item"]["DBInstanceIdentifier"]: d["drill"] for d in out["DBInstances"]}
    # an automated snapshot is its database's: a drill database's are the drill's (and go with it)
    out["DBSnapshots"] = [{"drill": _drill_of(s.get("TagList")) or (db_drill.get(s["DBInstanceIdentifier"], "db gone")
                                                                      if s["SnapshotType"] == "automated" else None),
                           "item": s} for s in rds.describe_db_snapshots()["DBSnapshots"]]
    for op, key, name, arn in (("describe_db_subnet_groups", "DBSubnetGroups", "DBSubnetGroupName", "DBSubnetGroupArn"),
                               ("describe_db_parameter_groups", "DBParameterGroups", "DBParameterGroupName",
                                "DBParameterGroupArn"),
                               ("describe_option_groups", "OptionGroupsList", "OptionGroupName", "OptionGroupArn")):
        out[key] = [{"drill": _drill_of(rds.list_tags_for_resource(ResourceName=i[arn])["TagList"]), "item": i}
                    for i in getattr(rds, op)()[key] if not i[name].startswith("default")]
    subnet_drill = {s["item"]["SubnetId"]: s["drill"] for s in out["Subnets"]}
    out["FileSystems"], out["MountTargets"], out["AccessPoints"] = [], [], []
    for fs in efs.describe_file_systems()["FileSystems"]:
        # the mount target count and size move with the drill's mount targets (listed apart) and the replication
        out["FileSystems"].append({"drill": _drill_of(fs.get("Tags")), "item": {
            k: v for k, v in fs.items() if k not in ("NumberOfMountTargets", "SizeInBytes")}})
        for mt in efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]:
            out["MountTargets"].append({"drill": subnet_drill.get(mt["SubnetId"], "subnet gone"), "item": mt})
        for ap in efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"]:
            out["AccessPoints"].append({"drill": _drill_of(ap.get("Tags")), "item": ap})
    return out


def production() -> str:
    """Everything without a drill tag in both regions, as one canonical JSON text."""
    dump = {region: {kind: sorted((json.dumps(e["item"], sort_keys=True, default=str) for e in items
                                   if e["drill"] is None))
                     for kind, items in inventory(region).items()} for region in REGIONS}
    return json.dumps(dump, indent=1, sort_keys=True)


def assert_same(before: str) -> None:
    """Production is as it was; on failure, name only the lines that differ (the dump is long)."""
    after = production()
    if after != before:
        old, new = {x.rstrip(",") for x in before.splitlines()}, {x.rstrip(",") for x in after.splitlines()}
        raise AssertionError("production changed:\n- " + "\n- ".join(sorted(old - new)) + "\n+ "
                             + "\n+ ".join(sorted(new - old)))


def of_drill(drill_id: str) -> dict[str, list[dict[str, Any]]]:
    """What a drill left in the recovery region, by kind (terminated instances are gone for good)."""
    found = {kind: [e["item"] for e in items if e["drill"] == drill_id]
             for kind, items in inventory(RECOVERY).items()}
    return {kind: items for kind, items in found.items() if items}


def names(found: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """The ids in `of_drill`'s answer, for a readable failure message."""
    return {kind: [next((str(v) for k, v in i.items() if k.endswith(("Id", "Arn", "Identifier"))), "?") for i in items]
            for kind, items in found.items()}


def tagged_with(drill_id: str) -> list[str]:
    """ARNs the Resource Groups Tagging API knows with the drill's tag, but for terminated instances (which EC2
    keeps listing for a while)."""
    api = boto3.client("resourcegroupstaggingapi", region_name=RECOVERY)
    arns = [r["ResourceARN"] for page in api.get_paginator("get_resources").paginate(
        TagFilters=[{"Key": TAG_DRILL, "Values": [drill_id]}]) for r in page["ResourceTagMappingList"]]
    live = {i["InstanceId"] for r in boto3.client("ec2", region_name=RECOVERY).describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])[
        "Reservations"] for i in r["Instances"]}
    return sorted(a for a in arns if (":instance/" not in a or a.rsplit("/", 1)[1] in live) and _ecs_active(a))


def _ecs_active(arn: str) -> bool:
    """False for an ECS cluster, service or task definition that is deleted: ECS keeps describing (and the Tagging
    API keeps listing) it as INACTIVE or DELETE_IN_PROGRESS for a while, as EC2 does terminated instances."""
    if ":ecs:" not in arn:
        return True
    ecs = boto3.client("ecs", region_name=RECOVERY)
    kind, _, rest = arn.split(":", 5)[5].partition("/")
    if kind == "cluster":
        found = ecs.describe_clusters(clusters=[arn])["clusters"]
    elif kind == "service":
        found = ecs.describe_services(cluster=rest.split("/")[0], services=[arn])["services"]
    elif kind == "task-definition":
        try:
            found = [ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]]
        except ecs.exceptions.ClientException:
            found = []
    else:
        return True
    return any(f.get("status") == "ACTIVE" for f in found)


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
    before = production()

    sandbox.faults = Faults(dark={SOURCE})  # a drill, like a failover, needs nothing from the primary
    drill = _new_drill(plan)
    sandbox.faults = Faults()
    drill_id = drill["drill_id"]
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
    assert [c for c in sandbox.calls if c.write] == []  # a second run finds nothing and writes nothing
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

    result = CliRunner().invoke(app, ["drill", "cleanup", "--plan", str(_plan_file(plan)), "--drill-id", first,
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["drill_id"] == first
    assert of_drill(first) == {}, names(of_drill(first))
    assert of_drill(second) == kept  # the other drill, untouched
    assert_same(before)

    result = CliRunner().invoke(app, ["drill", "cleanup", "--plan", str(_plan_file(plan)), "--drill-id", "all"])
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
    """Every dependency in a real recovery point (the sample shop's) points forward in the teardown order."""
    seed_workload(boto3.Session(), SOURCE)
    plan = load_plan(EXAMPLE, set(default_registry()))
    assert run(replicate, plan=plan)["failed"] == []
    point = Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name).load("latest")
    order = teardown_order(default_registry())
    assert set(order) == set(TEARDOWN_ORDER)
    by_key = {r.key: r for r in point.resources}
    checked = 0
    for resource in point.resources:
        for dep in resource.dependencies:
            a, b = resource.type, by_key[dep].type
            if a in order and b in order and a != b:
                assert order.index(a) < order.index(b), f"{a} depends on {b}: it must be removed first"
                checked += 1
    assert checked > 20


def _plan_file(plan) -> Path:
    import tempfile

    import yaml

    path = Path(tempfile.mkdtemp()) / "plan.yaml"
    path.write_text(yaml.safe_dump(plan.model_dump(mode="json")))
    return path
