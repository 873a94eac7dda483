"""The optional capabilities a handler declares, beside the `Handler` protocol every handler implements.

A handler claims a capability by naming its protocol among its bases (`class ListenerHandler(Preflight,
Cleaner)`), and the flows and the engine ask for it with `isinstance`. tests/contract/ holds every handler in
the registry to what it claims: each member implemented by the handler itself (not the protocol's stub) with
the protocol's signature, and nothing implemented that is not claimed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from core.failback import FailbackContext, FailbackPhase, Step
    from core.handler import ApplyContext, CleanupContext
    from core.models import Resource


@runtime_checkable
class ClaimsArnKinds(Protocol):
    """The kinds of ARN this handler protects (`ec2:instance`, `s3`, `elasticloadbalancing:targetgroup`:
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


@runtime_checkable
class ConsoleLink(Protocol):
    """The AWS console page of one recovered resource (its recovered id) in `region`: the run's artifacts link to
    it (core.artifacts.console_links). A type without a page worth opening (a route table, a rule set) has none."""

    def console_url(self, recovered_id: str, region: str) -> str: ...


@runtime_checkable
class Encloses(Protocol):
    """A resource of this type holds others (a VPC its subnets, tables, groups, gateways): when the plan's scope
    selects it, it brings every resource whose config names it in the field `encloses` (core.scope.select)."""

    encloses: ClassVar[str]


@runtime_checkable
class RemovedAfter(Protocol):
    """Drill cleanup removes a type only after these types (flows/cleanup.py), where no recovery point shows
    the constraint: AWS refuses the removal while something of another kind is there, though no resource
    names it as a dependency (an internet gateway is not detached while a NAT gateway maps a public address
    in its VPC). Every dependency a recovery point records orders the teardown already."""

    removed_after: ClassVar[tuple[str, ...]]


@runtime_checkable
class FailsBack(Protocol):
    """Failback (flows/failback.py) brings this type's resources home in one of the phases after the network:
    `failback_phase` says which (core.failback.FailbackPhase, run in its order), `failback_plan` what it does
    (the dry run's text), and `fail_back` does it for one resource, reading the recovery side and writing in
    the primary; a re-run adopts what an earlier attempt made."""

    failback_phase: ClassVar[FailbackPhase]
    failback_plan: ClassVar[str]

    def fail_back(self, resource: Resource, ctx: FailbackContext) -> Step: ...


@runtime_checkable
class RestoredHome(Protocol):
    """Phase 1 of failback: the engine re-applies this type in the primary from the recovery point (network
    and IAM: what the primary still has is adopted, what it lost is recreated) before any data or server
    fails back. `restored_home` is True (the claim, readable where the class is)."""

    restored_home: ClassVar[bool]


@runtime_checkable
class PartOf(Protocol):
    """A resource with no identity of its own (a security group's rules): failback's survey of the primary
    takes it as present when the resource it is part of is, and `part_of` names that one's key."""

    def part_of(self, resource: Resource) -> str | None: ...


@runtime_checkable
class NotFailedBack(Protocol):
    """Why failback leaves this type as it is, for the report, where it is not core.failback.UNTOUCHED (the
    failover never changed the primary's copy)."""

    not_failed_back: ClassVar[str]


@runtime_checkable
class Audited(Protocol):
    """The recovered resource's documents as the recovery side answers them now (not as the recovery point has
    them): what the reference audit (core/audit.py) scans for strings that still name the primary. A type that
    carries a document (an environment, a policy, a value, user data, targets) claims it. Values may be secrets:
    the audit reports the path and the offending token only."""

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]: ...


@runtime_checkable
class ReportsHealth(Protocol):
    """Whether the recovered resource can take users now (a load balancer whose target groups have healthy
    targets, a service that is stable, an API with a deployed stage): what the traffic phase waits for before it
    sends users there (core/health.py, `ApplyContext.wait_healthy`). One look, no waiting: None when healthy,
    else why not, in words an SRE reads ("target group shop-web: 0 of 2 targets healthy (1 initial, 1
    unhealthy: Target.FailedHealthChecks)")."""

    def health(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> str | None: ...


@runtime_checkable
class PlansChanges(Protocol):
    """What a dry run (core.engine.plan_writes, `drflow failover --dry-run`) lists under the resource's step: the
    changes a run would make that an SRE must see before it (a DNS change batch), in the shape of
    Applied.details["traffic_changes"] (core/report.py); worked out with reads only, and without the run's
    results: a target the run itself recovers is named by its key."""

    def planned_changes(self, resource: Resource, ctx: ApplyContext) -> list[dict[str, Any]]: ...


CAPABILITIES: tuple[type, ...] = (ClaimsArnKinds, Preflight, Cleaner, ConsoleLink, Encloses, RemovedAfter, FailsBack,
                                  RestoredHome, PartOf, NotFailedBack, Audited, ReportsHealth, PlansChanges)
