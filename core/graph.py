"""Dependency graphs: refused when they have a cycle or a dangling reference, before any write."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from graphlib import CycleError, TopologicalSorter


class GraphError(ValueError):
    pass


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle as a closed path [a, b, ..., a], or None. Edges to unknown nodes are ignored here."""
    sorter = TopologicalSorter({n: [d for d in deps if d in edges] for n, deps in edges.items()})
    try:
        sorter.prepare()
    except CycleError as exc:
        path = list(exc.args[1])  # graphlib gives the cycle with the first node repeated last
        return list(reversed(path))
    return None


def topological_order(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Every node after all of its dependencies; refuses dangling references and cycles, naming them."""
    dangling = sorted({f"{node} -> {dep}" for node, deps in edges.items() for dep in deps if dep not in edges})
    if dangling:
        raise GraphError("dangling reference(s), the dependency is not in the recovery point: "
                         + "; ".join(dangling))
    cycle = find_cycle(edges)
    if cycle:
        raise GraphError("dependency cycle: " + " -> ".join(cycle))
    return list(TopologicalSorter({n: list(d) for n, d in edges.items()}).static_order())


def dependency_closure(edges: Mapping[str, Iterable[str]], roots: Iterable[str]) -> set[str]:
    """The roots plus everything they depend on, transitively (used to pull dependencies into scope)."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(d for d in edges.get(node, ()) if d not in seen)
    return seen


def type_edges(resources: Iterable[Any]) -> dict[str, set[str]]:
    """The graph of resource TYPES under the resources' own: type A depends on type B when a resource of A depends
    on a resource of B (a type's edges to itself left out, and dependencies on resources not among them)."""
    resources = list(resources)
    type_of = {r.key: r.type for r in resources}
    edges: dict[str, set[str]] = {r.type: set() for r in resources}
    for r in resources:
        edges[r.type].update(type_of[d] for d in r.dependencies if d in type_of and type_of[d] != r.type)
    return edges


def teardown_order(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Every node before the nodes it depends on (dependants first: the order to remove things in), refusing
    dangling references and cycles as `topological_order` does. Nodes that nothing depends on come first; ties
    go by name, so that the same graph always gives the same order."""
    topological_order(edges)  # refuses dangling references and cycles, naming them
    dependants: dict[str, list[str]] = {node: [] for node in sorted(edges)}
    for node in sorted(edges):
        for dep in sorted(set(edges[node])):
            dependants[dep].append(node)
    return list(TopologicalSorter(dependants).static_order())
