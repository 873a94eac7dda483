"""Run a flow in-process and return its report (the same path the CLI takes)."""

from __future__ import annotations

from typing import Any


def run(flow_fn: Any, **params: Any) -> dict[str, Any]:
    if "approve" in flow_fn.parameters.properties:  # a real failover pauses for a human; tests/flows/test_approval.py
        params.setdefault("approve", True)          # covers that pause, every other test runs pre-approved
    state = flow_fn(return_state=True, **params)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return result
