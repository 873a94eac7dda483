"""Which discovered resources a plan protects.

A resource is selected when it carries all of the plan's scope tags (and its type is among
`scope.resource_types`, when those are given). A selected VPC brings everything inside it (subnets,
route tables, ACLs, groups, gateways, endpoints). Then every dependency of a selected resource is
pulled in, whatever its tags or type, so that the recovery point never has a dangling reference.
"""

from __future__ import annotations

from core.graph import dependency_closure
from core.models import Resource
from core.plan import Scope


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
