"""EC2's lookup index: how handlers of EC2 resources find what drflow made before, by its tags.

EC2 describes filter by tag but are slow and throttled (tag filters are the slowest EC2 reads), so one
paginated, tag-filtered describe per kind of resource and run (`OwnedIndex`) answers every handler's `find`;
what a task creates is added at once (`created`), so that a retried task finds what its first attempt made.
Shared by the network, server and launch-template handlers; other services find theirs by name.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from botocore.exceptions import ClientError

from core.aws import error_code
from core.models import Mode, Resource
from core.ownership import TAG_PLAN, TAG_SOURCE_ID, same_run_kind, tags_of

if TYPE_CHECKING:
    from core.handler import ApplyContext


def ec2_arn(region: str, item: dict[str, Any], kind: str, resource_id: str) -> str:
    """The ARN of an EC2 network resource (the API returns the owner, not the ARN, for most of them)."""
    return f"arn:aws:ec2:{region}:{item.get('OwnerId', '')}:{kind}/{resource_id}"


def name_of(item: dict[str, Any]) -> str:
    return tags_of(item).get("Name", "")


def ensure_tagged(ec2: Any, resource_id: str, returned: dict[str, Any], ctx: ApplyContext, resource: Resource) -> None:
    """Tag a just-created resource when the create call did not (not every API applies TagSpecifications);
    without drflow's tags a re-run could not find it and would create a duplicate."""
    if tags_of(returned).get(TAG_SOURCE_ID) != resource.source_id:
        ec2.create_tags(Resources=[resource_id], Tags=ctx.tag_list(resource))


@dataclass(frozen=True)
class Lookup:
    """How to list and describe one kind of EC2 resource."""

    operation: str   # describe_vpcs
    result_key: str  # Vpcs
    id_field: str    # VpcId
    ids_param: str   # VpcIds


class OwnedIndex:
    """What drflow already made for this plan on the recovery side, by source id (at failback, in the primary,
    also every original under its own id: what survived there is adopted, not made again).

    One paginated, tag-filtered describe per resource kind and run, instead of one per resource (tag
    filters are the slowest EC2 reads). What a task creates is added at once, so that a retried task
    finds what its first attempt made instead of making it twice.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, dict[str, str]] = {}

    def ids(self, ctx: ApplyContext, client: Any, lookup: Lookup) -> dict[str, str]:
        with self._lock:
            if lookup.operation not in self._ids:
                found: dict[str, str] = {}
                if ctx.mode == Mode.FAILBACK:  # back in the primary, an original is its own recovered resource
                    found.update((i[lookup.id_field], i[lookup.id_field]) for i in _listed(client, lookup, []))
                tagged = _listed(client, lookup, [{"Name": f"tag:{TAG_PLAN}", "Values": [ctx.plan.name]}])
                for item in sorted(tagged, key=lambda i: i[lookup.id_field]):
                    if same_run_kind(item.get("Tags"), ctx):
                        found.setdefault(tags_of(item).get(TAG_SOURCE_ID, ""), item[lookup.id_field])
                self._ids[lookup.operation] = found
            return self._ids[lookup.operation]

    def remember(self, lookup: Lookup, source_id: str, resource_id: str) -> None:
        with self._lock:
            self._ids.setdefault(lookup.operation, {})[source_id] = resource_id

    def forget(self, lookup: Lookup, source_id: str) -> None:
        with self._lock:
            self._ids.get(lookup.operation, {}).pop(source_id, None)


def _listed(client: Any, lookup: Lookup, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if client.can_paginate(lookup.operation):
        pages = client.get_paginator(lookup.operation).paginate(Filters=filters)
        return [i for p in pages for i in p[lookup.result_key]]
    return getattr(client, lookup.operation)(Filters=filters)[lookup.result_key]


def find_owned(ctx: ApplyContext, resource: Resource, client: Any, lookup: Lookup,
               alive: Callable[[dict[str, Any]], bool] = lambda item: True) -> dict[str, Any] | None:
    """What drflow created for `resource` before, described afresh, so that a re-run adopts it."""
    resource_id = ctx.index.ids(ctx, client, lookup).get(resource.source_id)
    if resource_id is None:
        return None
    try:
        items = getattr(client, lookup.operation)(**{lookup.ids_param: [resource_id]})[lookup.result_key]
    except ClientError as exc:
        if not error_code(exc).endswith(".NotFound"):
            raise
        items = []
    item = next((i for i in items if alive(i)), None)
    if item is None:
        ctx.index.forget(lookup, resource.source_id)
    return item


def find_vpc_default(ctx: ApplyContext, resource: Resource, client: Any, lookup: Lookup,
                     default_filter: dict[str, Any]) -> dict[str, Any] | None:
    """The default a VPC is born with (main route table, default ACL, default group): adopted, not created."""
    vpc_id = ctx.ref(resource.config["vpc"]) if resource.config["vpc"] in ctx.deps else None
    if vpc_id is None:  # a dry run has no recovered dependencies: look for a previous adoption
        return find_owned(ctx, resource, client, lookup)
    items = getattr(client, lookup.operation)(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                      default_filter])[lookup.result_key]
    return items[0] if items else None


def adopt_tags(ctx: ApplyContext, resource: Resource, client: Any, item: dict[str, Any], resource_id: str) -> bool:
    """Tag an adopted default as drflow's; True when that took a write. Never an original (failback): a
    production resource is not marked as drflow's."""
    if tags_of(item).get(TAG_SOURCE_ID) == resource.source_id or resource_id == resource.source_id:
        return False
    client.create_tags(Resources=[resource_id], Tags=ctx.tag_list(resource))
    return True


def created(ctx: ApplyContext, resource: Resource, lookup: Lookup, resource_id: str) -> str:
    """Record a resource this run just created (see OwnedIndex); returns its id."""
    ctx.index.remember(lookup, resource.source_id, resource_id)
    return resource_id
