"""Failback: the sample shop fails over with the primary dark, the primary comes back, and failback brings the
workload home (servers through DRS reverse replication, the database's snapshot copied back, the bucket's
replication reversed, drflow's IAM grants detached). A plan that never failed over is refused before any write."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from conftest import RECOVERY, SOURCE, plan_data
from core.plan import load_plan
from drflow.cli import app
from drflow.sandbox.faults import Faults
from drflow.sandbox.workload import seed_workload
from flows.common import PreflightError
from flows.failback import failback
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import default_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop-plan.yaml"


def _row(report: dict, key: str) -> dict:
    return next(d for d in report["details"] if d["key"] == key)


def _grants(iam, role: str) -> list[str]:
    return [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
            if ":policy/drflow/" in p["PolicyArn"]]


def test_a_plan_that_never_failed_over_is_refused_before_any_write(sandbox):
    seed_workload(boto3.Session(), SOURCE)
    plan = load_plan(EXAMPLE, set(default_registry()))
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.app.clear_log()
    with pytest.raises(PreflightError, match="never failed over"):
        run(failback, plan=plan)
    assert [c for c in sandbox.calls if c.write] == []


def test_failback_round_trip_of_the_sample_shop(sandbox):
    ids = seed_workload(boto3.Session(), SOURCE)
    plan = load_plan(EXAMPLE, set(default_registry()))
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.faults = Faults(dark={SOURCE})
    failed_over = run(failover, plan=plan)
    assert failed_over["failed"] == []
    iam = boto3.client("iam")
    roles = [d["name"] for d in failed_over["details"] if d["key"].startswith("iam:role/")
             and (d.get("details") or {}).get("attached") and d["details"].get("grant")]  # the ones with a grant
    sandbox.faults = Faults()  # the primary is back
    assert roles and all(_grants(iam, r) for r in roles)  # the failover attached them
    replica = f"{ids['bucket']}-{RECOVERY}"
    boto3.client("s3", region_name=RECOVERY).put_object(Bucket=replica, Key="orders/written-during-outage.json",
                                                        Body=b'{"order": 42}')
    ec2 = boto3.client("ec2", region_name=SOURCE)
    before = {i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    report = run(failback, plan=plan)
    assert report["failed"] == [], report["failed"]
    assert report["flow"] == "failback" and report["recovery_point"] == failed_over["recovery_point"]

    # servers: reversed through DRS, launched back in the primary into their original subnets
    drs = boto3.client("drs", region_name=SOURCE)
    reversed_servers = [s for s in drs.describe_source_servers(filters={})["items"]
                        if s["replicationDirection"] == "FAILBACK"]
    servers = [d for d in report["details"] if d["key"].startswith("ec2:instance/")]
    drs_servers = [d for d in servers if d["outcome"] != "skipped"]
    assert drs_servers and len(reversed_servers) == len(drs_servers)
    for row in drs_servers:
        source_id = row["key"].split("/", 1)[1]
        instance = ec2.describe_instances(InstanceIds=[row["recovered_id"]])["Reservations"][0]["Instances"][0]
        original = ec2.describe_instances(InstanceIds=[source_id])["Reservations"][0]["Instances"][0]
        assert row["recovered_id"] not in before and instance["State"]["Name"] == "running"
        assert instance["SubnetId"] == original["SubnetId"]
        assert {g["GroupId"] for g in instance["SecurityGroups"]} == {g["GroupId"] for g in original["SecurityGroups"]}
        assert row["details"]["reversed_source_server"] in {s["sourceServerID"] for s in reversed_servers}

    # the database: a snapshot of the recovered one, copied into the primary, encrypted with the source key
    db = _row(report, "rds:db-instance/shop-db")
    rds = boto3.client("rds", region_name=SOURCE)
    copy = rds.describe_db_snapshots(DBSnapshotIdentifier=db["recovered_id"])["DBSnapshots"][0]
    assert copy["Status"] == "available" and copy["DBInstanceIdentifier"] == "shop-db"
    source_key = boto3.client("kms", region_name=SOURCE).describe_key(KeyId="alias/shop-data")["KeyMetadata"]["Arn"]
    assert copy["KmsKeyId"] == source_key
    taken = boto3.client("rds", region_name=RECOVERY).describe_db_snapshots(DBSnapshotIdentifier=db["recovered_id"])
    assert taken["DBSnapshots"][0]["DBInstanceIdentifier"] == "shop-db"

    # the bucket: the replica replicates back into the source bucket; what it got during the outage is copied
    config = boto3.client("s3", region_name=RECOVERY).get_bucket_replication(Bucket=replica)["ReplicationConfiguration"]
    assert [r["Destination"]["Bucket"] for r in config["Rules"]] == [f"arn:aws:s3:::{ids['bucket']}"]
    role = iam.get_role(RoleName=config["Role"].rsplit("/", 1)[-1])["Role"]
    policy = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="s3-replication")["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    assert any(s["Resource"] == f"arn:aws:s3:::{ids['bucket']}/*" for s in policy["Statement"])
    assert _row(report, f"s3:bucket/{ids['bucket']}")["outcome"] == "updated"
    body = boto3.client("s3").get_object(Bucket=ids["bucket"], Key="orders/written-during-outage.json")["Body"]
    assert body.read() == b'{"order": 42}'

    # IAM: drflow's grants detached from the production roles; the policies stay staged
    for name in roles:
        assert _grants(iam, name) == []
        assert _row(report, f"iam:role/{name}")["outcome"] == "updated"

    # DNS: the public records the failover cut over name the primary's load balancer and API domain again
    records = {r["Name"]: r for r in boto3.client("route53").list_resource_record_sets(
        HostedZoneId=ids["zone-public"])["ResourceRecordSets"] if not r.get("SetIdentifier")}
    primary_alb = boto3.client("elbv2", region_name=SOURCE).describe_load_balancers(
        LoadBalancerArns=[ids["alb"]])["LoadBalancers"][0]
    assert records["www.shop.example."]["AliasTarget"]["DNSName"].rstrip(".").endswith(primary_alb["DNSName"])
    assert records["thumbnails.shop.example."]["AliasTarget"]["DNSName"].rstrip(".") == ids["api-domain-target"].rstrip(".")
    cut_over = [c["status"] for c in failed_over["traffic_changes"]
                if c["what"].startswith(("www.shop.example", "thumbnails.shop.example"))]
    assert cut_over == ["made", "made"]

    # a re-run adopts: no second launch, no second snapshot, no DNS change
    again = run(failback, plan=plan)
    assert again["failed"] == [] and again["api_calls"]["write"] == 0
    assert {d["recovered_id"] for d in again["details"] if d["key"].startswith("ec2:instance/") and d["recovered_id"]} \
        == {d["recovered_id"] for d in drs_servers}
    assert _row(again, "rds:db-instance/shop-db")["outcome"] == "adopted"


def test_cli_failback_refuses_a_plan_that_never_failed_over(shop, sandbox, tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(plan_data()))
    result = CliRunner().invoke(app, ["failback", "--plan", str(path), "--yes"])
    assert result.exit_code == 2
    assert "never failed over" in result.stderr
    assert not [c for c in sandbox.calls if c.write]
    assert CliRunner().invoke(app, ["failback", "--plan", str(path)], input="").exit_code == 2  # no confirmation
