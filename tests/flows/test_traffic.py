"""The traffic phase of a failover, with the primary dark: a public record is cut over only once the recovered load
balancer's targets are healthy (a held-unhealthy target makes it wait, then give up with the record as it was and
the reason in the report); a record in `report` mode is never changed, its change batch printed for a human; the
failover run again once the targets are healthy cuts over and redoes nothing else."""

from __future__ import annotations

import json

import boto3
import pytest

from conftest import RECOVERY, SOURCE, make_plan
from core.report import markdown, text
from drflow.sandbox import target_health
from drflow.sandbox.faults import Faults
from drflow.sandbox.workload import PLAN_SERVERS
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run


def _zone(alb: dict) -> str:
    route53 = boto3.client("route53")
    zone = route53.create_hosted_zone(Name="shop.example", CallerReference="traffic-test")["HostedZone"]["Id"]
    route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone.rsplit("/", 1)[-1],
                                     AddTags=[{"Key": "app", "Value": "shop"}])
    alias = {"HostedZoneId": alb["CanonicalHostedZoneId"], "DNSName": alb["DNSName"], "EvaluateTargetHealth": True}
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "www.shop.example.", "Type": "A", "AliasTarget": alias}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "legacy.shop.example.", "Type": "CNAME", "TTL": 60,
                                                   "ResourceRecords": [{"Value": alb["DNSName"]}]}}]})
    return zone


def _records(zone: str) -> str:
    return json.dumps(boto3.client("route53", region_name=RECOVERY).list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"],
                      sort_keys=True)


@pytest.fixture
def held():
    target_health.hold_unhealthy()  # every target, those the failover registers too
    yield
    target_health.release()


def test_cutover_waits_for_healthy_targets_gives_up_unchanged_then_a_rerun_cuts_over(servers, sandbox, held):
    alb = boto3.client("elbv2", region_name=SOURCE).describe_load_balancers(
        LoadBalancerArns=[servers["alb"]])["LoadBalancers"][0]
    zone = _zone(alb)
    plan = make_plan(servers=PLAN_SERVERS, traffic={
        "zones": {"shop.example": "cutover"}, "records": {"legacy.shop.example": "report"},
        "health_timeout_seconds": 10})
    assert run(replicate, plan=plan)["failed"] == []
    before = _records(zone)

    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    [failed] = report["failed"]
    assert failed.startswith("route53:record/") and "www.shop.example" in failed
    assert "not healthy after 10 s" in failed and "target group shop-web: 0 healthy (1 unhealthy)" in failed, failed
    assert _records(zone) == before  # nothing half-changed: the public zone byte for byte as it was
    legacy = [c for c in report["traffic_changes"] if c["what"].startswith("legacy.shop.example")]
    assert [c["status"] for c in legacy] == ["to apply by hand"]
    batch = legacy[0]["change_batch"]
    [change] = batch["Changes"]
    assert change["Action"] == "UPSERT" and RECOVERY in change["ResourceRecordSet"]["ResourceRecords"][0]["Value"]
    assert json.dumps(batch, indent=2, sort_keys=True) in markdown(report)  # the runbook prints it
    assert "to apply by hand" in text(report)

    target_health.release()  # the recovered servers pass their health checks now
    again = run(failover, plan=plan)
    assert again["failed"] == [], again["failed"]
    rerun = {d["key"]: d["outcome"] for d in again["details"]}
    assert [k for k, o in rerun.items() if o not in ("adopted", "unchanged", "skipped")] == [failed.split(":")[0] + ":"
                                                                                           + failed.split(":")[1]]
    records = {r["Name"]: r for r in json.loads(_records(zone))}
    recovered = boto3.client("elbv2", region_name=RECOVERY).describe_load_balancers(Names=["shop-alb"])["LoadBalancers"][0]
    assert records["www.shop.example."]["AliasTarget"]["DNSName"].rstrip(".").endswith(recovered["DNSName"])
    assert records["legacy.shop.example."]["ResourceRecords"] == [{"Value": alb["DNSName"]}]  # report: left
