"""Deploy deployments/prefect.yaml to the session's Prefect test server the way an operator does: the work pool
made through the client, then `prefect deploy --all` itself (a subprocess, from the repository root)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists
from prefect.settings import PREFECT_API_URL

ROOT = Path(__file__).resolve().parents[1]
PREFECT_FILE = ROOT / "deployments" / "prefect.yaml"
_deployed: list[bool] = []


def deploy_all() -> subprocess.CompletedProcess | None:
    """Once per session; returns the `prefect deploy` run (None when already deployed by an earlier test)."""
    if _deployed:
        return None
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name="drflow", type="process"))
        except ObjectAlreadyExists:
            pass
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    done = subprocess.run([str(Path(sys.executable).with_name("prefect")), "--no-prompt", "deploy", "--all",
                           "--prefect-file", str(PREFECT_FILE)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    _deployed.append(True)
    return done
