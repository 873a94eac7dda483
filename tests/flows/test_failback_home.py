"""Failback re-applies the network and IAM in the primary from the recovery point: what the primary lost while
the workload ran in the recovery region is recreated, what depends on it points at it again, and what survived
is left exactly as it is. `--dry-run` shows it all and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from conftest import SOURCE
from core.plan import load_plan
from drflow.cli import app
from drflow.sandbox.faults import Faults
from drflow.sandbox.workload import seed_workload
from flows.failback import failback
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import default_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop-plan.yaml"
POLICY = "shop-assets-read"


def _row(report: dict, key: str) -> dict:
    return next(d for d in report["details"] if d["key"] == key)


def _attached(iam, role: str) -> set[str]:
    return {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}


def _nats(ec2, source_id: str) -> list[dict]:
    return [n for n in ec2.describe_nat_gateways(Filter=[{"Name": "tag:drflow:source-id", "Values": [source_id]}])[
        "NatGateways"] if n["State"] in ("pending", "available")]


def _production(ec2, iam) -> dict:
    """What failback must leave alone: the surviving subnets, groups and route tables, and the roles' trust."""
    return {"vpcs": sorted((v["VpcId"], v["DhcpOptionsId"]) for v in ec2.describe_vpcs()["Vpcs"]),
            "dhcp": sorted(d["DhcpOptionsId"] for d in ec2.describe_dhcp_options()["DhcpOptions"]),
            "subnets": sorted((s["SubnetId"], s["CidrBlock"], json.dumps(s.get("Tags"), sort_keys=True))
                              for s in ec2.describe_subnets()["Subnets"]),
            "groups": sorted((g["GroupId"], json.dumps(g.get("Tags"), sort_keys=True),
                              json.dumps(g["IpPermissions"], sort_keys=True))
                             for g in ec2.describe_security_groups()["SecurityGroups"]),
            "public_routes": [json.dumps(t["Routes"], sort_keys=True) for t in ec2.describe_route_tables(
                Filters=[{"Name": "tag:Name", "Values": ["shop-public"]}])["RouteTables"]],
            "role_tags": {r: iam.get_role(RoleName=r)["Role"].get("Tags") for r in ("shop-app", "shop-web")}}


@pytest.fixture
def failed_over(sandbox):
    """The shop replicated, failed over with the primary dark; the primary back, having lost its NAT gateway and
    the shop's managed policy (detached from both roles, then deleted) in the meantime."""
    ids = seed_workload(boto3.Session(), SOURCE)
    plan = load_plan(EXAMPLE, set(default_registry()))
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.faults = Faults(dark={SOURCE})
    assert run(failover, plan=plan)["failed"] == []
    sandbox.faults = Faults()
    ec2, iam = boto3.client("ec2", region_name=SOURCE), boto3.client("iam")
    ec2.delete_nat_gateway(NatGatewayId=ids["nat"])
    arn = next(p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == POLICY)
    for role in ("shop-app", "shop-web"):
        iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    return plan, ids, arn


