"""The network slice end to end on the sandbox: replicate, then fail over, then compare both sides."""

from __future__ import annotations

import pytest

from conftest import RECOVERY, SOURCE, ec2, make_plan
from drflow.sandbox.faults import Faults
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from network_state import network_state, recovered_vpc

pytestmark = pytest.mark.usefixtures("shop")


def test_failover_recreates_the_network_identically(shop, plan, sandbox):
    replicated = run(replicate, plan=plan)
    assert replicated["failed"] == []
    report = run(failover, plan=plan)
    assert report["failed"] == []

    [vpc_id] = recovered_vpc(ec2(RECOVERY), shop["vpc"])
    recovered = network_state(ec2(RECOVERY), vpc_id)
    source = network_state(ec2(SOURCE), shop["vpc"])
    assert recovered == source  # CIDRs, subnets (AZ letters), routes, NACL entries, SG rules by name

    rec = ec2(RECOVERY)
    # subnets sit in the mapped AZs of the recovery region
    subnets = rec.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert {s["AvailabilityZone"] for s in subnets} == {"us-west-2a", "us-west-2b"}
    # routes point at the recovered gateways, and the identity map says which they are
    idmap = report["identity_map"]
    private = rec.describe_route_tables(RouteTableIds=[idmap[shop["rt-private"]]])["RouteTables"][0]
    targets = {r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock"):
               r.get("NatGatewayId") or r.get("EgressOnlyInternetGatewayId") for r in private["Routes"]}
    assert targets["0.0.0.0/0"] == idmap[shop["nat"]]
    assert targets["::/0"] == idmap[shop["eigw"]]
    public = rec.describe_route_tables(RouteTableIds=[idmap[shop["rt-public"]]])["RouteTables"][0]
    assert any(r.get("GatewayId") == idmap[shop["igw"]] for r in public["Routes"])
    # SG rules reference the recovered groups, never the source ones
    rules = rec.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [idmap[shop["sg-db"]]]}])
    refs = {r["ReferencedGroupInfo"]["GroupId"] for r in rules["SecurityGroupRules"] if "ReferencedGroupInfo" in r}
    assert refs == {idmap[shop["sg-app"]]}
    # the NAT has a new Elastic IP, and the report maps the source public IP to it
    eip = next(d for d in report["details"] if d["key"].endswith(shop["eip"]))
    assert eip["details"]["public_ip"] != eip["details"]["source_public_ip"]
    # the vpc endpoint serves the recovery region's S3
    endpoint = rec.describe_vpc_endpoints(VpcEndpointIds=[idmap[shop["vpce-s3"]]])["VpcEndpoints"][0]
    assert endpoint["ServiceName"] == f"com.amazonaws.{RECOVERY}.s3"
    # nothing outside the plan's scope came along
    assert shop["other-vpc"] not in idmap
    assert report["rto_seconds"] > 0 and report["run_id"]


def test_pilot_light_stages_only_cost_free_pieces(shop, plan):
    report = run(replicate, plan=plan)
    rec = ec2(RECOVERY)
    [vpc_id] = recovered_vpc(rec, shop["vpc"])
    assert rec.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"] == []
    assert rec.describe_addresses()["Addresses"] == []
    outcomes = {d["key"].split("/")[0]: d["outcome"] for d in report["details"]}
    assert outcomes["ec2:nat-gateway"] == "skipped" and outcomes["ec2:elastic-ip"] == "skipped"
    assert outcomes["ec2:internet-gateway"] == "created"
    private = rec.describe_route_tables(Filters=[{"Name": "tag:drflow:source-id", "Values": [shop["rt-private"]]}])
    routes = private["RouteTables"][0]["Routes"]
    assert not any(r.get("NatGatewayId") for r in routes)  # the NAT route waits for the failover


def test_second_replication_of_an_unchanged_estate_writes_nothing(shop, plan):
    first = run(replicate, plan=plan)
    assert first["api_calls"]["write"] > 0
    second = run(replicate, plan=plan)
    assert second["api_calls"]["write"] == 0
    assert second["resources"]["by_outcome"]["unchanged"] == second["resources"]["total"] - \
        second["resources"]["by_outcome"]["skipped"]
    assert all(d["outcome"] in ("unchanged", "skipped") for d in second["details"])
    # also without the cache: every staged resource is read back, found equal, and not written
    verified = run(replicate, plan=plan, refresh=True)
    assert verified["api_calls"]["write"] == 0
    assert {d["outcome"] for d in verified["details"]} <= {"unchanged", "skipped"}


