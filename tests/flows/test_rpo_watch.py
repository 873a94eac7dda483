"""The RPO watch: ok on a fresh recovery point; a failed run and a drflow.rpo.breached event on the Prefect server
when the newest complete point is older than the RPO, or when the nightly deployment's last run failed."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml
from prefect import get_client
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.events.schemas.automations import AutomationCore
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.states import Completed, Failed

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.models import Endpoint, RecoveryPoint
from core.vault import Vault
from deploy_helper import deploy_all
from flows.replicate import replicate
from flows.rpo_watch import rpo_watch
from flows_helper import run

AUTOMATION = Path(__file__).resolve().parents[2] / "deployments" / "rpo-breached-automation.yaml"


def _events(name: str, plan: str, after: datetime, timeout: float = 30) -> list:
    """The events the server stored (it persists them in batches: poll)."""
    query = EventFilter(event=EventNameFilter(name=[name]),
                        resource=EventResourceFilter(id=[f"drflow.plan.{plan}"]))
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            found = [e for e in client.read_events(filter=query, limit=50).events if e.occurred >= after]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _write_point(plan, created_at: datetime, complete: bool = True) -> RecoveryPoint:
    """A recovery point as the replication flow writes it, through the vault, captured at `created_at`."""
    vault = Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name)
    vault.ensure()
    point = RecoveryPoint(id=RecoveryPoint.new_id(created_at), plan_name=plan.name, created_at=created_at,
                          source=Endpoint(account_id=ACCOUNT, region=SOURCE),
                          recovery=Endpoint(account_id=ACCOUNT, region=RECOVERY), plan=plan.public_dict(),
                          resources=[], complete=complete)
    vault.write(point)
    return point


def _watch(**params):
    state = rpo_watch(return_state=True, **params)
    return state, state.result(raise_on_failure=False)


def test_a_fresh_recovery_point_is_within_the_rpo(shop, sandbox):
    plan = make_plan(name="fresh")
    started = datetime.now(timezone.utc)
    point = run(replicate, plan=plan)["recovery_point"]
    sandbox.app.clear_log()
    sandbox.faults.dark.add(SOURCE)  # the watch reads the recovery side only
    try:
        state, report = _watch(plan=plan, nightly_deployment="drflow-replicate/no-such-nightly")
    finally:
        sandbox.faults.dark.discard(SOURCE)
    assert state.is_completed(), state.message
    assert report["recovery_point"] == point and report["age_minutes"] < 5 and report["breaches"] == []
    assert report["nightly"] == {"deployment": "drflow-replicate/no-such-nightly", "deployed": False}
    assert {c.region for c in sandbox.calls} == {RECOVERY}
    ok, = _events("drflow.rpo.ok", "fresh", started)
    assert ok.payload["recovery_point"] == point
    assert _events("drflow.rpo.breached", "fresh", started, timeout=0) == []


def test_an_aged_recovery_point_fails_the_watch_and_emits_the_breach(sandbox):
    plan = make_plan(name="aged", rpo_minutes=120)
    started = datetime.now(timezone.utc)
    old = _write_point(plan, started - timedelta(hours=4))
    _write_point(plan, started - timedelta(minutes=5), complete=False)  # newer, but incomplete: does not count
    state, _ = _watch(plan=plan, grace_minutes=30, nightly_deployment="drflow-replicate/no-such-nightly")
    assert state.is_failed() and "RPO of plan aged breached" in state.message and old.id in state.message
    breached, = _events("drflow.rpo.breached", "aged", started)
    assert breached.payload["recovery_point"] == old.id and breached.payload["rpo_minutes"] == 120
    assert 239 <= breached.payload["age_minutes"] <= 245
    assert breached.resource["prefect.resource.name"] == "aged"
    assert any(r.id.startswith("prefect.flow-run.") for r in breached.related)  # links the watch's run


def test_an_empty_vault_is_a_breach(sandbox):
    started = datetime.now(timezone.utc)
    state, _ = _watch(plan=make_plan(name="empty"), nightly_deployment="drflow-replicate/no-such-nightly")
    assert state.is_failed() and "no complete recovery point" in state.message
    assert len(_events("drflow.rpo.breached", "empty", started)) == 1


@pytest.mark.parametrize("last_state, breached", [(Failed, True), (Completed, False)])
def test_the_nightly_deployments_last_run_decides_too(sandbox, last_state, breached):
    deploy_all()  # drflow-replicate/shop-nightly, as prefect deploy --all makes it
    plan = make_plan()  # "shop"
    _write_point(plan, datetime.now(timezone.utc) - timedelta(minutes=10))  # fresh: only the run can breach
    with get_client(sync_client=True) as client:
        nightly = client.read_deployment_by_name("drflow-replicate/shop-nightly")
        flow_run = client.create_flow_run_from_deployment(nightly.id)
        client.set_flow_run_state(flow_run.id, last_state(message="replication refused: vault unreachable"),
                                  force=True)
    started = datetime.now(timezone.utc)
    state, _ = _watch(plan=plan)
    assert state.is_failed() is breached
    events = _events("drflow.rpo.breached" if breached else "drflow.rpo.ok", "shop", started)
    assert len(events) == 1 and events[0].payload["nightly"]["flow_run"] == str(flow_run.id)
    assert any(r.id == f"prefect.deployment.{nightly.id}" for r in events[0].related)
    if breached:
        assert "vault unreachable" in state.message and str(flow_run.id) in state.message



class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_readme_automation_turns_a_breach_into_a_notification(sandbox):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = CustomWebhookNotificationBlock(name="on-call", url=f"http://127.0.0.1:{server.server_port}/",
                                              json_data={"text": "{{subject}}\n{{body}}"})
        block_id = hook.save("drflow-test-on-call", overwrite=True)
        data = yaml.safe_load(AUTOMATION.read_text())
        data["actions"][0]["block_document_id"] = str(block_id)
        with get_client(sync_client=True) as client:
            automation_id = client.create_automation(AutomationCore.model_validate(data))
        time.sleep(2)  # the server loads new automations into its trigger evaluation
        plan = make_plan(name="paged", rpo_minutes=60)
        _write_point(plan, datetime.now(timezone.utc) - timedelta(hours=3))
        state, _ = _watch(plan=plan, grace_minutes=0, nightly_deployment="drflow-replicate/no-such-nightly")
        assert state.is_failed()
        deadline = time.monotonic() + 60
        while not _Hook.received and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        server.shutdown()
        with get_client(sync_client=True) as client:
            client.delete_automation(automation_id)
    message, = _Hook.received
    assert message["text"].startswith("drflow: plan paged is outside its RPO")
    assert "RPO of 60 minutes" in message["text"] and "min old" in message["text"]
