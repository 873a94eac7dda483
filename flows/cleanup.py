"""The drill cleanup flow: remove exactly what a drill (or every drill) of a plan created on the recovery side.

Found by drflow's tags alone (drflow:plan, and drflow:drill with the drill's id, or any value for "all"), so
it needs neither the primary region nor the recovery point the drill used, and it never touches production:
the staged pilot light and a real failover's resources carry no drill tag. Each handler that makes something
in a drill removes it (`cleanup`, core.capabilities.Cleaner); this flow runs them in reverse dependency order.
Run again, it finds nothing and removes nothing.

The order is one of resource TYPES, not the engine's per-resource graph: a cleanup finds what to remove by tag
(what exists), not by a recovery point's resources (what was planned), and AWS's removal constraints hold
between kinds (instances before their subnets, target groups after the listeners forwarding to them). It comes
from the recovery points themselves: every point the vault keeps for the plan (a drill ran from one of them),
their resources' dependencies lifted to their types (core.graph.type_edges: a type depends on another when one
of its resources depends on one of the other's), all points' together, removed dependants first
(core.graph.teardown_order, which refuses a cycle as the engine does). A constraint that no recovery point can
show (AWS refusing to detach an internet gateway while a NAT gateway maps an address in its VPC) is declared by
its handler (core.capabilities.RemovedAfter). A type with a cleanup that no kept point holds was not recovered
from any of them: nothing depends on it in the graph, so it comes first (what a drill of a pruned point left of
it goes before what it stands on). A vault without any recovery point gives no order: the cleanup removes
nothing and fails, saying so (a drill needs a recovery point, so none can have run from this vault). A new
service therefore needs no edit here.

The types run one after the other for the same reason: within a type a handler removes everything at once and
waits for AWS, and a type whose removal fails stops the teardown (what follows depends on it).
tests/flows/test_drill.py checks the order against the dependencies of a real recovery point.
"""

from __future__ import annotations

import re
import time
from contextlib import nullcontext
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed
from prefect.utilities.annotations import quote

from core import observers
from core.aws import AwsAccess, error_code
from core.capabilities import Cleaner, RemovedAfter
from core.engine import TASK_RETRIES, retry_transient_only
from core.graph import GraphError, teardown_order as dependants_first, type_edges
from core.handler import CleanupContext, Registry
from core.models import RecoveryPoint
from core.preflight import check_sides
from core.vault import Vault
from flows.common import PlanRef, PreflightError, checked_plan, plan_lease
from tasks.registry import default_registry

ALL = "all"
CLEANUP_PHASE = "cleanup (types)"  # what run observers (core/observers.py) count: the teardown's types
DRILL_ID_RE = re.compile(r"^drill-[0-9A-Za-z-]{1,64}$")  # what flows/failover.py names drills: drill-<UTC time>


def teardown_order(registry: Registry, points: list[RecoveryPoint]) -> list[str]:
    """The registry's types that clean up after a drill, dependants first: from the dependencies of the
    recovery points' resources (all points' together) and the handlers' RemovedAfter constraints (see the
    module's docstring). Raises GraphError when they form a cycle. Without any point, only the declared
    constraints order it: the flow refuses that (see drill_cleanup)."""
    edges: dict[str, set[str]] = {t: set() for t, h in registry.items() if isinstance(h, Cleaner)}
    for point in points:
        for resource_type, deps in type_edges(point.resources).items():
            edges.setdefault(resource_type, set()).update(deps)
    for resource_type, handler in registry.items():
        if isinstance(handler, RemovedAfter):  # each of those types goes first: as if it depended on this one
            edges.setdefault(resource_type, set())
            for first in handler.removed_after:
                edges.setdefault(first, set()).add(resource_type)
    return [t for t in dependants_first(edges) if t in registry and isinstance(registry[t], Cleaner)]


def recovery_points(vault: Vault) -> list[RecoveryPoint]:
    """Every recovery point the vault keeps for the plan, oldest first (complete or not: each one's
    dependencies are facts about what a drill of it could have made)."""
    return [vault.load(point_id) for point_id in vault.ids()]


