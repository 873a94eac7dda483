"""make bench: fail over a synthetic estate of DRS servers launched in dependency order; print figures.

What is measured: BENCH_SERVERS (default 200) agent servers with a seeded random dependency graph
(each depends on 0-3 servers before it in a random order) and a seeded launch latency per server
(75 % 5-10 s, 25 % 15-30 s: DRS launches take minutes, this is that scaled down; BENCH_LATENCY_SCALE multiplies
it, and the poll schedule with it). Replication then failover run twice, each on a fresh sandbox
with the same servers and latencies: once with the natural graph, once wave-ordered (wave k =
servers whose longest dependency chain has k servers; each waits for the whole previous wave, as DRS
plan tooling does).

Makespan = last LAUNCHED - first LAUNCH_REQUESTED in the DRS double's launch log (due times, so DRS
latency is exact and everything else is drflow's scheduling). Critical path = the longest path
through the natural graph, each server costing its latency: no schedule can beat it. Targets:
makespan / critical path <= 1.10; wave-ordered makespan / natural makespan >= 1.5; no failed server.
`lag` is, per server, LAUNCH_REQUESTED - the last LAUNCHED among its dependencies: drflow's overhead
on each edge (DRS job polling, batch window, Prefect, EC2 waiters).
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from typing import Any

import boto3
from prefect import flow

import tasks.servers.launch as drs_launch
from benchmarks.server_estate import (critical_path, depths, latencies, plan_servers, random_dag, seed_servers,
                                      server_names, wave_bound, wave_dag)
from core.plan import parse_plan
from drflow.sandbox import start_sandbox
from drflow.sandbox.workload import seed_network
from flows.failover import failover
from flows.replicate import replicate
from tasks.registry import default_registry

ACCOUNT, SOURCE, RECOVERY = "111111111111", "us-east-1", "us-west-2"
MAX_RATIO, MIN_SPEEDUP = 1.10, 1.5


@flow
def _warm_up() -> None:
    """Starts Prefect's ephemeral server, so that its start-up (~13 s) is not charged to the first run."""


def _plan(dag: dict[str, list[str]]) -> Any:
    return parse_plan({"name": "shop", "source": {"account_id": ACCOUNT, "region": SOURCE},
                       "recovery": {"account_id": ACCOUNT, "region": RECOVERY},
                       "scope": {"tags": {"app": "shop"}}, "servers": plan_servers(dag)}, set(default_registry()))


def _run(flow_fn: Any, plan: Any, **params: Any) -> dict[str, Any]:
    report = flow_fn(plan=plan, return_state=True, **params).result(raise_on_failure=False)
    if isinstance(report, BaseException):
        raise report
    return report


def _seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def _launches(log: list[tuple[datetime, str, str]], names: dict[str, str]) -> dict[str, dict[str, datetime]]:
    """name -> {"requested": first LAUNCH_REQUESTED, "launched": last LAUNCHED} from the launch log."""
    out: dict[str, dict[str, datetime]] = {}
    for when, server_id, event in log:
        entry = out.setdefault(names.get(server_id, server_id), {})
        if event == "LAUNCH_REQUESTED":
            entry.setdefault("requested", when)
        elif event == "LAUNCHED":
            entry["launched"] = when
    return out


def _lags(dag: dict[str, list[str]], launches: dict[str, dict[str, datetime]]) -> list[float]:
    lags = []
    for name, deps in dag.items():
        times = [launches.get(d, {}).get("launched") for d in deps]
        if deps and all(times) and "requested" in launches.get(name, {}):
            lags.append(_seconds(max(times), launches[name]["requested"]))
    return lags


def _jobs_started() -> int:
    pages = boto3.client("drs", region_name=RECOVERY).get_paginator("describe_jobs").paginate(filters={})
    return len({j["jobID"] for page in pages for j in page["items"] if j["type"] == "LAUNCH"})


def _figures(label: str, dag: dict[str, list[str]], report: dict[str, Any],
             launches: dict[str, dict[str, datetime]], instances: dict[str, str], wall: float) -> dict[str, Any]:
    requested = [t["requested"] for t in launches.values() if "requested" in t]
    launched = [t["launched"] for t in launches.values() if "launched" in t]
    lags = _lags(dag, launches)
    failed_ids = {f.split(": ", 1)[0].split("/", 1)[1] for f in report["failed"] if f.startswith("ec2:instance/")}
    failed = sorted(n for n in dag if "launched" not in launches.get(n, {}) or instances[n] in failed_ids)
    makespan = _seconds(min(requested), max(launched)) if requested and launched else float("nan")
    return {"run": label, "jobs": _jobs_started(), "makespan_s": round(makespan, 2),
            "rto_s": round(report["rto_seconds"], 2), "failover_wall_s": round(wall, 2),
            "lag_mean_s": round(sum(lags) / len(lags), 2) if lags else 0.0,
            "lag_max_s": round(max(lags), 2) if lags else 0.0,
            "failed_servers": len(failed), "failed_resources": len(report["failed"]), "failed": failed[:10]}


