"""Run a flow in-process and return its report (the same path the CLI takes)."""

from __future__ import annotations

from typing import Any


def run(flow_fn: Any, **params: Any) -> dict[str, Any]:
    state = flow_fn(return_state=True, **params)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return result
