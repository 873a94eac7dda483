"""Route 53, handler-direct on the sandbox: the shop's private zone recovered into the recovered VPC with its
records naming the recovered endpoints (staged nightly, re-applied at failover, 0 writes the second time); the
public alias cut over only once its target is healthy (timed out: failed, record unchanged), listed in report mode,
left in mode none; a drill's private copies and test zone, cleaned up, the public zone untouched; failback puts
the captured record back.

The recovered dependencies (VPC, load balancer, database) are made on the recovery side directly and handed to the
handlers as the engine hands results: these tests are about what the Route 53 handlers write."""

from __future__ import annotations

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.failback import FailbackContext
from core.handler import ApplyContext, CleanupContext, Unrecoverable
from core.models import Mode, Outcome, Resource, ResourceResult
from core.netmap import NetworkMapper
from core.ownership import TAG_DRILL, TAG_PLAN
from core.scope import refer, refer_endpoints
from drflow.sandbox.seed_rds import PASSWORD
from drflow.sandbox.seed_route53 import seed_route53
from tasks.route53 import FailoverRecordHandler, PrivateZoneHandler, RecordHandler

DRILL = "drill-20261208t010000"


def _network(region: str, tags: dict[str, str] | None = None) -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name=region)
    spec = [{"ResourceType": "vpc", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}] if tags else []
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=spec)["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{z}")["Subnet"][
        "SubnetId"] for i, z in ((0, "a"), (1, "b"))]
    return {"vpc": vpc, "subnets": subnets}


def _alb(region: str, subnets: list[str], name: str = "shop-alb") -> dict:
    return boto3.client("elbv2", region_name=region).create_load_balancer(
        Name=name, Subnets=subnets, Scheme="internet-facing", Type="application")["LoadBalancers"][0]


@pytest.fixture
def shop(sandbox):
    """The primary's VPC, ALB and database, and the shop's zones over them (drflow.sandbox.seed_route53)."""
    net = _network(SOURCE, {"app": "shop"})
    alb = _alb(SOURCE, net["subnets"])
    boto3.client("rds", region_name=SOURCE).create_db_instance(
        DBInstanceIdentifier="shop-db", Engine="postgres", DBInstanceClass="db.m5.large", AllocatedStorage=20,
        MasterUsername="shop", MasterUserPassword=PASSWORD)
    address = boto3.client("rds", region_name=SOURCE).describe_db_instances()["DBInstances"][0]["Endpoint"]["Address"]
    zones = seed_route53(boto3.Session(), SOURCE,
                         {"vpc": net["vpc"], "alb": alb["LoadBalancerArn"], "rds-db": "shop-db"})
    return {**net, **zones, "alb": alb, "db": address}


def _resources(plan, shop) -> dict[str, Resource]:
    """The zones and records as a replication records them: their VPC, ALB and database among the protected
    resources, so that the records' targets become their dependencies."""
    aws = AwsAccess(plan)
    others = [Resource(type="ec2:vpc", source_id=shop["vpc"], tags={"app": "shop"}),
              Resource(type="elbv2:load-balancer", source_id=shop["alb"]["LoadBalancerArn"].split("/", 1)[1],
                       name="shop-alb", endpoints={"dns": shop["alb"]["DNSName"]}),
              Resource(type="rds:db-instance", source_id="shop-db", name="shop-db", endpoints={"address": shop["db"]})]
    mine = PrivateZoneHandler().discover(aws.source, plan) + RecordHandler().discover(aws.source, plan)
    mine += FailoverRecordHandler().discover(aws.source, plan)
    return {r.name if r.type.startswith("route53:") and "record" in r.type else
            r.type.split(":")[1] if r.type.startswith("route53") else r.type: r
            for r in refer_endpoints(refer(others + mine))}


def _result(resource: Resource, recovered_id: str | None, endpoints: dict[str, str] | None = None,
            deferred: bool = False) -> ResourceResult:
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=Outcome.SKIPPED if recovered_id is None else Outcome.CREATED,
                          recovered_id=recovered_id, endpoints=endpoints or {},
                          deferred=sorted(resource.endpoints.values()) if deferred else [])