def _scenario(sandbox: Any, label: str, dag: dict[str, list[str]], cost: dict[str, float]) -> dict[str, Any]:
    """A fresh sandbox: seed the estate, replicate, fail over with `dag` as the plan's dependencies."""
    sandbox.reset()
    session = boto3.Session()
    instances = seed_servers(session, seed_network(session, SOURCE), list(dag), SOURCE)
    backend = sandbox.drs(ACCOUNT, RECOVERY)
    names = {backend.source_server_id_for(i): n for n, i in instances.items()}
    backend.set_latency(lambda server_id: cost.get(names.get(server_id, ""), 0.0))
    plan = _plan(dag)
    replicated = _run(replicate, plan)
    if replicated["failed"]:
        raise SystemExit(f"{label}: replication failed: {replicated['failed'][:5]}")
    started = time.monotonic()
    report = _run(failover, plan, approve=True)
    wall = time.monotonic() - started
    return _figures(label, dag, report, _launches(list(backend.launch_log), names), instances, wall)


def _print(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    header = [h for h in rows[0] if h != "failed"]
    print(" | ".join(f"{h:>16}" for h in header))
    for row in rows:
        print(" | ".join(f"{str(row[h]):>16}" for h in header))
    for key, value in summary.items():
        if key not in ("bench", "runs", "critical_path"):
            print(f"{key:>32}: {value}")
    print(json.dumps(summary))


def _misses(summary: dict[str, Any]) -> list[str]:
    misses = []
    if not summary["makespan_over_critical_path"] <= MAX_RATIO:
        misses.append(f"makespan / critical path {summary['makespan_over_critical_path']} > {MAX_RATIO}")
    if not summary["speedup_waves_over_natural"] >= MIN_SPEEDUP:
        misses.append(f"wave-ordered / natural {summary['speedup_waves_over_natural']} < {MIN_SPEEDUP}")
    if summary["failed_servers"]:
        misses.append(f"{summary['failed_servers']} server(s) failed")
    return misses


def main() -> None:
    count = int(os.environ.get("BENCH_SERVERS", "200"))
    scale = float(os.environ.get("BENCH_LATENCY_SCALE", "1.0"))
    seed = int(os.environ.get("BENCH_SEED", "1"))
    names = server_names(count)
    dag, cost = random_dag(names, seed), latencies(names, seed, scale)
    cp_seconds, cp_servers = critical_path(dag, cost)
    drs_launch.POLL = drs_launch.PollSchedule(first=0.2 * scale, factor=1.5, cap=0.25 * scale, batch_window=0.25)
    print(f"{count} servers, seed {seed}, latency 75% 5-10 s / 25% 15-30 s x {scale}, depth {max(depths(dag).values())}; "
          f"poll schedule: {drs_launch.POLL}")
    _warm_up()
    sandbox = start_sandbox(port=0, seed=False)
    try:
        rows = [_scenario(sandbox, "natural", dag, cost), _scenario(sandbox, "waves", wave_dag(dag), cost)]
    finally:
        sandbox.stop()
    natural, waves = rows
    summary = {"bench": "servers_scale", "servers": count, "seed": seed, "latency_scale": scale,
               "jobs_started": natural["jobs"], "critical_path_servers": len(cp_servers),
               "critical_path_s": round(cp_seconds, 2), "wave_bound_s": round(wave_bound(dag, cost), 2),
               "makespan_natural_s": natural["makespan_s"], "makespan_waves_s": waves["makespan_s"],
               "makespan_over_critical_path": round(natural["makespan_s"] / cp_seconds, 3),
               "speedup_waves_over_natural": round(waves["makespan_s"] / natural["makespan_s"], 3),
               "ideal_speedup": round(wave_bound(dag, cost) / cp_seconds, 3),
               "failed_servers": natural["failed_servers"] + waves["failed_servers"],
               "critical_path": cp_servers, "runs": rows}
    _print(rows, summary)
    misses = _misses(summary)
    if misses:
        raise SystemExit("benchmark targets missed: " + "; ".join(misses))


if __name__ == "__main__":
    main()
