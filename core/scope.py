"""Which discovered resources a plan protects.

A resource is selected when it carries all of the plan's scope tags (and its type is among
`scope.resource_types`, when those are given). A selected VPC brings everything inside it (subnets,
route tables, ACLs, groups, gateways, endpoints). Then every dependency of a selected resource is
pulled in, whatever its tags or type, so that the recovery point never has a dangling reference.
"""

from __future__ import annotations

from core.graph import dependency_closure
from core.handler import ScopeError
from core.models import Resource
from core.plan import Scope


def link(resources: list[Resource]) -> list[Resource]:
    """Resolve each resource's `links` ("rds:orders": the rds resource named or identified orders) into
    dependencies. A link that matches no resource, or several, is reported with the resource that holds it."""
    by_service: dict[str, list[Resource]] = {}
    for r in resources:
        by_service.setdefault(r.type.split(":", 1)[0], []).append(r)
    problems: list[tuple[str, str]] = []
    out = []
    for r in resources:
        if not r.links:
            out.append(r)
            continue
        deps = set(r.dependencies)
        for ref in r.links:
            service, _, name = ref.partition(":")
            matches = [c for c in by_service.get(service, []) if name in (c.name, c.source_id)]
            if len(matches) != 1:
                why = "matches no discovered resource" if not matches else \
                    "matches several: " + ", ".join(sorted(m.key for m in matches))
                problems.append((r.name or r.label, f"depends on {ref!r}, which {why}"))
            else:
                deps.add(matches[0].key)
        out.append(r.model_copy(update={"dependencies": sorted(deps)}))
    if problems:
        raise ScopeError(problems)
    return out


def select(resources: list[Resource], scope: Scope) -> list[Resource]:
    types = set(scope.resource_types)

    def wanted_type(r: Resource) -> bool:
        return not types or r.type in types

    tagged = {r.key for r in resources if wanted_type(r) and all(r.tags.get(k) == v for k, v in scope.tags.items())}
    vpcs = {k for k in tagged if k.startswith("ec2:vpc/")}
    seeds = tagged | {r.key for r in resources if wanted_type(r) and r.config.get("vpc") in vpcs}
    edges = {r.key: r.dependencies for r in resources}
    keep = dependency_closure(edges, seeds)
    return [r for r in resources if r.key in keep]
