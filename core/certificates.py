"""Which certificate a recovered listener, API domain or distribution uses in the recovery region.

The plan's `certificates` map is an override (an imported certificate, or one the team manages itself); any
other certificate is requested in the recovery region by the ACM handler (`acm:certificate`, linked from the
resource that uses it), nightly, so that a failover finds it issued. A service module reaches the recovered
certificate through its link, never by importing the ACM handler.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from core.aws import error_code
from core.handler import ApplyContext, Unrecoverable
from core.models import Resource, resource_key
from core.plan import Plan

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


def unrecovered_certificates(resource: Resource, arns: list[str], plan: Plan) -> list[str]:
    """The certificates among `arns` that the plan does not map and drflow does not recover either: no link to
    them resolved (not in ACM of the source region when the recovery point was made), or a recovery point made
    before certificates were linked. A pre-flight refuses them, naming each."""
    return sorted(a for a in set(arns) if a not in plan.certificates
                  and resource_key(CERTIFICATE, a) not in resource.dependencies)


def issued_recovery_certificate(ctx: ApplyContext, arn: str, user: str) -> str:
    """`recovery_certificate`, or Unrecoverable naming `arn` and its `user` (the listener, the environment option):
    when there is none, or when drflow's copy is not ISSUED (ELB and API Gateway refuse a pending certificate). A
    mapped certificate's status is the pre-flight's to check (it is the plan's)."""
    recovered = recovery_certificate(ctx, arn)
    if recovered is None:
        raise Unrecoverable(f"{user}: certificate {arn} has no mapping in the plan's `certificates` and is not "
                            f"recovered by drflow (not found in ACM in {ctx.plan.source.region})")
    if arn in ctx.plan.certificates:
        return recovered
    try:
        status = ctx.recovery.client("acm").describe_certificate(CertificateArn=recovered)["Certificate"]["Status"]
    except ClientError as exc:
        if error_code(exc) not in ("ResourceNotFoundException",):
            raise
        status = "not in ACM"
    if status != "ISSUED":
        raise Unrecoverable(f"{user}: certificate {arn} was requested again in {ctx.recovery.region} as {recovered}, "
                            f"which is {status}: ACM issues it once its DNS validation records resolve (the "
                            "certificate's DNS changes in the report list them)")
    return recovered
