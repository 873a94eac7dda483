"""Record sets: what a record points at, and the same record pointing at what that became on the recovery side.

A record set names its targets three ways, each translated its own way:
- an alias (`AliasTarget`: a load balancer, a CloudFront distribution, an API Gateway domain, another record of the
  zone): its DNS name becomes the recovered target's (the dependency whose endpoints hold it), its HostedZoneId the
  recovered target's canonical zone (a load balancer's zone differs per region);
- values naming hosts (CNAME, MX, SRV, TXT): core.policy.translate, with the endpoints of the dependencies (a
  database's address, a load balancer's DNS name) and the region swap of AWS hosts;
- addresses (A, AAAA): an Elastic IP's address becomes the recovered Elastic IP's, any other private address goes
  through the plan's network mapping (`ctx.net`: kept, or moved with its block).

`targets` lists, normalised, the host names a record points at ("dualstack." and the final dot removed), so that
core.scope.refer_endpoints finds the protected resources a zone's records name and orders them first.
"""

from __future__ import annotations

import copy
from typing import Any

from core.handler import ApplyContext
from core.models import Resource, ResourceResult
from core.policy import Translation, translate

DUALSTACK = "dualstack."
CLOUDFRONT_ZONE = "Z2FDTNDATAQYW2"  # every CloudFront distribution's alias zone (Route 53 Developer Guide, AliasTarget)
ADDRESS_TYPES = ("A", "AAAA")
# what identifies a record set in its zone (routing policies repeat a name and type under several identifiers)
IDENTITY = ("Name", "Type", "SetIdentifier")


def host(name: str) -> str:
    """An alias or CNAME target as a resource's endpoint names it: no `dualstack.` prefix, no final dot, lower."""
    name = name.lower().rstrip(".")
    return name[len(DUALSTACK):] if name.startswith(DUALSTACK) else name


def identity(record: dict[str, Any]) -> tuple[str, str, str]:
    return (record["Name"].lower(), record["Type"], record.get("SetIdentifier", ""))


def label(record: dict[str, Any]) -> str:
    """`www.shop.example. A` (and its set identifier), for reports."""
    return " ".join(filter(None, (record["Name"], record["Type"], record.get("SetIdentifier"))))


def answer(record: dict[str, Any]) -> dict[str, Any]:
    """What a record set answers with (its alias target or its values): what the reference audit reads back."""
    return {k: v for k, v in record.items() if k in ("AliasTarget", "ResourceRecords")}


def shown(record: dict[str, Any] | None) -> str:
    """What a record set answers, in a line of the report: `alias <name> (<zone>)` or its values."""
    if not record:
        return ""
    alias = record.get("AliasTarget")
    if alias:
        return f"alias {alias['DNSName']} ({alias['HostedZoneId']})"
    return ", ".join(v["Value"] for v in record.get("ResourceRecords", []))


def targets(record: dict[str, Any]) -> list[str]:
    """The hosts and addresses a record set points at, normalised (see the module's docstring)."""
    alias = record.get("AliasTarget")
    if alias:
        return [host(alias["DNSName"])]
    values = [v["Value"] for v in record.get("ResourceRecords", [])]
    if record["Type"] == "CNAME":
        return [host(v) for v in values]
    return values


def canonical(record: dict[str, Any]) -> dict[str, Any]:
    """A record set as compared: names lower case with their final dot, values in order."""
    out = copy.deepcopy(record)
    out["Name"] = out["Name"].lower().rstrip(".") + "."
    if out.get("AliasTarget"):
        out["AliasTarget"]["DNSName"] = out["AliasTarget"]["DNSName"].lower().rstrip(".") + "."
    if out.get("ResourceRecords"):
        out["ResourceRecords"] = sorted(out["ResourceRecords"], key=lambda v: v["Value"])
    return out


class Translated:
    """A record set for the recovery side: the record, the dependencies it now points at (what a cutover waits
    for), and warnings (a target no dependency recovered, kept)."""

    def __init__(self, record: dict[str, Any], pointed_at: list[str], warnings: list[str]):
        self.record, self.pointed_at, self.warnings = record, pointed_at, warnings


