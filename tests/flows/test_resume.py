"""Kill-and-resume: a failover whose PROCESS is killed mid-way, started again, finishes from where it stopped.

The failover runs as `drflow failover` in a subprocess (the CLI as an operator runs it), against the session's
sandbox and Prefect test server, with the same PREFECT_HOME (so the same local result storage: the engine's
cache). The web server's DRS launch is slow, so the kill (SIGKILL: no cleanup, no `finally`) lands while its
job runs, after everything it depends on has completed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE
from core.aws import AwsAccess
from core.plan import load_plan
from core.vault import Vault
from drflow.sandbox.faults import Faults
from drflow.sandbox.workload import seed_workload
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "shop-plan.yaml"
HELD_LAUNCH_SECONDS = 3600.0  # the web server's launch: held in flight until the resumed run follows it


def _cli_env() -> dict[str, str]:
    """This process's environment (sandbox endpoints, PREFECT_HOME) plus the test server's API URL."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONUNBUFFERED": "1"}


def _failover(*extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "drflow.cli", "failover", "--plan", str(EXAMPLE), "--yes", *extra],
                            cwd=ROOT, env=_cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _source_server(instance_id: str) -> str:
    items = boto3.client("drs", region_name=RECOVERY).describe_source_servers(filters={})["items"]
    return next(s["sourceServerID"] for s in items
                if s["sourceProperties"]["identificationHints"]["awsInstanceID"] == instance_id)


def _poll(found, proc: subprocess.Popen, waiting_for: str, timeout: float = 240):
    """`found()`'s first truthy answer, asked every 0.1 s while the failover process `proc` runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = found()
        if answer:
            return answer
        assert proc.poll() is None, f"failover ended before {waiting_for}:\n{proc.communicate()[1][-3000:]}"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {waiting_for}")


def _wait_for_job_of(backend, server_id: str, proc: subprocess.Popen) -> str:
    return _poll(lambda: next((job.id for job in list(backend.jobs.values())
                               if any(p.source_server_id == server_id for p in job.participants)), None),
                 proc, "the slow server's DRS job started")


def _release_when_followed(sandbox, backend, job_id: str, proc: subprocess.Popen) -> None:
    """Let the held launch finish once the resumed run has listed DRS's running jobs: in a failover only a server
    with no live instance lists them, to follow the launch a killed run left (tasks/servers/launch.py), so the
    run is then on the follow path, whatever the machine's load (a fixed latency raced the resumed run)."""
    _poll(lambda: any(c.service == "drs" and c.operation == "DescribeJobs" for c in sandbox.calls),
          proc, "the resumed run listed DRS's running jobs")
    backend.due_now(job_id)


