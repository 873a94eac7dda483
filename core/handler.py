"""The handler protocol every service module implements, and what a handler is given to work with.

A handler owns one resource type. It discovers that type in the source region (read-only), and
`apply`s one captured Resource on the recovery side: find what drflow created before (by its tags),
adopt it, reconcile it, or create it. The same `apply` serves nightly staging (pilot light) and
failover, so a failover re-applies everything idempotently from the recovery point alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol, runtime_checkable

from botocore.exceptions import ClientError

from core.aws import Side, error_code
from core.health import HealthWait, wait_healthy
from core.models import Mode, Phase, Resource, ResourceResult
from core.netmap import NetworkMapper
from core.ownership import TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID, claim, tag_dict, tags_of  # noqa: F401 - re-exported
from core.plan import Plan
from core.policy import Translation

if TYPE_CHECKING:
    from core.ec2_index import Lookup, OwnedIndex


class Unrecoverable(Exception):
    """This resource cannot be recreated on the recovery side (the message says why); not retried."""


class ScopeError(ValueError):
    """The plan and the source estate disagree (a dependency on an unknown server, ...); `problems` names each."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))


class BlockedByDependency(Exception):
    """A dependency failed, so this resource was not attempted."""


@dataclass
class Applied:
    """What a handler did to one resource."""

    recovered_id: str | None
    created: bool = False
    changed: bool = False
    skipped: str | None = None  # reason, when nothing was done on purpose
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # the recovered resource's endpoints, named as in its Resource.endpoints (read back after recovery)
    endpoints: dict[str, str] = field(default_factory=dict)


class RunState:
    """Per-run state a handler keeps (a DRS launch batcher, a listing read once), made once under a lock,
    however many of the run's tasks ask for it at the same moment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Any] = {}

    def once(self, key: str, factory: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._items:
                self._items[key] = factory()
            return self._items[key]


@dataclass
class ApplyContext:
    """Everything `apply` may use: the recovery side, the plan's mappings, and recovered dependencies."""

    plan: Plan
    recovery: Side
    mode: Mode
    deps: dict[str, ResourceResult]
    net: NetworkMapper
    index: OwnedIndex
    drill_id: str | None = None
    shared: RunState = field(default_factory=RunState)  # per-run state a handler keeps
    source: Side | None = None  # the primary side: nightly staging only; a failover never has it
    point_in_time: datetime | None = None  # recover servers from the snapshots of this moment (None: latest)
    # when the recovery point being recovered was captured (a failover or drill; None when staging): what a
    # pre-flight measures a copy's age against, since copies stop refreshing once the primary is dark
    captured_at: datetime | None = None
    # a dependency's key -> None when what it became can take users now, else why not (its handler's
    # core.capabilities.ReportsHealth; None for a type that declares no health); set by the engine
    health_of: Callable[[str], str | None] | None = None

    @property
    def staging(self) -> bool:
        return self.mode == Mode.STAGE

    @property
    def recreates_iam(self) -> bool:
        """Whether IAM resources are made anew on the recovery side: in a separate recovery account, and at
        failback (in the primary, what it lost). A same-account failover uses the production roles themselves
        (IAM is global), plus drflow's grant."""
        return self.plan.cross_account or self.mode == Mode.FAILBACK

    def wait_healthy(self, keys: list[str]) -> HealthWait:
        """Wait (the plan's traffic.health_timeout_seconds at most) until these dependencies are healthy: the
        traffic phase's gate before it sends users to them (core/health.py)."""
        for key in keys:
            if key not in self.deps:
                raise KeyError(f"{key} is not a declared dependency")
        check = self.health_of or (lambda key: None)
        traffic = self.plan.traffic
        return wait_healthy(keys, check, traffic.health_timeout_seconds, traffic.health_poll_seconds)

    def ref(self, key: str | None) -> str | None:
        """The recovered id of a dependency, or None when it was (rightly) not recovered in this run."""
        if key is None:
            return None
        result = self.deps.get(key)
        if result is None:
            raise KeyError(f"{key} is not a declared dependency")
        return result.recovered_id

    def linked(self, ref: str) -> ResourceResult:
        """The dependency a resource named by link ("elbv2:target-group:shop-web", "ecr:repository:shop-api",
        "<type>:<name or source id>"), as core.scope.link resolved it: a handler need not know how another
        service keys its resources. KeyError when no declared dependency matches."""
        service, _, rest = ref.partition(":")
        kind, _, name = rest.partition(":")
        results = list(self.deps.values())
        typed = [r for r in results if name and r.type == f"{service}:{kind}"]
        candidates, wanted = (typed, name) if typed else (
            [r for r in results if r.type.split(":", 1)[0] == service], rest)
        for result in candidates:
            if wanted in (result.name, result.source_id):
                return result
        raise KeyError(f"{ref} is not a declared dependency")

    def translation(self, resource: Resource, skip_type: str | None = None) -> Translation:
        """From the source to the recovery side, with the new names of what the resource's dependencies became
        (replica buckets, recovered groups and VPC endpoints, mapped keys, and the
        recovered endpoints of databases, load balancers, queues, ...: `ResourceResult.endpoints`); for core.policy.translate of any document
        a resource carries (a policy, environment variables, option settings). `skip_type`: a type prefix whose
        dependencies keep their names ("iam:" for IAM's own documents)."""
        renames, endpoints, deferred = {}, {}, set()
        for key in resource.dependencies:
            dep = self.deps.get(key)
            if not dep or (skip_type and dep.type.startswith(skip_type)):
                continue
            deferred.update(dep.deferred)
            if dep.recovered_id and (
                    dep.recovered_id != dep.source_id or self.mode == Mode.FAILBACK):  # failback: kept under its own id
                renames[dep.source_id] = dep.recovered_id
            endpoints.update({k: v for k, v in dep.endpoints.items() if k != v})
        plan = self.plan
        return Translation(plan.source.account_id, plan.recovery.account_id, plan.source.region,
                           plan.recovery.region, renames, endpoints, frozenset(deferred))

    def tags(self, resource: Resource) -> dict[str, str]:
        """The tags every recovered resource carries: its own (minus aws:*), plus drflow's claim on it."""
        tags = {k: v for k, v in resource.tags.items() if not k.startswith("aws:")}
        tags.update(claim(resource, self))
        return tags

    def tag_list(self, resource: Resource) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in sorted(self.tags(resource).items())]

    def tag_spec(self, resource: Resource, ec2_type: str) -> list[dict[str, Any]]:
        return [{"ResourceType": ec2_type, "Tags": self.tag_list(resource)}]

    def owner_filters(self, resource: Resource) -> list[dict[str, Any]]:
        """EC2 filters that find what drflow created for this resource in this plan (and drill)."""
        filters = [{"Name": f"tag:{TAG_PLAN}", "Values": [self.plan.name]},
                   {"Name": f"tag:{TAG_SOURCE_ID}", "Values": [resource.source_id]}]
        if self.drill_id:
            filters.append({"Name": f"tag:{TAG_DRILL}", "Values": [self.drill_id]})
        return filters


