"""`drflow sandbox faults`: a second shell changes the faults of a running sandbox (the primary dark, say)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from conftest import RECOVERY, SOURCE
from drflow.cli import app
from drflow.sandbox.faults import Faults

runner = CliRunner()


def test_the_primary_goes_dark_and_comes_back_from_another_shell(sandbox):
    boto3.client("ec2", region_name=SOURCE).describe_vpcs()  # answered
    dark = runner.invoke(app, ["sandbox", "faults", "dark=us-east-1"])
    assert dark.exit_code == 0 and "dark=us-east-1" in dark.output, dark.output
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        boto3.client("ec2", region_name=SOURCE).describe_vpcs()
    boto3.client("ec2", region_name=RECOVERY).describe_vpcs()  # the recovery region still answers
    shown = runner.invoke(app, ["sandbox", "faults"])
    assert shown.exit_code == 0 and "dark=us-east-1" in shown.output
    cleared = runner.invoke(app, ["sandbox", "faults", ""])
    assert cleared.exit_code == 0 and "none" in cleared.output
    boto3.client("ec2", region_name=SOURCE).describe_vpcs()


def test_a_bad_spec_is_refused_and_the_faults_stay(sandbox):
    runner.invoke(app, ["sandbox", "faults", "throttle=0.5"])
    refused = runner.invoke(app, ["sandbox", "faults", "throttle=7"])
    assert refused.exit_code == 2 and "between 0 and 1" in refused.output
    assert sandbox.faults.throttle == 0.5


def test_without_a_sandbox_it_says_how_to_point_at_one(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    result = runner.invoke(app, ["sandbox", "faults", "dark=us-east-1"])
    assert result.exit_code == 2 and "AWS_ENDPOINT_URL" in result.output
    result = runner.invoke(app, ["sandbox", "faults", "--endpoint", "http://127.0.0.1:9", "dark=us-east-1"])
    assert result.exit_code == 2 and "no sandbox at" in result.output


def test_fail_write_refuses_the_nth_write_and_every_later_one_never_a_read(sandbox):
    ec2 = boto3.client("ec2", region_name=RECOVERY)
    shown = runner.invoke(app, ["sandbox", "faults", "fail_write=2"])
    assert shown.exit_code == 0 and "fail_write=2" in shown.output, shown.output
    first = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]  # write 1 lands
    for cidr in ("10.2.0.0/16", "10.3.0.0/16"):  # write 2 and every later write: the killed run made none of them
        with pytest.raises(ClientError, match="SandboxRunInterrupted"):
            ec2.create_vpc(CidrBlock=cidr)
    made = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]}  # reads still answer
    assert made == {first}
    runner.invoke(app, ["sandbox", "faults", ""])
    ec2.create_vpc(CidrBlock="10.4.0.0/16")  # the re-run's writes land


def test_a_region_in_an_outage_hangs_then_answers_503_which_botocore_retries(sandbox):
    from botocore.config import Config

    sandbox.faults = Faults.parse(f"outage={SOURCE},outage_delay=0.05")
    ec2 = boto3.client("ec2", region_name=SOURCE, config=Config(retries={"mode": "standard", "max_attempts": 3}))
    with pytest.raises(ClientError) as refused:
        ec2.describe_vpcs()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    retried = refused.value.response["ResponseMetadata"]["RetryAttempts"]
    assert retried >= 2  # retried, unlike a dark region's 403
    assert len([c for c in sandbox.calls if c.region == SOURCE]) == retried + 1
    boto3.client("ec2", region_name=RECOVERY).describe_vpcs()  # the other regions answer at once