def _recovered_counts() -> Counter:
    """What carries drflow:plan=shop in the recovery region, by recovery point type (live resources only)."""
    ec2 = boto3.client("ec2", region_name=RECOVERY)
    mine = [{"Name": "tag:drflow:plan", "Values": ["shop"]}]
    counts: Counter = Counter()
    counts["ec2:vpc"] = len(ec2.describe_vpcs(Filters=mine)["Vpcs"])
    counts["ec2:subnet"] = len(ec2.describe_subnets(Filters=mine)["Subnets"])
    counts["ec2:instance"] = sum(1 for r in ec2.describe_instances(
        Filters=mine + [{"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
        for i in r["Instances"] if not any(t["Key"] == "aws:autoscaling:groupName" for t in i.get("Tags", [])))
    # (an Auto Scaling group's instances are the group's, not servers of the recovery point)
    elb = boto3.client("elbv2", region_name=RECOVERY)
    arns = [b["LoadBalancerArn"] for b in elb.describe_load_balancers()["LoadBalancers"]]
    tagged = elb.describe_tags(ResourceArns=arns)["TagDescriptions"] if arns else []
    counts["elbv2:load-balancer"] = sum(1 for d in tagged if {"Key": "drflow:plan", "Value": "shop"} in d["Tags"])
    rds = boto3.client("rds", region_name=RECOVERY)
    counts["rds:db-instance"] = sum(1 for d in rds.describe_db_instances()["DBInstances"]
                                    if {"Key": "drflow:plan", "Value": "shop"} in d.get("TagList", []))
    return counts


@pytest.mark.parametrize("resume", ["cache", "refresh"])
def test_a_failover_killed_mid_way_resumes_without_redoing_or_duplicating(sandbox, resume):
    """`cache`: the second run reuses the engine's cached results (local result storage under the shared
    PREFECT_HOME survives the process). `refresh`: it ignores them (`--refresh`, as if the cache were lost),
    so every resource goes through its handler again: the adopt path alone must still make no duplicate."""
    ids = seed_workload(boto3.Session(), SOURCE)
    plan = load_plan(EXAMPLE, set(default_registry()))
    assert run(replicate, plan=plan)["failed"] == []
    point = Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name).load("latest")
    web = _source_server(ids["web"])
    backend = sandbox.drs(ACCOUNT, RECOVERY)
    backend.set_latency(lambda server_id: HELD_LAUNCH_SECONDS if server_id == web else 0.0)

    sandbox.faults = Faults(dark={SOURCE})  # a failover: the primary is down throughout
    first = _failover()
    try:
        web_job = _wait_for_job_of(backend, web, first)
    finally:
        first.kill()  # SIGKILL: the process ends mid-way, whatever it was doing
        first.communicate(timeout=30)
    assert first.returncode == -9
    done_before_kill = {sid for _, sid, event in backend.launch_log if event == "LAUNCHED"}
    assert web not in done_before_kill and len(done_before_kill) == 5  # web is last: the other five are up
    sandbox.app.clear_log()

    second = _failover("--json", *(["--refresh"] if resume == "refresh" else []))
    _release_when_followed(sandbox, backend, web_job, second)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-3000:]
    report = json.loads(out[out.index("{"):])
    assert report["failed"] == []
    assert [c for c in sandbox.calls if c.region == SOURCE] == []

    # nothing duplicated: every resource of the recovery point exists exactly once in the recovery region
    wanted = Counter(r.type for r in point.resources)
    counts = _recovered_counts()
    assert {t: counts[t] for t in counts} == {t: wanted[t] for t in counts}
    assert Counter(event for _, _, event in backend.launch_log) == Counter({"LAUNCH_REQUESTED": 6, "LAUNCHED": 6})

    # nothing redone: what completed before the kill came from the engine's cache (no call for it), or, with
    # the cache ignored, was found and adopted; the web server's launch, in flight at the kill, was followed
    # to its end, not started again
    rows = {d["key"]: d for d in report["details"]}
    servers = {r.source_id: r for r in point.resources if r.type == "ec2:instance"}
    web_key = servers[ids["web"]].key
    assert rows[web_key]["outcome"] == "adopted" and rows[web_key]["details"]["job"] == web_job, rows[web_key]
    if resume == "cache":  # all but the web server and what waited for it: its target registration, and the
        # public records the traffic phase holds until the load balancer's targets are healthy (web's among them)
        after_web = {r.key for r in point.resources if web_key in r.dependencies}
        alb = next(r.key for r in point.resources if r.type == "elbv2:load-balancer")
        gated = {r.key for r in point.resources if r.type == "route53:record" and alb in r.dependencies}
        redone = {d["key"] for d in report["details"] if not d.get("details", {}).get("cached")}
        assert redone - gated == {web_key, *after_web} and after_web and redone & gated, redone
    else:
        assert not [d for d in report["details"] if d.get("details", {}).get("cached")]
        assert [d["key"] for d in report["details"] if d["outcome"] == "created"] == []
        assert {rows[r.key]["outcome"] for r in servers.values()} == {"adopted"}
    assert [c for c in sandbox.calls if c.operation == "StartRecovery"] == []
    launched = [r for r in backend.recovery_instances.values() if r.source_server_id == web]
    assert [(r.job_id, r.id) for r in launched] == [(web_job, report["identity_map"][ids["web"]])]