@task(name="drill-cleanup", retries=TASK_RETRIES, retry_delay_seconds=[1, 2, 4, 8], retry_jitter_factor=0.5,
      retry_condition_fn=retry_transient_only, cache_policy=NO_CACHE)
def cleanup_type(resource_type: str, registry: Registry, ctx: CleanupContext) -> list[str]:
    """Remove the drills' resources of one type; returns what was removed (nothing, when run again)."""
    removed = registry[resource_type].cleanup(ctx)
    if removed:
        get_run_logger().info("%s: removed %s", resource_type, ", ".join(removed))
    return removed


@flow(name="drflow-drill-cleanup", log_prints=True)
def drill_cleanup(plan: PlanRef, drill_id: str = ALL) -> Any:
    """Remove what a drill created in the recovery region. Production is never touched.

    (Google-style arguments: Prefect turns them into the descriptions of the UI's parameter form.)

    Args:
        plan: name of the drflow plan block to run (drflow plan save), or a whole plan (CLI, tests).
        drill_id: the drill's id (drill-<UTC time>, in the drill's report), or all: every drill of the plan.
    """
    started = time.monotonic()
    registry = default_registry()
    plan = checked_plan(plan, registry)
    if drill_id != ALL and not DRILL_ID_RE.match(drill_id or ""):
        raise PreflightError([("drill_id", f"{drill_id!r} is not a drill id (drill-<UTC time>, from the drill's "
                                           "report) nor \"all\"")])
    aws = AwsAccess(plan)
    problems = check_sides(aws, ("recovery",))
    if problems:
        raise PreflightError(problems)
    ctx = CleanupContext(plan=plan, recovery=aws.recovery, drill_id=None if drill_id == ALL else drill_id)
    removed: dict[str, list[str]] = {}
    failed: list[str] = []
    vault = Vault(aws.vault, plan.vault_bucket, plan.name)
    points = recovery_points(vault)
    order: list[str] = []
    if not points:  # before any write: no order, nothing removed
        failed.append(f"no recovery point in s3://{vault.bucket}/{vault.prefix}: the teardown order comes from the "
                      "recovery points' dependencies, so nothing was removed (a drill runs from a recovery point: "
                      "has the replication flow run, or is the plan's vault another?)")
    else:
        try:
            order = teardown_order(registry, points)
        except GraphError as exc:
            failed.append(f"teardown order, from the types of the recovery points' resources: {exc}")
    with plan_lease(aws, plan, "drill-cleanup") if order else nullcontext():  # no order: nothing to remove
        observers.planned(CLEANUP_PHASE, len(order))  # one per type: a type's resources go at once
        for resource_type in order:
            state = cleanup_type.with_options(task_run_name=f"cleanup {resource_type}")(
                resource_type, quote(registry), quote(ctx), return_state=True)
            try:
                items = state.result()
            except Exception as exc:  # noqa: BLE001 - reported, and the teardown stops: what follows depends on it
                code = error_code(exc)
                failed.append(f"{resource_type}: {code + ': ' if code else ''}{exc}")
                observers.finished(CLEANUP_PHASE, failed=True)
                break
            observers.finished(CLEANUP_PHASE)
            if items:
                removed[resource_type] = items
    report = {"flow": "drill-cleanup", "plan": plan.name, "drill_id": drill_id,
              "recovery": {"account_id": plan.recovery.account_id, "region": plan.recovery.region},
              "removed": removed, "removed_count": sum(len(v) for v in removed.values()), "failed": failed,
              "seconds": round(time.monotonic() - started, 3), "api_calls": aws.stats.summary()}
    create_markdown_artifact(markdown=markdown(report), key=f"{plan.name}-drill-cleanup".lower(),
                             description="drflow drill cleanup")
    if failed:
        return Failed(message="drill cleanup stopped: " + "; ".join(failed), data=report)
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# drflow drill cleanup: plan {report['plan']}, drill {report['drill_id']}", "",
             f"{report['removed_count']} resource(s) removed in {report['recovery']['region']} "
             f"({report['seconds']} s).", ""]
    for resource_type, items in report["removed"].items():
        lines.append(f"- **{resource_type}**: " + ", ".join(f"`{i}`" for i in items))
    lines += [f"- FAILED {f}" for f in report["failed"]]
    return "\n".join(lines) + "\n"
