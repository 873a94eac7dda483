"""The RPO watch: is the plan still recoverable to within its RPO? Run on a schedule (hourly, deployments/).

Two facts decide it, both read from where they live, never from a copy: the newest COMPLETE recovery point in
the vault (the recovery side only, as a failover would read it: a dark primary does not blind the watch) and
the last finished run of the plan's nightly replication deployment (the Prefect API). A breach fails the run
and emits the Prefect event `drflow.rpo.breached` on the resource `drflow.plan.<name>`, which an automation
turns into a page or a message (README "Watching the RPO"); otherwise it emits `drflow.rpo.ok`, so that an
automation can also close the incident, or notice when the watch itself stops reporting.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from prefect import flow, get_client, get_run_logger
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter
from prefect.client.schemas.filters import FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events import emit_event
from prefect.exceptions import ObjectNotFound
from prefect.states import Failed

from core.aws import AwsAccess
from core.plan import Plan
from core.preflight import check_sides
from core.vault import Vault, VaultError
from flows.common import PlanRef, PreflightError, checked_plan
from tasks.registry import default_registry

BREACHED, OK = "drflow.rpo.breached", "drflow.rpo.ok"
FINISHED = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
FAILED_RUN = {StateType.FAILED, StateType.CRASHED}


def nightly_deployment_name(plan_name: str) -> str:
    """The `flow/deployment` name `drflow deployments` gives a plan's nightly replication."""
    return f"drflow-replicate/{plan_name}-nightly"


@flow(name="drflow-rpo-watch", log_prints=True)
def rpo_watch(plan: PlanRef, grace_minutes: int = 60, nightly_deployment: str | None = None) -> Any:
    """Fail, and emit drflow.rpo.breached, when the plan's newest complete recovery point is older than its RPO
    or its last nightly replication failed; emit drflow.rpo.ok otherwise.

    (Google-style arguments: Prefect turns them into the descriptions of the UI's parameter form.)

    Args:
        plan: name of the drflow plan block to watch (drflow plan save), or a whole plan (CLI, tests).
        grace_minutes: tolerated lateness beyond the RPO: the scheduled replication captures its point when it
            starts and writes it when discovery is done, so a point may come due this long after the RPO.
        nightly_deployment: the replication deployment whose last run is checked (flow/deployment); empty:
            drflow-replicate/<plan>-nightly, as drflow deployments names it.
    """
    plan = checked_plan(plan, default_registry())
    logger = get_run_logger()
    aws = AwsAccess(plan)
    problems = check_sides(aws, ("recovery",))
    if problems:
        raise PreflightError(problems)
    now = datetime.now(timezone.utc)
    report: dict[str, Any] = {"flow": "rpo-watch", "plan": plan.name, "rpo_minutes": plan.rpo_minutes,
                              "grace_minutes": grace_minutes, "checked_at": now.isoformat(), "breaches": []}
    report.update(_newest_point(plan, aws, now))
    if report["recovery_point"] is None:
        report["breaches"].append(f"no complete recovery point in the vault ({report['vault_error']})")
    elif report["age_minutes"] > plan.rpo_minutes + grace_minutes:
        report["breaches"].append(f"newest complete recovery point {report['recovery_point']} is "
                                  f"{report['age_minutes']:.0f} min old; the RPO is {plan.rpo_minutes} min")
    nightly = _last_nightly_run(nightly_deployment or nightly_deployment_name(plan.name))
    report["nightly"] = nightly
    if nightly.get("failed"):
        report["breaches"].append(f"the last run of {nightly['deployment']} ({nightly['flow_run']}) ended "
                                  f"{nightly['state']}: {nightly['message'] or 'no message'}")
    elif not nightly["deployed"]:
        logger.warning("no deployment %s: only the recovery point's age is checked", nightly["deployment"])

    emit_event(event=BREACHED if report["breaches"] else OK, resource=_resource(plan),
               related=_related(nightly), payload=report)
    if report["breaches"]:
        message = f"RPO of plan {plan.name} breached: " + "; ".join(report["breaches"])
        logger.error(message)
        return Failed(message=message, data=report)
    logger.info("plan %s within its RPO: newest complete recovery point %s, %.0f min old", plan.name,
                report["recovery_point"], report["age_minutes"])
    return report


def _newest_point(plan: Plan, aws: AwsAccess, now: datetime) -> dict[str, Any]:
    """The newest complete point's age, and the newer points that are incomplete (runs that failed or died
    after writing them): shown, never counted towards the RPO."""
    vault = Vault(aws.vault, plan.vault_bucket, plan.name)
    try:
        point = vault.load("latest")
    except VaultError as exc:
        return {"recovery_point": None, "created_at": None, "age_minutes": None, "vault_error": str(exc),
                "incomplete_newer": vault.ids()}
    return {"recovery_point": point.id, "created_at": point.created_at.isoformat(),
            "age_minutes": round((now - point.created_at).total_seconds() / 60, 1),
            "incomplete_newer": [i for i in vault.ids() if i > point.id]}


def _last_nightly_run(name: str) -> dict[str, Any]:
    """The nightly deployment's last finished run, read through the Prefect API; `deployed` False when the
    plan has no such deployment (run from the CLI only: not an error, the vault still tells the age)."""
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            return {"deployment": name, "deployed": False}
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=FINISHED))),
            sort=FlowRunSort.END_TIME_DESC, limit=1)
    found: dict[str, Any] = {"deployment": name, "deployed": True, "deployment_id": str(deployment.id)}
    if not runs:
        return {**found, "flow_run": None, "failed": False}
    run = runs[0]
    return {**found, "flow_run": str(run.id), "state": run.state_name,
            "ended": run.end_time.isoformat() if run.end_time else None,
            "failed": run.state_type in FAILED_RUN, "message": run.state.message if run.state else None}


def _resource(plan: Plan) -> dict[str, str]:
    return {"prefect.resource.id": f"drflow.plan.{plan.name}", "prefect.resource.name": plan.name,
            "drflow.recovery.region": plan.recovery.region}


def _related(nightly: dict[str, Any]) -> list[dict[str, str]]:
    if not nightly.get("deployed"):
        return []
    return [{"prefect.resource.id": f"prefect.deployment.{nightly['deployment_id']}",
             "prefect.resource.role": "deployment", "prefect.resource.name": nightly["deployment"]}]
