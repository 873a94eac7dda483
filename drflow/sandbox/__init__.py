"""The sandbox: test and demo infrastructure only. Production code never imports it."""

from __future__ import annotations

import os

from drflow.sandbox.faults import Faults


def start_sandbox(port: int = 0, faults: str | None = None, seed: bool = True):
    """Start the sandbox on loopback, seed the sample workload, and point this process's boto3 at it."""
    import boto3

    from drflow.sandbox.server import Sandbox
    from drflow.sandbox.workload import seed_workload

    sandbox = Sandbox(port=port, faults=Faults.parse(faults)).start()
    os.environ.update(sandbox.env())
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(key, None)
    if seed:
        injected = sandbox.faults
        sandbox.faults = Faults()  # the seed itself is not under test
        seed_workload(boto3.Session())
        sandbox.faults = injected
        sandbox.app.clear_log()
    return sandbox
