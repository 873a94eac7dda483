"""A real failover waits for a human: it pauses (Prefect pause with input) after pre-flight, before any write, and
resumes with who approved and why; a rejection writes nothing. The report carries RTO per phase and a runbook
with the recovery order as a Mermaid diagram, also published as a Prefect artifact."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter
from prefect.client.schemas.filters import FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run

from conftest import RECOVERY, ec2, make_plan, workload_writes
from core import report as reports
from core.handler import phases
from core.models import Resource
from drflow.sandbox.stack import wait_for_input
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from network_state import recovered_vpc
from tasks.registry import default_registry

PHASE_OF = phases(default_registry())


@pytest.fixture
def replicated(shop, sandbox):
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.app.clear_log()
    return plan


class Background:
    """The flow run in a thread, as a UI-started run would be on a worker, while the test plays the approver."""

    def __init__(self, **params: Any):
        self.state: Any = None
        self.thread = threading.Thread(target=lambda: setattr(self, "state", failover(return_state=True, **params)))
        self.known = _paused_runs()  # none, unless an earlier test left one behind
        self.thread.start()

    def paused_run_id(self, timeout: float = 90) -> Any:
        """Poll the server (not the thread) until this run is Paused; a run that finishes instead fails the test."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = _paused_runs() - self.known
            if mine:
                return mine.pop()
            assert self.thread.is_alive(), f"the failover ended without pausing: {self.state}"
            time.sleep(0.5)
        raise AssertionError("the failover never reached Paused")

    def finish(self, timeout: float = 120) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the failover did not finish after it was resumed"
        return self.state


def _paused_runs() -> set:
    with get_client(sync_client=True) as client:
        return {r.id for r in client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))))}


def _writes(sandbox) -> list:
    """Writes but for drflow's own records in the vault (the failover's run lease is taken before it pauses)."""
    return workload_writes(sandbox, make_plan())


def test_a_real_failover_pauses_for_approval_and_resumes_with_it(replicated, shop, sandbox):
    background = Background(plan=replicated)
    run_id = background.paused_run_id()
    assert _writes(sandbox) == []  # every check ran, nothing written while waiting for the human
    with get_client(sync_client=True) as client:
        description = wait_for_input(client, run_id, "paused-drflow-failover-approval-description")
    assert "shop" in description and RECOVERY in description and "resources" in description

    resume_flow_run(run_id, run_input={"approver": "alice", "reason": "INC-42: us-east-1 down", "approved": True})
    state = background.finish()
    assert state.is_completed(), state
    report = state.result()
    assert report["failed"] == []
    [vpc] = recovered_vpc(ec2(RECOVERY), shop["vpc"])
    assert report["identity_map"][shop["vpc"]] == vpc
    assert report["approval"]["approver"] == "alice" and report["approval"]["reason"] == "INC-42: us-east-1 down"
    assert report["approval"]["pre_approved"] is False

    phases = report["rto_seconds_by_phase"]
    assert list(phases)[:3] == ["preflight", "approval_wait", "network"]
    assert phases["approval_wait"] > 0 and phases["network"] > 0
    # RTO starts at the approval: it excludes the wait and is at least as long as the network phase
    assert phases["network"] <= report["rto_seconds"] < report["seconds"] - phases["approval_wait"] + 1
    graph = report["runbook_mermaid"]
    assert graph.startswith("graph TD") and 'subgraph network["network"]' in graph
    assert "ec2:vpc<br/>" in graph and " --> " in graph

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(
            any_=[run_id])))
    markdown = next(a.data for a in artifacts if a.key == "shop-failover-report")
    assert "```mermaid\ngraph TD" in markdown and graph in markdown
    assert "## Time per phase" in markdown and "approved by **alice**" in markdown
    table = next(a for a in artifacts if a.key == "shop-failover-resources")
    assert table.type == "table"


def test_a_rejected_failover_writes_nothing(replicated, sandbox):
    background = Background(plan=replicated)
    run_id = background.paused_run_id()
    resume_flow_run(run_id, run_input={"approver": "bob", "reason": "false alarm", "approved": False})
    state = background.finish()
    assert state.type == StateType.CANCELLED
    assert "rejected by bob: false alarm" in state.message
    assert _writes(sandbox) == []  # the pilot light staged nightly is all there is: no recovery write was made


def test_approve_skips_the_pause_and_drills_never_pause(replicated, sandbox):
    report = run(failover, plan=replicated, drill=True, approve=False)  # a drill touches no production: no pause
    assert report["failed"] == [] and report["approval"] is None and "approval_wait" not in report["rto_seconds_by_phase"]
    report = run(failover, plan=replicated, approve=True, approver="pager-bot")
    assert report["approval"]["approver"] == "pager-bot" and report["approval"]["pre_approved"] is True
    assert report["rto_seconds"] > 0 and "approval_wait" not in report["rto_seconds_by_phase"]


def _resource(type_: str, source_id: str, *deps: str) -> Resource:
    return Resource(type=type_, source_id=source_id, name=source_id, dependencies=list(deps))


