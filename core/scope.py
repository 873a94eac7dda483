"""Which discovered resources a plan protects.

A resource is selected when it carries all of the plan's scope tags (and its type is among
`scope.resource_types`, when those are given). A selected resource that holds others brings everything
inside it (a VPC its subnets, route tables, ACLs, groups, gateways, endpoints: its handler `Encloses`).
Then every dependency of a selected resource is pulled in, whatever its tags or type, so that the recovery
point never has a dangling reference.
"""

from __future__ import annotations

from typing import Mapping

from core.capabilities import Encloses
from core.graph import dependency_closure
from core.handler import Registry, ScopeError
from core.models import Resource
from core.ownership import in_scope
from core.references import endpoint_finder, strings
from core.plan import Plan, Scope

# (the name or id of the resource holding a link, the link) -> the plan field that declared it: a link the plan
# wrote (`servers.web.depends_on: [rds:orders]`) is refused naming that field, one from a tag naming the resource
Declared = Mapping[tuple[str, str], str]


class _Catalog:
    """Resources found by "<service>:<name or id>" (`rds:orders`) or "<type>:<name or id>"
    ("iam:instance-profile:web", where a service has types whose names may coincide)."""

    def __init__(self, resources: list[Resource]):
        self.by_group: dict[str, list[Resource]] = {}
        for r in resources:
            self.by_group.setdefault(r.type, []).append(r)
            self.by_group.setdefault(r.type.split(":", 1)[0], []).append(r)

    def matches(self, ref: str) -> list[Resource]:
        service, _, rest = ref.partition(":")
        kind, _, name = rest.partition(":")
        if name and f"{service}:{kind}" in self.by_group:
            group, wanted = self.by_group[f"{service}:{kind}"], name
        else:
            group, wanted = self.by_group.get(service, []), rest
        return [c for c in group if wanted in (c.name, c.source_id)]


def link(resources: list[Resource]) -> list[Resource]:
    """Resolve each resource's `links` (`rds:orders`: the rds resource named or identified orders) into
    dependencies. A link that matches no resource, or several, is reported with the resource that holds it."""
    linked, problems = resolve_links(resources)
    if problems:
        raise ScopeError([p for found in problems.values() for p in found])
    return linked


def resolve_links(resources: list[Resource], declared: Declared | None = None,
                  ) -> tuple[list[Resource], dict[str, list[tuple[str, str]]]]:
    """`link` that does not refuse: the resources with the links it resolved, and by resource key the links it
    could not. The caller refuses only those of the resources it protects (`select_linked`): a stale reference
    held by something out of scope (another team's function naming a deleted repository) is not the plan's."""
    catalog = _Catalog(resources)
    problems: dict[str, list[tuple[str, str]]] = {}
    out = []
    for r in resources:
        if not r.links:
            out.append(r)
            continue
        deps = set(r.dependencies)
        for ref in r.links:
            matches = catalog.matches(ref)
            if len(matches) != 1:
                why = "matches no discovered resource" if not matches else \
                    "matches several: " + ", ".join(sorted(m.key for m in matches))
                field = (declared or {}).get((r.name, ref)) or (declared or {}).get((r.source_id, ref))
                problems.setdefault(r.key, []).append((field or r.name or r.label, f"depends on {ref!r}, which {why}"))
            else:
                deps.add(matches[0].key)
        out.append(r.model_copy(update={"dependencies": sorted(deps)}))
    return out, problems


def enclosing(registry: Registry) -> dict[str, str]:
    """Type -> the config field that names a resource of that type in the resources it holds."""
    return {t: h.encloses for t, h in registry.items() if isinstance(h, Encloses)}


def select_linked(resources: list[Resource], scope: Scope, holds: Mapping[str, str],
                  declared: Declared | None = None) -> list[Resource]:
    """Links resolved, then the scope selected; a link that could not be resolved is refused (ScopeError, every
    one at once) when the resource holding it is protected, and ignored when it is not."""
    linked, problems = resolve_links(resources, declared)
    selected = select(linked, scope, holds)
    refused = [p for r in selected for p in problems.get(r.key, [])]
    if refused:
        raise ScopeError(refused)
    return selected


def protected(resources: list[Resource], plan: Plan, registry: Registry) -> list[Resource]:
    """What a plan protects among the discovered resources, links and refs resolved: what replication records, and
    what `drflow validate` checks the plan's names against. ScopeError names every link that resolves to nothing."""
    return refer_endpoints(refer(select_linked(resources, plan.scope, enclosing(registry), plan.declared_links())))


def refer_endpoints(resources: list[Resource]) -> list[Resource]:
    """A resource whose documents name another's endpoint (an environment variable holding the database's
    address, a parameter holding a queue URL) depends on it: applied after it, and handed its recovered endpoint
    for core.policy.translate. Among the protected resources only; an edge that would close a cycle is dropped
    (the translation then warns of the endpoint it could not rewrite)."""
    owner = {e.lower(): r.key for r in resources for e in r.endpoints.values() if e}
    finder = endpoint_finder(list(owner))
    if finder is None:
        return resources
    edges = {r.key: set(r.dependencies) for r in resources}
    for r in resources:
        named = {owner[m.lower()] for text in strings([r.config, r.data]) for m in finder.findall(text)}
        for key in sorted(named - {r.key} - edges[r.key]):
            if r.key not in dependency_closure(edges, [key]):
                edges[r.key].add(key)
    return [r.model_copy(update={"dependencies": sorted(edges[r.key])}) if edges[r.key] != set(r.dependencies)
            else r for r in resources]


def refer(resources: list[Resource]) -> list[Resource]:
    """Resolve each resource's `refs` among the protected resources only (after `select`): a policy that names a
    replicated bucket waits for it and learns its replica's name; a bucket that is not protected is no dependency
    (the policy keeps naming it, and the translation says so). A ref that would close a cycle is dropped."""
    catalog = _Catalog(resources)
    edges = {r.key: set(r.dependencies) for r in resources}
    for r in resources:
        for ref in r.refs:
            matches = catalog.matches(ref)
            if len(matches) == 1 and matches[0].key != r.key \
                    and r.key not in dependency_closure(edges, [matches[0].key]):
                edges[r.key].add(matches[0].key)
    return [r.model_copy(update={"dependencies": sorted(edges[r.key])}) if edges[r.key] != set(r.dependencies)
            else r for r in resources]


def select(resources: list[Resource], scope: Scope, holds: Mapping[str, str]) -> list[Resource]:
    """The protected resources: the tagged ones, what the tagged holders hold (`holds`: `enclosing`), and every
    dependency of those."""
    types = set(scope.resource_types)

    def wanted_type(r: Resource) -> bool:
        return not types or r.type in types

    tagged = {r.key for r in resources if wanted_type(r) and in_scope(r.tags, scope.tags)}
    seeds = set(tagged)
    for holder, field in holds.items():
        held_by = {k for k in tagged if k.startswith(f"{holder}/")}
        seeds |= {r.key for r in resources if wanted_type(r) and r.config.get(field) in held_by}
    edges = {r.key: r.dependencies for r in resources}
    keep = dependency_closure(edges, seeds)
    return [r for r in resources if r.key in keep]
