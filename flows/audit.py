"""The reference audit on demand (`drflow audit`), and the audit every failover and drill ends with.

Read-only, and on the recovery side only (the vault and the recovery region): it runs with the primary dark.
Which recovery point: the one the last real failover brought up (the vault's failover marker), else the newest
complete one, unless one is named; with a drill id, that drill's resources.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from core import audit as audits
from core.aws import AwsAccess
from core.engine import RunSpec
from core.models import Mode, RecoveryPoint, Resource, ResourceResult
from core.preflight import check_sides
from core.vault import Vault, VaultError
from flows.common import PlanRef, PreflightError, checked_plan
from tasks.registry import default_registry


def audit_results(point: RecoveryPoint, results: list[ResourceResult], spec: RunSpec) -> dict[str, Any]:
    """The audit of what a failover or drill just recovered (its results say where each resource is)."""
    recovered = {r.key: r.recovered_id for r in results}
    identity = {r.source_id: r.recovered_id for r in results if r.recovered_id}
    return audits.audit(point, spec.registry, spec.context({}), spec.plan, lambda r: recovered.get(r.key), identity)


def _finder(spec: RunSpec) -> Callable[[Resource], str | None]:
    ctx = spec.context({})
    return lambda resource: spec.registry[resource.type].find(resource, ctx)


@flow(name="drflow-audit", log_prints=True)
def audit(plan: PlanRef, recovery_point: str = "", drill_id: str | None = None) -> dict[str, Any]:
    """List every string of the recovered resources that still names the primary (region, account, endpoints,
    source ids), read back from the recovery side.

    Args:
        plan: name of the drflow plan block (drflow plan save), or a whole plan (CLI, tests).
        recovery_point: the recovery point whose resources to audit; empty: the last failover's, else the newest
            complete one.
        drill_id: audit that drill's resources instead of the failed-over ones.
    """
    started = time.monotonic()
    registry = default_registry()
    plan = checked_plan(plan, registry)
    aws = AwsAccess(plan)
    problems = check_sides(aws, ("recovery",))
    if problems:
        raise PreflightError(problems)
    vault = Vault(aws.vault, plan.vault_bucket, plan.name)
    point, identity = _point(vault, recovery_point, drill_id)
    mode = Mode.DRILL if drill_id else Mode.RECOVER
    spec = RunSpec(plan=plan, aws=aws, registry=registry, mode=mode, scope=f"{point.id}:audit", drill_id=drill_id,
                   captured_at=point.created_at)
    section = audits.audit(point, registry, spec.context({}), plan, _finder(spec), identity)
    report = {"flow": "audit", "plan": plan.name, "recovery_point": point.id, "drill_id": drill_id,
              "references_to_primary": section["references_to_primary"], "audit": section,
              "api_calls": aws.stats.summary(), "seconds": round(time.monotonic() - started, 3)}
    get_run_logger().info("reference audit of %s: %d resources read back, %d reference(s) to the primary",
                          point.id, section["audited"], section["references_to_primary"])
    create_markdown_artifact(markdown="\n".join([f"# drflow audit: plan `{plan.name}`", "",
                                                 f"- recovery point: `{point.id}`"
                                                 + (f", drill `{drill_id}`" if drill_id else "")]
                                                + audits.markdown(section)) + "\n",
                             key=f"drflow-{plan.name.lower()}-audit", description="drflow reference audit")
    return report


def _point(vault: Vault, recovery_point: str, drill_id: str | None) -> tuple[RecoveryPoint, dict[str, str] | None]:
    """The recovery point to audit, and what each of its resources became when the last real failover recovered
    it (its marker's identity map; None for a drill or another point: then every resource is looked for)."""
    marker = None if drill_id else vault.last_failover()
    if not recovery_point and not drill_id:
        recovery_point = marker["recovery_point"] if marker else "latest"
    try:
        point = vault.load(recovery_point or "latest")
    except VaultError as exc:
        raise PreflightError([("recovery_point", str(exc))]) from None
    identity = marker.get("identity_map") if marker and marker["recovery_point"] == point.id else None
    return point, identity
