"""The failback flow: after a failover, once the primary region is back, bring the workload home.

Only a plan that really failed over can fail back: the failover flow leaves a marker in the vault
(core/vault.py `record_failover`), and without it failback refuses before any write. Failback then works
from the recovery point that failover brought up, in five phases, each resource one Prefect task. What each
type does is its handler's (declared capabilities, core/capabilities.py): phase 1 takes the types that claim
`RestoredHome`, phases 2 to 5 run each `FailsBack` handler's `fail_back` in its `failback_phase`, and what
neither touches is reported with its `NotFailedBack` reason (core/failback.py):

1. network and IAM, re-applied in the primary from the recovery point (the engine, in mode "failback",
   with the primary as the side it writes to: `Plan.homeward`, `AwsAccess.homeward`). What the primary
   still has under its own id or name is adopted as it is; what it lost is recreated (tagged as drflow's),
   and what depends on a recreated resource is re-applied so that it points at it again (a route table's
   association with a recreated subnet, a role's attachment of a recreated policy). Anything that cannot
   be restored stops the failback before data and servers, which need that network.
2. data: each database is snapshotted in the recovery region and the snapshot copied into the primary
   (tasks/rds/snapshots.py `copy_back`; the restore is the operator's call); each replica bucket gets a
   replication rule back to its source bucket, and what it holds that the source lacks is copied now
   (tasks/s3/replication.py `reverse_replication`, tasks/s3/sync.py `backfill`); each recovered EFS file
   system replicates into the original one (tasks/efs/failback.py).
3. servers: DRS reverse replication, then a launch in the primary (tasks/servers/failback.py); a server without
   the DRS agent is imaged in the recovery region, copied home and launched there (tasks/servers/failback_imaged.py).
4. traffic: front doors sent home, once the primary's servers serve again: a CloudFront distribution's origins
   on the primary's resources, drflow's origin groups removed (tasks/cloudfront/distributions.py).
5. IAM (same account): the grants the failover attached to production roles are detached
   (tasks/iam/roles.py `detach_grants`); they stay staged for the next failover.

(The files named above are where each handler's `fail_back` does its work; the flow imports only the registry.)

Everything else the failover created in the recovery region is left running: tearing it down is a decision
for after the primary is confirmed healthy, not part of bringing it back.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from core import observers
from core.artifacts import Progress, artifact_key
from core.aws import AwsAccess, error_code
from core.capabilities import FailsBack, PartOf, RestoredHome
from core.engine import TASK_RETRIES, RunSpec, handler_preflight, plan_writes, retry_transient_only, run_graph
from core.failback import FailbackContext, FailbackPhase, not_failed_back
from core.handler import Handler, Registry, Unrecoverable
from core.models import Mode, Outcome, RecoveryPoint, Resource, ResourceResult
from core.plan import Plan
from core.preflight import check_sides
from core.vault import Vault, VaultError
from flows.common import (FAILOVER_PARALLEL_TASKS, PlanRef, PreflightError, build_report, checked_plan, plan_lease,
                          publish, runbook_fields)
from tasks.registry import default_registry


@flow(name="drflow-failback", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=FAILOVER_PARALLEL_TASKS))
def failback(plan: PlanRef, dry_run: bool = False) -> Any:
    """Bring the plan's workload back to its primary region after a failover (see the module's docstring).

    (Google-style arguments: Prefect turns them into the descriptions of the UI's parameter form.)

    Args:
        plan: name of the drflow plan block to run (drflow plan save), or a whole plan (CLI, tests).
        dry_run: check everything and return what would be kept, the ordered writes of phase 1 and the step
            each data resource and server would take, making no write.
    """
    started, started_at = time.monotonic(), datetime.now(timezone.utc)
    registry = default_registry()
    plan = checked_plan(plan, registry)
    logger = get_run_logger()
    aws = AwsAccess(plan)
    problems = check_sides(aws, ("source", "recovery"))  # failback needs the primary back
    if problems:
        raise PreflightError(problems)
    vault = Vault(aws.vault, plan.vault_bucket, plan.name)
    marker = vault.last_failover()
    if marker is None:
        raise PreflightError([("plan", f"plan {plan.name} has never failed over (no failover marker at "
                                       f"s3://{vault.bucket}/{vault.failover_key}): there is nothing to fail back")])
    try:
        point = vault.load(marker["recovery_point"])
    except VaultError as exc:
        raise PreflightError([("recovery_point", f"the failover's recovery point: {exc}")]) from None
    logger.info("failing back plan %s: failover of %s from recovery point %s", plan.name, marker["completed_at"],
                point.id)
    spec = RunSpec(plan=plan.homeward(), aws=aws.homeward(), registry=registry, mode=Mode.FAILBACK,
                   scope=f"failback:{point.id}:{marker['completed_at']}")
    home = [r for r in point.resources if isinstance(_handler(registry, r), RestoredHome)]
    present, affected = survey_home(home, spec)
    problems = handler_preflight(affected, spec)
    if dry_run:
        return _dry_run(plan, aws, point, marker, present, affected, spec, problems)
    if problems:
        raise PreflightError(problems)
    with plan_lease(aws, plan, "failback"):
        preflight_ended = datetime.now(timezone.utc)

        kept = {r.key: _kept(r, present[r.key]) for r in home if r.key in present and r not in affected}
        results = dict(kept)
        progress = Progress(artifact_key(plan.name, "failback", "progress"), total=len(point.resources), done=len(kept))
        results.update((row.key, row) for row in run_graph(affected, spec,
                                                            known=_as_found(point.resources, kept, registry),
                                                            progress=progress))
        blocked = sorted(key for key, row in results.items() if row.error)
        context = FailbackContext(aws=aws, plan=plan, marker=marker,
                                  home={key: row.recovered_id for key, row in results.items() if row.recovered_id})
        for phase in FailbackPhase:
            # a role phase 1 re-applied has the recovery point's attachments again: no grant left to detach
            wanted = [r for r in point.resources if _phase(registry, r) == phase
                      and (r.key not in results or r.key in kept)]
            if blocked:
                results.update((r.key, _not_started(r, blocked)) for r in wanted)
                continue
            futures = [(r, failback_resource.with_options(task_run_name=f"failback {r.type} {r.source_id}").submit(
                        resource=quote(r), context=quote(context), registry=quote(registry))) for r in wanted]
            observers.planned(f"failback {phase}", len(futures))
            for r, f in futures:
                results[r.key] = _collect(r, f)
                progress.advance(failed=results[r.key].outcome == Outcome.FAILED)
                observers.finished(f"failback {phase}", failed=results[r.key].outcome == Outcome.FAILED)
        results.update((r.key, ResourceResult(key=r.key, type=r.type, source_id=r.source_id, name=r.name,
                                              outcome=Outcome.SKIPPED,
                                              details={"reason": not_failed_back(_handler(registry, r))}))
                       for r in point.resources if r.key not in results)
        progress.finish()
    rows = list(results.values())
    report = build_report("failback", plan, aws, rows, started, recovery_point=point.id,
                          failover={k: marker.get(k) for k in ("completed_at", "run_id")})
    report.update(runbook_fields(point, rows, started_at, preflight_ended, None, registry))
    return publish(report, registry)


def _handler(registry: Registry, resource: Resource) -> Handler | None:
    """The resource's handler; None for a type the registry no longer has (failback then leaves it as it is)."""
    return registry.get(resource.type)


def _phase(registry: Registry, resource: Resource) -> FailbackPhase | None:
    """The phase after the network in which the resource fails back, if any (core.capabilities.FailsBack)."""
    handler = _handler(registry, resource)
    return handler.failback_phase if isinstance(handler, FailsBack) else None


def survey_home(resources: list[Resource], spec: RunSpec) -> tuple[dict[str, str], list[Resource]]:
    """Read-only: which of the recovery point's network and IAM resources the primary still has (key -> id),
    and the ones phase 1 applies: those it lost, and those that depend on one it lost."""
    ctx = spec.context({})
    present: dict[str, str] = {}
    for resource in resources:
        if isinstance(spec.registry[resource.type], PartOf):
            continue
        found = spec.registry[resource.type].find(resource, ctx)
        if found:
            present[resource.key] = found
    for resource in resources:  # no identity of its own (a group's rules): stands or falls with what it is part of
        handler = spec.registry[resource.type]
        whole = handler.part_of(resource) if isinstance(handler, PartOf) else None
        if whole in present:
            present[resource.key] = present[whole]
    lost = {r.key for r in resources if r.key not in present}
    affected = [r for r in resources if r.key in lost or lost.intersection(r.dependencies)]
    return present, affected


def _kept(resource: Resource, found: str) -> ResourceResult:
    """No start or end: nothing ran for it (the report's phase times count work done)."""
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=Outcome.UNCHANGED, recovered_id=found,
                          details={"kept": "present in the primary: left as it is"})


