"""drflow on a real Prefect stack, as an operator runs it: `prefect server start` (SQLite, then PostgreSQL) and
`prefect worker start --pool drflow` as subprocesses, the plan saved with `drflow plan save`, the deployments made
by `prefect deploy --all --prefect-file deployments/prefect.yaml`; the failover started the way the UI's Run
button starts it and approved the way the UI's resume form approves it, both through the HTTP API; and the UI
itself, in headless Chromium, showing the failover's parameter form.

The worker's flow runs reach the sandbox only through the endpoint variables in the worker's environment.
Everything here is marked `integration` (`pytest -m integration` runs only these; `make test` runs them too).
One stack per database backend for the whole module: started once, shared by the tests, stopped (process groups,
the PostgreSQL cluster) by finalizers even when a test or the start itself fails.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from conftest import ACCOUNT, RECOVERY, SOURCE
from drflow.sandbox.stack import Postgres, PrefectServer, Process, postgres_bin, wait_for_input, wait_for_state
from drflow.sandbox.workload import seed_workload

# one xdist worker runs them all (make test: --dist loadgroup), so each real stack is started once, not per worker
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("real-stack")]

SERVERS = {"db-proxy", "app-a", "app-b", "web", "cache", "worker"}  # the shop's servers (drflow/sandbox/workload.py)
FAILOVER, NIGHTLY = "drflow-failover/shop-failover", "drflow-replicate/shop-nightly"


@dataclass
class Stack:
    server: PrefectServer
    worker: Process
    client: SyncPrefectClient
    sandbox: Any
    deployed: str
    postgres: Postgres | None
    replicated: list[bool] = field(default_factory=list)

    def http(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call to the server's REST API as the UI makes it (plain JSON over HTTP). Retried on 503 as Prefect's
        own client does: a server on SQLite answers 503 while the database is locked by another writer."""
        for attempt in range(6):
            response = httpx.request(method, f"{self.server.api_url}{path}", timeout=30, **kwargs)
            if response.status_code not in (429, 503):
                break
            time.sleep(0.5 * 2 ** attempt)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def wait(self, run_id: Any, *types: str, timeout: float = 300) -> Any:
        return wait_for_state(self.client, run_id, set(types), timeout, watch=[self.worker, self.server.process])

    def nightly_once(self) -> None:
        """One run of the nightly deployment, so the failover has a recovery point (once per stack)."""
        if self.replicated:
            return
        nightly = self.client.read_deployment_by_name(NIGHTLY)
        run = self.client.create_flow_run_from_deployment(nightly.id)
        self.wait(run.id, "COMPLETED")
        from drflow.sandbox.efs_replication import sync_pending

        sync_pending()  # EFS finishes the first sync of the replication the night started (flows_helper.run)
        self.replicated.append(True)


def _database(request: pytest.FixtureRequest) -> Postgres | None:
    if request.param == "sqlite":
        return None
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed: apt-get install -y postgresql "
                    "(.ci/run installs them)")
    postgres = Postgres()
    request.addfinalizer(postgres.stop)
    return postgres.start()


BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request, sandbox_server, tmp_path_factory):
    """A real server on `request.param`'s database, the plan block, the deployments, one worker; the sandbox
    emptied and seeded with the sample shop, reached by the worker's flow runs through its environment.

    One test per backend uses it, the UI's check included (on SQLite): the worker interleaves this module's tests
    with others (which empty the sandbox), so that every test here started a stack of its own (~70 s each)."""
    sandbox_server.reset()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in sandbox_server.env(ACCOUNT).items():
            patch.setenv(key, value)
        seed_workload(boto3.Session(), SOURCE)
    postgres = _database(request)
    server = PrefectServer(tmp_path_factory.mktemp(f"prefect-{request.param}"),
                           database_url=postgres.url if postgres else None)
    request.addfinalizer(server.stop)
    server.cli("prefect", "work-pool", "create", "drflow", "--type", "process")
    server.cli("drflow", "plan", "save", "--plan", "examples/shop-plan.yaml")
    deployed = server.cli("prefect", "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
    worker = server.worker("drflow", f"worker-{request.param}", env=sandbox_server.env(ACCOUNT))
    request.addfinalizer(worker.stop)
    client = SyncPrefectClient(server.api_url)
    client.__enter__()
    request.addfinalizer(lambda: client.__exit__(None, None, None))
    return Stack(server, worker, client, sandbox_server, deployed.stdout, postgres)


def recovered_servers(sandbox) -> dict[str, str]:
    """Name -> state of the shop's servers in the recovery region (instances that carry drflow:plan=shop)."""
    ec2 = boto3.client("ec2", region_name=RECOVERY, endpoint_url=sandbox.url,
                       **{k.lower(): v for k, v in sandbox.env(ACCOUNT).items() if k.startswith("AWS_") and "KEY" in k})
    found = {}
    for reservation in ec2.describe_instances(Filters=[{"Name": "tag:drflow:plan", "Values": ["shop"]}])["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            if "aws:autoscaling:groupName" in tags:
                continue  # the batch tier's: its recovered Auto Scaling group launched them, not DRS
            found[tags.get("Name", instance["InstanceId"])] = instance["State"]["Name"]
    return found


def test_a_failover_started_from_the_ui_pauses_is_approved_and_recovers_the_shop(stack):
    deployments = _deployment_names(stack)
    assert {FAILOVER, NIGHTLY, "drflow-failover/shop-drill"} <= deployments, stack.deployed
    ui_checked = False
    if not stack.postgres and _chromium():  # the UI reads the same API whatever the database: once, on SQLite
        browser = _browser()
        try:
            _ui_shows_the_failover_form(stack, browser)
        finally:
            browser.quit()
        ui_checked = True
    stack.nightly_once()
    assert recovered_servers(stack.sandbox) == {}  # the nightly run stages; nothing runs in us-west-2 yet

    failover = stack.client.read_deployment_by_name(FAILOVER)
    assert failover.work_pool_name == "drflow"
    # the UI's Run form: the deployment's parameters with the form's values over them, state Scheduled
    created = stack.http("POST", f"/deployments/{failover.id}/create_flow_run", json={
        "state": {"type": "SCHEDULED", "message": "Run from the Prefect UI"},
        "parameters": {**failover.parameters, "plan": "shop", "approve": False},
        "enforce_parameter_schema": failover.enforce_parameter_schema})
    run_id = created["id"]
    paused = stack.wait(run_id, "PAUSED")
    assert paused.parameters == {"plan": "shop", "approve": False} and paused.deployment_id == failover.id
    description = wait_for_input(stack.client, run_id, "paused-drflow-failover-approval-description")
    assert "shop" in description and RECOVERY in description
    assert recovered_servers(stack.sandbox) == {}  # paused before any write

    # the UI's resume form: POST /flow_runs/{id}/resume with the Approval input
    resumed = stack.http("POST", f"/flow_runs/{run_id}/resume", json={"run_input": {
        "approver": "alice@example.com", "reason": "INC-7: us-east-1 down", "approved": True}})
    assert resumed["status"] == "ACCEPT", resumed
    done = stack.wait(run_id, "COMPLETED")
    assert done.work_pool_name == "drflow"

    assert recovered_servers(stack.sandbox) == {name: "running" for name in SERVERS}
    artifacts = {a.key: a for a in stack.client.read_artifacts(artifact_filter=ArtifactFilter(
        flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))}
    report = artifacts["shop-failover-report"].data
    assert "approved by **alice@example.com**" in report and "INC-7: us-east-1 down" in report
    table = artifacts["shop-failover-resources"]
    assert table.type == "table" and "ec2:instance/" in str(table.data)
    if stack.postgres:  # the server kept all of it in PostgreSQL: read there, without the server
        assert stack.postgres.query(f"SELECT state_type FROM flow_run WHERE id = '{run_id}'") == [["COMPLETED"]]
        assert ["shop-failover-report"] in stack.postgres.query(
            f"SELECT key FROM artifact WHERE flow_run_id = '{run_id}'")
    if not stack.postgres and not ui_checked:  # all of the failover passed; only the UI's part could not run
        pytest.skip("the UI part: Debian's chromium and chromium-driver not installed: apt-get install -y chromium "
                    "chromium-driver (.ci/run installs them)")


def _deployment_names(stack: Stack) -> set[str]:
    deployments = stack.client.read_deployments()
    flows = {d.flow_id: stack.client.read_flow(d.flow_id).name for d in deployments}
    return {f"{flows[d.flow_id]}/{d.name}" for d in deployments}


# --- the UI in a browser -------------------------------------------------------------------------------------

def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def _browser() -> Any:
    found = _chromium()
    assert found is not None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(found[1]), options=options)


def _ui_shows_the_failover_form(stack: Stack, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    def page_showing(text: str) -> str:
        WebDriverWait(browser, 60).until(seen.text_to_be_present_in_element((By.TAG_NAME, "body"), text))
        return browser.find_element(By.TAG_NAME, "body").text

    failover = stack.client.read_deployment_by_name(FAILOVER)
    browser.get(f"{stack.server.url}/deployments/deployment/{failover.id}")
    page = page_showing("flows/failover.py:failover")  # the deployment's details, read from the API by the UI
    assert "shop-failover" in page and "drflow-failover" in page and "plan:shop" in page

    browser.get(f"{stack.server.url}/deployments/deployment/{failover.id}/run")  # the Run button's custom-run form
    form = page_showing("approve (Optional)")
    browser.save_screenshot(str(stack.server.home / "run-form.png"))
    for label in ("plan\nname of the drflow plan block", "recovery_point (Optional)", "drill (Optional)",
                  "drill_id (Optional)"):
        assert label in form, f"{label!r} not on the run form:\n{form}"
    fields = browser.find_elements(By.CSS_SELECTOR, "textarea, input")
    assert "shop" in [f.get_attribute("value") for f in fields], "the plan field does not hold the block name shop"
    assert "latest" in [f.get_attribute("value") for f in fields], "recovery_point does not default to latest"
    assert browser.find_elements(By.XPATH, "//button[normalize-space()='Submit']"), "no Submit button on the form"
