"""The graph engine with a recording handler: order, parallelism, failure isolation, retries, cache."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError
from prefect import flow

from conftest import make_plan
from core.aws import AwsAccess
from core.engine import RunSpec, run_graph
from core.graph import GraphError
from engine_helper import Recorder, things


def run(resources, handler, mode="stage"):
    plan = make_plan(name=f"t{uuid.uuid4().hex[:10]}")

    @flow
    def engine_flow():
        spec = RunSpec(plan=plan, aws=AwsAccess(plan), registry={"test:thing": handler}, mode=mode, scope="test")
        return {r.source_id: r for r in run_graph(resources, spec)}

    return engine_flow, engine_flow()


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "CreateThing")


def test_dependants_wait_and_independent_branches_overlap():
    handler = Recorder()
    _, results = run(things({"a": [], "b": [], "c": ["a", "b"], "d": ["c"]}), handler)
    assert {r.outcome.value for r in results.values()} == {"created"}
    a, b, c, d = (handler.spans[k] for k in "abcd")
    assert a[0] < b[1] and b[0] < a[1]           # a and b ran at the same time
    assert c[0] >= max(a[1], b[1])               # c waited for both
    assert d[0] >= c[1]
    assert handler.seen_deps["c"] == {"test:thing/a": "new-a", "test:thing/b": "new-b"}


def test_a_failure_blocks_only_its_dependants():
    handler = Recorder(fail={"bad": [_client_error("AccessDenied", 403)]}, delay=0.05)
    _, results = run(things({"bad": [], "after-bad": ["bad"], "later": ["after-bad"], "fine": []}), handler)
    assert results["bad"].outcome.value == "failed" and "AccessDenied" in results["bad"].error
    assert results["after-bad"].outcome.value == "skipped" and "test:thing/bad" in results["after-bad"].error
    assert results["later"].outcome.value == "skipped"
    assert results["fine"].outcome.value == "created"
    assert handler.attempts["bad"] == 1          # a permanent error is not retried
    assert "after-bad" not in handler.attempts   # and its dependants never started


def test_transient_errors_are_retried_by_the_task():
    handler = Recorder(fail={"flaky": [_client_error("Throttling", 400), _client_error("InternalError", 500)]},
                       delay=0.01)
    _, results = run(things({"flaky": []}), handler)
    assert results["flaky"].outcome.value == "created"
    assert handler.attempts["flaky"] == 3


def test_cycle_and_dangling_reference_are_refused_before_any_work():
    handler = Recorder()
    with pytest.raises(GraphError, match=r"test:thing/a -> test:thing/b -> test:thing/a"):
        run(things({"a": ["b"], "b": ["a"]}), handler)
    with pytest.raises(GraphError, match=r"test:thing/a -> test:thing/ghost"):
        run(things({"a": ["ghost"]}), handler)
    assert handler.attempts == {}


def test_unchanged_resources_come_from_the_cache_on_the_next_run():
    handler = Recorder(delay=0.01)
    resources = things({"a": [], "b": ["a"]})
    plan = make_plan(name=f"t{uuid.uuid4().hex[:10]}")

    @flow
    def engine_flow():
        spec = RunSpec(plan=plan, aws=AwsAccess(plan), registry={"test:thing": handler}, mode="stage", scope="s")
        return {r.source_id: r for r in run_graph(resources, spec)}

    engine_flow()
    second = engine_flow()
    assert handler.attempts == {"a": 1, "b": 1}
    assert {r.outcome.value for r in second.values()} == {"unchanged"}
    assert second["b"].recovered_id == "new-b"
    changed = [resources[0], resources[1].model_copy(update={"config": {"size": 2}})]

    @flow
    def changed_flow():
        spec = RunSpec(plan=plan, aws=AwsAccess(plan), registry={"test:thing": handler}, mode="stage", scope="s")
        return {r.source_id: r for r in run_graph(changed, spec)}

    third = changed_flow()
    assert handler.attempts == {"a": 1, "b": 2}  # only the changed resource ran again
    assert third["a"].outcome.value == "unchanged" and third["b"].outcome.value == "created"
