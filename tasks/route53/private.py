"""Private hosted zones: the names a workload finds its parts by (`db.internal.shop`), recreated on the recovery side
and associated with the recovered VPCs, their records pointing at what the records' targets became.

Scope: a private zone is protected when it carries the plan's scope tags, or when the VPC it serves (the first VPC it
is associated with in the source region, its config's `vpc`) is protected: a VPC encloses the zones that answer in
it, so that `db.internal.shop` comes back with the shop's network even if nobody tagged the zone. The VPCs are
references, not dependencies: a zone also associated with another team's VPC does not pull that VPC into the plan;
it is associated with the recovered VPCs only (the report lists the others), and refused (before any write) when
none of its VPCs is recovered. VPCs of other regions are left as they are: their zone answers there still.

A private zone costs little and must exist before the servers boot (they resolve the database by it), so it is
staged nightly, pointing at what exists tonight (a load balancer made at failover only keeps the primary's name
tonight, without a warning), and re-applied at failover, when every target is recovered. A second apply makes no
write: the zone's record sets are compared with the wanted ones, and only a difference is sent (one change batch,
waited for until INSYNC); a failover's changes are listed with the DNS changes of the run (details["traffic_changes"],
the runbook's table). In the recovery account across accounts (the recovery side's client). A drill gets its own
copy of the zone, of the same name (a private zone's name may repeat across VPCs), associated with the drill's VPCs
only, and removed by `cleanup`.

Failback leaves the primary's zone alone: the failover never changed it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.artifacts import console_host
from core.aws import Side, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack, Preflight
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable
from core.models import Phase, Resource, resource_key
from core.plan import Plan
from core.report import TRAFFIC_CHANGES
from tasks.route53 import records as rr
from tasks.route53 import zones

PRIVATE_ZONE = "route53:private-zone"
MADE = "made"
VPC = "ec2:vpc"


class PrivateZoneHandler(ClaimsArnKinds, Preflight, Cleaner, ConsoleLink, NotFailedBack, Audited):
    type: ClassVar[str] = PRIVATE_ZONE
    phase: ClassVar[Phase] = Phase.NETWORK  # part of the recovered network: resolved by everything that boots in it
    pilot_light: ClassVar[bool] = True  # a zone costs little, and servers need it as they boot
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    # every hosted zone's ARN (public ones too: their records are route53:record resources, traffic.py)
    arn_kinds: ClassVar[tuple[str, ...]] = ("route53:hostedzone",)
    not_failed_back: ClassVar[str] = ("the primary's private zone was never changed by the failover and answers in "
                                      "the primary's VPCs as before; the recovered copy stays associated with the "
                                      "recovered VPCs until you remove it")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        route53 = source.client("route53")
        private = [z for z in zones.hosted_zones(route53) if (z.get("Config") or {}).get("PrivateZone")]
        tags = zones.zone_tags(route53, [z["Id"] for z in private]) if private else {}
        out = []
        for zone in private:
            zone_id = zones.short_id(zone["Id"])
            associated = zones.vpcs_of(route53, zone["Id"])
            here = sorted(v["VPCId"] for v in associated if v["VPCRegion"] == source.region)
            if not here:
                continue  # it answers in other regions' VPCs only: nothing of this region's to recover
            elsewhere = sorted(f"{v['VPCId']} ({v['VPCRegion']})" for v in associated
                               if v["VPCRegion"] != source.region)
            records = [r for r in paginate(route53, "list_resource_record_sets", "ResourceRecordSets",
                                           HostedZoneId=zone["Id"]) if not zones.apex_record(r, zone["Name"])]
            vpcs = [resource_key(VPC, v) for v in here]
            out.append(Resource(
                type=PRIVATE_ZONE, source_id=zone_id, name=zone["Name"].rstrip("."), arn=zones.zone_arn(zone_id),
                tags=tags.get(zone_id, {}),
                config={"name": zone["Name"], "comment": (zone.get("Config") or {}).get("Comment", ""),
                        "vpc": vpcs[0], "vpcs": vpcs, "other_regions": elsewhere, "records": records,
                        "targets": sorted({t for r in records for t in rr.targets(r)})},
                refs=[f"{VPC}:{v}" for v in here]))
        return out

    # ---- the recovered zone ----------------------------------------------------------------------------

    @staticmethod
    def _vpcs(resource: Resource, ctx: ApplyContext) -> list[str]:
        """The recovered VPCs the zone is associated with (the drill's, in a drill)."""
        return sorted(filter(None, (ctx.deps[k].recovered_id for k in resource.config["vpcs"] if k in ctx.deps)))

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """A private zone with none of its VPCs in the plan cannot be made (AWS needs a VPC to create one)."""
        return [(f"{r.type} {r.name}", f"associated with {', '.join(k.split('/', 1)[1] for k in r.config['vpcs'])}, "
                 "none of which this plan recovers: protect one of its VPCs, or leave the zone out of scope")
                for r in resources if not set(r.config["vpcs"]) & set(r.dependencies)]

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        zone = zones.find_copy(ctx.recovery.client("route53"), zones.PRIVATE_COPY, resource.source_id,
                               resource.config["name"], ctx)
        return zones.short_id(zone["Id"]) if zone else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        route53 = ctx.recovery.client("route53")
        cfg = resource.config
        vpcs = self._vpcs(resource, ctx)
        if not vpcs:
            raise Unrecoverable(f"private zone {resource.name}: none of its VPCs ({', '.join(cfg['vpcs'])}) is "
                                "recovered by this run")
        region = ctx.recovery.region
        tags = ctx.tags(resource)
        zone = zones.find_copy(route53, zones.PRIVATE_COPY, resource.source_id, cfg["name"], ctx)
        created = changed = False
        if zone is None:
            zone = zones.create_copy(route53, zones.PRIVATE_COPY, resource, cfg["name"],
                                     {"VPCRegion": region, "VPCId": vpcs[0]},
                                     f"drflow: recovered copy of {resource.source_id} ({resource.name})", ctx, tags)
            created = True
        elif not zones.claimed(zones.zone_tags(route53, [zone["Id"]]).get(zones.short_id(zone["Id"]), {}), tags):
            zones.tag(route53, zone["Id"], tags)  # an earlier run made it and was stopped before it tagged it
            changed = True
        changed |= self._associate(route53, zone["Id"], region, vpcs)
        wanted, warnings = self._records(resource, ctx, zone["Id"])
        have = [r for r in paginate(route53, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone["Id"])
                if not zones.apex_record(r, zone["Name"])]
        changes = rr.diff(wanted, have)
        if changes:
            zones.change(route53, zone["Id"], changes, f"drflow: {resource.name} from {resource.source_id}")
            changed = True
        before = {rr.identity(rr.canonical(r)): r for r in have}
        listed = [{"where": f"{resource.name} (private, {zones.short_id(zone['Id'])})",
                   "what": rr.label(c["ResourceRecordSet"]),
                   "from": rr.shown(before.get(rr.identity(rr.canonical(c["ResourceRecordSet"])))),
                   "to": rr.shown(c["ResourceRecordSet"]) if c["Action"] == "UPSERT" else "(deleted)",
                   "status": MADE} for c in changes]
        if cfg.get("other_regions"):
            warnings.append(f"also associated in the source with {', '.join(cfg['other_regions'])}: left as it is")
        zone_id = zones.short_id(zone["Id"])
        return Applied(zone_id, created=created, changed=changed and not created, warnings=warnings,
                       details={"zone": cfg["name"], "vpcs": vpcs, "records": len(wanted), "changes": len(changes),
                                **({TRAFFIC_CHANGES: listed} if listed and not ctx.staging else {})})

    @staticmethod
    def _associate(route53: Any, zone_id: str, region: str, vpcs: list[str]) -> bool:
        """The zone associated with exactly these VPCs of the recovery region (new ones first: a private zone keeps
        at least one VPC)."""
        have = {v["VPCId"] for v in zones.vpcs_of(route53, zone_id) if v["VPCRegion"] == region}
        for vpc in sorted(set(vpcs) - have):
            route53.associate_vpc_with_hosted_zone(HostedZoneId=zone_id, VPC={"VPCRegion": region, "VPCId": vpc})
        for vpc in sorted(have - set(vpcs)):
            route53.disassociate_vpc_from_hosted_zone(HostedZoneId=zone_id, VPC={"VPCRegion": region, "VPCId": vpc})
        return have != set(vpcs)

    @staticmethod
    def _records(resource: Resource, ctx: ApplyContext, zone_id: str) -> tuple[list[dict[str, Any]], list[str]]:
        """The record sets translated, and what could not be. Nightly, a target not recovered yet (a database
        restored at failover only: its result carries no endpoint tonight) keeps the primary's name without a
        warning: the failover's re-apply translates it, and warns of what it still cannot."""
        wanted, warnings = [], []
        for record in resource.config["records"]:
            done = rr.translate_record(record, resource, ctx, own_zone=(resource.source_id, zones.short_id(zone_id)))
            wanted.append(done.record)
            warnings += [] if ctx.staging else done.warnings
        return wanted, warnings

    # ---- audit, drills, console ------------------------------------------------------------------------

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        """The recovered zone's record sets as Route 53 answers them now (its SOA and NS left out)."""
        route53 = ctx.recovery.client("route53")
        zone = route53.get_hosted_zone(Id=recovered_id)["HostedZone"]
        return {rr.label(r): rr.answer(r)
                for r in paginate(route53, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=recovered_id)
                if not zones.apex_record(r, zone["Name"])}

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        return zones.remove_drill_zones(ctx, zones.PRIVATE_COPY)

    def console_url(self, recovered_id: str, region: str) -> str:
        return f"{console_host(region)}/route53/v2/hostedzones?region={region}#ListRecordSets/{recovered_id}"
