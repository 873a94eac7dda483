"""CloudFront distributions whose origins are primary resources: in the traffic phase their origins are switched to
what those resources became (or, where the plan chose it, an origin group staged nightly holds the recovery origin
as its secondary), and failback switches them home.

CloudFront is global: a distribution is not lost with the primary region, and the users' domain names (its
aliases) stay on it. So drflow does not copy it; it changes the production distribution itself, in the traffic
phase, after the origins' recovered resources are healthy (ApplyContext.wait_healthy): each origin's DomainName
becomes the recovered one (a load balancer's recovered DNS name and an API's domain through the reference
translation, a bucket's replica's regional domain, its origin access control kept), in one UpdateDistribution with
the ETag it read (IfMatch), then botocore's `distribution_deployed` waiter, bounded by the plan's
traffic.health_timeout_seconds. The plan's `traffic` decides per distribution (`distributions` by id or alias, then
`records`/`zones` by alias, then `mode`): cutover, report (the exact change listed, nothing written) or none.

Origin groups (`traffic.origin_groups`): staged nightly, so that a failover needs no CloudFront write at all; the
statically stable choice, since CloudFront's control plane is in us-east-1 (AWS Fault Isolation Boundaries,
"Global services": CloudFront's control plane is in us-east-1, its data plane global), which may be the dark
region: a failover with origin groups that cannot reach CloudFront goes on, warned, on what the nights staged.
An origin whose recovery is made at failover only (a load balancer) gets its group at failover.

Not done on purpose: a drill never touches a production distribution (internet-facing: the engine leaves it out
of an isolated drill; a drill copy would serve nothing, since the aliases cannot be on two distributions
(CNAMEAlreadyExists) and the drill's load balancer is internal, and it would take minutes to deploy and as long to
disable before its deletion). A cross-account plan changes nothing: the distribution is in the source account,
which the failover does not write to; the exact change is listed for a human.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlparse

from botocore.exceptions import ClientError, WaiterError

from core.aws import Side, error_code
from core.capabilities import Audited, ClaimsArnKinds, ConsoleLink, FailsBack, Preflight, ReportsHealth
from core.failback import FailbackContext, FailbackPhase, Step
from core.handler import Applied, ApplyContext, Unrecoverable
from core.models import Mode, Outcome, Phase, Resource
from core.plan import Plan, dns_name
from core.report import TRAFFIC_CHANGES

from .origins import (COPY_PREFIX, GROUP_PREFIX, bucket_domain, grouped, home, link_of, origins, ref_of, switched,
                      target_of, with_failover_groups)

DISTRIBUTION = "cloudfront:distribution"
NOT_FOUND = {"NoSuchDistribution"}


def _cloudfront(side: Side) -> Any:
    """CloudFront's client, in the region of its control plane (AWS General Reference, "CloudFront endpoints":
    cloudfront.amazonaws.com, signed in us-east-1; China's in cn-northwest-1, GovCloud's in us-gov-west-1)."""
    region = side.region
    control = "cn-northwest-1" if region.startswith("cn-") else "us-gov-west-1" if region.startswith("us-gov-") \
        else "us-east-1"
    return side.client("cloudfront", region=control)


def _where(resource: Resource) -> str:
    aliases = resource.config.get("aliases") or []
    return f"{resource.source_id} ({', '.join(aliases)})" if aliases else resource.source_id


def _change(resource: Resource, origin_id: str, before: str, after: str | None, status: str) -> dict[str, Any]:
    return {"where": _where(resource), "what": f"origin {origin_id}", "from": before, "to": after, "status": status}


class DistributionHandler(ClaimsArnKinds, Preflight, ConsoleLink, FailsBack, Audited, ReportsHealth):
    type: ClassVar[str] = DISTRIBUTION
    phase: ClassVar[Phase] = Phase.TRAFFIC
    # applied nightly, though it creates nothing: a plan that chose origin groups stages them then (the one write
    # at night); any other night skips it, writing nothing
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = True  # an isolated drill leaves it out: see the module's docstring
    version: ClassVar[int] = 1
    arn_kinds: ClassVar[tuple[str, ...]] = ("cloudfront:distribution",)
    failback_phase: ClassVar[FailbackPhase] = FailbackPhase.TRAFFIC
    failback_plan: ClassVar[str] = ("switch the distribution's origins back to the primary's resources and remove "
                                    "drflow's origin groups, then wait until it is deployed")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        cf = _cloudfront(source)
        out = []
        summaries = [s for page in cf.get_paginator("list_distributions").paginate()
                     for s in page["DistributionList"].get("Items") or []]  # no Items at all when there is none
        for summary in summaries:
            targets = {o["Id"]: target_of(o["DomainName"], plan.source.region)
                       for o in (summary.get("Origins") or {}).get("Items") or []}
            if not any(targets.values()):
                continue  # fronts nothing of the primary region: nothing to recover
            tags = cf.list_tags_for_resource(Resource=summary["ARN"])["Tags"].get("Items") or []
            aliases = (summary.get("Aliases") or {}).get("Items") or []
            config_origins = [{"id": o["Id"], "domain": o["DomainName"], **(
                {"kind": t.kind, "name": t.name} if (t := targets[o["Id"]]) else {})}
                for o in summary["Origins"]["Items"] if not o["Id"].startswith(COPY_PREFIX)]
            found = [t for t in targets.values() if t]
            out.append(Resource(
                type=DISTRIBUTION, source_id=summary["Id"], arn=summary["ARN"], name=(aliases or [summary["Id"]])[0],
                tags={t["Key"]: t.get("Value", "") for t in tags},
                config={"aliases": aliases, "domain": summary["DomainName"], "origins": config_origins},
                endpoints={"domain": summary["DomainName"]},
                links=sorted({link for t in found if (link := link_of(t))}),
                refs=sorted({ref for t in found if (ref := ref_of(t))})))
        return out

    # ---- pre-flight (no AWS call: it must pass with CloudFront's control plane dark) -------------------

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """The plan's `traffic.distributions` and `traffic.origin_groups` name protected distributions (by id or
        alias): a name that matches none (a typo, a distribution out of scope) would silently get `mode` instead."""
        traffic = ctx.plan.traffic
        aliases = {dns_name(a) for r in resources for a in r.config.get("aliases") or []}
        known = {r.source_id for r in resources} | aliases
        listed = ", ".join(sorted(known))
        named = [("traffic.distributions", k) for k in traffic.distributions]
        if not isinstance(traffic.origin_groups, bool):
            named += [("traffic.origin_groups", dns_name(k) if "." in k else k) for k in traffic.origin_groups]
        return [(f"{field}.{key}", f"names no protected CloudFront distribution (ids and aliases: {listed})")
                for field, key in named if key not in known]

    # ---- what the origins became -----------------------------------------------------------------------

    def _recovered(self, resource: Resource, ctx: ApplyContext) -> dict[str, tuple[str | None, str | None]]:
        """Origin id -> (its recovered domain, None) or (None, why there is none), for every origin that names a
        primary resource."""
        t = ctx.translation(resource)
        endpoints = {k.lower(): v for k, v in t.endpoints.items()}
        by_host = {(urlparse(k).hostname or "").lower(): urlparse(v).hostname for k, v in t.endpoints.items()
                   if "://" in k}
        out: dict[str, tuple[str | None, str | None]] = {}
        for origin in resource.config["origins"]:
            kind, domain = origin.get("kind"), origin["domain"]
            if not kind:
                continue
            if kind in ("bucket", "bucket-website"):
                try:
                    replica = ctx.linked(f"s3:{origin['name']}").recovered_id
                except KeyError:
                    replica = None
                out[origin["id"]] = ((bucket_domain(kind, replica, ctx.recovery.region), None) if replica else
                                     (None, f"bucket {origin['name']} has no replica in this run"))
                continue
            dualstack = domain.lower().startswith("dualstack.")
            host = domain.lower().removeprefix("dualstack.")
            recovered = endpoints.get(host) or by_host.get(host)
            if recovered:
                out[origin["id"]] = (("dualstack." if dualstack else "") + recovered.lower(), None)
            else:
                out[origin["id"]] = (None, f"{domain} names the primary region's {kind} {origin['name']}, which this "
                                           "run did not recover")
        return out

    def _gate(self, resource: Resource, ctx: ApplyContext) -> None:
        """Wait until every origin's recovered resource is healthy; else refuse, nothing written."""
        keys = [k for k in resource.dependencies if k in ctx.deps]
        waited = ctx.wait_healthy(keys)
        if not waited.healthy:
            why = "; ".join(f"{k}: {v}" for k, v in sorted(waited.unhealthy.items()))
            raise Unrecoverable(f"distribution {_where(resource)} not changed: its recovered origins are not healthy "
                                f"after {waited.seconds:.0f} s ({why})")

    @staticmethod
    def _read(cf: Any, distribution_id: str) -> tuple[dict[str, Any], str] | None:
        try:
            answer = cf.get_distribution_config(Id=distribution_id)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise
        return answer["DistributionConfig"], answer["ETag"]

    @staticmethod
    def _write(cf: Any, distribution_id: str, config: dict[str, Any], etag: str, plan: Plan) -> list[str]:
        """One UpdateDistribution with the ETag read (a change made in between is refused, PreconditionFailed: the
        run fails and is re-run on the new configuration), then wait until it is deployed; a warning if it is not
        in time (the change is made; CloudFront finishes propagating it)."""
        try:
            cf.update_distribution(Id=distribution_id, IfMatch=etag, DistributionConfig=config)
        except ClientError as exc:
            if error_code(exc) == "PreconditionFailed":
                raise Unrecoverable(f"distribution {distribution_id} was changed by someone else between drflow's "
                                    "read and its write (PreconditionFailed): nothing written; run again, and drflow "
                                    "works from the new configuration") from None
            raise
        return DistributionHandler._deployed(cf, distribution_id, plan)

    @staticmethod
    def _deployed(cf: Any, distribution_id: str, plan: Plan) -> list[str]:
        poll = plan.traffic.health_poll_seconds
        attempts = max(1, -(-plan.traffic.health_timeout_seconds // poll))
        try:
            cf.get_waiter("distribution_deployed").wait(Id=distribution_id,
                                                        WaiterConfig={"Delay": poll, "MaxAttempts": attempts})
        except WaiterError as exc:  # the change stands, only slower to reach the edges
            return [f"distribution {distribution_id} changed but not yet deployed after "
                    f"{plan.traffic.health_timeout_seconds} s: CloudFront is still propagating it ({exc})"]
        return []

    # ---- apply -----------------------------------------------------------------------------------------

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        if ctx.plan.cross_account or ctx.drill_id:
            return None
        return resource.source_id if self._read(_cloudfront(ctx.recovery), resource.source_id) else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        traffic, aliases = ctx.plan.traffic, resource.config.get("aliases") or []
        groups = traffic.origin_groups_for(resource.source_id, aliases)
        mode = "groups" if groups else traffic.mode_for_distribution(resource.source_id, aliases)
        if ctx.drill_id or ctx.mode == Mode.DRILL:
            return self._listed(resource, ctx, "drill: production distribution not changed",
                                "drill: the production distribution is left alone (a drill never changes it)")
        if ctx.plan.cross_account and not ctx.staging:
            return self._listed(resource, ctx, "to change by hand",
                                f"the distribution is in the source account {ctx.plan.source.account_id}, which a "
                                "failover does not write to: change its origins by hand")
        if ctx.staging and mode != "groups":
            return Applied(resource.source_id, skipped="nothing staged: its origins are switched in the failover's "
                                                       "traffic phase")
        if ctx.staging and ctx.plan.cross_account:
            return Applied(None, skipped="origin groups are not staged in a cross-account plan: the distribution is "
                                         "in the source account")
        if mode == "none":
            return Applied(resource.source_id, skipped="traffic mode none: left alone")
        cf = _cloudfront(ctx.recovery)
        try:
            read = self._read(cf, resource.source_id)
        except ClientError as exc:
            if mode != "groups" or ctx.staging:
                raise
            return self._unreachable(resource, ctx, exc)
        if read is None:
            raise Unrecoverable(f"distribution {_where(resource)} no longer exists: nothing to switch")
        if mode == "groups":
            return self._grouped(resource, ctx, cf, *read)
        return self._switch(resource, ctx, cf, *read, mode)

    def _unreachable(self, resource: Resource, ctx: ApplyContext, exc: ClientError) -> Applied:
        """A failover with origin groups whose CloudFront control plane does not answer (it is in us-east-1, which
        may be the dark region): what the nights staged stands, and CloudFront fails over by itself; the failover
        goes on, warned, rather than failing on a write it does not need for the origins staged already."""
        changes = [_change(resource, oid, self._source_domain(resource, oid), to,
                           "origin group staged nightly (not checked: CloudFront did not answer)" if to else
                           f"not changed: {why}") for oid, (to, why) in self._recovered(resource, ctx).items()]
        return Applied(resource.source_id, details={TRAFFIC_CHANGES: changes, "mode": "origin groups"},
                       warnings=[f"CloudFront's control plane did not answer ({error_code(exc)}): the origin groups "
                                 "staged nightly stand and fail over by themselves; an origin recovered at failover "
                                 "only (a load balancer) has no group until a re-run reaches CloudFront"],
                       endpoints={"domain": resource.config["domain"]})

    def _listed(self, resource: Resource, ctx: ApplyContext, status: str, reason: str) -> Applied:
        """Nothing written: the change a cutover would make, listed."""
        changes = [_change(resource, oid, self._source_domain(resource, oid), to,
                           status if to else f"not changed: {why}")
                   for oid, (to, why) in self._recovered(resource, ctx).items()]
        return Applied(None, skipped=reason, details={TRAFFIC_CHANGES: changes})

    @staticmethod
    def _source_domain(resource: Resource, origin_id: str) -> str:
        return next(o["domain"] for o in resource.config["origins"] if o["id"] == origin_id)

    def _switch(self, resource: Resource, ctx: ApplyContext, cf: Any, config: dict[str, Any], etag: str,
                mode: str) -> Applied:
        now = origins(config)
        recovered = self._recovered(resource, ctx)
        wanted = {oid: to for oid, (to, _) in recovered.items() if to and oid in now and now[oid] != to}
        warnings = [f"origin {oid}: {why}" for oid, (_, why) in recovered.items() if why]
        changes = [_change(resource, oid, self._source_domain(resource, oid), to,
                           "already switched" if now.get(oid) == to else "to apply by hand" if mode == "report"
                           else "made") if to else _change(resource, oid, now.get(oid, ""), None, f"not changed: {why}")
                   for oid, (to, why) in recovered.items()]
        details: dict[str, Any] = {TRAFFIC_CHANGES: changes, "mode": mode}
        if mode != "report" and not wanted:  # a re-run after a write its run did not live to see deployed
            warnings += self._deployed(cf, resource.source_id, ctx.plan)
        if mode == "report" or not wanted:
            return Applied(resource.source_id, details=details, warnings=warnings,
                           endpoints={"domain": resource.config["domain"]})
        self._gate(resource, ctx)
        warnings += self._write(cf, resource.source_id, switched(config, wanted), etag, ctx.plan)
        return Applied(resource.source_id, changed=True, details=details, warnings=warnings,
                       endpoints={"domain": resource.config["domain"]})

    def _grouped(self, resource: Resource, ctx: ApplyContext, cf: Any, config: dict[str, Any], etag: str) -> Applied:
        """The recovery origins staged as origin groups' secondaries (nightly, and at failover for those made then)."""
        now, theirs = origins(config), grouped(config)
        changes, secondaries, warnings = [], {}, []
        for oid, (to, why) in self._recovered(resource, ctx).items():
            if oid in theirs:
                changes.append(_change(resource, oid, now.get(oid, ""), None, "not changed: already in an origin "
                                                                             "group of its own"))
            elif to:
                secondaries[oid] = to
                staged = now.get(COPY_PREFIX + oid) == to
                changes.append(_change(resource, oid, now.get(oid, ""), to, "origin group staged" if staged else
                                       "origin group made"))
            else:
                later = ctx.staging and oid not in theirs
                changes.append(_change(resource, oid, now.get(oid, ""), None, "origin group at failover: its "
                                       "recovered resource is made then" if later else f"not changed: {why}"))
                if not later:
                    warnings.append(f"origin {oid}: {why}")
        wanted = with_failover_groups(config, secondaries)
        details = {TRAFFIC_CHANGES: changes, "mode": "origin groups"}
        if wanted == config and not ctx.staging:  # a re-run after a write its run did not live to see deployed
            warnings += self._deployed(cf, resource.source_id, ctx.plan)
        if wanted == config:
            return Applied(resource.source_id, details=details, warnings=warnings,
                           endpoints={"domain": resource.config["domain"]})
        if not ctx.staging:
            self._gate(resource, ctx)
        warnings += self._write(cf, resource.source_id, wanted, etag, ctx.plan)
        return Applied(resource.source_id, changed=True, details=details, warnings=warnings,
                       endpoints={"domain": resource.config["domain"]})

    # ---- health, audit, console ------------------------------------------------------------------------

    def health(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> str | None:
        """Deployed and enabled: what a Route 53 alias to the distribution waits for."""
        try:
            dist = _cloudfront(ctx.recovery).get_distribution(Id=recovered_id)["Distribution"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return f"distribution {recovered_id} does not exist"
            raise
        if not dist["DistributionConfig"].get("Enabled"):
            return f"distribution {recovered_id} is disabled"
        if dist["Status"] != "Deployed":
            return f"distribution {recovered_id} is {dist['Status']} (its last change is still propagating)"
        return None

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        """The origins CloudFront sends requests to now. The first member of a drflow origin group is the primary's
        origin on purpose (CloudFront tries it first, the recovery copy on 5xx): left out, the group's secondary in."""
        read = self._read(_cloudfront(ctx.recovery), recovered_id)
        if read is None:
            return {}
        config = read[0]
        primaries = {g["Members"]["Items"][0]["OriginId"] for g in (config.get("OriginGroups") or {}).get("Items") or []
                     if g["Id"].startswith(GROUP_PREFIX)}
        return {"origins": {oid: domain for oid, domain in origins(config).items() if oid not in primaries}}

    def console_url(self, recovered_id: str, region: str) -> str:
        host = ("https://console.amazonaws.cn" if region.startswith("cn-")
                else "https://us-east-1.console.aws.amazon.com")  # CloudFront's console is global
        return f"{host}/cloudfront/v4/home#/distributions/{recovered_id}"

    # ---- failback --------------------------------------------------------------------------------------

    def fail_back(self, resource: Resource, ctx: FailbackContext) -> Step:
        """The origins on the primary's resources again, drflow's origin groups gone; nothing written when they are
        (a re-run, or a failover that changed nothing)."""
        cf = _cloudfront(ctx.aws.source)
        read = self._read(cf, resource.source_id)
        if read is None:
            return Step(Outcome.SKIPPED, None, {"reason": f"distribution {resource.source_id} no longer exists"})
        config, etag = read
        primaries = {o["id"]: o["domain"] for o in resource.config["origins"]}
        wanted = home(config, {oid: d for oid, d in primaries.items() if oid in origins(config)})
        now = origins(config)
        changes = [_change(resource, oid, now[oid], domain, "made") for oid, domain in sorted(primaries.items())
                   if oid in now and now[oid] != domain]
        changes += [_change(resource, oid, now[oid], None, "removed") for oid in sorted(now)
                    if oid.startswith(COPY_PREFIX)]
        if wanted == config:
            return Step(Outcome.UNCHANGED, resource.source_id, {TRAFFIC_CHANGES: []})
        warnings = self._write(cf, resource.source_id, wanted, etag, ctx.plan)
        return Step(Outcome.UPDATED, resource.source_id, {TRAFFIC_CHANGES: changes, "warnings": warnings})
