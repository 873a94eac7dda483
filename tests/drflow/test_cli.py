"""The `drflow` command line: help everywhere, JSON reports, confirmation of a real failover."""

from __future__ import annotations

import json

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from conftest import plan_data
from drflow.cli import app
from drflow.sandbox.workload import PLAN_SERVERS

runner = CliRunner()
COMMANDS = [["validate"], ["replicate"], ["failover"], ["failback"], ["recovery-points"], ["deployments"],
            ["runbook"], ["sandbox", "up"], ["sandbox", "faults"], ["demo"], ["sandbox"], ["drill"],
            ["drill", "cleanup"], ["plan"], ["plan", "save"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output and len(result.output.splitlines()) > 3


@pytest.fixture
def plan_file(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(plan_data()))
    return str(path)


def test_json_reports_of_replicate_and_failover(shop, plan_file):
    result = runner.invoke(app, ["replicate", "--plan", plan_file, "--json"])
    assert result.exit_code == 0, result.output
    replicated = json.loads(result.stdout)
    for field in ("run_id", "recovery_point", "resources", "api_calls", "seconds"):
        assert field in replicated
    assert set(replicated["api_calls"]) == {"read", "write", "retried"}
    assert set(replicated["resources"]["by_outcome"]) == {"created", "updated", "unchanged", "adopted", "skipped",
                                                          "failed"}

    listed = json.loads(runner.invoke(app, ["recovery-points", "--plan", plan_file, "--json"]).stdout)
    assert [p["id"] for p in listed["recovery_points"]] == [replicated["recovery_point"]]

    result = runner.invoke(app, ["failover", "--plan", plan_file, "--yes", "--json"])
    assert result.exit_code == 0, result.output
    recovered = json.loads(result.stdout)
    assert recovered["recovery_point"] == replicated["recovery_point"]
    assert recovered["rto_seconds"] > 0
    assert recovered["identity_map"][shop["vpc"]].startswith("vpc-")
    assert "SECRET" not in result.stdout and "sandbox-secret" not in result.stdout


def test_real_failover_needs_confirmation(shop, plan_file, sandbox):
    result = runner.invoke(app, ["failover", "--plan", plan_file], input="")
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert sandbox.calls == []


def test_failover_without_a_recovery_point_is_refused_clearly(sandbox, plan_file):
    result = runner.invoke(app, ["failover", "--plan", plan_file, "--yes"])
    assert result.exit_code == 2
    assert "recovery_point" in result.stderr and "replication flow" in result.stderr
    assert not [c for c in sandbox.calls if c.write]


def test_dry_run_prints_ordered_writes(shop, plan_file, sandbox):
    runner.invoke(app, ["replicate", "--plan", plan_file])
    sandbox.app.clear_log()
    result = runner.invoke(app, ["failover", "--plan", plan_file, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "no write made" in result.stdout and "create" in result.stdout
    assert not [c for c in sandbox.calls if c.write]


def test_a_prefect_server_that_does_not_start_in_time_is_explained(sandbox, plan_file, tmp_path):
    """No PREFECT_API_URL: the command starts Prefect's ephemeral server, here given no time at all to come up."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0")
    done = subprocess.run([sys.executable, "-m", "drflow.cli", "replicate", "--plan", plan_file], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "did not start within 0 s" in done.stderr and "PREFECT_API_URL=" in done.stderr
    assert "Traceback" not in done.stderr
    assert [c for c in sandbox.calls if c.write] == []  # nothing was run


def _validate(tmp_path, *flags, **overrides):
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan_data(**overrides)))
    return runner.invoke(app, ["validate", "--plan", str(path), *flags])


def _refused_naming(result, field: str, words: str) -> None:
    assert result.exit_code == 2, result.output
    assert any(line.strip().startswith(f"{field}:") and words in line for line in result.stderr.splitlines()), \
        result.stderr


def test_validate_refuses_a_server_entry_that_names_no_server_in_the_source(servers, sandbox, tmp_path):
    result = _validate(tmp_path, servers={**PLAN_SERVERS, "web-old": {"depends_on": ["app-a"]}})
    _refused_naming(result, "servers.web-old", "no single instance in us-east-1")
    assert sandbox.calls and not [c for c in sandbox.calls if c.write]  # read the source estate, wrote nothing


def test_validate_refuses_a_dependency_on_a_database_the_source_does_not_have(servers, sandbox, tmp_path):
    with_db = {**PLAN_SERVERS, "app-a": {"depends_on": ["db-proxy", "rds:no-such-db"]}}
    result = _validate(tmp_path, servers=with_db)
    _refused_naming(result, "servers.app-a.depends_on", "'rds:no-such-db', which matches no discovered resource")
    assert not [c for c in sandbox.calls if c.write]


def test_validate_finds_the_names_a_plan_gives_in_the_source(servers, sandbox, tmp_path):
    boto3.client("rds", region_name="us-east-1").create_db_instance(
        DBInstanceIdentifier="orders", DBInstanceClass="db.t3.micro", Engine="postgres", AllocatedStorage=20,
        MasterUsername="shop", MasterUserPassword="not-a-secret-1", Tags=[{"Key": "app", "Value": "shop"}])
    sandbox.app.clear_log()
    result = _validate(tmp_path, servers={**PLAN_SERVERS, "app-a": {"depends_on": ["db-proxy", "rds:orders"]}})
    assert result.exit_code == 0, result.output
    assert "every name it gives found there" in result.stdout
    assert not [c for c in sandbox.calls if c.write]


def test_validate_offline_says_it_could_not_check_names_against_the_source(sandbox, tmp_path):
    result = _validate(tmp_path, "--offline", servers={"ghost": {"depends_on": ["rds:no-such-db"]}})
    assert result.exit_code == 0, result.output
    assert "could not be checked against the source estate" in result.stdout
    assert sandbox.calls == []
