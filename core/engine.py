"""The graph engine: one Prefect task per resource, each waiting exactly for its dependencies.

Dependencies are passed to each task as `allow_failure(future)` parameters, so that Prefect both
orders the tasks (the UI draws the graph) and hands every task its dependencies' results; a task
whose dependency failed is refused with a BlockedByDependency error naming it, and everything
independent goes on in parallel.

Caching: a task's cache key is the resource's content hash plus the target (account, region, plan),
the action (staging, or recovery of one recovery point / drill) and its dependencies' recovered ids.
An unchanged resource therefore costs no call on the next nightly run, and a failover that is
started again resumes: what completed is not redone. Staged results expire after a week, so that
drift on the recovery side (someone deleted a staged subnet) is repaired at least weekly; `refresh`
re-checks everything now.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from prefect import get_run_logger, task
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run as prefect_flow_run
from prefect.utilities.annotations import allow_failure, quote

from core import observers
from core.artifacts import Progress, artifact_key
from core.aws import AwsAccess, error_code, is_transient
from core.capabilities import PlansChanges, Preflight, ReportsHealth
from core.graph import topological_order
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext, Applied, BlockedByDependency, Registry, RunState, ScopeError, Unrecoverable
from core.models import Mode, Outcome, Phase, Resource, ResourceResult, canonical_json
from core.netmap import NetworkMapper
from core.plan import Plan

STAGE_CACHE_TTL = timedelta(days=7)
RECOVER_CACHE_TTL = timedelta(days=1)
TASK_RETRIES = 4
DISCOVER = "discover"  # the observers' name of discovery, before any recovery phase (one per resource type)


@dataclass
class RunSpec:
    """One engine run: which plan, on which side, in which mode. Plain object: never hashed, never stored."""

    plan: Plan
    aws: AwsAccess
    registry: Registry
    mode: Mode
    scope: str  # cache scope: "stage", or the recovery point id (+ drill id)
    drill_id: str | None = None
    refresh: bool = False
    point_in_time: datetime | None = None
    captured_at: datetime | None = None  # the recovery point's capture time (a failover's)
    net: NetworkMapper = field(init=False)
    index: OwnedIndex = field(init=False)
    shared: RunState = field(init=False)
    resources: dict[str, Resource] = field(init=False)  # every resource run_graph was given, by key

    def __post_init__(self) -> None:
        self.net = NetworkMapper(self.plan.network.cidrs_for(self.mode == Mode.DRILL), self.plan.network.az_map,
                                 self.plan.recovery.region)
        self.index = OwnedIndex()
        self.shared = RunState()
        self.resources = {}

    @property
    def target(self) -> str:
        return f"{self.plan.recovery.account_id}:{self.plan.recovery.region}:{self.plan.name}"

    def context(self, deps: dict[str, ResourceResult]) -> ApplyContext:
        ctx = ApplyContext(plan=self.plan, recovery=self.aws.recovery, mode=self.mode, deps=deps,
                           net=self.net, index=self.index, drill_id=self.drill_id, shared=self.shared,
                           point_in_time=self.point_in_time, captured_at=self.captured_at,
                           source=self.aws.source if self.mode == Mode.STAGE else None)
        ctx.health_of = lambda key: self.health(key, ctx)
        return ctx

    def health(self, key: str, ctx: ApplyContext) -> str | None:
        """A dependency's health, asked of its handler (core.capabilities.ReportsHealth); None for a type that
        declares none, and for one this run did not recover (nothing to wait for)."""
        result = ctx.deps[key]
        handler = self.registry.get(result.type)
        resource = self.resources.get(key)
        if not isinstance(handler, ReportsHealth) or resource is None or not result.recovered_id:
            return None
        return handler.health(resource, result.recovered_id, ctx)


def _cache_key(context: Any, parameters: dict[str, Any]) -> str:
    resource: Resource = parameters["resource"]
    spec: RunSpec = parameters["spec"]
    deps = {k: (v.recovered_id if isinstance(v, ResourceResult) else f"error:{v!r}")
            for k, v in parameters["deps"].items()}
    handler = spec.registry[resource.type]
    body = [spec.mode, spec.scope, spec.target, resource.key, resource.content_hash, deps, handler.version]
    return "drflow-" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


def retry_transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry a task only when its error is transient (throttling, 5xx, connection)."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - we only classify it
        return is_transient(exc)
    return False


def _outcome(applied: Applied, mode: Mode) -> Outcome:
    if applied.skipped:
        return Outcome.SKIPPED
    if applied.created:
        return Outcome.CREATED
    if applied.changed:
        return Outcome.UPDATED
    return Outcome.UNCHANGED if mode == Mode.STAGE else Outcome.ADOPTED


@task(name="apply-resource", retries=TASK_RETRIES, retry_delay_seconds=[1, 2, 4, 8], retry_jitter_factor=0.5,
      retry_condition_fn=retry_transient_only, persist_result=True, cache_key_fn=_cache_key,
      log_prints=False)
def apply_resource(resource: Resource, deps: dict[str, Any], spec: RunSpec) -> ResourceResult:
    """Apply one resource on the recovery side, once all its dependencies are done."""
    failed = [k for k, v in deps.items() if not isinstance(v, ResourceResult) or v.outcome == Outcome.FAILED]
    if failed:
        raise BlockedByDependency("blocked: dependency failed: " + ", ".join(sorted(failed)))
    started = datetime.now(timezone.utc)
    handler = spec.registry[resource.type]
    if spec.mode == Mode.DRILL and handler.internet_facing:
        applied = Applied(None, skipped="drill: isolated, no internet-facing resources")
    else:
        applied = handler.apply(resource, spec.context(deps))
    result = ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id,
                            name=resource.name, outcome=_outcome(applied, spec.mode),
                            recovered_id=applied.recovered_id, details=applied.details,
                            warnings=applied.warnings, endpoints=_paired(resource, applied),
                            started=started, ended=datetime.now(timezone.utc))
    logger = get_run_logger()
    for warning in applied.warnings:
        logger.warning("%s: %s", resource.label, warning)
    logger.info("%s: %s %s", resource.label, result.outcome.value, applied.recovered_id or applied.skipped or "")
    return result


def _paired(resource: Resource, applied: Applied) -> dict[str, str]:
    """Source endpoint -> recovered endpoint, for the endpoints the handler read back under the names it captured."""
    return {resource.endpoints[name]: value for name, value in applied.endpoints.items()
            if name in resource.endpoints and value}


def _not_staged(resource: Resource) -> ResourceResult:
    now = datetime.now(timezone.utc)
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=Outcome.SKIPPED, details={"reason": "created at failover only (not cost-free)"},
                          deferred=sorted(resource.endpoints.values()), started=now, ended=now)


def run_graph(resources: list[Resource], spec: RunSpec, known: dict[str, ResourceResult] | None = None,
              progress: Progress | None = None) -> list[ResourceResult]:
    """Run `apply` for every resource in dependency order, in parallel where the graph allows.

    `known`: results of dependencies settled before this run (failback: what the primary still has), which
    are not applied; every dependency of `resources` must be in `resources` or in `known`. `progress`: the
    caller's progress artifact, when this graph is one part of its run (failback); else the run gets its own.
    Either way the process's run observers (core/observers.py) hear of each resource under its handler's phase.

    Must be called inside a flow. Returns one result per resource, in topological order; never raises
    for a failed resource (the result says `failed`), so that the caller can report everything.

    The resource and the run spec are passed `quote`d: Prefect would otherwise walk them looking for
    futures on every submit (costly for thousands of tasks, and racy: the spec's per-run state is
    written by running tasks while another task's parameters are being walked).
    """
    known = known or {}
    by_key = {r.key: r for r in resources}
    spec.resources.update(by_key)
    order = topological_order({r.key: [d for d in r.dependencies if d not in known] for r in resources})
    pending: dict[str, PrefectFuture | ResourceResult] = dict(known)
    phases = [phase_of(by_key[key], spec.registry) for key in order]
    _announce(phases)  # before the first submit: a phase's time on the terminal starts with the graph's
    for key in order:
        resource = by_key[key]
        handler = spec.registry[resource.type]
        if spec.mode == Mode.STAGE and not handler.pilot_light:
            pending[key] = _not_staged(resource)
            continue
        deps = {d: (allow_failure(pending[d]) if isinstance(pending[d], PrefectFuture) else pending[d])
                for d in resource.dependencies}
        ttl = STAGE_CACHE_TTL if spec.mode == Mode.STAGE else RECOVER_CACHE_TTL
        pending[key] = apply_resource.with_options(
            task_run_name=f"{resource.type} {resource.source_id}", cache_expiration=ttl,
            refresh_cache=spec.refresh,
        ).submit(resource=quote(resource), deps=deps, spec=quote(spec))  # quoted: see run_graph
    _follow(spec, [pending[key] for key in order], progress, phases)
    return [_collect(by_key[key], pending[key]) for key in order]


def _follow(spec: RunSpec, items: list[PrefectFuture | ResourceResult], progress: Progress | None,
            phases: list[str]) -> None:
    """Wait for every task, keeping the run's progress artifact and observers current as they finish (in any
    order); `phases`: each item's phase, as announced to the observers."""
    futures = [f for f in items if isinstance(f, PrefectFuture)]
    own = progress is None
    if progress is None:
        progress = Progress(artifact_key(spec.plan.name, _flow_label(), "progress"), total=len(items), done=0)
    progress.done += len(items) - len(futures)
    phase_of_run = {}
    for item, phase in zip(items, phases):
        if isinstance(item, PrefectFuture):
            phase_of_run[item.task_run_id] = phase
        else:  # settled before any task ran (not staged): done at once
            observers.finished(phase, failed=item.outcome == Outcome.FAILED)
    for future in as_completed(futures):
        future.wait()  # done: sets its final state, so that reading it costs no API call
        failed = future.state.is_failed()
        progress.advance(failed=failed)
        observers.finished(phase_of_run[future.task_run_id], failed=failed)
    if own:
        progress.finish()