def _as_found(resources: list[Resource], kept: dict[str, ResourceResult],
              registry: Registry) -> dict[str, ResourceResult]:
    """Dependencies phase 1 does not apply: what the primary kept, and everything else under its own id there
    (the data and keys a policy names are the originals, back with their region)."""
    out = dict(kept)
    for r in resources:
        if r.key not in out and not isinstance(_handler(registry, r), RestoredHome):
            out[r.key] = ResourceResult(key=r.key, type=r.type, source_id=r.source_id, name=r.name,
                                        outcome=Outcome.UNCHANGED, recovered_id=r.arn or r.source_id)
    return out


def _not_started(resource: Resource, blocked: list[str]) -> ResourceResult:
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=Outcome.SKIPPED, error="not started: the primary's network or IAM could not be "
                          "restored (" + ", ".join(sorted(blocked)[:5]) + "); fix that and run failback again")


def _dry_run(plan: Plan, aws: AwsAccess, point: RecoveryPoint, marker: dict[str, Any], present: dict[str, str],
             affected: list[Resource], spec: RunSpec, problems: list[tuple[str, str]]) -> dict[str, Any]:
    """What a failback would do, making no write: the pre-flight's problems, phase 1's ordered writes, and the
    step each data resource and server would take."""
    writes = plan_writes(affected, spec, known={r.key for r in point.resources} - {r.key for r in affected})
    steps = [{"key": r.key, "name": r.name, "action": spec.registry[r.type].failback_plan} for r in point.resources
             if _phase(spec.registry, r) is not None]
    return {"flow": "failback", "dry_run": True, "plan": plan.name, "recovery_point": point.id,
            "failover": {k: marker.get(k) for k in ("completed_at", "run_id")},
            "problems": [{"field": f, "problem": m} for f, m in problems],
            "kept": sorted(present), "writes": writes, "then": steps, "api_calls": aws.stats.summary()}


@task(retries=TASK_RETRIES, retry_delay_seconds=[1, 2, 4, 8], retry_jitter_factor=0.5,
      retry_condition_fn=retry_transient_only, cache_policy=NO_CACHE)
def failback_resource(resource: Resource, context: FailbackContext, registry: Registry) -> ResourceResult:
    """One resource's failback (phases 2 to 5): its handler's `fail_back`; a re-run adopts what an earlier
    attempt made."""
    started = datetime.now(timezone.utc)
    outcome, recovered, details = registry[resource.type].fail_back(resource, context)
    warnings = details.pop("warnings", [])
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=outcome, recovered_id=recovered, details=details, warnings=warnings,
                          started=started, ended=datetime.now(timezone.utc))


def _collect(resource: Resource, future: Any) -> ResourceResult:
    """The task's result, or a failed row naming the error: every resource is reported, none raises."""
    try:
        return future.result()
    except Unrecoverable as exc:
        error = f"unrecoverable: {exc}"
    except Exception as exc:  # noqa: BLE001 - reported per resource, never swallowed
        code = error_code(exc)
        error = f"{code + ': ' if code else ''}{exc}"
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=Outcome.FAILED, error=error)
