"""Run reports: one JSON-able dict per run, rendered as CLI text, markdown and Prefect artifacts."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any, Callable

from core.audit import markdown as audit_markdown
from core.audit import text as audit_text
from core.models import Outcome, Phase, Resource, ResourceResult


def summarise(results: list[ResourceResult]) -> dict[str, Any]:
    by_type: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        by_type[r.type][r.outcome.value] += 1
    by_outcome = Counter(r.outcome.value for r in results)
    return {"total": len(results), "by_outcome": {o.value: by_outcome.get(o.value, 0) for o in Outcome},
            "by_type": {t: dict(sorted(c.items())) for t, c in sorted(by_type.items())}}


def rows(results: list[ResourceResult]) -> list[dict[str, Any]]:
    return [{"key": r.key, "name": r.name, "outcome": r.outcome.value, "recovered_id": r.recovered_id,
             "seconds": round(r.seconds, 3) if r.seconds is not None else None,
             "started": r.started.isoformat() if r.started else None, "ended": r.ended.isoformat() if r.ended else None,
             "warnings": r.warnings, "error": r.error, **({"details": r.details} if r.details else {})}
            for r in results]


def identity_map(results: list[ResourceResult]) -> dict[str, str]:
    """What each source resource became: its id, and each of its endpoints (a database's address, a queue URL)."""
    found = {r.source_id: r.recovered_id for r in results if r.recovered_id}
    for r in results:
        found.update({k: v for k, v in r.endpoints.items() if k != v})
    return found


def failed(results: list[ResourceResult]) -> list[str]:
    return [f"{r.key}: {r.error}" for r in results if r.outcome == Outcome.FAILED]


TRAFFIC_CHANGES = "traffic_changes"  # the key of a handler's Applied.details that lists its DNS / front-door changes


def traffic_changes(results: list[ResourceResult]) -> list[dict[str, Any]]:
    """Every DNS and front-door change the traffic phase made, would make, or leaves to a human (each handler
    lists its own under details["traffic_changes"]: `where` (zone or distribution), `what` (record set or origin),
    `from`, `to`, `status` (made, to apply by hand, not changed: why) and, for Route 53, the `change_batch` as
    ChangeResourceRecordSets takes it), in the order the resources ran."""
    return [{"key": r.key, **change} for r in results for change in r.details.get(TRAFFIC_CHANGES, [])]


def traffic_markdown(changes: list[dict[str, Any]]) -> list[str]:
    """The runbook's DNS section: a table of every change, then each change batch left for a human, as JSON
    that `aws route53 change-resource-record-sets --change-batch` takes."""
    if not changes:
        return []
    lines = ["", "## DNS and front doors", "", "| where | what | from | to | status |", "|---|---|---|---|---|"]
    lines += [f"| {c['where']} | `{c['what']}` | {c.get('from') or ''} | {c.get('to') or ''} | {c['status']} |"
              for c in changes]
    by_hand = [c for c in changes if c.get("change_batch") and c["status"] != "made"]
    for c in by_hand:
        lines += ["", f"To apply by hand in {c['where']} ({c['what']}): `aws route53 change-resource-record-sets "
                      f"--hosted-zone-id {c.get('zone_id', 'ZONE_ID')} --change-batch file://change.json` with:",
                  "", "```json", json.dumps(c["change_batch"], indent=2, sort_keys=True), "```"]
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The human report: totals, problems first, then every resource."""
    kind = report["flow"]
    lines = [f"# drflow {kind}: plan `{report['plan']}`", "",
             f"- recovery point: `{report.get('recovery_point')}`",
             f"- took {report['seconds']} s" + (f", RTO {report['rto_seconds']} s" if "rto_seconds" in report else ""),
             f"- API calls: {report['api_calls']['read']} read, {report['api_calls']['write']} write, "
             f"{report['api_calls']['retried']} retried", ""]
    outcomes = report["resources"]["by_outcome"]
    lines.append("| " + " | ".join(outcomes) + " |")
    lines.append("|" + "---|" * len(outcomes))
    lines.append("| " + " | ".join(str(v) for v in outcomes.values()) + " |")
    if report.get("failed"):
        lines += ["", "## Failed", *[f"- {f}" for f in report["failed"]]]
    if report.get("drill_commands"):
        lines += ["", f"## Drill `{report['drill_id']}`", "",
                  *[f"- {what}: `{command}`" for what, command in report["drill_commands"].items()]]
    warnings = [(d["key"], w) for d in report["details"] for w in d.get("warnings", [])]
    if warnings:
        lines += ["", "## Warnings", *[f"- `{k}`: {w}" for k, w in warnings]]
    if report.get("not_protected"):
        lines += ["", "## Not protected", "", "In scope (they carry the scope's tags), but drflow has no handler for "
                  "their kind: recover them by hand.", "", "| kind | name | ARN |", "|---|---|---|"]
        lines += [f"| {n['kind']} | {n['name']} | `{n['arn']}` |" for n in report["not_protected"]]
    if report.get("audit"):
        lines += audit_markdown(report["audit"])
    lines += runbook_markdown(report)
    lines += ["", "## Resources", "", "| resource | name | outcome | recovered id | started | ended | s |",
              "|---|---|---|---|---|---|---|"]
    for d in report["details"]:
        lines.append(f"| `{d['key']}` | {d['name']} | {d['outcome']} | {d['recovered_id'] or ''} | "
                     f"{d.get('started') or ''} | {d.get('ended') or ''} | "
                     f"{d['seconds'] if d['seconds'] is not None else ''} |")
    return "\n".join(lines) + "\n"


def runbook_markdown(report: dict[str, Any]) -> list[str]:
    """The failover runbook: who approved, time per phase, the recovery order as a diagram, what was skipped."""
    lines: list[str] = []
    approval = report.get("approval")
    if approval:
        lines += ["", "## Approval", "", f"- approved by **{approval['approver']}** at {approval['at']}: "
                  f"{approval['reason']}"]
    if report.get("rto_seconds_by_phase"):
        lines += ["", "## Time per phase", "", f"RTO {report['rto_seconds']} s (from the approval, or the start when "
                  "pre-approved, to the last resource; phases overlap, the approval wait is not counted)", "",
                  "| phase | s |", "|---|---|"]
        lines += [f"| {phase.replace('_', ' ')} | {s} |" for phase, s in report["rto_seconds_by_phase"].items()]
    if report.get("runbook_mermaid"):
        lines += ["", "## Recovery order", "", "Each arrow runs from a dependency to what waits for it.", "",
                  "```mermaid", report["runbook_mermaid"], "```"]
    lines += traffic_markdown(report.get(TRAFFIC_CHANGES) or [])
    skipped = [d for d in report["details"] if d["outcome"] == "skipped"]
    if skipped:
        lines += ["", "## Skipped", ""]
        lines += [f"- `{d['key']}` {d['name']}: {(d.get('details') or {}).get('reason') or d.get('error') or 'no reason given'}"
                  for d in skipped]
    return lines


def text(report: dict[str, Any]) -> str:
    """The CLI's plain rendering."""
    out = [f"drflow {report['flow']} · plan {report['plan']} · recovery point {report.get('recovery_point')}",
           f"  {report['resources']['total']} resources: "
           + ", ".join(f"{v} {k}" for k, v in report["resources"]["by_outcome"].items() if v),
           f"  API calls: {report['api_calls']['read']} read, {report['api_calls']['write']} write, "
           f"{report['api_calls']['retried']} retried · {report['seconds']} s"
           + (f" · RTO {report['rto_seconds']} s" if "rto_seconds" in report else "")]
    if report.get("rto_seconds_by_phase"):
        out.append("  by phase: " + " · ".join(f"{p.replace('_', ' ')} {s} s"
                                               for p, s in report["rto_seconds_by_phase"].items()))
    if report.get("approval"):
        out.append(f"  approved by {report['approval']['approver']}: {report['approval']['reason']}")
    for d in report["details"]:
        mark = {"failed": "✗", "skipped": "-"}.get(d["outcome"], "✓")
        target = d["recovered_id"] or (d["error"] or (d.get("details") or {}).get("reason", ""))
        out.append(f"  {mark} {d['key']:<58} {d['name'][:16]:<16} {d['outcome']:<9} {target}")
        out.extend(f"      warning: {w}" for w in d["warnings"])
    if report.get(TRAFFIC_CHANGES):
        out.append("  DNS and front doors:")
        out.extend(f"    {c['status']:<18} {c['where']}: {c['what']} {c.get('from') or ''} -> {c.get('to') or ''}"
                   for c in report[TRAFFIC_CHANGES])
    if report.get("not_protected"):
        out.append(f"  not protected ({len(report['not_protected'])}, no handler for their kind; recover by hand):")
        out.extend(f"    - {n['kind']:<28} {n['arn']}" for n in report["not_protected"])
    if report.get("audit"):
        out.extend(audit_text(report["audit"]))
    if report.get("failed"):
        out.append(f"  FAILED: {len(report['failed'])} resource(s); see above")
    if report.get("drill_commands"):
        out.append(f"  drill {report['drill_id']}:")
        out.extend(f"    {what:<8} {command}" for what, command in report["drill_commands"].items())
    return "\n".join(out)


# --- failover phases and RTO ---------------------------------------------------------------------------------

PhaseOf = Callable[[str], Phase]  # a resource type -> its handler's phase (core.handler.phases)


def _seconds(a: datetime, b: datetime) -> float:
    return round(max((b - a).total_seconds(), 0.0), 3)


def recovery_times(results: list[ResourceResult], started: datetime, preflight_ended: datetime,
                   approval_ended: datetime | None, recovery_ended: datetime, phase_of: PhaseOf) -> dict[str, Any]:
    """`rto_seconds` and `rto_seconds_by_phase` of a failover.

    A phase lasts from its first resource's start to its last resource's end (phases overlap: independent
    branches run in parallel, so the phases do not add up to the total). Only work done by THIS run counts:
    a result taken from the cache of an interrupted earlier attempt keeps that attempt's times. The human
    approval wait is reported but is not recovery time: RTO runs from the approval (or from the start, when
    the run was pre-approved) to the last resource's end.
    """
    since = approval_ended or preflight_ended
    ran = [r for r in results if r.started and r.ended and r.started >= since]
    by_phase: dict[str, Any] = {"preflight": _seconds(started, preflight_ended)}
    if approval_ended:
        by_phase["approval_wait"] = _seconds(preflight_ended, approval_ended)
    phases = sorted({phase_of(r.type) for r in results}, key=list(Phase).index)
    for phase in phases:
        mine = [r for r in ran if phase_of(r.type) == phase]
        by_phase[str(phase)] = _seconds(min(r.started for r in mine), max(r.ended for r in mine)) if mine else 0.0
    last = max((r.ended for r in ran), default=recovery_ended)
    return {"rto_seconds": _seconds(approval_ended or started, last), "rto_seconds_by_phase": by_phase}


# --- the runbook: recovery order as a Mermaid diagram -------------------------------------------------------

# Above this many resources one node per resource is unreadable (and Mermaid slows to a crawl): the diagram
# collapses to one node per resource type, edges between types.
MERMAID_MAX_NODES = 60


def _label(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def mermaid(resources: list[Resource], phase_of: PhaseOf, outcomes: dict[str, str] | None = None,
            max_nodes: int = MERMAID_MAX_NODES) -> str:
    """`graph TD` of the recovery order: nodes grouped by phase, an edge from each dependency to its dependant.

    `outcomes` (key -> outcome) marks skipped and failed nodes. Dependencies on resources outside the list
    are left out, so that every edge joins two declared nodes.
    """
    outcomes = outcomes or {}
    collapse = len(resources) > max_nodes
    node_of: dict[str, str] = {}  # resource key -> node id
    nodes: dict[str, tuple[str, str]] = {}  # node id -> (phase, label)
    count: Counter = Counter(r.type for r in resources)
    for r in resources:
        if collapse:
            node = "t" + str(sorted(count).index(r.type))
            label = _label(f"{r.type} ×{count[r.type]}")
        else:
            node = f"n{len(node_of)}"
            label = f"{_label(r.type)}<br/>{_label(r.name or r.source_id)}"
        node_of[r.key] = node
        nodes.setdefault(node, (phase_of(r.type), label))
    edges = sorted({(node_of[d], node_of[r.key]) for r in resources for d in r.dependencies
                    if d in node_of and node_of[d] != node_of[r.key]}, key=lambda e: (int(e[0][1:]), int(e[1][1:])))
    lines = ["graph TD"]
    for phase in Phase:
        members = [(n, label) for n, (p, label) in nodes.items() if p == phase]
        if not members:
            continue
        lines.append(f'  subgraph {phase}["{phase.replace("_", " ")}"]')
        lines += [f'    {n}["{label}"]' for n, label in members]
        lines.append("  end")
    lines += [f"  {a} --> {b}" for a, b in edges]
    if not collapse:
        marked = {o: [node_of[k] for k, v in outcomes.items() if v == o and k in node_of] for o in ("skipped", "failed")}
        if any(marked.values()):
            lines += ["  classDef skipped stroke-dasharray: 5 5,color:#777", "  classDef failed fill:#fdd,stroke:#c00"]
            lines += [f"  class {','.join(ids)} {o}" for o, ids in marked.items() if ids]
    return "\n".join(lines)


# --- drills: the commands an operator runs next ------------------------------------------------------------

PLAN_FILE = "PLAN_FILE"  # the CLI puts the plan file it was given in its place


def drill_commands(drill_id: str, plan_file: str = PLAN_FILE) -> dict[str, str]:
    """How to resume a drill (same id: nothing made twice) and how to remove it."""
    return {"resume": f"drflow failover --drill --drill-id {drill_id} --plan {plan_file}",
            "cleanup": f"drflow drill cleanup --drill-id {drill_id} --plan {plan_file}"}
