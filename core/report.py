"""Run reports: one JSON-able dict per run, rendered as CLI text, markdown and Prefect artifacts."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from core.models import Outcome, ResourceResult


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
    return {r.source_id: r.recovered_id for r in results if r.recovered_id}


def failed(results: list[ResourceResult]) -> list[str]:
    return [f"{r.key}: {r.error}" for r in results if r.outcome == Outcome.FAILED]


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
    warnings = [(d["key"], w) for d in report["details"] for w in d.get("warnings", [])]
    if warnings:
        lines += ["", "## Warnings", *[f"- `{k}`: {w}" for k, w in warnings]]
    lines += ["", "## Resources", "", "| resource | name | outcome | recovered id | s |", "|---|---|---|---|---|"]
    for d in report["details"]:
        lines.append(f"| `{d['key']}` | {d['name']} | {d['outcome']} | {d['recovered_id'] or ''} | "
                     f"{d['seconds'] if d['seconds'] is not None else ''} |")
    return "\n".join(lines) + "\n"


def text(report: dict[str, Any]) -> str:
    """The CLI's plain rendering."""
    out = [f"drflow {report['flow']} · plan {report['plan']} · recovery point {report.get('recovery_point')}",
           f"  {report['resources']['total']} resources: "
           + ", ".join(f"{v} {k}" for k, v in report["resources"]["by_outcome"].items() if v),
           f"  API calls: {report['api_calls']['read']} read, {report['api_calls']['write']} write, "
           f"{report['api_calls']['retried']} retried · {report['seconds']} s"
           + (f" · RTO {report['rto_seconds']} s" if "rto_seconds" in report else "")]
    for d in report["details"]:
        mark = {"failed": "✗", "skipped": "-"}.get(d["outcome"], "✓")
        target = d["recovered_id"] or (d["error"] or (d.get("details") or {}).get("reason", ""))
        out.append(f"  {mark} {d['key']:<58} {d['name'][:16]:<16} {d['outcome']:<9} {target}")
        out.extend(f"      warning: {w}" for w in d["warnings"])
    if report.get("failed"):
        out.append(f"  FAILED: {len(report['failed'])} resource(s); see above")
    return "\n".join(out)