def _shape(graph: str) -> tuple[set[str], list[tuple[str, str]]]:
    """The declared node ids and the edges of a `graph TD` rendering."""
    lines = [line.strip() for line in graph.splitlines()]
    assert lines[0] == "graph TD"
    nodes = {line.split("[", 1)[0] for line in lines if "[" in line and not line.startswith("subgraph")}
    edges = [tuple(line.split(" --> ")) for line in lines if " --> " in line]
    return nodes, edges


def test_mermaid_declares_every_edge_endpoint_and_groups_by_phase():
    vpc = _resource("ec2:vpc", "vpc-1")
    subnet = _resource("ec2:subnet", "subnet-1", vpc.key)
    role = _resource("iam:role", "app")
    db = _resource("rds:db-instance", "orders", subnet.key, "kms:key/gone")  # a dependency outside the list
    server = _resource("ec2:instance", "i-1", subnet.key, role.key, db.key)
    lb = _resource("elbv2:load-balancer", "web", subnet.key)
    graph = reports.mermaid([vpc, subnet, role, db, server, lb], PHASE_OF, {lb.key: "skipped"})
    nodes, edges = _shape(graph)
    assert len(nodes) == 6 and len(edges) == 6
    assert all(a in nodes and b in nodes for a, b in edges)
    assert [line.strip() for line in graph.splitlines() if line.strip().startswith("subgraph")] == [
        'subgraph network["network"]', 'subgraph iam["iam"]', 'subgraph data["data"]', 'subgraph servers["servers"]',
        'subgraph load_balancers["load balancers"]']
    assert "class n5 skipped" in graph


def test_mermaid_collapses_a_big_estate_to_resource_types():
    vpc = _resource("ec2:vpc", "vpc-1")
    subnets = [_resource("ec2:subnet", f"subnet-{i}", vpc.key) for i in range(40)]
    servers = [_resource("ec2:instance", f"i-{i}", subnets[i].key) for i in range(40)]
    graph = reports.mermaid([vpc, *subnets, *servers], PHASE_OF)
    nodes, edges = _shape(graph)
    assert len(nodes) == 3 and sorted(edges) == sorted({e for e in edges}) and len(edges) == 2
    assert all(a in nodes and b in nodes for a, b in edges)
    assert "ec2:instance ×40" in graph and "ec2:subnet ×40" in graph


def test_phase_times_count_only_this_runs_work():
    from datetime import datetime, timedelta, timezone

    from core.models import Outcome, ResourceResult

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    at = lambda s: t0 + timedelta(seconds=s)  # noqa: E731

    def result(type_: str, start: float, end: float) -> ResourceResult:
        return ResourceResult(key=f"{type_}/x{start}", type=type_, source_id="x", outcome=Outcome.CREATED,
                              started=at(start), ended=at(end))

    results = [result("ec2:vpc", -500, -499),  # cached from an earlier, interrupted attempt
               result("ec2:subnet", 31, 33), result("ec2:vpc", 30, 31), result("rds:db-instance", 33, 40),
               result("ec2:instance", 40, 50), result("elbv2:load-balancer", 34, 36)]
    times = reports.recovery_times(results, at(0), at(5), at(30), at(60), PHASE_OF)
    assert times["rto_seconds"] == 20.0
    assert times["rto_seconds_by_phase"] == {"preflight": 5.0, "approval_wait": 25.0, "network": 3.0, "data": 7.0,
                                             "servers": 10.0, "load_balancers": 2.0}


def test_the_cli_asks_the_terminal_and_passes_the_approval_on(replicated, sandbox, tmp_path, monkeypatch):
    import json

    import yaml
    from typer.testing import CliRunner

    import drflow.cli as cli
    from conftest import plan_data

    plan_file = tmp_path / "shop.yaml"
    plan_file.write_text(yaml.safe_dump(plan_data()))
    monkeypatch.setattr(cli, "_interactive", lambda: True)  # CliRunner's stdin is no terminal
    monkeypatch.setenv("USER", "carol")
    runner = CliRunner()

    declined = runner.invoke(cli.app, ["failover", "--plan", str(plan_file)], input="\nn\n")
    assert declined.exit_code == 2 and "not confirmed" in declined.stderr
    assert _writes(sandbox) == []

    confirmed = runner.invoke(cli.app, ["failover", "--plan", str(plan_file), "--json"], input="\ny\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "Approver [carol]" in confirmed.stderr and "Approver" not in confirmed.stdout  # prompts go to stderr
    report = json.loads(confirmed.stdout[confirmed.stdout.index("{"):])  # CliRunner echoes the typed input to stdout
    assert report["approval"]["approver"] == "carol (confirmed at the terminal)"  # $USER is the default approver
    assert report["rto_seconds"] > 0 and report["rto_seconds_by_phase"]["network"] >= 0
    assert report["runbook_mermaid"].startswith("graph TD")


def test_nobody_answering_fails_the_run_with_nothing_written(replicated, sandbox, monkeypatch):
    import flows.common

    monkeypatch.setattr(flows.common, "APPROVAL_TIMEOUT_SECONDS", 2)
    monkeypatch.setattr(flows.common, "APPROVAL_POLL_SECONDS", 1)
    state = failover(plan=replicated, return_state=True)
    assert state.is_failed() and "never resumed" in state.message  # the server's words for a pause that timed out
    assert _writes(sandbox) == []
