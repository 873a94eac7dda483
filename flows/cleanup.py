"""The drill cleanup flow: remove exactly what a drill (or every drill) of a plan created on the recovery side.

Found by drflow's tags alone (drflow:plan, and drflow:drill with the drill's id, or any value for "all"), so
it needs neither the primary region nor the recovery point the drill used, and it never touches production:
the staged pilot light and a real failover's resources carry no drill tag. Each handler that makes something
in a drill removes it (`cleanup` in core/handler.py); this flow runs them in reverse dependency order. Run
again, it finds nothing and removes nothing.

The order is a fixed teardown order of resource TYPES, not the engine's per-resource graph: a cleanup finds
what to remove by tag (what exists), not by the recovery point's resources (what was planned), and AWS's
removal constraints hold between kinds (instances before their subnets, target groups after the load
balancers forwarding to them). The types run one after the other for the same reason; within a type a
handler removes everything at once and waits for AWS. tests/flows/test_drill.py checks the order against the
dependencies of a real recovery point.
"""

from __future__ import annotations

import re
import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed
from prefect.utilities.annotations import quote

from core.aws import AwsAccess, error_code
from core.capabilities import Cleaner
from core.engine import TASK_RETRIES, retry_transient_only
from core.handler import CleanupContext, Registry
from core.preflight import check_sides
from flows.common import PlanRef, PreflightError, checked_plan
from tasks.registry import default_registry

ALL = "all"
DRILL_ID_RE = re.compile(r"^drill-[0-9A-Za-z-]{1,64}$")  # what flows/failover.py names drills: drill-<UTC time>

# Dependants first: every type is removed before the types it depends on (see the module docstring).
TEARDOWN_ORDER: tuple[str, ...] = (
    "elasticbeanstalk:environment",
    "ecs:service", "ecs:task-definition", "ecs:cluster",
    "autoscaling:group", "ec2:launch-template",
    "elbv2:listener", "elbv2:load-balancer", "elbv2:target-group",
    "lambda:function",
    "ec2:instance",
    "efs:file-system",
    "rds:db-instance", "rds:db-cluster",
    "rds:option-group", "rds:db-parameter-group", "rds:db-cluster-parameter-group", "rds:db-subnet-group",
    "ec2:interface-endpoint", "ec2:vpc-endpoint",
    "ec2:route-table", "ec2:network-acl",
    "ec2:nat-gateway", "ec2:elastic-ip", "ec2:egress-only-internet-gateway", "ec2:internet-gateway",
    "ec2:subnet",
    "ec2:security-group-rules", "ec2:security-group",
    "ec2:vpc", "ec2:dhcp-options",
)


def teardown_order(registry: Registry) -> list[str]:
    """The registry's types that clean up after a drill, in TEARDOWN_ORDER; a handler with a `cleanup` that is
    not placed there is a programming error (its removal could be refused, or block another's)."""
    unplaced = sorted(t for t, h in registry.items() if isinstance(h, Cleaner) and t not in TEARDOWN_ORDER)
    if unplaced:
        raise RuntimeError(f"handlers with a cleanup missing from flows/cleanup.py TEARDOWN_ORDER: {unplaced}")
    return [t for t in TEARDOWN_ORDER if t in registry and isinstance(registry[t], Cleaner)]


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
    for resource_type in teardown_order(registry):
        state = cleanup_type.with_options(task_run_name=f"cleanup {resource_type}")(
            resource_type, quote(registry), quote(ctx), return_state=True)
        try:
            items = state.result()
        except Exception as exc:  # noqa: BLE001 - reported, and the teardown stops: what follows depends on it
            code = error_code(exc)
            failed.append(f"{resource_type}: {code + ': ' if code else ''}{exc}")
            break
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
