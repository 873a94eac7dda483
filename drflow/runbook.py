"""The runbook of a plan: the Prefect UI links that start each of its deployments with the parameters filled in,
and what an on-call engineer needs around them (what each step does, the recovery order, who approves, a drill
first, failing back, and the CLI equivalents).

This is what an incident tool (PagerDuty, Opsgenie, incident.io) links to: one page, generated from what is
really deployed (the deployments are read from the Prefect API, by name) and from the newest recovery point.
Everything is a plain dict first (`--format json`); the markdown is rendered from that dict, so both say the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote

from core.report import PLAN_FILE
from flows.common import APPROVAL_TIMEOUT_SECONDS, Approval

PREFECT_FILE = "deployments/prefect.yaml"  # the contract: `prefect deploy` runs from the repository root with it


@dataclass(frozen=True)
class Step:
    """One deployment of a plan: `{flow}/{plan}-{suffix}`, with what the runbook pre-fills beyond `plan`."""

    step: str
    flow: str
    suffix: str
    what: str
    cli: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def name(self, plan: str) -> str:
        return f"{self.flow}/{plan}-{self.suffix}"


STEPS: tuple[Step, ...] = (
    Step("replicate", "drflow-replicate", "nightly",
         "Nightly (scheduled): capture the workload into a new recovery point in the vault and stage the cost-free "
         "pilot light in the recovery region. Start it by hand for a fresh recovery point before a planned failover.",
         "drflow replicate --plan {plan_file}"),
    Step("rpo-watch", "drflow-rpo-watch", "rpo-watch",
         "Hourly: checks that the newest complete recovery point is younger than the plan's RPO and that the last "
         "nightly run did not fail; emits drflow.rpo.breached (and fails) when it is not, for an automation to "
         "notify.",
         "drflow recovery-points --plan {plan_file}"),
    Step("drill", "drflow-failover", "drill",
         "Drill: recover an isolated copy of the workload in the recovery region (no internet-facing gateways, "
         "everything tagged with its drill id), production untouched. No approval needed. Its report names the "
         "drill id.", "drflow failover --drill --plan {plan_file}", {"drill": True}),
    Step("drill-cleanup", "drflow-drill-cleanup", "drill-cleanup",
         "Remove what a drill made (drill_id from the drill's report, or all), found by its drflow tags only: "
         "never production. Run again, it removes nothing.",
         "drflow drill cleanup --drill-id DRILL_ID --plan {plan_file}"),
    Step("failover", "drflow-failover", "failover",
         "Real failover: pre-flight checks (read-only), then the run PAUSES for approval, then the workload is "
         "rebuilt in the recovery region from the vault alone (the primary may be dark), in dependency order. "
         "The report has the RTO per phase.", "drflow failover --plan {plan_file}", {"approve": False}),
    Step("failback", "drflow-failback", "failback",
         "After a real failover, once the primary region is back: re-apply the primary's network and IAM, copy "
         "the data back, fail the servers back. Preview it first: drflow failback --dry-run.",
         "drflow failback --plan {plan_file}"),
)


def ui_base() -> tuple[str | None, str]:
    """The Prefect UI's base URL, and where it came from: PREFECT_UI_URL, else PREFECT_API_URL without /api
    (Prefect's own derivation, `Settings.ui_url`), else None."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if not settings.ui_url:
        return None, "neither PREFECT_UI_URL nor PREFECT_API_URL is set"
    api = (settings.api.url or "").rstrip("/")
    derived = api[:-len("/api")] if api.endswith("/api") else None
    return settings.ui_url.rstrip("/"), ("PREFECT_API_URL" if settings.ui_url.rstrip("/") == derived
                                         else "PREFECT_UI_URL")


def run_url(base: str | None, deployment_id: str, parameters: dict[str, Any]) -> str:
    """The UI's "Custom run" page of a deployment with its form pre-filled, as the UI itself links to it.

    The UI's router decodes the query once and the page decodes `parameters` again (FlowRunCreate:
    JSON.parse(decodeURIComponent(...))), so the JSON is encoded twice, exactly as the UI's own "Custom run"
    button does: a value holding '%' or '&' survives."""
    encoded = quote(quote(json.dumps(parameters, separators=(",", ":")), safe="-_.!~*'()"), safe="-_.!~*'()")
    return f"{base or ''}/deployments/deployment/{deployment_id}/run?parameters={encoded}"


def decode_parameters(url: str) -> dict[str, Any]:
    """What the UI's run form is pre-filled with from a runbook URL (the inverse of `run_url`)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    [value] = parse_qs(urlsplit(url).query)["parameters"]  # the router's decoding
    return json.loads(unquote(value))  # the page's


def create_command(step: Step, plan: str) -> str:
    return f"prefect deploy --prefect-file {PREFECT_FILE} --name {step.name(plan)}"


def build(plan: str, block: str, read_deployment: Callable[[str], Any], plan_file: str | None = None,
          recovery: dict[str, Any] | None = None) -> dict[str, Any]:
    """The runbook's facts. `read_deployment(name)` returns the deployment (id, parameters) or None when missing;
    `recovery`: the recovery order (see `recovery_order`), or why it is not shown."""
    base, source = ui_base()
    cli_plan = plan_file or PLAN_FILE
    notes = [] if base else [f"{source}: the links below are paths relative to your Prefect UI; set PREFECT_UI_URL "
                             "(e.g. http://127.0.0.1:4200) for absolute links"]
    steps = []
    for step in STEPS:
        name = step.name(plan)
        entry: dict[str, Any] = {"step": step.step, "deployment": name, "what": step.what,
                                 "cli": step.cli.format(plan_file=cli_plan)}
        deployment = read_deployment(name)
        if deployment is None:
            entry.update(missing=True, url=None, create=create_command(step, plan))
        else:
            parameters = {**(deployment.parameters or {}), "plan": block, **step.parameters}
            entry.update(missing=False, id=str(deployment.id), parameters=parameters,
                         url=run_url(base, str(deployment.id), parameters))
        steps.append(entry)
    missing = [s["deployment"] for s in steps if s["missing"]]
    if missing:
        notes.append(f"{len(missing)} deployment(s) missing: create them from the repository root with the "
                     f"`create` command of each, once {PREFECT_FILE} has them (drflow deployments --plan "
                     f"{cli_plan} --block {block}) and the work pool exists (prefect work-pool create drflow "
                     "--type process)")
    approval_fields = [{"name": n, "type": getattr(f.annotation, "__name__", str(f.annotation)),
                        "description": f.description} for n, f in Approval.model_fields.items()]
    by_step = {s["step"]: s for s in steps}
    return {
        "plan": plan, "block": block, "plan_file": plan_file, "ui_url": base, "ui_url_from": source,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "steps": steps, "missing": missing, "notes": notes,
        "recovery_order": recovery or {"mermaid": None, "why_not": "no plan loaded"},
        "approval": {
            "who": "whoever the on-call rota names as failover approver; the Prefect UI records who resumed the run",
            "how": "the failover run pauses after every pre-flight check passed, before its first write; open the "
                   "flow run (state Paused), read what will happen (the pause's description), click Resume and "
                   "fill in the form. Unticked `approved` rejects: the run ends Cancelled, nothing written. "
                   f"Unanswered for {APPROVAL_TIMEOUT_SECONDS} s, the run fails with nothing written; start it again.",
            "form": approval_fields,
            "cli": f"drflow failover --plan {cli_plan}",
            "cli_note": "asks for the approver and a confirmation at the terminal; --yes approves up front "
                        "(automation)",
            "pre_approved": "set approve=true in the run form only for automation that already has a human decision",
        },
        "drill_first": [
            f"Start the drill: {_link(by_step['drill'])} (or `{by_step['drill']['cli']}`).",
            "Check the recovered copy in the recovery region; the report's Drill section names the drill id.",
            f"Clean it up: {_link(by_step['drill-cleanup'])} with drill_id = that id "
            f"(or `{by_step['drill-cleanup']['cli']}`).",
        ],
        "failback": [
            "Only after a real failover, once the primary region is healthy again.",
            f"Preview: `drflow failback --dry-run --plan {cli_plan}` (what is kept, recreated and copied back).",
            f"Then: {_link(by_step['failback'])} (or `drflow failback --plan {cli_plan}`).",
            "The failback report links to the resources in the primary region again.",
        ],
    }


def _link(step: dict[str, Any]) -> str:
    if step["missing"]:
        return f"deployment `{step['deployment']}` (missing: `{step['create']}`)"
    return f"[{step['deployment']}]({step['url']})"


def recovery_order(plan_file: str | None, block: str, load_file: Callable[[str], Any]) -> dict[str, Any]:
    """The recovery order of the newest complete recovery point, as Mermaid: the plan from `plan_file` (loaded with
    `load_file`) or from the PlanBlock; what could not be read is said, not raised (the links matter more)."""
    from core import report as reports
    from core.aws import AwsAccess
    from core.handler import phases
    from core.vault import Vault
    from tasks.registry import default_registry

    try:
        if plan_file:
            plan = load_file(plan_file)
        else:
            from blocks.plan import PlanBlock

            plan = PlanBlock.load_plan(block)
    except Exception as exc:  # noqa: BLE001 - a missing block: say so beside the links
        return {"mermaid": None, "why_not": f"plan block {block!r} not loaded ({type(exc).__name__}: {exc}); "
                                            "pass --plan-file"}
    try:
        point = Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name).load("latest")
    except Exception as exc:  # noqa: BLE001 - no vault access from here, or no recovery point yet
        return {"mermaid": None, "why_not": f"newest recovery point of plan {plan.name} not read "
                                            f"({type(exc).__name__}: {exc})"}
    return {"mermaid": reports.mermaid(point.resources, phases(default_registry())), "recovery_point": point.id,
            "captured_at": point.created_at.isoformat(), "resources": len(point.resources),
            "source_region": plan.source.region, "recovery_region": plan.recovery.region}


def markdown(book: dict[str, Any]) -> str:
    """The runbook page (markdown with a Mermaid diagram: GitHub, GitLab, Notion and most incident tools render it)."""
    lines = [f"# drflow runbook: plan `{book['plan']}`", "",
             f"Plan block `{book['block']}` · Prefect UI {book['ui_url'] or '(not set)'} · generated "
             f"{book['generated_at']}", ""]
    lines += [f"> {note}" for note in book["notes"]] + ([""] if book["notes"] else [])
    lines += ["## Steps", "", "| step | deployment | start it | CLI |", "|---|---|---|---|"]
    for s in book["steps"]:
        start = f"**missing**: `{s['create']}`" if s["missing"] else f"[Run in Prefect]({s['url']})"
        lines.append(f"| {s['step']} | `{s['deployment']}` | {start} | `{s['cli']}` |")
    lines.append("")
    for s in book["steps"]:
        lines += [f"### {s['step']}", "", s["what"], ""]
        if s["missing"]:
            lines += [f"Deployment `{s['deployment']}` is missing. Create it: `{s['create']}`", ""]
        else:
            lines += [f"[Start `{s['deployment']}`]({s['url']}) with: "
                      + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in s["parameters"].items()), ""]
        lines += [f"CLI: `{s['cli']}`", ""]
    order = book["recovery_order"]
    lines += ["## Recovery order", ""]
    if order.get("mermaid"):
        lines += [f"From recovery point `{order['recovery_point']}` ({order['resources']} resources, captured "
                  f"{order['captured_at']}), {order['source_region']} -> {order['recovery_region']}. Each arrow runs "
                  "from a dependency to what waits for it; independent branches run in parallel.", "",
                  "```mermaid", order["mermaid"], "```", ""]
    else:
        lines += [f"Not shown: {order['why_not']}.", ""]
    approval = book["approval"]
    lines += ["## Who approves", "", f"Who: {approval['who']}.", "", f"How: {approval['how']}", "",
              "| field | type | meaning |", "|---|---|---|"]
    lines += [f"| `{f['name']}` | {f['type']} | {f['description']} |" for f in approval["form"]]
    lines += ["", f"CLI: `{approval['cli']}` {approval['cli_note']}. {approval['pre_approved'].capitalize()}.", "",
              "## A drill first", ""]
    lines += [f"{n}. {line}" for n, line in enumerate(book["drill_first"], 1)]
    lines += ["", "## Fail back", ""]
    lines += [f"{n}. {line}" for n, line in enumerate(book["failback"], 1)]
    return "\n".join(lines) + "\n"
