"""The failover pre-flight: every problem that would stop a failover, found with reads only, all at once, each
naming what it concerns; a dry run prints them with the ordered writes."""

from __future__ import annotations

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from conftest import ACCOUNT, RECOVERY, SOURCE, ec2, make_plan, plan_data
from core.aws import AwsAccess
from core.vault import Vault
from drflow.cli import app
from drflow.sandbox.workload import PLAN_SERVERS, SERVERS, seed_servers
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run

MISSING_CERT = f"arn:aws:acm:{RECOVERY}:{ACCOUNT}:certificate/00000000-0000-4000-8000-000000000000"
TOO_EARLY = "2000-01-01T00:00:00Z"  # before any DRS snapshot


def _recovery_writes(sandbox) -> list:
    return [c for c in sandbox.calls if c.write and c.region == RECOVERY]


@pytest.fixture
def broken(shop, sandbox, tmp_path):
    """The shop with servers (one imaged), an HTTPS listener, replicated; then everything a failover needs is
    spoiled in the recovery region, one thing per check. Returns (plan, plan file, incomplete point id, ids)."""
    ids = seed_servers(boto3.Session(), dict(shop), SOURCE)
    ids["legacy"] = ec2(SOURCE).run_instances(
        ImageId="ami-0legacy0000000001", MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=shop["private-b"],
        PrivateIpAddress="10.0.11.99", SecurityGroupIds=[shop["sg-app"]], TagSpecifications=[{
            "ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "legacy"}, {"Key": "app", "Value": "shop"}]}],
    )["Instances"][0]["InstanceId"]
    cert = boto3.client("acm", region_name=SOURCE).request_certificate(DomainName="shop.example.com")["CertificateArn"]
    boto3.client("elbv2", region_name=SOURCE).create_listener(
        LoadBalancerArn=ids["alb"], Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": ids["tg-web"]}])
    data = plan_data(servers=PLAN_SERVERS, certificates={cert: MISSING_CERT})
    plan = make_plan(servers=PLAN_SERVERS, certificates={cert: MISSING_CERT})
    replicated = run(replicate, plan=plan)
    assert replicated["failed"] == []

    rec = ec2(RECOVERY)
    vault = Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name)
    point = vault.load("latest")
    incomplete = point.model_copy(update={"id": point.id + "-partial", "complete": False})
    vault.write(incomplete)  # a capture that did not finish
    for image in rec.describe_images(Owners=["self"], Filters=[
            {"Name": "tag:drflow:source-id", "Values": [ids["legacy"]]}])["Images"]:
        rec.deregister_image(ImageId=image["ImageId"])  # the imaged server's copy is gone
    rec.run_instances(ImageId="ami-0someone0else001", MinCount=1, MaxCount=1,  # someone took web's address
                      SubnetId=replicated["identity_map"][shop["private-a"]], PrivateIpAddress=SERVERS["web"][1])
    while len(rec.describe_addresses()["Addresses"]) < 5:  # the sandbox's Elastic IP quota is 5
        rec.allocate_address(Domain="vpc")
    sandbox.set_quota("ec2", "L-1216C47A", 8)  # vCPUs: the shop's servers need more
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    sandbox.app.clear_log()
    return plan, str(path), incomplete.id, ids


def test_every_failover_problem_is_named_at_once_before_any_write(broken, sandbox):
    plan, _, point_id, ids = broken
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan, recovery_point=point_id, point_in_time=TOO_EARLY)
    problems: dict[str, list[str]] = {}
    for field, message in refused.value.problems:
        problems.setdefault(field, []).append(message)
    assert "incomplete" in " ".join(problems["recovery_point"])
    assert "no image copy of " + ids["legacy"] in problems["servers.legacy"][0]
    for name in SERVERS:  # every DRS server: no recovery snapshot that early
        assert any(f"no recovery snapshot at or before {TOO_EARLY}" in m for m in problems[f"servers.{name}"]), name
    assert any("private IP 10.0.10.20 is in use" in m for m in problems["servers.web"])
    assert "not in ACM" in problems[f"certificates.{MISSING_CERT}"][0]
    assert "Elastic IP" in problems["quota.elastic_ips"][0]
    assert "vCPUs" in problems["quota.vcpus"][0] and "8 allowed" in problems["quota.vcpus"][0]
    assert _recovery_writes(sandbox) == []
    assert [c for c in sandbox.calls if c.region == SOURCE] == []  # a failover pre-flight never reads the primary


def test_each_check_refuses_on_its_own(broken, sandbox):
    """The latest, complete point with its DRS snapshots: the other checks still refuse, each by name."""
    plan, _, _, ids = broken
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan)
    fields = {f for f, _ in refused.value.problems}
    assert fields == {"servers.legacy", "servers.web", f"certificates.{MISSING_CERT}", "quota.elastic_ips",
                      "quota.vcpus"}
    assert _recovery_writes(sandbox) == []


def test_dry_run_prints_the_problems_and_the_ordered_writes(broken, sandbox):
    _, path, point_id, _ = broken
    result = CliRunner().invoke(app, ["failover", "--plan", path, "--dry-run", "--recovery-point", point_id])
    assert result.exit_code == 2, result.output
    assert "problem(s) would refuse this failover before any write" in result.stdout
    assert "quota.vcpus:" in result.stdout and "recovery_point:" in result.stdout
    assert "Ordered writes:" in result.stdout and "ec2:vpc/" in result.stdout
    assert _recovery_writes(sandbox) == []


def test_a_drill_that_needs_more_vpcs_than_the_quota_is_refused(shop, sandbox):
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    rec = ec2(RECOVERY)
    n = 0
    while len(rec.describe_vpcs()["Vpcs"]) < 5:  # moto's 'VPCs per Region' is AWS's default, 5
        rec.create_vpc(CidrBlock=f"172.{16 + n}.0.0/16")
        n += 1
    sandbox.app.clear_log()
    report = run(failover, plan=plan, drill=True, dry_run=True)
    assert [p["field"] for p in report["problems"]] == ["quota.vpcs"]
    assert "1 VPC(s) to create (shop-vpc) and 5 in use exceed the 5 allowed" in report["problems"][0]["problem"]
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan, drill=True)
    assert [f for f, _ in refused.value.problems] == ["quota.vpcs"]
    assert _recovery_writes(sandbox) == []
    assert run(failover, plan=plan, dry_run=True)["problems"] == []  # a failover adopts the staged VPC: fits