def _announce(phases: list[str]) -> None:
    """Tell the run observers how many resources each phase has, phases in their reading order."""
    totals: dict[str, int] = {}
    for phase in phases:
        totals[phase] = totals.get(phase, 0) + 1
    for phase in sorted(totals, key=_phase_rank):
        observers.planned(phase, totals[phase])


def phase_of(resource: Resource, registry: Registry) -> str:
    """The resource's recovery phase as observers see it: its handler's (OTHER for a handler without one, a
    test's double)."""
    return str(getattr(registry.get(resource.type), "phase", Phase.OTHER))


def _phase_rank(phase: str) -> int:
    """Phases in the order an SRE reads them (core.models.Phase), any other name after."""
    order = [str(p) for p in Phase]
    return order.index(phase) if phase in order else len(order)


def _flow_label() -> str:
    """The running flow's name without the drflow- prefix ("failover"), as in the report's artifact keys."""
    name = prefect_flow_run.flow_name or "run"
    return name.removeprefix("drflow-")


def _collect(resource: Resource, item: PrefectFuture | ResourceResult) -> ResourceResult:
    if isinstance(item, ResourceResult):
        return item
    item.wait()
    state = item.state
    try:
        result: ResourceResult = item.result()
    except BlockedByDependency as exc:
        return _failure(resource, Outcome.SKIPPED, str(exc))
    except Unrecoverable as exc:
        return _failure(resource, Outcome.FAILED, f"unrecoverable: {exc}")
    except Exception as exc:  # noqa: BLE001 - reported per resource, never swallowed
        code = error_code(exc)
        return _failure(resource, Outcome.FAILED, f"{code + ': ' if code else ''}{exc}")
    if state.name == "Cached":
        result = result.model_copy(update={"outcome": Outcome.UNCHANGED,
                                           "details": {**result.details, "cached": True}})
    return result


