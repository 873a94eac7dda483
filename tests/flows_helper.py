"""Run a flow in-process and return its report (the same path the CLI takes)."""

from __future__ import annotations

from typing import Any


def run(flow_fn: Any, synced: bool = True, **params: Any) -> dict[str, Any]:
    """`synced`: after a nightly replication, let EFS finish the first sync of every replication it started (the
    sandbox's double keeps a new one ENABLING until then, as EFS does; a failover refuses an unsynced replica), as
    the hours between a nightly run and a failover would. False: a failover right after the first night."""
    if "approve" in flow_fn.parameters.properties:  # a real failover pauses for a human; tests/flows/test_approval.py
        params.setdefault("approve", True)          # covers that pause, every other test runs pre-approved
    state = flow_fn(return_state=True, **params)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    if synced and flow_fn.name == "drflow-replicate":
        from drflow.sandbox.efs_replication import sync_pending

        sync_pending()
    return result
