"""Prefect-native operation: the UI's parameter forms, the plan block (registered, saved from a file, passed by
name), and the deployments of deployments/prefect.yaml as `prefect deploy --all` creates them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect import get_client
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectNotFound
from prefect.flows import load_flow_from_entrypoint
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from blocks.plan import PlanBlock
from conftest import plan_data
from core.plan import load_plan
from deploy_helper import PREFECT_FILE, ROOT, deploy_all
from deployments.prefect_yaml import nightly_schedule, render
from drflow.cli import app
from flows.cleanup import drill_cleanup
from flows.common import PreflightError
from flows.failback import failback
from flows.failover import failover
from flows.replicate import replicate
from flows.rpo_watch import rpo_watch
from flows_helper import run

EXAMPLE = ROOT / "examples" / "shop-plan.yaml"
FLOWS = [replicate, failover, failback, drill_cleanup, rpo_watch]
CONTRACT = {"drflow-replicate/shop-nightly", "drflow-failover/shop-failover", "drflow-failover/shop-drill",
            "drflow-drill-cleanup/shop-drill-cleanup", "drflow-failback/shop-failback",
            "drflow-rpo-watch/shop-rpo-watch"}
runner = CliRunner()


# --- the UI's parameter forms --------------------------------------------------------------------------------

@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_every_flow_asks_for_the_plan_by_block_name(flow):
    schema = flow.parameters.model_dump()
    assert schema["required"] == ["plan"]
    field = schema["properties"]["plan"]
    assert field["type"] == "string" and "plan block" in field["description"]
    assert schema["definitions"] == {}  # no nested Plan form: every field is a plain one
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{flow.name}: parameter {name} has no description for the UI"


def test_the_failover_form_shows_recovery_point_approve_and_drill_id():
    props = failover.parameters.model_dump()["properties"]
    assert (props["recovery_point"]["type"], props["recovery_point"]["default"]) == ("string", "latest")
    assert (props["approve"]["type"], props["approve"]["default"]) == ("boolean", False)
    assert (props["drill"]["type"], props["drill"]["default"]) == ("boolean", False)
    for nullable in ("drill_id", "point_in_time", "approver"):
        assert props[nullable]["default"] is None
        assert {"type": "string"} in props[nullable]["anyOf"]
    assert [n for n, _ in sorted(props.items(), key=lambda kv: kv[1]["position"])][:2] == ["plan", "recovery_point"]


# --- the plan block ------------------------------------------------------------------------------------------

def test_prefect_block_register_registers_the_plan_block_type():
    with get_client(sync_client=True) as client:
        try:  # an earlier test may have saved a plan block (which registers the type): start without it
            client.delete_block_type(client.read_block_type_by_slug("drflow-plan").id)
        except ObjectNotFound:
            pass
        with pytest.raises(ObjectNotFound):
            client.read_block_type_by_slug("drflow-plan")
        done = subprocess.run([str(Path(sys.executable).with_name("prefect")), "block", "register", "-m", "blocks.plan"],
                              cwd=ROOT, env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        block_type = client.read_block_type_by_slug("drflow-plan")
        schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
    assert block_type.name == "drflow plan"
    assert "plan" in schema.fields["properties"]


def test_plan_save_validates_then_saves_the_file_as_a_block(tmp_path):
    path = tmp_path / "shop.yaml"
    data = plan_data(name="saved", source={"account_id": "111111111111", "region": "us-east-1",
                                           "credentials": {"block": "shop-source-aws"}})
    path.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["plan", "save", "--plan", str(path), "--name", "saved-shop"])
    assert result.exit_code == 0, result.output
    plan = PlanBlock.load_plan("saved-shop")
    assert plan == load_plan(path) and plan.source.credentials.block == "shop-source-aws"
    with get_client(sync_client=True) as client:
        stored = client.read_block_document_by_name("saved-shop", "drflow-plan", include_secrets=True).data
    credentials = stored["plan"]["source"]["credentials"]  # the source of the keys, by name; no key
    assert credentials["block"] == "shop-source-aws" and not {k for k, v in credentials.items() if v} - {"block"}

    data["recovery"]["region"] = data["source"]["region"]  # refused: nothing saved under that name
    path.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["plan", "save", "--plan", str(path), "--name", "refused-shop"])
    assert result.exit_code == 2 and "recovery.region" in result.output
    with get_client(sync_client=True) as client, pytest.raises(ObjectNotFound):
        client.read_block_document_by_name("refused-shop", "drflow-plan")


def test_a_flow_given_a_block_name_runs_that_plan(sandbox, tmp_path):
    path = tmp_path / "elsewhere.yaml"
    path.write_text(yaml.safe_dump(plan_data(name="Elsewhere", recovery={"account_id": "111111111111",
                                                                         "region": "eu-west-1"})))
    assert runner.invoke(app, ["plan", "save", "--plan", str(path)]).exit_code == 0  # block "elsewhere"
    report = run(drill_cleanup, plan="elsewhere")
    assert (report["plan"], report["recovery"]["region"]) == ("Elsewhere", "eu-west-1")
    assert {c.region for c in sandbox.calls} == {"eu-west-1"}  # the block's recovery side, and only it


def test_a_missing_block_is_refused_naming_plan_and_the_block():
    with pytest.raises(PreflightError) as refused:
        run(drill_cleanup, plan="no-such-plan")
    (field, message), = refused.value.problems
    assert field == "plan" and "'no-such-plan'" in message and "drflow plan save" in message


# --- deployments ---------------------------------------------------------------------------------------------

def test_the_committed_prefect_yaml_is_what_drflow_deployments_prints():
    result = runner.invoke(app, ["deployments", "--plan", "examples/shop-plan.yaml", "--block", "shop"])
    assert result.exit_code == 0, result.output
    assert result.stdout == PREFECT_FILE.read_text(), "run: drflow deployments --plan examples/shop-plan.yaml " \
                                                      "--block shop > deployments/prefect.yaml"
    assert render(load_plan(EXAMPLE), "shop", "examples/shop-plan.yaml") == result.stdout


def test_prefect_reads_the_prefect_yaml_as_the_contract_says():
    model = PrefectYamlModel.model_validate(yaml.safe_load(PREFECT_FILE.read_text()))  # `prefect deploy`'s parser
    names = set()
    for deployment in model.deployments:
        flow = load_flow_from_entrypoint(str(ROOT / deployment.entrypoint))
        names.add(f"{flow.name}/{deployment.name}")
        assert deployment.work_pool.name == "drflow" and deployment.parameters["plan"] == "shop"
        crons = [s.cron for s in deployment.schedules or []]
        assert all(CronSchedule(cron=c, timezone="UTC") for c in crons)
        assert crons == {"shop-nightly": ["0 2 * * *"], "shop-rpo-watch": ["30 * * * *"]}.get(deployment.name, [])
    assert names == CONTRACT


@pytest.mark.parametrize("rpo, cron", [(1440, "0 2 * * *"), (4320, "0 2 * * *"), (720, "0 */12 * * *"),
                                       (1000, "0 */12 * * *"), (360, "0 */6 * * *"), (90, "0 * * * *"),
                                       (60, "0 * * * *"), (45, "*/30 * * * *"), (15, "*/15 * * * *"),
                                       (7, "*/6 * * * *"), (1, "* * * * *")])
def test_the_nightly_schedule_follows_the_rpo(rpo, cron):
    assert nightly_schedule(rpo) == cron
    step = {"*/30": 30, "*/15": 15, "*/6": 6, "*": 1}.get(cron.split()[0])
    if step:  # every run within the RPO, and the same clock times every day
        assert step <= rpo and 1440 % step == 0


def test_prefect_deploy_all_creates_the_contracts_deployments():
    deploy_all()
    with get_client(sync_client=True) as client:
        found = {name: client.read_deployment_by_name(name) for name in CONTRACT}
    for name, deployment in found.items():
        assert deployment.work_pool_name == "drflow" and deployment.parameters["plan"] == "shop"
        assert deployment.parameter_openapi_schema["properties"]["plan"]["type"] == "string"
        step, = deployment.pull_steps
        assert step["prefect.deployments.steps.set_working_directory"]["directory"] == str(ROOT)
    nightly = found["drflow-replicate/shop-nightly"]
    assert [s.schedule.cron for s in nightly.schedules] == ["0 2 * * *"]
    assert found["drflow-failover/shop-drill"].parameters == {"plan": "shop", "drill": True}
    failover_form = found["drflow-failover/shop-failover"].parameter_openapi_schema["properties"]
    assert failover_form["approve"]["default"] is False and "drill_id" in failover_form
    assert all(not found[n].schedules for n in CONTRACT if not n.endswith(("-nightly", "-rpo-watch")))


@pytest.mark.parametrize("command", [["plan", "save"], ["deployments"]], ids=" ".join)
def test_the_new_commands_have_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "--plan" in result.output
    if command == ["deployments"]:
        assert "rpo_minutes" in result.output and "1440" in result.output  # the schedule rule