def _recovered(resources, drill: str | None = None, staged: bool = False) -> tuple[dict[str, ResourceResult], dict]:
    """What the network, load balancer and database became on the recovery side (staged: the VPC only; the load
    balancer and database are made at failover)."""
    tags = {TAG_PLAN: "shop", **({TAG_DRILL: drill} if drill else {})}
    net = _network(RECOVERY, tags)
    vpc, lb, db = resources["ec2:vpc"], resources["elbv2:load-balancer"], resources["rds:db-instance"]
    out = {vpc.key: _result(vpc, net["vpc"])}
    if staged:
        out[lb.key], out[db.key] = _result(lb, None, deferred=True), _result(db, None, deferred=True)
        return out, {"vpc": net["vpc"]}
    alb = _alb(RECOVERY, net["subnets"], "shop-alb" if not drill else "shop-alb-d1")
    address = f"shop-db.cxyz.{RECOVERY}.rds.amazonaws.com"
    out[lb.key] = _result(lb, alb["LoadBalancerArn"], {lb.endpoints["dns"]: alb["DNSName"]})
    out[db.key] = _result(db, "shop-db", {db.endpoints["address"]: address})
    return out, {"vpc": net["vpc"], "alb": alb, "db": address}


def _ctx(plan, resource, results, mode=Mode.RECOVER, drill=None, health=None) -> ApplyContext:
    return ApplyContext(plan=plan, recovery=AwsAccess(plan).recovery, mode=mode,
                        deps={k: results[k] for k in resource.dependencies if k in results},
                        net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex(), drill_id=drill, health_of=health)


def _records(zone_id: str) -> dict[tuple[str, str], dict]:
    route53 = boto3.client("route53", region_name=RECOVERY)
    listed = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {(r["Name"], r["Type"]): r for r in listed if r["Type"] not in ("SOA", "NS")}


def _writes(sandbox) -> list[str]:
    return [c.operation for c in sandbox.calls if c.write]


def test_the_private_zone_is_staged_then_recovered_into_the_recovered_vpc_naming_the_recovered_endpoints(sandbox, shop):
    plan = make_plan()
    resources = _resources(plan, shop)
    zone = resources["private-zone"]
    assert set(zone.dependencies) == {resources[t].key for t in ("ec2:vpc", "elbv2:load-balancer", "rds:db-instance")}
    handler = PrivateZoneHandler()

    staged, _ = _recovered(resources, staged=True)  # tonight: the VPC exists, the ALB and database do not yet
    applied = handler.apply(zone, _ctx(plan, zone, staged, Mode.STAGE))
    assert applied.created and applied.warnings == []
    assert _records(applied.recovered_id)[("db.internal.shop.", "CNAME")]["ResourceRecords"] == [{"Value": shop["db"]}]

    results, recovered = _recovered(resources)  # the failover: what the records' targets became
    results[resources["ec2:vpc"].key] = staged[resources["ec2:vpc"].key]
    sandbox.app.clear_log()
    again = handler.apply(zone, _ctx(plan, zone, results))
    assert again.recovered_id == applied.recovered_id and again.changed and not again.created
    listed = {c["what"]: c for c in again.details["traffic_changes"]}  # the runbook's DNS changes
    assert listed["db.internal.shop. CNAME"]["from"] == shop["db"] and listed["db.internal.shop. CNAME"]["to"] == \
        f"shop-db.cxyz.{RECOVERY}.rds.amazonaws.com" and listed["db.internal.shop. CNAME"]["status"] == "made"
    route53 = boto3.client("route53", region_name=RECOVERY)
    got = route53.get_hosted_zone(Id=again.recovered_id)
    assert got["HostedZone"]["Name"] == "internal.shop." and got["HostedZone"]["Config"]["PrivateZone"]
    assert got["VPCs"] == [{"VPCRegion": RECOVERY, "VPCId": staged[resources["ec2:vpc"].key].recovered_id}]
    records = _records(again.recovered_id)
    assert records[("db.internal.shop.", "CNAME")]["ResourceRecords"] == [{"Value": recovered["db"]}]
    assert records[("cache.internal.shop.", "A")]["ResourceRecords"] == [{"Value": "10.1.21.10"}]  # kept IP
    alias = records[("www.internal.shop.", "A")]["AliasTarget"]
    assert alias["DNSName"] == f"dualstack.{recovered['alb']['DNSName']}.".lower()
    assert alias["HostedZoneId"] == recovered["alb"]["CanonicalHostedZoneId"]
    assert handler.find(zone, _ctx(plan, zone, results)) == again.recovered_id
    assert "ChangeResourceRecordSets" in _writes(sandbox)
    back = handler.read_back(zone, again.recovered_id, _ctx(plan, zone, results))
    assert SOURCE not in str(back)  # the audit's view: nothing names the primary

    sandbox.app.clear_log()
    third = handler.apply(zone, _ctx(plan, zone, results))
    assert (third.created, third.changed, _writes(sandbox)) == (False, False, [])  # a second apply writes nothing
    assert _records(shop["zone-internal"])[("db.internal.shop.", "CNAME")]["ResourceRecords"] == [
        {"Value": shop["db"]}]  # the primary's zone is never changed


