"""The optional capabilities a handler declares, beside the `Handler` protocol every handler implements.

A handler claims a capability by naming its protocol among its bases (`class ListenerHandler(Preflight,
Cleaner)`), and the flows and the engine ask for it with `isinstance`. tests/contract/ holds every handler in
the registry to what it claims: each member implemented by the handler itself (not the protocol's stub) with
the protocol's signature, and nothing implemented that is not claimed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from core.handler import ApplyContext, CleanupContext
    from core.models import Resource


@runtime_checkable
class ClaimsArnKinds(Protocol):
    """The kinds of ARN this handler protects ("ec2:instance", "s3", "elasticloadbalancing:targetgroup":
    "<service>:<resource type>", see core.coverage.arn_kind): a tagged resource in scope whose kind no handler
    claims is reported as not protected."""

    arn_kinds: ClassVar[tuple[str, ...]]


@runtime_checkable
class Preflight(Protocol):
    """Read-only checks of all the handler's resources before a run writes anything (core.engine
    handler_preflight); `ctx.mode` tells staging from recovery."""

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]: ...


@runtime_checkable
class Cleaner(Protocol):
    """Remove what drills made of this type on the recovery side, found by drflow's tags (`ctx.ec2_filters()`,
    `ctx.matches(tags)`), never anything without the drill tag; idempotent (nothing left: returns []); waits
    until AWS has really removed it, so that the next type's removal (flows/cleanup.py) is not refused."""

    def cleanup(self, ctx: CleanupContext) -> list[str]: ...


CAPABILITIES: tuple[type, ...] = (ClaimsArnKinds, Preflight, Cleaner)