def test_failback_recreates_what_the_primary_lost_and_leaves_the_rest(failed_over, sandbox):
    plan, ids, arn = failed_over
    ec2, iam = boto3.client("ec2", region_name=SOURCE), boto3.client("iam")
    before = _production(ec2, iam)

    report = run(failback, plan=plan)
    assert report["failed"] == [], report["failed"]

    # the NAT gateway: recreated in its subnet with its address, and the private route table routes through it
    nat_row = _row(report, f"ec2:nat-gateway/{ids['nat']}")
    assert nat_row["outcome"] == "created"
    [nat] = _nats(ec2, ids["nat"])
    assert nat["NatGatewayId"] == nat_row["recovered_id"] and nat["SubnetId"] == ids["public-a"]
    assert nat["NatGatewayAddresses"][0]["AllocationId"] == ids["eip"]
    private = ec2.describe_route_tables(RouteTableIds=[ids["rt-private"]])["RouteTables"][0]
    default = next(r for r in private["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")
    assert default.get("NatGatewayId") == nat["NatGatewayId"]
    assert _row(report, f"ec2:route-table/{ids['rt-private']}")["outcome"] == "updated"

    # the policy: back under its own ARN, attached again to both roles; the failover's grants are gone
    policy_row = _row(report, f"iam:policy/{POLICY}")
    assert policy_row["outcome"] == "created" and not policy_row.get("warnings")  # its vpce and key kept their ids
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Arn"] == arn
    for role in ("shop-app", "shop-web"):
        attached = _attached(iam, role)
        assert POLICY in attached and not [p for p in attached if p.startswith("drflow-")], attached

    # what survived is as it was: same ids, same rules, same tags (no drflow marker on production)
    assert _production(ec2, iam) == before
    assert _row(report, f"ec2:subnet/{ids['public-a']}")["outcome"] == "unchanged"
    assert _row(report, f"ec2:subnet/{ids['public-a']}")["recovered_id"] == ids["public-a"]

    # the report: like a failover's, with the time each phase took and the order drawn
    assert set(report["rto_seconds_by_phase"]) >= {"preflight", "network", "iam", "data", "servers"}
    assert report["rto_seconds_by_phase"]["network"] > 0 and report["runbook_mermaid"].startswith("graph TD")

    # one progress artifact over all four phases, at 100 only once the last of them is done
    from artifacts_helper import published_artifacts

    [progress] = [a for a in published_artifacts(report["run_id"]) if a.type == "progress"]
    assert progress.key == "shop-failback-progress" and float(progress.data) == 100.0
    assert progress.description.startswith(f"{len(report['details'])} of {len(report['details'])} resources done")

    # a re-run: nothing written, nothing duplicated
    again = run(failback, plan=plan)
    assert again["failed"] == [] and again["api_calls"]["write"] == 0
    assert len(_nats(ec2, ids["nat"])) == 1


def test_failback_dry_run_lists_the_writes_and_makes_none(failed_over, sandbox):
    plan, ids, _ = failed_over
    sandbox.app.clear_log()
    report = run(failback, plan=plan, dry_run=True)
    assert [c for c in sandbox.calls if c.write] == []
    assert report["dry_run"] and report["problems"] == []
    actions = {w["key"]: w["action"] for w in report["writes"]}
    assert actions[f"ec2:nat-gateway/{ids['nat']}"] == "create"
    assert actions[f"iam:policy/{POLICY}"] == "create"
    assert actions[f"ec2:route-table/{ids['rt-private']}"].startswith(f"adopt {ids['rt-private']}")
    assert f"ec2:subnet/{ids['public-a']}" in report["kept"]
    assert {s["key"] for s in report["then"]} >= {"rds:db-instance/shop-db", f"s3:bucket/{ids['bucket']}"}


def test_cli_failback_dry_run(failed_over, sandbox, tmp_path):
    plan, ids, _ = failed_over
    path = tmp_path / "shop.yaml"
    path.write_text(EXAMPLE.read_text())
    sandbox.app.clear_log()
    result = CliRunner().invoke(app, ["failback", "--plan", str(path), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert [c for c in sandbox.calls if c.write] == []
    out = json.loads(result.stdout)
    assert any(w["key"] == f"ec2:nat-gateway/{ids['nat']}" and w["action"] == "create" for w in out["writes"])


def test_failback_from_a_separate_recovery_account(sandbox):
    """Recovered in account B, back in account A: A's lost NAT gateway is recreated with A's credentials, the
    database's snapshot is shared by B and copied by A; DRS servers are reported as not automated."""
    from accounts_helper import OTHER, agents_replicate_into, cross_account_plan, recovery_account_ready

    ids = seed_workload(boto3.Session(), SOURCE)
    agents_replicate_into(OTHER, ids)
    recovery_account_ready()
    plan = cross_account_plan()
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.faults = Faults(dark={SOURCE})
    assert run(failover, plan=plan)["failed"] == []
    sandbox.faults = Faults()
    ec2 = boto3.client("ec2", region_name=SOURCE)
    ec2.delete_nat_gateway(NatGatewayId=ids["nat"])
    before = _production(ec2, boto3.client("iam"))

    report = run(failback, plan=plan)
    assert report["failed"] == [], report["failed"]
    assert _production(ec2, boto3.client("iam")) == before
    changed = {d["key"].split("/")[0] for d in report["details"] if d["key"].split(":")[0] in ("ec2", "iam")
               and d["outcome"] not in ("unchanged", "skipped")}
    assert changed == {"ec2:nat-gateway", "ec2:route-table"}, changed
    assert [n["NatGatewayId"] for n in _nats(ec2, ids["nat"])] == [_row(report, f"ec2:nat-gateway/{ids['nat']}")[
        "recovered_id"]]
    servers = [d for d in report["details"] if d["key"].startswith("ec2:instance/")]
    # DRS servers: not automated across accounts yet (extended source servers), said per server, never silent
    assert servers and all(d["outcome"] == "skipped" and "CreateExtendedSourceServer" in d["details"]["reason"]
                           for d in servers)
    copy = _row(report, "rds:db-instance/shop-db")["recovered_id"]
    assert boto3.client("rds", region_name=SOURCE).describe_db_snapshots(DBSnapshotIdentifier=copy)["DBSnapshots"]