@runtime_checkable
class Handler(Protocol):
    type: ClassVar[str]          # "<service>:<kind>", the key of the registry and of every resource of the type
    phase: ClassVar[Phase]       # the recovery phase the report counts its resources in (RTO per phase, runbook)
    pilot_light: ClassVar[bool]  # True: cost-free, pre-created nightly; False: created at failover only
    internet_facing: ClassVar[bool]  # True: left out of an isolated drill
    version: ClassVar[int]       # bump when apply's behaviour changes, to invalidate cached results

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        """Every resource of this type in the source region (read-only, paginated). Raises ScopeError
        when the plan refers to something that is not there."""

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        """The id of what drflow already created for this resource, if any (read-only)."""

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        """Create, adopt or reconcile the resource on the recovery side."""

    # optional capabilities (arn kinds, preflight, drill cleanup) are declared protocols: core/capabilities.py


Registry = dict[str, Handler]


def phases(registry: Registry) -> Callable[[str], Phase]:
    """A resource type -> its handler's phase; OTHER for a type this registry has no handler for."""
    return lambda type_: registry[type_].phase if type_ in registry else Phase.OTHER


@dataclass
class CleanupContext:
    """What a handler's `cleanup` may use: the recovery side, and which drill(s) of which plan to remove.

    `drill_id` None means every drill of the plan. Production copies (no drflow:drill tag) never match."""

    plan: Plan
    recovery: Side
    drill_id: str | None = None
    shared: RunState = field(default_factory=RunState)

    def ec2_filters(self) -> list[dict[str, Any]]:
        """EC2 describe filters for the drills' resources: the plan's tag, and the drill tag (any value for all)."""
        drill = ({"Name": f"tag:{TAG_DRILL}", "Values": [self.drill_id]} if self.drill_id
                 else {"Name": "tag-key", "Values": [TAG_DRILL]})
        return [{"Name": f"tag:{TAG_PLAN}", "Values": [self.plan.name]}, drill]

    def ec2_items(self, client: Any, lookup: Lookup, filters: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """The drills' EC2 resources of one kind (tag-filtered describe, checked again on the tags returned)."""
        kwargs = {"Filters": self.ec2_filters() + (filters or [])}
        if client.can_paginate(lookup.operation):
            items = [i for p in client.get_paginator(lookup.operation).paginate(**kwargs) for i in p[lookup.result_key]]
        else:
            items = getattr(client, lookup.operation)(**kwargs)[lookup.result_key]
        return sorted((i for i in items if self.matches(i.get("Tags"))), key=lambda i: i[lookup.id_field])

    def matches(self, tags: dict[str, str] | list[dict[str, str]] | None) -> bool:
        """True for a drill resource of this plan (and of this drill, when one is named)."""
        found = tag_dict(tags)
        drill = found.get(TAG_DRILL)
        return (found.get(TAG_PLAN) == self.plan.name and bool(drill)
                and (self.drill_id is None or drill == self.drill_id))


def delete_quietly(call: Callable[..., Any], **kwargs: Any) -> bool:
    """Run one delete call; False when the thing is already gone (a cleanup run again, or racing itself)."""
    try:
        call(**kwargs)
    except ClientError as exc:
        code = error_code(exc)
        if "NotFound" in code:  # InvalidSubnetID.NotFound, DBInstanceNotFound, AccessPointNotFound, ...
            return False
        raise
    return True
