"""Which certificate a recovered listener, API domain or distribution uses in the recovery region.

The plan's `certificates` map is an override (an imported certificate, or one the team manages itself); any
other certificate is requested in the recovery region by the ACM handler (`acm:certificate`, linked from the
resource that uses it), nightly, so that a failover finds it issued. A service module reaches the recovered
certificate through its link, never by importing the ACM handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.plan import Plan

if TYPE_CHECKING:
    from core.handler import ApplyContext

CERTIFICATE = "acm:certificate"


def certificate_links(plan: Plan, arns: list[str]) -> list[str]:
    """The links a resource using these certificates declares (core.scope.link): each one the map does not
    override, so that the ACM handler's copy of it comes into scope and is applied first."""
    return [f"acm:{arn}" for arn in sorted(set(arns)) if arn not in plan.certificates]


def recovery_certificate(ctx: ApplyContext, arn: str) -> str | None:
    """The recovery region's certificate for a source certificate ARN: the plan's mapping, else what the ACM
    handler made of it (a declared dependency); None when neither (the caller refuses, naming `arn`)."""
    if arn in ctx.plan.certificates:
        return ctx.plan.certificates[arn]
    try:
        return ctx.linked(f"{CERTIFICATE}:{arn}").recovered_id
    except KeyError:
        return None
