"""make bench: what the progress artifact costs the engine. Runs a graph of no-op resources (chains of five, 16
threads) with the engine's progress following (core/engine.py `_follow`: the artifact, and the run observers with
none listening) and with a plain wait instead, interleaved, and prints tasks/s of each. BENCH_ENGINE_TASKS (default
1000) sets the graph size.

Target: the difference stays within the run-to-run noise (the progress artifact is written at most once a
second); reported, and refused only when progress costs more than a quarter of the throughput.
"""

from __future__ import annotations

import json
import os
import time
import uuid

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

import core.engine as engine
from core.aws import AwsAccess
from core.handler import Applied
from core.models import Mode, Resource
from core.plan import parse_plan

ROUNDS = 3


class Noop:
    type = "bench:thing"
    pilot_light = True
    internet_facing = False
    version = 1

    def apply(self, resource, ctx):
        return Applied(f"new-{resource.source_id}", created=True)


def _plain(spec, items, progress=None, phases=None) -> None:
    for item in items:
        if not isinstance(item, engine.ResourceResult):
            item.wait()


def _run(size: int) -> float:
    plan = parse_plan({"name": f"b{uuid.uuid4().hex[:10]}", "source": {"account_id": "111111111111",
                       "region": "us-east-1"}, "recovery": {"account_id": "111111111111", "region": "us-west-2"},
                       "scope": {"tags": {"app": "bench"}}}, set())
    resources = [Resource(type="bench:thing", source_id=f"r{i}",
                          dependencies=[f"bench:thing/r{i - 1}"] if i % 5 else []) for i in range(size)]

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=16))
    def engine_bench() -> float:
        spec = engine.RunSpec(plan=plan, aws=AwsAccess(plan), registry={"bench:thing": Noop()}, mode=Mode.STAGE,
                              scope="bench")
        started = time.monotonic()
        engine.run_graph(resources, spec)
        return time.monotonic() - started

    return size / engine_bench()


def main() -> None:
    size = int(os.environ.get("BENCH_ENGINE_TASKS", "1000"))
    following = engine._follow
    rates: dict[str, list[float]] = {"plain wait": [], "with progress": []}
    engine._follow = _plain
    _run(50)  # warm-up: the ephemeral server's start is not charged to the first variant
    for _ in range(ROUNDS):
        engine._follow = _plain
        rates["plain wait"].append(_run(size))
        engine._follow = following
        rates["with progress"].append(_run(size))
    means = {k: round(sum(v) / len(v), 1) for k, v in rates.items()}
    for name, values in rates.items():
        print(f"{name:>14}: {' '.join(f'{v:7.1f}' for v in values)}  mean {means[name]} tasks/s ({size} tasks)")
    print(json.dumps({"bench": "engine_progress", "tasks": size, "tasks_per_s": means}))
    if means["with progress"] < 0.75 * means["plain wait"]:
        raise SystemExit("the progress artifact costs more than a quarter of the engine's throughput")


if __name__ == "__main__":
    main()