def test_a_drill_gets_its_own_private_zone_in_its_vpc_and_cleanup_removes_only_it(sandbox, shop):
    plan = make_plan()
    resources = _resources(plan, shop)
    zone = resources["private-zone"]
    handler = PrivateZoneHandler()
    production, _ = _recovered(resources)
    made = handler.apply(zone, _ctx(plan, zone, production)).recovered_id
    results, drill = _recovered(resources, drill=DRILL)
    copy = handler.apply(zone, _ctx(plan, zone, results, Mode.DRILL, DRILL))
    assert copy.created and copy.recovered_id != made
    route53 = boto3.client("route53", region_name=RECOVERY)
    assert route53.get_hosted_zone(Id=copy.recovered_id)["VPCs"] == [{"VPCRegion": RECOVERY, "VPCId": drill["vpc"]}]
    assert _records(copy.recovered_id)[("db.internal.shop.", "CNAME")]["ResourceRecords"] == [{"Value": drill["db"]}]
    cleanup = CleanupContext(plan=plan, recovery=AwsAccess(plan).recovery)
    assert handler.cleanup(cleanup) == [copy.recovered_id]
    assert handler.cleanup(cleanup) == []
    names = {z["Id"].rsplit("/", 1)[-1] for z in route53.list_hosted_zones()["HostedZones"]}
    assert made in names and copy.recovered_id not in names and shop["zone-internal"] in names


def _public(sandbox, shop, **traffic):
    plan = make_plan(traffic={"health_timeout_seconds": 0, "health_poll_seconds": 1, **traffic})
    resources = _resources(plan, shop)
    assert sorted(n for n in resources if "shop.example." in n) == [
        "api.shop.example. A primary", "api.shop.example. A secondary", "www.shop.example. A"]  # not the MX
    record = resources["www.shop.example. A"]
    results, recovered = _recovered(resources)
    return plan, record, results, recovered


def _public_www(region: str, zone_id: str) -> dict:
    route53 = boto3.client("route53", region_name=region)
    return next(r for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
                if r["Name"] == "www.shop.example.")


