"""What the flows share: plan re-validation, the report's frame and its Prefect artifacts."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from typing import Annotated, Any, Iterator, Union

from prefect import get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Cancelled, Failed, State
from pydantic import Field, ValidationError, WithJsonSchema

from core import report as reports
from core.artifacts import artifact_key, console_links
from core.aws import AwsAccess
from core.handler import Registry, phases
from core.lease import Holder, LeaseHeld, hold
from core.models import RecoveryPoint, ResourceResult
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


@contextmanager
def plan_lease(aws: AwsAccess, plan: Plan, flow: str) -> Iterator[None]:
    """Hold the plan's lease (core/lease.py) for the block: a second writing run of the plan is refused, before
    any write of its own, with the holder named."""
    with ExitStack() as stack:
        try:
            stack.enter_context(hold(aws.vault, plan.vault_bucket, plan.name,
                                     Holder(run_id=str(flow_run.id or uuid.uuid4()), flow=flow)))
        except LeaseHeld as exc:
            raise PreflightError([("plan", str(exc))]) from None
        yield


# A flow's `plan` parameter: the NAME of a PlanBlock (what a deployment, the UI and the API pass), or a whole Plan
# (what the CLI and the tests pass in-process). The parameter schema the UI renders advertises the name only: a
# plain text field, not the plan's hundred nested fields, and one source of truth - the block, edited once,
# read by every run - instead of a copy of the plan in each flow run's parameters.
PlanRef = Annotated[Union[str, Plan], WithJsonSchema(
    {"type": "string", "minLength": 1, "description": "name of the drflow plan block (drflow plan save)"})]


def checked_plan(plan: Plan | str, registry: Registry) -> Plan:
    """The run's plan: loaded from its PlanBlock when given by name, then re-validated with the registry's types
    (a plan given as a flow parameter or saved in a block skipped that check)."""
    if isinstance(plan, str):
        plan = _load_block(plan)
    try:
        return parse_plan(plan.model_dump(mode="json"), set(registry))
    except PlanError as exc:
        raise PreflightError(exc.problems) from None


def _load_block(name: str) -> Plan:
    from blocks.plan import PlanBlock

    try:
        return PlanBlock.load_plan(name)
    except ValidationError as exc:
        raise PreflightError([("plan", f"plan block {name!r} holds an invalid plan: save it again with drflow plan "
                                       f"save ({exc.error_count()} problem(s), first: {exc.errors()[0]['msg']})")]) \
            from None
    except ValueError as exc:  # Prefect: "Unable to find block document named ..."
        raise PreflightError([("plan", f"no drflow plan block named {name!r} ({exc}); save one with: drflow plan "
                                       f"save --plan FILE --name {name}")]) from None


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
    changes = reports.traffic_changes(results)
    if changes:
        report[reports.TRAFFIC_CHANGES] = changes
    return report


def publish(report: dict[str, Any], registry: Registry) -> Any:
    """Artifacts for the Prefect UI; the flow's final state is Failed when any resource failed.

    The markdown report (with RTO for a failover), a table of resources with outcome and duration, and links
    to the console pages of what the run made or found (see `publish_links`)."""
    key = artifact_key(report["plan"], report["flow"])
    create_markdown_artifact(markdown=reports.markdown(report), key=f"{key}-report",
                             description=f"drflow {report['flow']} report")
    create_table_artifact(table=resource_table(report["details"]), key=f"{key}-resources",
                          description="per resource: outcome, recovered id and duration (seconds)")
    publish_links(report, key, registry)
    if report["failed"]:
        return Failed(message=f"{len(report['failed'])} resource(s) failed: " + "; ".join(report["failed"][:5]),
                      data=report)
    return report


def resource_table(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table artifact's rows: one per resource, what happened, and how long it took (seconds)."""
    return [{"resource": d["key"], "name": d["name"], "outcome": d["outcome"], "recovered_id": d["recovered_id"] or "",
             "duration_s": d["seconds"] if d["seconds"] is not None else "", "started": d.get("started") or "",
             "note": d.get("error") or (d.get("details") or {}).get("reason") or "; ".join(d.get("warnings") or [])}
            for d in details]


# Up to this many console links each become a Prefect link artifact (a card in the run's Artifacts tab, one API
# call each: the sample shop has about thirty). Beyond it, one markdown artifact lists them all: hundreds of cards
# bury the report, and hundreds of API calls would delay the end of a big failover by seconds.
LINK_ARTIFACTS_MAX = 25


