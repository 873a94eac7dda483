"""Runs of one plan do not overlap, and a replicate that dies leaves `latest` where it was.

The replicates run as `drflow replicate` in subprocesses (as two shells, or a retried nightly beside a manual run,
would), against the session's sandbox and Prefect test server; SIGKILL leaves no `finally` to clean up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
import yaml

from conftest import ACCOUNT, RECOVERY, plan_data
from core.aws import AwsAccess
from core.vault import Vault
from drflow.sandbox.drs import drs_backend
from drflow.sandbox.faults import Faults
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "drflow.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def plan_file(tmp_path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan_data()))
    return path


def _vault(plan) -> Vault:
    return Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name)


def _recovery_duplicates() -> dict[str, int]:
    """How many of each kind the pilot light holds in the recovery region (the kinds that were duplicated)."""
    ec2 = boto3.client("ec2", region_name=RECOVERY)
    return {"igw": len(ec2.describe_internet_gateways()["InternetGateways"]),
            "eigw": len(ec2.describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]),
            "vpc": len([v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")])}


def test_two_replicates_started_together_one_runs_and_the_other_is_refused_naming_it(shop, plan, plan_file, sandbox):
    # slow calls until one of the two has ended: the winner still holds the plan when the loser, however much later
    # its process started (a loaded machine: tens of seconds), reaches the lease; then full speed for the winner
    sandbox.faults = Faults(latency=1.0)
    first, second = _cli("replicate", "--plan", str(plan_file)), _cli("replicate", "--plan", str(plan_file))
    deadline = time.monotonic() + 600
    while first.poll() is None and second.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    sandbox.faults = Faults()
    outputs = [(p.wait(timeout=600), *p.communicate()) for p in (first, second)]
    codes = sorted(code for code, _, _ in outputs)
    refused = [out + err for code, out, err in outputs if code != 0]
    assert codes[0] == 0 and len(refused) == 1, outputs
    assert "is in use by replicate run" in refused[0], refused[0]
    assert len(_vault(plan).ids()) == 1  # the refused run wrote no recovery point
    once = _recovery_duplicates()
    assert run(replicate, plan=plan)["failed"] == []  # and a later night finds all of it: nothing made twice
    assert _recovery_duplicates() == once and once["igw"] == 1


def test_a_replicate_during_a_failover_is_refused(servers, server_plan):
    assert run(replicate, plan=server_plan)["failed"] == []
    backend = drs_backend(ACCOUNT, RECOVERY)
    backend.set_latency(3600)  # every launch held in flight until released below
    report: dict = {}
    failing_over = threading.Thread(target=lambda: report.update(run(failover, plan=server_plan)))
    failing_over.start()
    deadline = time.monotonic() + 240
    while not backend.jobs and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backend.jobs, "the failover started no DRS job"
    try:
        with pytest.raises(PreflightError, match="in use by failover run"):
            run(replicate, plan=server_plan)
    finally:
        backend.set_latency(0)
        for job_id in list(backend.jobs):
            backend.due_now(job_id)
        while failing_over.is_alive():  # later jobs (the servers' dependants) are released as they start
            for job_id in list(backend.jobs):
                backend.due_now(job_id)
            failing_over.join(timeout=0.5)
    assert report["failed"] == []
    assert len(_vault(server_plan).ids()) == 1  # the refused replicate wrote no point


def test_a_replicate_killed_mid_staging_leaves_latest_at_the_previous_complete_point(shop, plan, plan_file):
    previous = run(replicate, plan=plan)["recovery_point"]
    vault = _vault(plan)
    killed = _cli("replicate", "--plan", str(plan_file), "--refresh")
    deadline = time.monotonic() + 240
    while len(vault.ids()) < 2 and time.monotonic() < deadline:
        assert killed.poll() is None, killed.communicate()
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)  # its point is written, its staging under way
    killed.wait()
    [(newest, newest_complete), (older, older_complete)] = [(r["id"], r["complete"]) for r in vault.summaries()]
    assert (older, older_complete, newest_complete) == (previous, True, False)
    assert vault.load("latest").id == previous
    dry = run(failover, plan=plan, dry_run=True)
    assert dry["recovery_point"] == previous and dry["problems"] == []
    again = run(replicate, plan=plan)  # the killed run's lease is taken over at once: its process is gone
    assert again["failed"] == [] and again["recovery_point_complete"] is True
    assert vault.load("latest").id == again["recovery_point"]
