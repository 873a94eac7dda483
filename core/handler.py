"""The handler protocol every service module implements, and what a handler is given to work with.

A handler owns one resource type. It discovers that type in the source region (read-only), and
`apply`s one captured Resource on the recovery side: find what drflow created before (by its tags),
adopt it, reconcile it, or create it. The same `apply` serves nightly staging (pilot light) and
failover, so a failover re-applies everything idempotently from the recovery point alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from core.aws import Side
from core.models import Resource, ResourceResult
from core.netmap import NetworkMapper
from core.plan import Plan

TAG_PLAN = "drflow:plan"
TAG_SOURCE_ID = "drflow:source-id"
TAG_DRILL = "drflow:drill"


class Unrecoverable(Exception):
    """This resource cannot be recreated on the recovery side (the message says why); not retried."""


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


@dataclass
class ApplyContext:
    """Everything `apply` may use: the recovery side, the plan's mappings, and recovered dependencies."""

    plan: Plan
    recovery: Side
    mode: str  # "stage" (nightly pilot light), "recover" (failover) or "drill"
    deps: dict[str, ResourceResult]
    net: NetworkMapper
    drill_id: str | None = None

    @property
    def staging(self) -> bool:
        return self.mode == "stage"

    def ref(self, key: str | None) -> str | None:
        """The recovered id of a dependency, or None when it was (rightly) not recovered in this run."""
        if key is None:
            return None
        result = self.deps.get(key)
        if result is None:
            raise KeyError(f"{key} is not a declared dependency")
        return result.recovered_id

    def tags(self, resource: Resource) -> dict[str, str]:
        """The tags every recovered resource carries: its own (minus aws:*), plus drflow's markers."""
        tags = {k: v for k, v in resource.tags.items() if not k.startswith("aws:")}
        tags[TAG_PLAN] = self.plan.name
        tags[TAG_SOURCE_ID] = resource.source_id
        if self.drill_id:
            tags[TAG_DRILL] = self.drill_id
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

    def owns(self, tags: list[dict[str, str]] | None) -> bool:
        """True when the tags are this run's: a drill never adopts production copies, nor the reverse."""
        drill = {t["Key"]: t["Value"] for t in tags or []}.get(TAG_DRILL)
        return drill == self.drill_id


@runtime_checkable
class Handler(Protocol):
    type: ClassVar[str]          # "ec2:vpc"
    pilot_light: ClassVar[bool]  # True: cost-free, pre-created nightly; False: created at failover only
    internet_facing: ClassVar[bool]  # True: left out of an isolated drill
    version: ClassVar[int]       # bump when apply's behaviour changes, to invalidate cached results

    def discover(self, source: Side) -> list[Resource]:
        """Every resource of this type in the source region (read-only, paginated)."""

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        """The id of what drflow already created for this resource, if any (read-only)."""

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        """Create, adopt or reconcile the resource on the recovery side."""


Registry = dict[str, Handler]


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", []) or []}


def name_of(item: dict[str, Any]) -> str:
    return tags_of(item).get("Name", "")


def ensure_tagged(ec2: Any, resource_id: str, returned: dict[str, Any], ctx: ApplyContext, resource: Resource) -> None:
    """Tag a just-created resource when the create call did not (not every API applies TagSpecifications);
    without drflow's tags a re-run could not find it and would create a duplicate."""
    if tags_of(returned).get(TAG_SOURCE_ID) != resource.source_id:
        ec2.create_tags(Resources=[resource_id], Tags=ctx.tag_list(resource))


def find_owned(ctx: ApplyContext, resource: Resource, client: Any, operation: str, result_key: str,
               extra_filters: list[dict[str, Any]] | None = None,
               alive: Any = lambda item: True) -> dict[str, Any] | None:
    """What drflow created for `resource` before (tag lookup), so that a re-run adopts it."""
    filters = ctx.owner_filters(resource) + (extra_filters or [])
    method = getattr(client, operation)
    if client.can_paginate(operation):
        items = [i for p in client.get_paginator(operation).paginate(Filters=filters) for i in p[result_key]]
    else:
        items = method(Filters=filters)[result_key]
    items = [i for i in items if ctx.owns(i.get("Tags")) and alive(i)]
    return items[0] if items else None
