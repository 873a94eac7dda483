"""`drflow runbook`: against deployments really registered on the Prefect test server, the links open each one's run
form with the parameters filled in, missing deployments are listed with the command that makes them, and the
markdown runbook carries every step and the recovery order of the newest recovery point."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml
from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists
from prefect.settings import PREFECT_UI_URL, get_current_settings, temporary_settings
from typer.testing import CliRunner

from blocks.plan import PlanBlock
from conftest import make_plan, plan_data
from deploy_helper import deploy_all
from core import report as reports
from core.aws import AwsAccess
from core.handler import phases
from core.vault import Vault
from drflow.cli import app
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import default_registry

runner = CliRunner()
DEPLOYED = {"drflow-replicate": "nightly", "drflow-failover": ("failover", "drill"),
            "drflow-drill-cleanup": "drill-cleanup"}  # failback and rpo-watch are left missing


def _deploy(plan: str) -> dict[str, str]:
    """Register the plan's deployments on the server (work pool drflow, type process), as `prefect deploy` would;
    returns their ids by full name."""
    ids = {}
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name="drflow", type="process"))
        except ObjectAlreadyExists:
            pass
        for flow_name, suffixes in DEPLOYED.items():
            flow_id = client.create_flow_from_name(flow_name)
            for suffix in (suffixes,) if isinstance(suffixes, str) else suffixes:
                ids[f"{flow_name}/{plan}-{suffix}"] = str(client.create_deployment(
                    flow_id=flow_id, name=f"{plan}-{suffix}", work_pool_name="drflow",
                    parameters={"plan": plan, **({"drill": True} if suffix == "drill" else {})}))
    return ids


def _as_the_ui_reads_it(url: str) -> dict:
    """The UI's router decodes the query, then its run page decodes `parameters` again and parses the JSON."""
    [value] = parse_qs(urlsplit(url).query)["parameters"]
    return json.loads(unquote(value))


def _runbook(*args: str) -> str:
    result = runner.invoke(app, ["runbook", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_links_open_each_deployments_run_form_filled_in_and_missing_ones_are_listed():
    plan = f"rb{uuid.uuid4().hex[:8]}"
    ids = _deploy(plan)
    book = json.loads(_runbook("--plan", plan, "--block", "shop-prod", "--format", "json"))

    ui = get_current_settings().api.url.removesuffix("/api")
    assert book["ui_url"] == ui and book["ui_url_from"] == "PREFECT_API_URL"
    steps = {s["step"]: s for s in book["steps"]}
    assert list(steps) == ["replicate", "rpo-watch", "drill", "drill-cleanup", "failover", "failback"]
    wanted = {"replicate": {"plan": "shop-prod"}, "drill": {"plan": "shop-prod", "drill": True},
              "drill-cleanup": {"plan": "shop-prod"}, "failover": {"plan": "shop-prod", "approve": False}}
    for step, parameters in wanted.items():
        entry = steps[step]
        assert entry["missing"] is False and entry["id"] == ids[entry["deployment"]]
        assert entry["url"].startswith(f"{ui}/deployments/deployment/{ids[entry['deployment']]}/run?parameters=")
        assert _as_the_ui_reads_it(entry["url"]) == parameters == entry["parameters"]
    assert steps["failover"]["deployment"] == f"drflow-failover/{plan}-failover"

    assert book["missing"] == [f"drflow-rpo-watch/{plan}-rpo-watch", f"drflow-failback/{plan}-failback"]
    for step in ("rpo-watch", "failback"):
        assert steps[step]["url"] is None
        assert steps[step]["create"] == ("prefect deploy --prefect-file deployments/prefect.yaml "
                                         f"--name {steps[step]['deployment']}")
    assert [f["name"] for f in book["approval"]["form"]] == ["approver", "reason", "approved"]
    assert book["recovery_order"]["mermaid"] is None and "plan block 'shop-prod'" in book["recovery_order"]["why_not"]

    with temporary_settings({PREFECT_UI_URL: "https://prefect.example.com/ui"}):
        book = json.loads(_runbook("--plan", plan, "--format", "json"))
    assert book["ui_url"] == "https://prefect.example.com/ui" and book["ui_url_from"] == "PREFECT_UI_URL"
    failover = next(s for s in book["steps"] if s["step"] == "failover")
    ui = "https://prefect.example.com/ui"
    assert failover["url"].startswith(f"{ui}/deployments/deployment/{ids[failover['deployment']]}/")
    assert _as_the_ui_reads_it(failover["url"]) == {"plan": plan, "approve": False}


def test_a_value_the_url_must_escape_reaches_the_form_intact():
    from drflow.runbook import run_url

    parameters = {"plan": "shop", "reason": "50% down & rising #1 / ü"}
    assert _as_the_ui_reads_it(run_url("http://ui", "abc", parameters)) == parameters


@pytest.fixture
def replicated(shop, tmp_path):
    name = f"rb{uuid.uuid4().hex[:8]}"
    plan = make_plan(name=name)
    assert run(replicate, plan=plan)["failed"] == []
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan_data(name=name)))
    return plan, str(path)


