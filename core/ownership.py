"""Whose is this resource: drflow's tags, and the one answer to "is this ours?" that every handler gives.

What drflow makes on the recovery side carries three tags: the plan (`drflow:plan`), the source resource it is
a copy of (`drflow:source-id`), and in a drill the drill's id (`drflow:drill`). A re-run adopts only what
carries them, never a customer's resource of the same name; a drill never adopts production's copy, nor the
reverse. A name on the recovery side is the source's, with a suffix from the drill id in a drill
(`recovered_name`), so that a drill never takes the name production recovers under.

Kept free of the handler protocol (core.handler imports it), so that it reads as the rule it is.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence, Union

if TYPE_CHECKING:
    from core.models import Resource
    from core.plan import Plan

TAG_PLAN = "drflow:plan"
TAG_SOURCE_ID = "drflow:source-id"
TAG_DRILL = "drflow:drill"

Tags = Union[Mapping[str, str], Sequence[Mapping[str, str]], None]  # {"k": "v"}, or AWS's [{"Key", "Value"}]


class Run(Protocol):
    """What ownership asks of a run: its plan and drill (an ApplyContext, a CleanupContext)."""

    plan: Plan
    drill_id: str | None


def tag_dict(tags: Tags) -> dict[str, str]:
    """Tags as a dict, from either shape AWS returns them in (`Key`/`Value` pairs, or a map)."""
    if not tags:
        return {}
    if isinstance(tags, Mapping):
        return dict(tags)
    return {t["Key"]: t["Value"] for t in tags}


def tags_of(item: Mapping[str, object]) -> dict[str, str]:
    """The tags of an item as EC2 (and IAM, ELB...) describe it: its `Tags` list, as a dict."""
    return tag_dict(item.get("Tags"))  # type: ignore[arg-type]


def claim(resource: Resource, run: Run) -> dict[str, str]:
    """The tags that make a resource drflow's copy of `resource` for this plan (and drill)."""
    tags = {TAG_PLAN: run.plan.name, TAG_SOURCE_ID: resource.source_id}
    if run.drill_id:
        tags[TAG_DRILL] = run.drill_id
    return tags


def same_run_kind(tags: Tags, run: Run) -> bool:
    """Made by a run of this kind: this drill's, or (no drill) production's."""
    return tag_dict(tags).get(TAG_DRILL) == run.drill_id


def copy_of(tags: Tags, resource: Resource, run: Run) -> bool:
    """This plan's copy of this source resource, whichever run made it: for what drills and production share
    (a replica bucket, a replica repository) or where the name already tells drills apart."""
    found = tag_dict(tags)
    return found.get(TAG_PLAN) == run.plan.name and found.get(TAG_SOURCE_ID) == resource.source_id


def owned(tags: Tags, resource: Resource, run: Run) -> bool:
    """This plan's copy of this source resource, made by a run of this kind (a drill's by this drill)."""
    return copy_of(tags, resource, run) and same_run_kind(tags, run)


def of_plan(tags: Tags, run: Run) -> bool:
    """Made by drflow for this plan (any source resource, any run)."""
    return tag_dict(tags).get(TAG_PLAN) == run.plan.name


def in_scope(tags: Tags, scope_tags: Mapping[str, str]) -> bool:
    """Carries every one of the plan's scope tags (no scope tag: everything)."""
    found = tag_dict(tags)
    return all(found.get(k) == v for k, v in scope_tags.items())


def recovered_name(name: str, run: Run, limit: int | None = None, suffix_length: int = 5,
                   no_double_dash: bool = False) -> str:
    """A name for the recovery side: the source's, or in a drill the source's (cut to fit `limit` characters)
    with a short suffix from the drill id. `no_double_dash`: for names where AWS refuses two hyphens in a row
    (RDS identifiers), the cut name loses its trailing hyphens; RDS keeps the 6-hex suffix it always had."""
    if not run.drill_id:
        return name
    suffix = "-" + hashlib.sha256(run.drill_id.encode()).hexdigest()[:suffix_length]
    cut = name[:limit - len(suffix)] if limit else name
    return (cut.rstrip("-") if no_double_dash else cut) + suffix
