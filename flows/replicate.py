"""The nightly replication flow: discover the workload, store a recovery point, stage the pilot light."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from core.aws import AwsAccess
from core.capabilities import ClaimsArnKinds
from core.coverage import not_protected
from core.engine import RunSpec, discover_all, handler_preflight, run_graph
from core.graph import GraphError, topological_order
from core.handler import ScopeError
from core.models import Endpoint, Mode, Outcome, RecoveryPoint
from core.preflight import check_recovery_region, check_sides
from core.scope import protected
from core.vault import Vault
from flows.common import PARALLEL_TASKS, PlanRef, PreflightError, build_report, checked_plan, plan_lease, publish
from tasks.registry import default_registry
from tasks.tagging import tagged_in_scope


@flow(name="drflow-replicate", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=PARALLEL_TASKS))
def replicate(plan: PlanRef, refresh: bool = False) -> Any:
    """Capture the plan's workload into a new recovery point in the vault, and stage what is cost-free.

    (Google-style arguments: Prefect turns them into the descriptions of the UI's parameter form.)

    Args:
        plan: name of the drflow plan block to run (drflow plan save), or a whole plan (CLI, tests).
        refresh: re-check every staged resource now instead of trusting last night's cached result.
    """
    started = time.monotonic()
    registry = default_registry()
    plan = checked_plan(plan, registry)
    logger = get_run_logger()
    aws = AwsAccess(plan)
    problems = check_sides(aws, ("source", "recovery"))
    if problems:
        raise PreflightError(problems)
    spec = RunSpec(plan=plan, aws=aws, registry=registry, mode=Mode.STAGE, scope="stage", refresh=refresh)
    try:
        resources = protected(discover_all(spec), plan, registry)
    except ScopeError as exc:
        raise PreflightError(exc.problems) from None
    logger.info("discovered %d resources in scope in %s", len(resources), plan.source.region)
    try:
        topological_order({r.key: r.dependencies for r in resources})
    except GraphError as exc:
        raise PreflightError([("recovery point", str(exc))]) from None
    unprotected = not_protected(tagged_in_scope(aws.source, plan.scope.tags),
                                [kind for handler in registry.values() if isinstance(handler, ClaimsArnKinds)
                                 for kind in handler.arn_kinds])
    for item in unprotected:
        logger.warning("not protected: %s %s (drflow has no handler for %s)", item["kind"], item["arn"], item["kind"])
    problems = check_recovery_region(plan, aws.recovery)
    problems += handler_preflight(resources, spec)
    if problems:
        raise PreflightError(problems)

    vault = Vault(aws.vault, plan.vault_bucket, plan.name)
    vault.ensure()
    with plan_lease(aws, plan, "replicate"):
        point = RecoveryPoint(id=RecoveryPoint.new_id(), plan_name=plan.name, created_at=datetime.now(timezone.utc),
                              source=Endpoint(account_id=plan.source.account_id, region=plan.source.region),
                              recovery=Endpoint(account_id=plan.recovery.account_id, region=plan.recovery.region),
                              plan=plan.public_dict(), resources=resources, not_protected=unprotected,
                              complete=False)
        uri = vault.write(point)
        logger.info("recovery point %s written to %s", point.id, uri)
        results = run_graph(resources, spec)
        # complete once everything it names is staged and copied: until then (a failed resource, a killed run)
        # `latest` stays the previous complete point, which a failover can use
        failed = sorted(r.key for r in results if r.outcome == Outcome.FAILED)
        if failed:
            logger.warning("recovery point %s stays incomplete: %d resource(s) failed to stage", point.id,
                           len(failed))
        else:
            vault.mark_complete(point.id)
        pruned = vault.prune(plan.vault.keep)
    report = build_report("replicate", plan, aws, results, started, recovery_point=point.id,
                          recovery_point_complete=not failed,
                          vault={"uri": uri, "pruned": pruned}, not_protected=unprotected)
    return publish(report, registry)