def publish_links(report: dict[str, Any], key: str, registry: Registry) -> int:
    """Links to the AWS console pages of the run's resources, in the region they are in now (the primary after a
    failback, the recovery region otherwise). Returns how many."""
    region = report["source" if report["flow"] == "failback" else "recovery"]["region"]
    links = console_links(report["details"], region, registry)
    if len(links) > LINK_ARTIFACTS_MAX:
        rows = [f"| `{k['key']}` | {k['name']} | [{k['id']}]({k['url']}) |" for k in links]
        create_markdown_artifact(
            key=f"{key}-console-links", description=f"AWS console pages of {len(links)} resources in {region}",
            markdown="\n".join([f"# {len(links)} resources in {region}", "", "| resource | name | id |", "|---|---|---|",
                                 *rows]) + "\n")
    else:
        for link in links:
            create_link_artifact(link=link["url"], link_text=f"{link['name'] or link['key']}: {link['id']}",
                                 description=f"`{link['key']}` in {region}")
    return len(links)


# --- human approval of a real failover -----------------------------------------------------------------------

# How long a paused failover waits for its approver before failing (nothing written). An hour is Prefect's
# default and what an on-call rota answers within; a run that timed out is simply started again.
APPROVAL_TIMEOUT_SECONDS = 3600
# How often the paused run asks the server whether it was resumed: the recovery starts at most this late after
# the click, one cheap API read each time.
APPROVAL_POLL_SECONDS = 2


class Approval(RunInput):
    """What the approver of a real failover fills in (the Prefect UI renders it as the resume form)."""

    approver: str = Field(min_length=1, description="who decides (name or e-mail)")
    reason: str = Field(min_length=1, description="why: incident number, what is down")
    approved: bool = Field(description="tick to fail over now; leave unticked to reject (nothing is written)")


def approval_gate(plan: Plan, point: RecoveryPoint, approve: bool, approver: str | None,
                  registry: Registry) -> dict[str, Any] | State:
    """Pause a real failover for a human, after every pre-flight check passed and before the first write.

    Prefect's `pause_flow_run`, not `suspend_flow_run`: a pause keeps the process (and the loaded recovery
    point, the checked clients) alive and works for any flow run, including one started from the CLI or a
    test without a deployment; a suspension needs a deployment and, once resumed, waits for a worker to start
    the flow again from the top (pre-flight again) - minutes added to the RTO at the worst moment.

    Returns the approval for the report, or a final state (Cancelled when rejected, Failed when nobody
    answered in time) that the flow returns as it is: nothing was written.
    """
    now = datetime.now(timezone.utc)
    if approve:
        return {"approver": approver or "automation (approve=True)", "reason": "pre-approved by the caller",
                "at": now.isoformat(), "pre_approved": True}
    form = Approval.with_initial_data(description=approval_request(plan, point, registry))
    try:
        given = pause_flow_run(wait_for_input=form, timeout=APPROVAL_TIMEOUT_SECONDS,
                               poll_interval=APPROVAL_POLL_SECONDS, key="drflow-failover-approval")
    except FlowPauseTimeout:  # the server fails the run itself ("paused and never resumed"); the log says more
        message = f"no approval within {APPROVAL_TIMEOUT_SECONDS} s; nothing written: start the failover again"
        get_run_logger().error(message)
        return Failed(message=message)
    if not given.approved:
        return Cancelled(message=f"failover rejected by {given.approver}: {given.reason}; nothing written")
    return {"approver": given.approver, "reason": given.reason, "at": datetime.now(timezone.utc).isoformat(),
            "pre_approved": False}


def approval_request(plan: Plan, point: RecoveryPoint, registry: Registry) -> str:
    """The markdown the approver reads beside the form: what exactly will happen if they approve."""
    phase_of = phases(registry)
    counts = Counter(str(phase_of(r.type)) for r in point.resources)
    return "\n".join([
        f"## Fail over plan `{plan.name}`?", "",
        f"- recovery point: `{point.id}`, captured {point.created_at.isoformat()}",
        f"- {len(point.resources)} resources: " + ", ".join(f"{n} {p.replace('_', ' ')}" for p, n in counts.items()),
        f"- recovered into account {plan.recovery.account_id}, region **{plan.recovery.region}** "
        f"(the primary, {plan.source.region}, is not touched)",
        "", "Every pre-flight check passed. Approving creates or takes over the resources above now; "
        "rejecting ends the run with nothing written."])


def runbook_fields(point: RecoveryPoint, results: list[ResourceResult], started: datetime, preflight_ended: datetime,
                   approval: dict[str, Any] | None, registry: Registry) -> dict[str, Any]:
    """A failover report's RTO (total and per phase) and its recovery-order diagram."""
    approved = datetime.fromisoformat(approval["at"]) if approval and not approval["pre_approved"] else None
    phase_of = phases(registry)
    times = reports.recovery_times(results, started, preflight_ended, approved, datetime.now(timezone.utc), phase_of)
    return {**times, "runbook_mermaid": reports.mermaid(point.resources, phase_of,
                                                        {r.key: r.outcome.value for r in results}),
            "not_protected": point.not_protected}