def test_cutover_waits_for_a_healthy_target_fails_leaving_the_record_then_cuts_over_and_fails_back(sandbox, shop):
    plan, record, results, recovered = _public(sandbox, shop, mode="cutover")
    handler = RecordHandler()
    before = _public_www(SOURCE, shop["zone-public"])
    unhealthy = _ctx(plan, record, results, health=lambda key: "target group shop-web: 0 of 2 targets healthy")
    sandbox.app.clear_log()
    with pytest.raises(Unrecoverable, match="left unchanged.*0 of 2 targets healthy"):
        handler.apply(record, unhealthy)
    assert _writes(sandbox) == [] and _public_www(SOURCE, shop["zone-public"]) == before
    # the audit reads the record back as Route 53 answers it: still the primary's load balancer, until the cutover
    [(label, still)] = handler.read_back(record, record.source_id, unhealthy).items()
    assert label.startswith("www.shop.example") and SOURCE in still["AliasTarget"]["DNSName"]

    applied = handler.apply(record, _ctx(plan, record, results, health=lambda key: None))
    assert applied.changed
    [change] = applied.details["traffic_changes"]
    assert change["status"] == "made" and change["where"] == "shop.example"
    alias = _public_www(RECOVERY, shop["zone-public"])["AliasTarget"]
    assert alias["DNSName"] == f"dualstack.{recovered['alb']['DNSName']}.".lower()
    assert alias["HostedZoneId"] == recovered["alb"]["CanonicalHostedZoneId"]
    assert handler.read_back(record, applied.recovered_id, unhealthy)[label]["AliasTarget"] == alias
    sandbox.app.clear_log()
    again = handler.apply(record, _ctx(plan, record, results, health=lambda key: None))
    assert not again.changed and _writes(sandbox) == []  # re-run: 0 writes

    context = FailbackContext(aws=AwsAccess(plan), plan=plan, marker={}, home={})
    step = handler.fail_back(record, context)
    assert step.outcome == Outcome.UPDATED and _public_www(SOURCE, shop["zone-public"]) == before
    sandbox.app.clear_log()
    assert handler.fail_back(record, context).outcome == Outcome.UNCHANGED and _writes(sandbox) == []


def test_report_mode_lists_the_change_batch_and_changes_nothing_and_mode_none_leaves_it(sandbox, shop):
    plan, record, results, recovered = _public(sandbox, shop, mode="report", records={"api.shop.example": "none"})
    before = _public_www(SOURCE, shop["zone-public"])
    sandbox.app.clear_log()
    applied = RecordHandler().apply(record, _ctx(plan, record, results, health=lambda key: "never asked"))
    assert applied.skipped == "to apply by hand" and _writes(sandbox) == []
    assert RecordHandler().read_back(record, record.source_id, _ctx(plan, record, results)) == {}  # named by design
    [change] = applied.details["traffic_changes"]
    assert change["zone_id"] == shop["zone-public"]
    [upsert] = change["change_batch"]["Changes"]
    assert upsert["Action"] == "UPSERT" and upsert["ResourceRecordSet"]["AliasTarget"]["DNSName"] == \
        f"dualstack.{recovered['alb']['DNSName']}.".lower()
    assert _public_www(SOURCE, shop["zone-public"]) == before

    plan = make_plan(traffic={"mode": "cutover", "zones": {"shop.example": "none"}})
    left = RecordHandler().apply(record, _ctx(plan, record, results))
    assert left.details["traffic_changes"][0]["status"] == "not changed (mode none)"
    assert _public_www(SOURCE, shop["zone-public"]) == before


def test_a_drill_writes_a_private_test_zone_never_the_public_one_and_cleanup_removes_it(sandbox, shop):
    plan, record, _, _ = _public(sandbox, shop, mode="cutover")
    results, drill = _recovered(_resources(plan, shop), drill=DRILL)
    route53 = boto3.client("route53", region_name=RECOVERY)
    public_before = route53.list_resource_record_sets(HostedZoneId=shop["zone-public"])["ResourceRecordSets"]
    handler = RecordHandler()
    applied = handler.apply(record, _ctx(plan, record, results, Mode.DRILL, DRILL))
    test_zone = applied.details["traffic_changes"][0]["zone_id"]
    assert applied.recovered_id == handler.find(record, _ctx(plan, record, results, Mode.DRILL, DRILL))
    got = route53.get_hosted_zone(Id=test_zone)
    assert got["HostedZone"]["Name"] == "shop.example." and got["HostedZone"]["Config"]["PrivateZone"]
    assert got["VPCs"] == [{"VPCRegion": RECOVERY, "VPCId": drill["vpc"]}]
    assert _records(test_zone)[("www.shop.example.", "A")]["AliasTarget"]["DNSName"] == \
        f"dualstack.{drill['alb']['DNSName']}.".lower()
    assert route53.list_resource_record_sets(HostedZoneId=shop["zone-public"])["ResourceRecordSets"] == public_before
    sandbox.app.clear_log()
    assert not handler.apply(record, _ctx(plan, record, results, Mode.DRILL, DRILL)).changed
    assert _writes(sandbox) == []
    cleanup = CleanupContext(plan=plan, recovery=AwsAccess(plan).recovery, drill_id=DRILL)
    assert handler.cleanup(cleanup) == [test_zone] and handler.cleanup(cleanup) == []
    assert route53.list_resource_record_sets(HostedZoneId=shop["zone-public"])["ResourceRecordSets"] == public_before