def translate_record(record: dict[str, Any], resource: Resource, ctx: ApplyContext, own_zone: tuple[str, str] | None,
                     addresses: dict[str, str] | None = None) -> Translated:
    """`record` pointing at the recovered targets. `own_zone`: (the source zone id, the recovered zone's id) for an
    alias to another record of the same zone; `addresses`: public address -> the Elastic IP's resource key."""
    t = ctx.translation(resource)
    out = copy.deepcopy(record)
    pointed: list[str] = []
    warnings: list[str] = []
    where = label(record)
    alias = out.get("AliasTarget")
    if alias:
        _alias(alias, ctx, resource, t, own_zone, pointed, warnings, where)
    elif out.get("ResourceRecords"):
        values = []
        for value in out["ResourceRecords"]:
            values.append({"Value": _value(value["Value"], out["Type"], resource, ctx, t, addresses or {}, pointed,
                                           warnings, where)})
        out["ResourceRecords"] = values
    if out.get("HealthCheckId") and ctx.plan.cross_account:
        warnings.append(f"{where}: health check {out.pop('HealthCheckId')} is in the primary account; the record is "
                        "recovered without it (create a health check in the recovery account and attach it)")
    return Translated(out, sorted(set(pointed)), warnings)


def _by_endpoint(ctx: ApplyContext, resource: Resource, name: str) -> ResourceResult | None:
    """The dependency whose source endpoint is `name` (a load balancer's DNS name, a database's address)."""
    for key in resource.dependencies:
        dep = ctx.deps.get(key)
        if dep and any(host(source) == name for source in [*dep.endpoints, *dep.deferred]):
            return dep
    return None


def _alias(alias: dict[str, Any], ctx: ApplyContext, resource: Resource, t: Translation,
           own_zone: tuple[str, str] | None, pointed: list[str], warnings: list[str], where: str) -> None:
    if own_zone and alias["HostedZoneId"] == own_zone[0]:  # another record of this zone: the recovered zone's
        alias["HostedZoneId"] = own_zone[1]
        return
    name = host(alias["DNSName"])
    dep = _by_endpoint(ctx, resource, name)
    if dep is None:
        done = translate(alias["DNSName"], t)
        warnings += [f"{where}: {w}" for w in done.warnings]
        return
    recovered = next((v for k, v in dep.endpoints.items() if host(k) == name), None)
    if not dep.recovered_id or not recovered:
        return  # made at failover only (deferred): tonight's copy keeps the primary's target, the failover's does not
    prefix = DUALSTACK if alias["DNSName"].lower().startswith(DUALSTACK) else ""
    alias["DNSName"] = prefix + recovered.lower().rstrip(".") + "."
    zone = alias_zone(dep, recovered, ctx)
    if zone:
        alias["HostedZoneId"] = zone
    else:
        warnings.append(f"{where}: the alias zone of {recovered} is unknown; kept {alias['HostedZoneId']}")
    pointed.append(dep.key)


def alias_zone(dep: ResourceResult, recovered: str, ctx: ApplyContext) -> str | None:
    """The Route 53 zone an alias to the recovered target names: what its handler reported (a load balancer's
    canonical hosted zone), else a load balancer's read from ELB, CloudFront's fixed zone."""
    for field in ("canonical_hosted_zone_id", "hosted_zone_id", "regional_hosted_zone_id"):
        if dep.details.get(field):
            return dep.details[field]
    if (dep.recovered_id or "").startswith("arn:aws:elasticloadbalancing:"):
        balancers = ctx.recovery.client("elbv2").describe_load_balancers(LoadBalancerArns=[dep.recovered_id])
        return balancers["LoadBalancers"][0].get("CanonicalHostedZoneId")
    if recovered.lower().rstrip(".").endswith(".cloudfront.net"):
        return CLOUDFRONT_ZONE
    return None


def _value(value: str, record_type: str, resource: Resource, ctx: ApplyContext, t: Translation,
           addresses: dict[str, str], pointed: list[str], warnings: list[str], where: str) -> str:
    if record_type in ADDRESS_TYPES:
        key = addresses.get(value)
        if key:
            dep = ctx.deps.get(key)
            public = (dep.details.get("public_ip") if dep else None)
            if public:
                pointed.append(key)
                return public
            if dep is None or dep.recovered_id is None:
                return value  # the Elastic IP is made at failover only: tonight's copy keeps the primary's
        return ctx.net.ip(value)
    dep = _by_endpoint(ctx, resource, host(value)) if record_type == "CNAME" else None
    if dep is not None and dep.recovered_id:
        pointed.append(dep.key)
    done = translate(value, t)
    warnings += [f"{where}: {w}" for w in done.warnings]
    return done.document


def diff(wanted: list[dict[str, Any]], have: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The changes that make `have` (the zone's record sets, its SOA and NS left out) `wanted`: an UPSERT for each
    record missing or different, a DELETE for each record the source no longer has. [] when they agree."""
    current = {identity(r): canonical(r) for r in have}
    target = {identity(r): canonical(r) for r in wanted}
    changes = [{"Action": "UPSERT", "ResourceRecordSet": record} for key, record in sorted(target.items())
               if current.get(key) != record]
    changes += [{"Action": "DELETE", "ResourceRecordSet": have_record} for key, have_record in sorted(current.items())
                if key not in target]
    return changes
