"""Dependency graphs: refused when they have a cycle or a dangling reference, before any write."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
