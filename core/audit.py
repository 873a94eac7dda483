"""The reference audit: does the recovered workload still name the primary?

After a failover or a drill (and on demand, `drflow audit`), every recovered resource whose handler is `Audited`
is read back from the recovery side — not from the recovery point: what matters is what the recovered resources
hold now — and every string in its documents is searched for what names the primary:

- the primary region (`us-east-1`, and its zones `us-east-1a`), when the recovery region is another;
- the primary account id, in a cross-account plan;
- every endpoint the recovery point captured (a database's address, a queue URL) that did not stay the same;
- every source identifier (`vpc-…`, `sg-…`, `subnet-…`, ...) that became another one on the recovery side.

Each finding names the resource, the document path and the offending token, never the whole value (it may be a
secret). A finding the plan lists under `audit.allow` is reported as allowed. The audit reads only the recovery
side, so it runs with the primary dark.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass
from typing import Any, Callable

from core.capabilities import Audited
from core.handler import ApplyContext, Registry
from core.models import RecoveryPoint, Resource
from core.plan import AuditAllow, Plan
from core.references import decode_user_data

AWS_ID_RE = re.compile(r"^[a-z]+(?:-[a-z]+)?-[0-9a-f]{8,17}$")  # vpc-0a1b…, sg-…, subnet-…, fs-…, ami-…
TAG_FIELDS = {"tags", "taglist", "tagset"}  # tags are labels, not references (drflow's claim names the source id)
TAG_PREFIX = "drflow:"


@dataclass(frozen=True)
class Finding:
    key: str
    name: str
    path: str
    token: str
    why: str
    allowed: str | None = None  # the plan's reason, when audit.allow lists it


def needles(point: RecoveryPoint, recovered: dict[str, str], plan: Plan) -> list[tuple[re.Pattern[str], str]]:
    """What names the primary, as patterns with the reason each stands for. `recovered`: source id -> recovered
    id of what the audit reads (an id that stayed the same names nothing of the primary)."""
    out: list[tuple[re.Pattern[str], str]] = []
    if point.source.region != point.recovery.region:
        out.append((re.compile(r"(?<![A-Za-z0-9])" + re.escape(point.source.region) + r"[a-z]?(?![A-Za-z0-9])"),
                    f"names the primary region {point.source.region}"))
    if plan.cross_account and point.source.account_id != point.recovery.account_id:
        out.append((re.compile(r"(?<![0-9])" + re.escape(point.source.account_id) + r"(?![0-9])"),
                    f"names the primary account {point.source.account_id}"))
    endpoints = sorted({e for r in point.resources for e in r.endpoints.values() if e and e not in
                        recovered.values()}, key=len, reverse=True)
    if endpoints:
        out.append((re.compile(r"(?<![A-Za-z0-9_.-])(?:" + "|".join(map(re.escape, endpoints)) + r")(?![A-Za-z0-9_-])",
                               re.IGNORECASE), "names an endpoint of the primary"))
    ids = sorted({r.source_id for r in point.resources if AWS_ID_RE.match(r.source_id)
                  and recovered.get(r.source_id) not in (None, r.source_id)})
    if ids:
        out.append((re.compile(r"(?<![A-Za-z0-9-])(?:" + "|".join(map(re.escape, ids)) + r")(?![A-Za-z0-9-])"),
                    "names a source resource that was recovered under another id"))
    return out


def scan(document: Any, patterns: list[tuple[re.Pattern[str], str]]) -> list[tuple[str, str, str]]:
    """(path, token, why) for every match in every string of the document (user data decoded; tags skipped)."""
    found: list[tuple[str, str, str]] = []

    def visit(node: Any, path: str, key: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if str(k).lower().replace("_", "") not in TAG_FIELDS and not str(k).startswith(TAG_PREFIX):
                    visit(v, f"{path}.{k}", str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, f"{path}[{i}]", key)
        elif isinstance(node, str):
            decoded = decode_user_data(node) if key.lower().replace("_", "") == "userdata" else None
            text = decoded[0] if decoded else node
            spans: list[tuple[int, int, str, str]] = []
            for pattern, why in patterns:
                seen = set()
                for m in pattern.finditer(text):
                    if m.group(0) not in seen:
                        seen.add(m.group(0))
                        spans.append((m.start(), m.end(), m.group(0), why))
            # one finding per reference: the region inside a primary endpoint is that endpoint's, not another
            for start, end, token, why in spans:
                if not any(s <= start and end <= e and (s, e) != (start, end) for s, e, _, _ in spans):
                    found.append((path, token, why))

    visit(document, "$", "")
    return found


def allowance(finding: Finding, resource: Resource, allow: list[AuditAllow]) -> str | None:
    for entry in allow:
        if entry.resource not in (resource.key, resource.name, resource.source_id):
            continue
        if entry.path and not fnmatch.fnmatchcase(finding.path, entry.path):
            continue
        if entry.value and entry.value != finding.token:
            continue
        return entry.reason
    return None


def audit(point: RecoveryPoint, registry: Registry, ctx: ApplyContext, plan: Plan,
          locate: Callable[[Resource], str | None], identity: dict[str, str] | None = None) -> dict[str, Any]:
    """Read back every recovered resource `locate` finds (its recovered id, or None) and list what names the
    primary. `identity`: source id -> recovered id of every resource (a run's results, the failover marker);
    without it every resource is located, since a source id only names the primary once it became another id.
    Returns the report's `audit` section; `references_to_primary` counts what is not allowed."""
    audited = [r for r in point.resources if isinstance(registry.get(r.type), Audited)]
    located: dict[str, str] = {}
    unreadable: list[dict[str, str]] = []
    for resource in (audited if identity is not None else point.resources):
        try:
            recovered_id = locate(resource)
        except Exception as exc:  # noqa: BLE001 - one resource that cannot be found is reported, not fatal
            if resource in audited:
                unreadable.append({"key": resource.key, "error": f"{type(exc).__name__}: {exc}"})
            continue
        if recovered_id:
            located[resource.key] = recovered_id
    recovered = dict(identity) if identity is not None else {
        r.source_id: located[r.key] for r in point.resources if r.key in located}
    patterns = needles(point, recovered, plan)
    findings: list[Finding] = []
    audited = [r for r in audited if r.key in located]
    for resource in audited:
        try:
            document = registry[resource.type].read_back(resource, located[resource.key], ctx)
        except Exception as exc:  # noqa: BLE001 - unreadable is reported, and counts as not audited
            unreadable.append({"key": resource.key, "error": f"{type(exc).__name__}: {exc}"})
            continue
        for path, token, why in scan(document, patterns):
            finding = Finding(resource.key, resource.name, path, token, why)
            findings.append(Finding(**{**asdict(finding), "allowed": allowance(finding, resource, plan.audit.allow)}))
    remaining = [f for f in findings if not f.allowed]
    unread = {u["key"] for u in unreadable}
    return {"references_to_primary": len(remaining), "audited": len(audited) - len(unread & {r.key for r in audited}),
            "not_recovered": sorted(r.key for r in point.resources if isinstance(registry.get(r.type), Audited)
                                    and r.key not in located and r.key not in unread),
            "findings": [asdict(f) for f in remaining], "allowed": [asdict(f) for f in findings if f.allowed],
            "unreadable": unreadable}


def markdown(section: dict[str, Any]) -> list[str]:
    lines = ["", "## References to the primary", "",
             f"{section['audited']} recovered resources read back from the recovery side: "
             f"**{section['references_to_primary']}** reference(s) to the primary remain"
             + (f", {len(section['allowed'])} allowed by the plan" if section["allowed"] else "") + "."]
    if section["findings"]:
        lines += ["", "| resource | path | names | why |", "|---|---|---|---|"]
        lines += [f"| `{f['key']}` | `{f['path']}` | `{f['token']}` | {f['why']} |" for f in section["findings"]]
    if section["allowed"]:
        lines += ["", "Allowed (audit.allow):", *[f"- `{f['key']}` `{f['path']}` `{f['token']}`: {f['allowed']}"
                                                  for f in section["allowed"]]]
    if section["unreadable"]:
        lines += ["", "Could not be read back (not audited):", *[f"- `{u['key']}`: {u['error']}"
                                                               for u in section["unreadable"]]]
    return lines


def text(section: dict[str, Any]) -> list[str]:
    out = [f"  reference audit: {section['audited']} resources read back, "
           f"{section['references_to_primary']} reference(s) to the primary"
           + (f", {len(section['allowed'])} allowed" if section["allowed"] else "")]
    out += [f"    ✗ {f['key']} {f['path']}: {f['token']} ({f['why']})" for f in section["findings"]]
    out += [f"    - not audited: {u['key']}: {u['error']}" for u in section["unreadable"]]
    return out
