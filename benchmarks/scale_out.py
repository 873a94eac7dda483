"""make bench: plans fanned out as separate flow runs of the nightly deployment, across 1 worker, then 2.

A real `prefect server start` and `prefect worker start --pool drflow` processes (drflow.sandbox.stack), the
deployments made by `prefect deploy --all --prefect-file deployments/prefect.yaml`, and BENCH_PLANS (default 20)
copies of the sample plan, each in an account of its own on the sandbox (its own seeded shop, its own prefect-aws
AwsCredentials blocks, its own plan block `bench-<workers>w-NN`), so that no run waits on another's resources.
Each phase starts every plan's replication with `run_deployment(..., timeout=0)` on the one deployment
`drflow-replicate/shop-nightly` (parameters: plan=<block name>) and lets Prefect's work pool spread the runs over
the workers: there is no queue of drflow's own. Each phase has fresh plans, so the second phase does not replicate
what the first one already staged.

Each worker takes BENCH_WORKER_LIMIT (default 1) flow runs at a time (`prefect worker start --limit`): a worker
stands for one machine's capacity, and the figure is how throughput scales when a second one joins. All processes
share this machine's cores, so the 2-vs-1 ratio is bounded by them (printed with the figures).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import yaml

from drflow.sandbox.server import SECRET, Sandbox, access_key_for
from drflow.sandbox.stack import ROOT, PrefectServer, wait_for_state
from drflow.sandbox.workload import seed_workload

PLANS = int(os.environ.get("BENCH_PLANS", "20"))
LIMIT = int(os.environ.get("BENCH_WORKER_LIMIT", "1"))
RUN_TIMEOUT = float(os.environ.get("BENCH_RUN_TIMEOUT", "900"))
NIGHTLY = "drflow-replicate/shop-nightly"
SAMPLE = yaml.safe_load((ROOT / "examples" / "shop-plan.yaml").read_text())


def _account(workers: int, index: int) -> str:
    return f"{workers}{index:011d}"


def prepare_plans(sandbox: Sandbox, workers: int) -> list[str]:
    """Seed a shop per account and save its credentials and plan blocks; returns the plan block names."""
    from blocks.plan import PlanBlock
    from core.plan import parse_plan
    from prefect_aws import AwsCredentials
    from tasks.registry import default_registry

    names = []
    for index in range(1, PLANS + 1):
        account, name = _account(workers, index), f"bench-{workers}w-{index:02d}"
        keys = {"aws_access_key_id": access_key_for(account), "aws_secret_access_key": SECRET}
        seed_workload(boto3.Session(region_name=SAMPLE["source"]["region"], **keys), SAMPLE["source"]["region"])
        AwsCredentials(**keys).save(f"{name}-aws", overwrite=True)
        data = {**SAMPLE, "name": name,
                "source": {**SAMPLE["source"], "account_id": account, "credentials": {"block": f"{name}-aws"}},
                "recovery": {**SAMPLE["recovery"], "account_id": account, "credentials": {"block": f"{name}-aws"}}}
        PlanBlock(plan=parse_plan(data, set(default_registry()))).save(name, overwrite=True)
        names.append(name)
    sandbox.app.clear_log()
    return names


def phase(server: PrefectServer, sandbox: Sandbox, workers: int) -> dict[str, Any]:
    """Replicate fresh plans through `workers` workers; wall time from the first submission to the last run done."""
    from prefect import get_client
    from prefect.deployments import run_deployment

    plans = prepare_plans(sandbox, workers)
    started_workers = [server.worker("drflow", f"bench-{workers}w-{n}", env=sandbox.env(), limit=LIMIT)
                       for n in range(workers)]
    try:
        time.sleep(3)  # the workers have registered and polled once: the clock measures the runs, not a start-up
        started = time.monotonic()
        runs = [run_deployment(NIGHTLY, parameters={"plan": plan}, timeout=0) for plan in plans]
        durations = []
        with get_client(sync_client=True) as client:
            for run in runs:
                done = wait_for_state(client, run.id, {"COMPLETED"}, RUN_TIMEOUT,
                                      watch=[*started_workers, server.process])
                durations.append(done.total_run_time.total_seconds())
        wall = time.monotonic() - started
    finally:
        for worker in started_workers:
            worker.stop()
    # a Completed replication staged its plan in the recovery region, in its own account: check, do not trust
    written = {c.account for c in sandbox.calls if c.write and c.region == SAMPLE["recovery"]["region"]}
    idle = [plan for index, plan in enumerate(plans, 1) if _account(workers, index) not in written]
    if idle:
        raise SystemExit(f"runs Completed without writing to their recovery region: {', '.join(idle)}")
    # which worker ran what, from the workers' logs (a figure for the report only): a run both workers reached for
    # is submitted by one; the server aborts the other's attempt ("Aborted submission of flow run ...")
    per_worker = {}
    for worker in started_workers:
        log = worker.tail(10**7)
        per_worker[worker.name] = sum(f"submitting flow run '{r.id}'" in log
                                      and f"Aborted submission of flow run '{r.id}'" not in log for r in runs)
    return {"workers": workers, "plans": len(plans), "wall_seconds": round(wall, 1),
            "plans_per_minute": round(len(plans) / wall * 60, 2),
            "mean_run_seconds": round(sum(durations) / len(durations), 1), "runs_per_worker": per_worker}


def main() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = Path(tempfile.mkdtemp(prefix="drflow-scale-out-"))
    with Sandbox() as sandbox:
        os.environ.update(sandbox.env())  # the seeding; the workers get the same endpoints, the accounts' keys
        server = PrefectServer(home)      # come from each plan's AwsCredentials block
        try:
            server.cli("prefect", "work-pool", "create", "drflow", "--type", "process")
            server.cli("prefect", "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
            with temporary_settings({PREFECT_API_URL: server.api_url}):
                one = phase(server, sandbox, 1)
                two = phase(server, sandbox, 2)
        finally:
            server.stop()
    ratio = round(two["plans_per_minute"] / one["plans_per_minute"], 2)
    print(f"scale-out: {PLANS} plans as flow runs of {NIGHTLY} (run_deployment), workers of --limit {LIMIT}, "
          f"{os.cpu_count()} cores")
    print(f"{'workers':>8} {'wall s':>8} {'plans/min':>10} {'mean run s':>11}  runs per worker")
    for row in (one, two):
        print(f"{row['workers']:>8} {row['wall_seconds']:>8} {row['plans_per_minute']:>10} "
              f"{row['mean_run_seconds']:>11}  {row['runs_per_worker']}")
    print(f"2 workers vs 1: x{ratio} throughput")
    print(json.dumps({"benchmark": "scale_out", "plans": PLANS, "worker_limit": LIMIT, "cores": os.cpu_count(),
                      "one_worker": one, "two_workers": two, "ratio_2_vs_1": ratio}))


if __name__ == "__main__":
    main()