def test_replication_repairs_a_changed_source(shop, plan):
    run(replicate, plan=plan)
    src = ec2(SOURCE)
    src.authorize_security_group_ingress(GroupId=shop["sg-web"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    report = run(replicate, plan=plan)
    changed = [d for d in report["details"] if d["outcome"] == "updated"]
    assert [d["key"] for d in changed] == [f"ec2:security-group-rules/{shop['sg-web']}"]
    group = report["identity_map"][shop["sg-web"]]
    rules = ec2(RECOVERY).describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    assert any(r.get("FromPort") == 80 for r in rules["SecurityGroupRules"])


def test_failover_twice_creates_no_duplicates(shop, plan):
    run(replicate, plan=plan)
    first = run(failover, plan=plan)
    second = run(failover, plan=plan)
    assert second["resources"]["by_outcome"]["created"] == 0
    assert second["api_calls"]["write"] == 0
    third = run(failover, plan=plan, refresh=True)  # bypass the cache: everything is found and adopted
    assert third["resources"]["by_outcome"]["created"] == 0
    assert third["resources"]["by_outcome"]["adopted"] > 0
    assert first["identity_map"] == second["identity_map"] == third["identity_map"]
    rec = ec2(RECOVERY)
    assert len(recovered_vpc(rec, shop["vpc"])) == 1
    vpc_id = recovered_vpc(rec, shop["vpc"])[0]
    flt = [{"Name": "vpc-id", "Values": [vpc_id]}]
    assert len(rec.describe_subnets(Filters=flt)["Subnets"]) == 6
    assert len(rec.describe_nat_gateways(Filters=flt)["NatGateways"]) == 1
    assert len(rec.describe_addresses()["Addresses"]) == 1
    assert len(rec.describe_security_groups(Filters=flt)["SecurityGroups"]) == 4


def test_failover_succeeds_with_the_source_region_dark(shop, plan, sandbox):
    run(replicate, plan=plan)
    sandbox.app.clear_log()
    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == []
    assert [c for c in sandbox.calls if c.region == SOURCE] == []  # not one call went to the primary
    [vpc_id] = recovered_vpc(ec2(RECOVERY), shop["vpc"])
    sandbox.faults = Faults()
    assert network_state(ec2(RECOVERY), vpc_id) == network_state(ec2(SOURCE), shop["vpc"])


def test_twenty_percent_throttling_gives_the_same_state(shop, plan, sandbox):
    sandbox.faults = Faults(throttle=0.2, seed=11)
    replicated = run(replicate, plan=plan)
    recovered = run(failover, plan=plan)
    assert replicated["failed"] == [] and recovered["failed"] == []
    assert replicated["api_calls"]["retried"] > 0 and recovered["api_calls"]["retried"] > 0
    throttled = [c for c in sandbox.calls if c.fault == "throttle"]
    assert len(throttled) >= replicated["api_calls"]["retried"] // 2
    sandbox.faults = Faults()
    [vpc_id] = recovered_vpc(ec2(RECOVERY), shop["vpc"])
    assert network_state(ec2(RECOVERY), vpc_id) == network_state(ec2(SOURCE), shop["vpc"])


def test_cidr_map_moves_the_network(shop, sandbox):
    plan = make_plan(network={"cidr_map": {"10.0.0.0/16": "10.100.0.0/16", "10.1.0.0/16": "10.101.0.0/16"},
                              "az_map": {"us-east-1a": "us-west-2c"}})
    run(replicate, plan=plan)
    report = run(failover, plan=plan)
    assert report["failed"] == []
    [vpc_id] = recovered_vpc(ec2(RECOVERY), shop["vpc"])
    state = network_state(ec2(RECOVERY), vpc_id)
    assert state["cidrs"] == ["10.100.0.0/16", "10.101.0.0/16"]
    subnets = {name: (cidr, az) for name, cidr, az, _ in state["subnets"]}
    assert subnets["shop-public-a"] == ("10.100.0.0/24", "c")
    assert subnets["shop-db-b"] == ("10.101.21.0/24", "b")
    db_acl = next(a for a in state["network_acls"] if a["name"] == "shop-db-nacl")
    assert (100, False, "6", "allow", "10.100.10.0/23", "{'From': 5432, 'To': 5432}") in db_acl["entries"]
    assert ("shop-app", False, "tcp", 22, 22, "10.100.0.0/16") in state["security_group_rules"]


def test_dry_run_lists_the_writes_in_order_and_makes_none(shop, plan, sandbox):
    run(replicate, plan=plan)
    sandbox.app.clear_log()
    report = run(failover, plan=plan, dry_run=True)
    assert not [c for c in sandbox.calls if c.write]
    keys = [step["key"] for step in report["writes"]]
    assert keys.index(f"ec2:vpc/{shop['vpc']}") < keys.index(f"ec2:subnet/{shop['public-a']}")
    assert keys.index(f"ec2:nat-gateway/{shop['nat']}") < keys.index(f"ec2:route-table/{shop['rt-private']}")
    actions = {step["key"]: step["action"] for step in report["writes"]}
    assert actions[f"ec2:nat-gateway/{shop['nat']}"] == "create"
    assert actions[f"ec2:vpc/{shop['vpc']}"].startswith("adopt vpc-")


def test_drill_builds_an_isolated_copy_beside_production(shop, plan):
    run(replicate, plan=plan)
    report = run(failover, plan=plan, drill=True)
    assert report["failed"] == [] and report["drill_id"]
    rec = ec2(RECOVERY)
    [drill_vpc] = recovered_vpc(rec, shop["vpc"], drill_id=report["drill_id"])
    [staged_vpc] = recovered_vpc(rec, shop["vpc"])
    assert drill_vpc != staged_vpc
    flt = [{"Name": "vpc-id", "Values": [drill_vpc]}]
    assert rec.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [drill_vpc]}])[
        "InternetGateways"] == []
    assert rec.describe_nat_gateways(Filters=flt)["NatGateways"] == []
    for table in rec.describe_route_tables(Filters=flt)["RouteTables"]:
        assert not any(r.get("NatGatewayId") or r.get("GatewayId", "").startswith("igw-") for r in table["Routes"])