def _failure(resource: Resource, outcome: Outcome, error: str) -> ResourceResult:
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id,
                          name=resource.name, outcome=outcome, error=error)


def handler_preflight(resources: list[Resource], spec: RunSpec) -> list[tuple[str, str]]:
    """Each handler's own read-only checks over all its resources (IPs in use, certificate mappings), before
    a run writes anything; `ctx.mode` tells a handler whether it is staging or recovering."""
    by_type: dict[str, list[Resource]] = {}
    for resource in resources:
        by_type.setdefault(resource.type, []).append(resource)
    ctx = spec.context({})
    problems: list[tuple[str, str]] = []
    for type_, group in by_type.items():
        handler = spec.registry[type_]
        if isinstance(handler, Preflight):
            problems += handler.preflight(group, ctx)
    return problems


def plan_writes(resources: list[Resource], spec: RunSpec, known: set[str] | dict[str, Any] = frozenset()
                ) -> list[dict[str, Any]]:
    """The ordered writes a run would make, found with reads only (for --dry-run); `known` as in run_graph."""
    order = topological_order({r.key: [d for d in r.dependencies if d not in known] for r in resources})
    by_key = {r.key: r for r in resources}
    ctx = spec.context({})
    steps = []
    for key in order:
        resource = by_key[key]
        handler = spec.registry[resource.type]
        if spec.mode == Mode.DRILL and handler.internet_facing:
            action, existing = "skip (drill is isolated)", None
        elif spec.mode == Mode.STAGE and not handler.pilot_light:
            action, existing = "skip (created at failover only)", None
        else:
            existing = handler.find(resource, ctx)
            action = f"adopt {existing} and reconcile" if existing else "create"
        step = {"step": len(steps) + 1, "key": key, "name": resource.name, "action": action,
                "after": sorted(resource.dependencies)}
        if isinstance(handler, PlansChanges) and not action.startswith("skip"):
            step["changes"] = handler.planned_changes(resource, ctx)
        steps.append(step)
    return steps


@task(name="discover", retries=TASK_RETRIES, retry_delay_seconds=[1, 2, 4, 8], retry_jitter_factor=0.5,
      retry_condition_fn=retry_transient_only, cache_policy=None)
def discover_type(resource_type: str, spec: RunSpec) -> list[Resource]:
    """Read-only discovery of one resource type in the source region."""
    return spec.registry[resource_type].discover(spec.aws.source, spec.plan)


def discover_all(spec: RunSpec) -> list[Resource]:
    """Every resource of every registered type in the source region, one task per type, in parallel."""
    futures = [discover_type.with_options(task_run_name=f"discover {t}").submit(t, quote(spec)) for t in spec.registry]
    observers.planned(DISCOVER, len(futures))
    resources: list[Resource] = []
    problems: list[tuple[str, str]] = []
    for future in futures:  # every type's scope problems at once, not only the first type's
        try:
            resources += future.result()
        except ScopeError as exc:
            problems += exc.problems
        finally:
            observers.finished(DISCOVER, failed=future.state.is_failed())
    if problems:
        raise ScopeError(problems)
    return resources


def elapsed(since: float) -> float:
    return round(time.monotonic() - since, 3)
