"""Shared fixtures: one Prefect test server and one sandbox (moto on loopback) per session.

Everything reaches the sandbox through endpoint settings, as production code would reach AWS.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# a Prefect home of its own per test process: pytest-xdist's workers inherit the controller's environment, and
# each worker's `sandbox` fixture empties its own result storage
if os.environ.get("PYTEST_XDIST_WORKER") or "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="drflow-prefect-")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
# no test reads run logs through the API (they read states, artifacts and the sandbox's request log): not sending
# them spares the test server one write per log line
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
# nor does any test read task runs from the test server (they read futures' states, artifacts, flow runs, events and
# the sandbox's request log): its task run recorder, which writes every task state change into its database one
# row at a time, was the largest cost of the test server, about a sixth of a flow test's CPU. The real-stack tests
# start their own server with every service on (drflow/sandbox/stack.py strips PREFECT_* settings).
os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED", "false")

import gc  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402

from core.aws import new_session  # noqa: E402
from core.plan import Plan, parse_plan  # noqa: E402
from drflow.sandbox.faults import Faults  # noqa: E402
from drflow.sandbox.server import Sandbox  # noqa: E402
from drflow.sandbox.workload import PLAN_SERVERS, seed_network, seed_servers  # noqa: E402
from tasks.registry import default_registry  # noqa: E402

# A flow test allocates millions of short-lived objects (moto's models, botocore's parsed responses, Prefect's
# states) in one process, and CPython's default thresholds (700, 10, 10) re-scan the survivors often: raising
# them cut a 16-test subset's CPU by roughly 5-10 % (two runs each, noisy). Test processes only.
gc.set_threshold(20_000, 20, 20)

SOURCE, RECOVERY = "us-east-1", "us-west-2"
ACCOUNT = "111111111111"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "shop-plan.yaml"  # the sample shop's plan


def plan_data(**overrides) -> dict:
    data = {"name": "shop", "source": {"account_id": ACCOUNT, "region": SOURCE},
            "recovery": {"account_id": ACCOUNT, "region": RECOVERY}, "scope": {"tags": {"app": "shop"}}}
    data.update(overrides)
    return data


def make_plan(**overrides) -> Plan:
    return parse_plan(plan_data(**overrides), set(default_registry()))


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def sandbox_server():
    with Sandbox() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server, monkeypatch):
    """A clean sandbox: every account and region empty, no faults, boto3 pointed at it; and no task results
    cached by earlier tests (they describe resources of the sandbox that was just emptied)."""
    sandbox_server.reset()
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    shutil.rmtree(PREFECT_LOCAL_STORAGE_PATH.value(), ignore_errors=True)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE",
                "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in sandbox_server.env(ACCOUNT).items():
        monkeypatch.setenv(key, value)
    yield sandbox_server
    sandbox_server.faults = Faults()


@pytest.fixture
def shop(sandbox):
    """The sample workload seeded in the source region; returns its ids by role."""
    ids = seed_network(new_session(), SOURCE)
    sandbox.app.clear_log()
    return ids


@pytest.fixture
def servers(shop, sandbox):
    """The sample shop's six servers on top of its network; returns the ids by role and server name."""
    ids = seed_servers(new_session(), dict(shop), SOURCE)
    sandbox.app.clear_log()
    return ids


@pytest.fixture
def server_plan() -> Plan:
    return make_plan(servers=PLAN_SERVERS)


@pytest.fixture
def plan() -> Plan:
    return make_plan()


def workload_writes(sandbox, plan) -> list:
    """The writes the sandbox saw, but for those to the plan's vault: drflow's own records there (a new recovery
    point every night by design, its completion marker, and the run lease every writing run takes and gives back,
    core/lease.py), which are not the workload's."""
    return [c for c in sandbox.calls if c.write and plan.vault_bucket not in c.operation]


def ec2(region: str = RECOVERY):
    return boto3.client("ec2", region_name=region)
