"""`drflow sandbox faults`: a second shell changes the faults of a running sandbox (the primary dark, say)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from conftest import RECOVERY, SOURCE
from drflow.cli import app

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
