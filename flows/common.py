"""What the flows share: plan re-validation, the report's frame and its Prefect artifacts."""

from __future__ import annotations

import time
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run
from prefect.states import Failed

from core import report as reports
from core.aws import AwsAccess
from core.handler import Registry
from core.models import ResourceResult
from core.plan import Plan, PlanError, parse_plan


# Resource tasks run in threads (AWS calls are I/O). Prefect's default pool is unbounded: one thread per
# waiting task on a 2,000-resource estate. 16 keeps AWS request rates polite and was measured (make bench)
# to saturate the sandbox on 2 cores.
PARALLEL_TASKS = 16
# A failover's tasks mostly wait (a DRS launch takes minutes): a wide level of servers that are ready
# together must not queue behind a small pool, or the pool, not DRS, would set the recovery time.
FAILOVER_PARALLEL_TASKS = 128


class PreflightError(RuntimeError):
    """Problems found before any write; `problems` lists (field or resource, message)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("refused before any write:\n" + "\n".join(f"  {f}: {m}" for f, m in problems))


def checked_plan(plan: Plan, registry: Registry) -> Plan:
    """Re-validate with the registry's types (a plan given as a flow parameter skipped that check)."""
    try:
        return parse_plan(plan.model_dump(mode="json"), set(registry))
    except PlanError as exc:
        raise PreflightError(exc.problems) from None


def build_report(kind: str, plan: Plan, aws: AwsAccess, results: list[ResourceResult], started: float,
                 **extra: Any) -> dict[str, Any]:
    report = {"flow": kind, "run_id": str(flow_run.id) if flow_run.id else None, "plan": plan.name,
              "source": {"account_id": plan.source.account_id, "region": plan.source.region},
              "recovery": {"account_id": plan.recovery.account_id, "region": plan.recovery.region},
              **extra,
              "resources": reports.summarise(results), "api_calls": aws.stats.summary(),
              "vault_api_calls": aws.vault_stats.summary(),
              "seconds": round(time.monotonic() - started, 3),
              "identity_map": reports.identity_map(results), "failed": reports.failed(results),
              "details": reports.rows(results)}
    return report


def publish(report: dict[str, Any]) -> Any:
    """Artifacts for the Prefect UI; the flow's final state is Failed when any resource failed."""
    key = f"{report['plan']}-{report['flow']}".lower()
    create_markdown_artifact(markdown=reports.markdown(report), key=f"{key}-report",
                             description=f"drflow {report['flow']} report")
    create_table_artifact(table=[{k: v for k, v in d.items() if k != "details"} for d in report["details"]],
                          key=f"{key}-resources", description="per resource: outcome and recovered id")
    if report["failed"]:
        return Failed(message=f"{len(report['failed'])} resource(s) failed: " + "; ".join(report["failed"][:5]),
                      data=report)
    return report