def test_the_dry_run_lists_each_records_change_batch_naming_the_targets_it_would_recover(sandbox, shop):
    plan, record, _, _ = _public(sandbox, shop, mode="report")
    ctx = _ctx(plan, record, {})  # a dry run: nothing recovered yet
    sandbox.app.clear_log()
    [change] = RecordHandler().planned_changes(record, ctx)
    assert change["status"] == "to apply by hand" and change["zone_id"] == shop["zone-public"]
    alias = change["change_batch"]["Changes"][0]["ResourceRecordSet"]["AliasTarget"]
    assert "elbv2:load-balancer/" in alias["DNSName"] and _writes(sandbox) == []
    cutover = make_plan(traffic={"mode": "cutover"})
    [change] = RecordHandler().planned_changes(record, _ctx(cutover, record, {}))
    assert change["status"].startswith("to be made once its recovered targets are healthy")
    [change] = RecordHandler().planned_changes(record, _ctx(cutover, record, {}, Mode.DRILL, DRILL))
    assert change["status"].startswith("drill:") and "change_batch" not in change


def _api(region: str, zone_id: str) -> dict[str, dict]:
    route53 = boto3.client("route53", region_name=region)
    return {r["SetIdentifier"]: r for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
            if r["Name"] == "api.shop.example."}


def test_failover_routing_the_secondary_is_staged_to_the_recovered_target_the_primary_left_to_route53(sandbox, shop):
    plan = make_plan(traffic={"mode": "cutover", "health_timeout_seconds": 0})
    resources = _resources(plan, shop)
    secondary, primary = resources["api.shop.example. A secondary"], resources["api.shop.example. A primary"]
    assert secondary.type == "route53:failover-record" and primary.type == "route53:record"
    handler = FailoverRecordHandler()
    before = _api(SOURCE, shop["zone-public"])
    tonight, _ = _recovered(resources, staged=True)
    staged = handler.apply(secondary, _ctx(plan, secondary, tonight, Mode.STAGE))
    assert staged.skipped.startswith("not changed tonight") and _api(SOURCE, shop["zone-public"]) == before

    results, recovered = _recovered(resources)  # a target there is (a standby, or the failover's): no health wait
    unhealthy = lambda key: "never asked: the SECONDARY's own health check decides"  # noqa: E731
    applied = handler.apply(secondary, _ctx(plan, secondary, results, Mode.RECOVER, health=unhealthy))
    assert applied.changed and applied.details["traffic_changes"][0]["status"].startswith("made")
    now = _api(SOURCE, shop["zone-public"])
    assert now["secondary"]["AliasTarget"]["DNSName"] == f"dualstack.{recovered['alb']['DNSName']}.".lower()
    assert now["primary"] == before["primary"]  # Route 53 answers the SECONDARY when the PRIMARY's check fails
    left = RecordHandler().apply(primary, _ctx(plan, primary, results, health=unhealthy))
    assert left.skipped.startswith("not changed: failover routing") and _api(SOURCE, shop["zone-public"]) == now
    sandbox.app.clear_log()
    assert not handler.apply(secondary, _ctx(plan, secondary, results, Mode.STAGE)).changed and _writes(sandbox) == []
    handler.fail_back(secondary, FailbackContext(aws=AwsAccess(plan), plan=plan, marker={}, home={}))
    assert _api(SOURCE, shop["zone-public"]) == before


