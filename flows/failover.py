"""The failover flow: rebuild the workload on the recovery side from a recovery point in the vault.

It reads only the vault and the recovery region: the primary may be dark.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from prefect import flow, get_run_logger
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from core.aws import AwsAccess
from core.engine import RunSpec, handler_preflight, plan_writes, run_graph
from core.graph import GraphError, topological_order
from core.models import Mode
from core.plan import Plan
from core.preflight import check_recovery_point, check_recovery_region, check_sides
from core.report import drill_commands
from core.vault import Vault, VaultError
from flows.audit import audit_results
from flows.cleanup import DRILL_ID_RE
from flows.common import (FAILOVER_PARALLEL_TASKS, PlanRef, PreflightError, approval_gate, build_report, checked_plan,
                          plan_lease, publish, runbook_fields)
from tasks.registry import default_registry


@flow(name="drflow-failover", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=FAILOVER_PARALLEL_TASKS))
def failover(plan: PlanRef, recovery_point: str = "latest", drill: bool = False, dry_run: bool = False,
             refresh: bool = False, point_in_time: str | None = None, approve: bool = False,
             approver: str | None = None, drill_id: str | None = None) -> Any:
    """Recover the plan's workload in the recovery region.

    (Google-style arguments: Prefect turns them into the descriptions of the UI's parameter form.)

    Args:
        plan: name of the drflow plan block to run (drflow plan save), or a whole plan (CLI, tests).
        recovery_point: a recovery point id (drflow recovery-points), or latest: the newest complete one.
        drill: recover an isolated copy beside production (no internet-facing gateways), tagged with a drill id.
        dry_run: check everything and return the ordered writes, making none.
        refresh: ignore results cached by an earlier attempt of this failover.
        point_in_time: the moment whose server snapshots to launch (ISO 8601, or latest); empty: the latest
            for the latest recovery point, the recovery point's own capture time for an older one.
        approve: skip the human approval of a real failover (automation, drflow failover --yes). Unticked, the
            run pauses for approval once every check passed, before any write.
        approver: who decided, for the report (with approve).
        drill_id: with drill only: resume (or continue) that drill (drill-<UTC time>, from its report); what it
            completed is not redone. Empty: a new drill.
    """
    started, started_at = time.monotonic(), datetime.now(timezone.utc)
    registry = default_registry()
    plan = checked_plan(plan, registry)
    logger = get_run_logger()
    drill_id = _drill_id(drill, drill_id)
    if drill_id:
        commands = drill_commands(drill_id)
        logger.info("drill %s; if it is interrupted, resume it with: %s; remove it with: %s", drill_id,
                    commands["resume"], commands["cleanup"])
    aws = AwsAccess(plan)
    problems = check_sides(aws, ("recovery",))  # first: the vault is read through the recovery role
    if problems:
        raise PreflightError(problems)
    vault = Vault(aws.vault, plan.vault_bucket, plan.name)
    try:
        point = vault.load(recovery_point)
    except VaultError as exc:
        raise PreflightError([("recovery_point", str(exc))]) from None
    logger.info("recovery point %s (%d resources, captured %s)", point.id, len(point.resources),
                point.created_at.isoformat())
    problems += check_recovery_point(point)
    unknown = sorted({r.type for r in point.resources} - set(registry))
    problems += [("recovery_point", f"resource type {t} has no handler in this drflow version") for t in unknown]
    try:
        topological_order({r.key: r.dependencies for r in point.resources})
    except GraphError as exc:
        problems.append(("recovery_point", str(exc)))
    problems += check_recovery_region(plan, aws.recovery, drill=drill)
    mode = Mode.DRILL if drill else Mode.RECOVER
    when = _point_in_time(point_in_time, recovery_point, point.created_at)
    spec = RunSpec(plan=plan, aws=aws, registry=registry, mode=mode, drill_id=drill_id, refresh=refresh,
                   scope=f"{point.id}:{drill_id or 'failover'}:{when.isoformat() if when else 'latest'}",
                   point_in_time=when, captured_at=point.created_at)
    known = [r for r in point.resources if r.type in registry]
    problems += handler_preflight(known, spec)  # even when problems were found: all of them come at once
    if dry_run:
        return _dry_run(plan, aws, point.id, mode, known, spec, problems)
    if problems:
        raise PreflightError(problems)
    with plan_lease(aws, plan, "drill" if drill else "failover"):
        preflight_ended = datetime.now(timezone.utc)
        approval = None if drill else approval_gate(plan, point, approve, approver, registry)
        if isinstance(approval, State):
            return approval  # rejected, or nobody answered: nothing written
        results = run_graph(point.resources, spec)
        report = build_report("failover", plan, aws, results, started, recovery_point=point.id, mode=mode,
                              drill_id=drill_id, approval=approval)
        report.update(runbook_fields(point, results, started_at, preflight_ended, approval, registry))
        report["audit"] = audit_results(point, results, spec)  # read back from the recovery side
        report["references_to_primary"] = report["audit"]["references_to_primary"]
        if drill_id:
            report["drill_commands"] = drill_commands(drill_id)
        if mode == Mode.RECOVER:  # even a partial failover runs part of the workload in the recovery region
            _record_failover(vault, point.id, report)
    return publish(report, registry)


def _record_failover(vault: Vault, point_id: str, report: dict[str, Any]) -> None:
    """The marker failback requires (core/vault.py): which recovery point came up in the recovery region, when."""
    vault.record_failover({"recovery_point": point_id, "completed_at": datetime.now(timezone.utc).isoformat(),
                           "run_id": report["run_id"], "failed": report["failed"],
                           "identity_map": report["identity_map"]})


def _dry_run(plan: Plan, aws: AwsAccess, point_id: str, mode: Mode, resources: list, spec: RunSpec,
             problems: list[tuple[str, str]]) -> dict[str, Any]:
    """What a failover would do, with what would refuse it: the pre-flight's problems and the ordered writes
    (found with reads; when a problem keeps them from being worked out, the reason instead)."""
    report: dict[str, Any] = {"flow": "failover", "dry_run": True, "plan": plan.name, "recovery_point": point_id,
                              "mode": mode, "problems": [{"field": f, "problem": m} for f, m in problems]}
    try:
        report["writes"] = plan_writes(resources, spec)
    except Exception as exc:  # noqa: BLE001 - a refused point (a cycle, a missing source server): say why
        if not problems:
            raise
        report["writes"], report["writes_error"] = [], f"{type(exc).__name__}: {exc}"
    report["api_calls"] = aws.stats.summary()
    return report


def new_drill_id() -> str:
    return f"drill-{datetime.now(timezone.utc):%Y%m%dt%H%M%S}"


def _drill_id(drill: bool, given: str | None) -> str | None:
    """The run's drill id: the one given (a drill resumed), a new one for a new drill, None for a failover."""
    if given is None:
        return new_drill_id() if drill else None
    if not drill:
        raise PreflightError([("drill_id", f"{given!r} names a drill, but this is a real failover: pass drill=True "
                                           "(drflow failover --drill --drill-id ID) to resume a drill")])
    if not DRILL_ID_RE.match(given):
        raise PreflightError([("drill_id", f"{given!r} is not a drill id: drill- followed by up to 64 letters, digits "
                                           "or hyphens (drill-<UTC time>, as in the drill's report)")])
    return given


def _point_in_time(given: str | None, recovery_point: str, captured: datetime) -> datetime | None:
    if given is None:
        return None if recovery_point == "latest" else captured
    if given == "latest":
        return None
    try:
        moment = datetime.fromisoformat(given.replace("Z", "+00:00"))
    except ValueError:
        raise PreflightError([("point_in_time", f"{given!r} is not an ISO 8601 time (2026-11-24T03:00:00Z)")]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