def test_the_markdown_runbook_has_every_step_the_recovery_order_and_who_approves(replicated):
    plan, plan_file = replicated
    _deploy(plan.name)
    page = _runbook("--plan", plan.name, "--plan-file", plan_file)
    point = Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name).load("latest")

    assert f"```mermaid\n{reports.mermaid(point.resources, phases(default_registry()))}\n```" in page
    assert f"From recovery point `{point.id}`" in page
    for step in ("replicate", "rpo-watch", "drill", "drill-cleanup", "failover", "failback"):
        assert f"\n### {step}\n" in page
    links = re.findall(r"\[Run in Prefect\]\(([^)]+)\)", page)
    assert len(links) == 4 and {"plan": plan.name, "approve": False} in [_as_the_ui_reads_it(u) for u in links]
    assert page.count("**missing**") == 2 and f"--name drflow-failback/{plan.name}-failback" in page
    assert "## Who approves" in page and "| `approver` |" in page and "| `approved` |" in page
    assert "## A drill first" in page and "## Fail back" in page
    assert f"drflow failover --drill --plan {plan_file}" in page
    assert f"drflow failback --dry-run --plan {plan_file}" in page

    PlanBlock(plan=plan).save(plan.name, overwrite=True)  # without --plan-file: the plan comes from its block
    book = json.loads(_runbook("--plan", plan.name, "--format", "json"))
    assert book["recovery_order"]["mermaid"] == reports.mermaid(point.resources, phases(default_registry()))
    assert book["recovery_order"]["recovery_point"] == point.id


def test_an_unreachable_prefect_api_is_an_error_naming_it():
    from prefect.settings import PREFECT_API_URL

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        result = runner.invoke(app, ["runbook", "--plan", "shop"])
    assert result.exit_code == 1 and "http://127.0.0.1:9/api" in result.output


def test_the_sample_plans_deployments_from_prefect_yaml_are_all_linked():
    """`prefect deploy --all` of deployments/prefect.yaml, then the runbook of plan shop: nothing missing."""
    deploy_all()
    book = json.loads(_runbook("--plan", "shop", "--format", "json"))
    assert book["missing"] == []
    with get_client(sync_client=True) as client:
        for step in book["steps"]:
            deployment = client.read_deployment_by_name(step["deployment"])
            assert step["id"] == str(deployment.id) and step["url"].split("/run?")[0].endswith(str(deployment.id))
            assert _as_the_ui_reads_it(step["url"]) == {**deployment.parameters, **step["parameters"]}
    steps = {s["step"]: s for s in book["steps"]}
    assert steps["failover"]["parameters"] == {"plan": "shop", "approve": False}
    assert steps["drill"]["parameters"] == {"plan": "shop", "drill": True}
