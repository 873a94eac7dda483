"""`drflow demo`: the main job on its embedded default, end to end, in one process."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import typer

from core.plan import load_plan

SAMPLE_PLAN = Path(__file__).resolve().parent.parent / "examples" / "shop-plan.yaml"


def run_demo(faults: str | None, as_json: bool, emit: Callable, run_flow: Callable) -> int:
    from drflow.sandbox import start_sandbox
    from drflow.sandbox.faults import Faults
    from flows.failover import failover
    from flows.replicate import replicate
    from tasks.registry import default_registry

    sandbox = start_sandbox(port=0, faults=faults)
    plan = load_plan(SAMPLE_PLAN, set(default_registry()))
    sandbox.drs(plan.recovery.account_id, plan.recovery.region).set_latency(0.5)  # each DRS launch takes a moment
    try:
        typer.echo(f"sandbox on {sandbox.url}; sample workload seeded in {plan.source.region}", err=True)
        typer.echo("== 1. nightly replication ==", err=True)
        replicated = run_flow(replicate, as_json, plan=plan)
        emit(replicated, as_json)
        # EFS keeps a new replication ENABLING until its first sync, and a failover refuses a replica that never
        # synced: the demo lets the first sync finish, as the hours between a nightly run and a disaster would
        from drflow.sandbox.efs_replication import sync_pending

        sync_pending()
        if not as_json:
            typer.echo(_data_summary(plan, replicated, f"data copied to {plan.recovery.region}"))
            typer.echo(_iam_summary(replicated, "IAM staged (production roles left as they are)"))
        typer.echo(f"== 2. failover with {plan.source.region} dark (every call to it fails) ==", err=True)
        injected = Faults.parse(faults)
        injected.dark.add(plan.source.region)
        sandbox.faults = injected
        recovered = run_flow(failover, as_json, plan=plan, approve=True, approver="drflow demo")
        emit(recovered, as_json)
        touched = [c for c in sandbox.calls if c.region == plan.source.region and c.fault == "dark"]
        if not as_json:
            typer.echo(_network_summary(plan, recovered))
            typer.echo(_data_summary(plan, recovered, f"data recovered in {plan.recovery.region}"))
            typer.echo(_iam_summary(recovered, "IAM at failover"))
            typer.echo(_compute_summary(plan, recovered))
            typer.echo(_launch_order(sandbox, plan, recovered))
            typer.echo(f"calls to {plan.source.region} during failover: {len(touched)}")
        return 1 if replicated.get("failed") or recovered.get("failed") or touched else 0
    finally:
        sandbox.stop()


def _launch_order(sandbox: Any, plan: Any, report: dict[str, Any]) -> str:
    """When DRS launched each server (from the double's log): dependants only after what they need."""
    names = {d["details"].get("source_server"): d["name"] for d in report["details"] if d["key"].startswith("ec2:instance/")}
    log = [(t, names.get(sid, sid), event) for t, sid, event in
           sandbox.drs(plan.recovery.account_id, plan.recovery.region).launch_log if event == "LAUNCHED"]
    if not log:
        return ""
    start = min(t for t, _, _ in log)
    to_seconds = (lambda d: d.total_seconds()) if hasattr(start, "tzinfo") else (lambda d: d)
    lines = ["servers launched by DRS (seconds after the first launch):"]
    lines += [f"  {to_seconds(t - start):6.1f}  {name}" for t, name, _ in sorted(log, key=lambda x: x[0])]
    return "\n".join(lines)


def _network_summary(plan: Any, report: dict[str, Any]) -> str:
    lines = [f"recovered in {plan.recovery.region} (source id -> recovered id):"]
    for row in report["details"]:
        if row["recovered_id"]:
            extra = row.get("details", {})
            note = ", ".join(f"{k}={v}" for k, v in extra.items() if k in ("cidr_block", "availability_zone",
                                                                           "public_ip", "service_name"))
            lines.append(f"  {row['key']:<58} -> {row['recovered_id']} {note}")
    return "\n".join(lines)


def _iam_summary(report: dict[str, Any], title: str) -> str:
    """One line per role: in the same account, its drflow grant of the recovery region's permissions."""
    lines = [f"{title}:"]
    for row in report["details"]:
        if row["key"].startswith("iam:role/"):
            d = row.get("details", {})
            if "grant" in d:
                state = "attached" if d["attached"] else "staged, not attached"
                note = f"grant {', '.join(g.rsplit('/', 1)[-1] for g in d['grant']) or '(none needed)'}: {state}"
            else:
                note = f"{row['outcome']} as {row['recovered_id']}"
            lines.append(f"  {row['name']:<32} {note}")
    return "\n".join(lines)


def _data_summary(plan: Any, report: dict[str, Any], title: str) -> str:
    """One line per data resource: what its copy or recovery is (from the report's details)."""
    lines = [f"{title}:"]
    for row in report["details"]:
        kind, d = row["key"].split("/", 1)[0], row.get("details", {})
        if kind in ("rds:db-instance", "rds:db-cluster"):
            if "copy" in d:
                note = f"snapshot {d['snapshot']} -> copy {d['copy']} ({d.get('copy_status')})"
            elif "snapshot_copy" in d:
                note = f"restored as {row['recovered_id']} from {d['snapshot_copy']}"
            else:
                note = d.get("reason") or row.get("error") or row["outcome"]
        elif kind == "s3:bucket":
            fill = d.get("backfill")
            note = f"replica {row['recovered_id']}" + (f", {fill['copied']} pre-existing objects ({fill['bytes']} bytes) "
                                                      "copied" if fill else "")
        elif kind == "efs:file-system":
            note = f"replica {row['recovered_id']}" + (
                f", writable, {len(d['mount_targets'])} mount targets, {len(d['access_points'])} access points"
                if "mount_targets" in d else f", replication {d.get('replication', '?')}")
        elif kind == "kms:key":
            note = f"key {row['recovered_id']}"
        else:
            continue
        lines.append(f"  {row['name'] or row['key']:<32} {note}")
    return "\n".join(lines)


COMPUTE = ("ecr:repository", "lambda:function", "ecs:cluster", "ecs:task-definition", "ecs:service",
           "ec2:launch-template", "autoscaling:group", "elasticbeanstalk:application", "elasticbeanstalk:environment")


def _compute_summary(plan: Any, report: dict[str, Any]) -> str:
    """One line per container, function and group recovered: what it is now; then what is not protected."""
    lines = [f"compute in {plan.recovery.region}:"]
    for row in report["details"]:
        kind = row["key"].split("/", 1)[0]
        if kind in COMPUTE:
            d = row.get("details", {})
            extra = ", ".join(f"{k}={d[k]}" for k in ("running", "running_count", "desired", "desired_count",
                                                        "in_service") if k in d)
            lines.append(f"  {kind:<22} {row['name'][:28]:<28} {row['outcome']:<9} "
                         f"{row['recovered_id'] or row.get('error') or ''}" + (f" ({extra})" if extra else ""))
    if report.get("not_protected"):
        lines.append("not protected (in scope, no handler for their kind; recover by hand):")
        lines += [f"  {n['kind']:<22} {n['name']}" for n in report["not_protected"]]
    return "\n".join(lines)