def test_unrecoverable_routes_warn_and_interface_endpoints_wait_for_failover(shop, plan):
    src = ec2(SOURCE)
    peering = src.create_vpc_peering_connection(VpcId=shop["vpc"], PeerVpcId=shop["other-vpc"])
    peering_id = peering["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    src.create_route(RouteTableId=shop["rt-public"], DestinationCidrBlock="172.31.0.0/16",
                     VpcPeeringConnectionId=peering_id)
    endpoint = src.create_vpc_endpoint(VpcId=shop["vpc"], ServiceName=f"com.amazonaws.{SOURCE}.ssm",
                                       VpcEndpointType="Interface", SubnetIds=[shop["private-a"], shop["private-b"]],
                                       SecurityGroupIds=[shop["sg-app"]])["VpcEndpoint"]["VpcEndpointId"]
    staged = run(replicate, plan=plan)
    outcome = {d["key"]: d for d in staged["details"]}
    assert outcome[f"ec2:interface-endpoint/{endpoint}"]["outcome"] == "skipped"  # billed hourly: not staged
    report = run(failover, plan=plan)
    assert report["failed"] == []
    rows = {d["key"]: d for d in report["details"]}
    public = rows[f"ec2:route-table/{shop['rt-public']}"]
    assert any("172.31.0.0/16" in w and "peering" in w for w in public["warnings"])
    recovered = ec2(RECOVERY).describe_vpc_endpoints(VpcEndpointIds=[report["identity_map"][endpoint]])[
        "VpcEndpoints"][0]
    assert recovered["ServiceName"] == f"com.amazonaws.{RECOVERY}.ssm"
    assert sorted(recovered["SubnetIds"]) == sorted(report["identity_map"][s] for s in (shop["private-a"],
                                                                                           shop["private-b"]))
    assert [g["GroupId"] for g in recovered["Groups"]] == [report["identity_map"][shop["sg-app"]]]