def test_across_accounts_the_private_zone_is_in_the_recovery_account_and_public_changes_are_reported(sandbox, shop):
    from accounts_helper import EXTERNAL_ID, OTHER, cross_account_plan
    from drflow.sandbox.accounts import recovery_role

    recovery_role(OTHER, [ACCOUNT], external_id=EXTERNAL_ID)
    plan = cross_account_plan(mode="cross-account")
    plan = plan.model_copy(update={"traffic": plan.traffic.model_copy(update={"mode": "cutover"})})
    resources = _resources(plan, shop)
    zone, record = resources["private-zone"], resources["www.shop.example. A"]
    side = AwsAccess(plan).recovery
    ec2 = side.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{RECOVERY}{z}")["Subnet"][
        "SubnetId"] for i, z in ((0, "a"), (1, "b"))]
    alb = side.client("elbv2").create_load_balancer(Name="shop-alb", Subnets=subnets)["LoadBalancers"][0]
    lb, db = resources["elbv2:load-balancer"], resources["rds:db-instance"]
    results = {resources["ec2:vpc"].key: _result(resources["ec2:vpc"], vpc),
               lb.key: _result(lb, alb["LoadBalancerArn"], {lb.endpoints["dns"]: alb["DNSName"]}),
               db.key: _result(db, "shop-db", {db.endpoints["address"]: f"shop-db.c1.{RECOVERY}.rds.amazonaws.com"})}
    made = PrivateZoneHandler().apply(zone, _ctx(plan, zone, results))
    there = side.client("route53")
    assert there.get_hosted_zone(Id=made.recovered_id)["VPCs"] == [{"VPCRegion": RECOVERY, "VPCId": vpc}]
    assert made.recovered_id not in {z["Id"].rsplit("/", 1)[-1] for z in boto3.client(
        "route53", region_name=RECOVERY).list_hosted_zones()["HostedZones"]}  # not in the primary account
    before = _public_www(SOURCE, shop["zone-public"])
    left = RecordHandler().apply(record, _ctx(plan, record, results, health=lambda key: None))
    [change] = left.details["traffic_changes"]
    assert change["status"].startswith(f"to apply by hand: the zone is in the primary account {ACCOUNT}")
    assert change["change_batch"]["Changes"][0]["ResourceRecordSet"]["AliasTarget"]["DNSName"] == \
        f"dualstack.{alb['DNSName']}.".lower()
    assert _public_www(SOURCE, shop["zone-public"]) == before


def test_an_a_record_holding_an_elastic_ip_gets_the_recovered_elastic_ips_address(sandbox, shop):
    ec2 = boto3.client("ec2", region_name=SOURCE)
    eip = ec2.allocate_address(Domain="vpc")
    route53 = boto3.client("route53", region_name=SOURCE)
    route53.change_resource_record_sets(HostedZoneId=shop["zone-public"], ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "static.shop.example.", "Type": "A", "TTL": 60,
                                                   "ResourceRecords": [{"Value": eip["PublicIp"]}]}}]})
    plan = make_plan(traffic={"mode": "cutover", "health_timeout_seconds": 0})
    address = Resource(type="ec2:elastic-ip", source_id=eip["AllocationId"], config={"public_ip": eip["PublicIp"]})
    found = RecordHandler().discover(AwsAccess(plan).source, plan)
    record = next(r for r in refer(found + [address]) if r.name == "static.shop.example. A")
    assert record.dependencies == [address.key]
    recovered = ResourceResult(key=address.key, type=address.type, source_id=address.source_id,
                               outcome=Outcome.CREATED, recovered_id="eipalloc-0recovered",
                               details={"public_ip": "198.51.100.7", "source_public_ip": eip["PublicIp"]})
    applied = RecordHandler().apply(record, _ctx(plan, record, {address.key: recovered}, health=lambda key: None))
    assert applied.changed
    now = next(r for r in route53.list_resource_record_sets(HostedZoneId=shop["zone-public"])["ResourceRecordSets"]
               if r["Name"] == "static.shop.example.")
    assert now["ResourceRecords"] == [{"Value": "198.51.100.7"}]
