"""make bench: replicate a synthetic estate twice (and once more re-checking everything), print figures.

BENCH_RESOURCES (default 2000) sets the estate size. Figures are printed as a table and as JSON; the
targets: second-run writes 0; API calls per resource and resources/s are reported, not asserted.
"""

from __future__ import annotations

import json
import os
import time

import boto3
from prefect import flow

from benchmarks.estate import RESOURCES_PER_VPC, seed_estate
from core.plan import parse_plan
from drflow.sandbox import start_sandbox
from flows.replicate import replicate
from tasks.registry import default_registry


def _run(plan, **params):
    started = time.monotonic()
    state = replicate(plan=plan, return_state=True, **params)
    report = state.result(raise_on_failure=False)
    if isinstance(report, BaseException):
        raise report
    report["wall_seconds"] = round(time.monotonic() - started, 2)
    return report


@flow
def _warm_up() -> None:
    """Starts Prefect's ephemeral server, so that its start-up (~13 s) is not charged to the first run."""


def main() -> None:
    target = int(os.environ.get("BENCH_RESOURCES", "2000"))
    vpcs = max(1, target // RESOURCES_PER_VPC)
    _warm_up()
    sandbox = start_sandbox(port=0, seed=False)
    try:
        t0 = time.monotonic()
        expected = seed_estate(boto3.Session(), "us-east-1", vpcs)
        seeded = time.monotonic() - t0
        plan = parse_plan({"name": "bench", "source": {"account_id": "111111111111", "region": "us-east-1"},
                           "recovery": {"account_id": "111111111111", "region": "us-west-2"},
                           "scope": {"tags": {"app": "bench"}}}, set(default_registry()))
        runs = {"first": _run(plan), "second": _run(plan), "refresh": _run(plan, refresh=True)}
    finally:
        sandbox.stop()
    rows = []
    for name, r in runs.items():
        total = r["resources"]["total"]
        calls = r["api_calls"]["read"] + r["api_calls"]["write"]
        rows.append({"run": name, "resources": total, "seconds": r["wall_seconds"],
                     "resources_per_s": round(total / r["wall_seconds"], 1),
                     "api_calls_per_resource": round(calls / total, 2), "reads": r["api_calls"]["read"],
                     "writes": r["api_calls"]["write"], "retried": r["api_calls"]["retried"],
                     "failed": len(r["failed"])})
    print(f"synthetic estate: {vpcs} VPCs, {expected} resources expected in scope (seeded in {seeded:.1f} s)")
    header = list(rows[0])
    print(" | ".join(f"{h:>22}" for h in header))
    for row in rows:
        print(" | ".join(f"{str(row[h]):>22}" for h in header))
    first, second = rows[0], rows[1]
    print(f"second-run writes: {second['writes']} (target 0); second run / first run time: "
          f"{second['seconds'] / first['seconds']:.2f}")
    print(json.dumps({"bench": "replicate_scale", "vpcs": vpcs, "runs": rows}))
    if second["writes"] != 0 or any(r["failed"] for r in rows) or rows[0]["resources"] != expected:
        raise SystemExit("benchmark targets missed (see above)")


if __name__ == "__main__":
    main()
