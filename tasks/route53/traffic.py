"""Public DNS records that send users to the primary: changed, in the failover's last phase (`traffic`), to send them
to the recovered workload, once it can take them.

One resource per record set of a public hosted zone that points at a primary resource: an alias to a load balancer,
an API Gateway domain or a CloudFront distribution, an A/AAAA record holding an Elastic IP's address, a CNAME to a
regional AWS endpoint. Its scope is its zone's tags. What it points at is found by core.scope.refer_endpoints (the
record's `targets` name the resource's endpoint) or, for an Elastic IP, by reference; those become its
dependencies, recovered first.

At failover, per `plan.traffic.mode_for(zone, record, type)`:
- `cutover`: wait (ctx.wait_healthy, the plan's health timeout) until every recovered target is healthy (its
  handler's ReportsHealth: target group health, a stable service, a deployed stage); then UPSERT the record and wait
  for Route 53 to have it everywhere (INSYNC). Still unhealthy at the deadline: the resource fails, naming each
  target's reason, and the record is left as it was;
- `report`: nothing changed; the exact change batch listed for a human (details["traffic_changes"]);
- `none`: nothing changed, listed as such.
Across accounts, the public zone stays in the primary account, which a failover does not write to: the change is
reported to apply by hand. On AWS, Route 53's control plane is in us-east-1 (zones.py): a cutover needs it up.

A record using failover routing (Failover PRIMARY/SECONDARY with health checks) is Route 53's own cutover: the
PRIMARY is never changed (Route 53 stops answering it when its health check fails), the SECONDARY is pointed at the
recovered target (reported as such; a SECONDARY whose target is the pilot light staged nightly needs no change).

A drill never touches a public zone: it gets a private test zone of the public zone's name, associated with the
drill's VPCs only, holding the translated records (resolvable from inside the drill), removed by `cleanup`.

Failback (FailsBack, phase `traffic`, after the servers are home) puts back the record the recovery point captured;
a record already as captured is not written.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from core.aws import Side, paginate
from core.capabilities import Audited, Cleaner, FailsBack, PlansChanges
from core.failback import FailbackContext, FailbackPhase, Step
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable
from core.models import Mode, Outcome, Phase, Resource, resource_key
from core.ownership import TAG_DRILL, TAG_PLAN
from core.plan import Plan
from core.report import TRAFFIC_CHANGES
from tasks.route53 import records as rr
from tasks.route53 import zones

RECORD = "route53:record"
FAILOVER_RECORD = "route53:failover-record"
EIP = "ec2:elastic-ip"
MADE = "made"
BY_HAND = "to apply by hand"
FAILOVER_ROUTING = ("not changed: failover routing (Route 53 answers the SECONDARY once this record's health check "
                    "fails)")


def _points_at_primary(record: dict[str, Any], zone_id: str, region: str, addresses: dict[str, str]) -> bool:
    """An alias or CNAME to a regional AWS endpoint of the primary region, or to CloudFront; an address of one of
    the primary's Elastic IPs. (An alias to another record of the zone follows that record.)"""
    alias = record.get("AliasTarget")
    if alias and zones.short_id(alias["HostedZoneId"]) == zone_id:
        return False
    if alias or record["Type"] == "CNAME":
        return any(f".{region}." in t or t.endswith(".cloudfront.net") for t in rr.targets(record))
    return record["Type"] in rr.ADDRESS_TYPES and any(v in addresses for v in rr.targets(record))


def _current(route53: Any, zone_id: str, record: dict[str, Any]) -> dict[str, Any] | None:
    """The zone's record set of the same name, type (and set identifier) now, if any: one page from its name on."""
    kwargs: dict[str, Any] = {"HostedZoneId": zone_id, "StartRecordName": record["Name"],
                              "StartRecordType": record["Type"], "MaxItems": "100"}
    if record.get("SetIdentifier"):
        kwargs["StartRecordIdentifier"] = record["SetIdentifier"]
    page = route53.list_resource_record_sets(**kwargs)["ResourceRecordSets"]
    return next((r for r in page if rr.identity(r) == rr.identity(rr.canonical(record))), None)


def _already(route53: Any, resource: Resource, wanted: dict[str, Any], ctx: ApplyContext) -> bool:
    """The public record already is `wanted` (a re-run). Across accounts the zone is the primary account's, which
    the recovery side neither reads nor writes: never known."""
    if ctx.plan.cross_account:
        return False
    current = _current(route53, resource.config["zone_id"], resource.config["record"])
    return current is not None and rr.canonical(current) == rr.canonical(wanted)


def _batch(ctx: ApplyContext, record: dict[str, Any]) -> dict[str, Any]:
    return {"Comment": f"drflow failover of {ctx.plan.name}: {rr.label(record)} to the recovery side",
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]}


def _decision(resource: Resource, ctx: ApplyContext) -> tuple[str, bool]:
    """(what becomes of the record's change, whether drflow makes it): the record's routing, the plan's mode for
    it, and whose account its zone is in."""
    cfg = resource.config
    record = cfg["record"]
    if record.get("Failover") == "PRIMARY":
        return FAILOVER_ROUTING, False
    mode = ctx.plan.traffic.mode_for(cfg["zone"], record["Name"], record["Type"])
    if mode == "none":
        return "not changed (mode none)", False
    if mode == "report":
        return BY_HAND, False
    if ctx.plan.cross_account:
        return (f"{BY_HAND}: the zone is in the primary account {ctx.plan.source.account_id}, which a failover does "
                "not write to"), False
    return MADE, True


def _placeholder(resource: Resource, ctx: ApplyContext) -> dict[str, Any]:
    """The record as a dry run shows it: each target the run recovers named by its key (not made yet)."""
    out = copy.deepcopy(resource.config["record"])
    what = " / ".join(resource.dependencies)
    if out.get("AliasTarget"):
        out["AliasTarget"] = {**out["AliasTarget"], "DNSName": f"<DNS name of the recovered {what}>",
                              "HostedZoneId": f"<alias hosted zone of the recovered {what}>"}
    elif out.get("ResourceRecords"):
        out["ResourceRecords"] = [{"Value": f"<{'address' if out['Type'] in rr.ADDRESS_TYPES else 'endpoint'} of "
                                            f"the recovered {what}>"}]
    return out


class RecordHandler(FailsBack, Cleaner, PlansChanges, Audited):
    type: ClassVar[str] = RECORD
    phase: ClassVar[Phase] = Phase.TRAFFIC
    pilot_light: ClassVar[bool] = False  # changed at failover only, once its targets are healthy
    internet_facing: ClassVar[bool] = False  # a drill gets a private test zone instead (see the module's docstring)
    version: ClassVar[int] = 1
    failback_phase: ClassVar[FailbackPhase] = FailbackPhase.TRAFFIC
    failback_plan: ClassVar[str] = ("the public record set as the recovery point captured it (pointing at the "
                                    "primary's target again), where the failover changed it")
    planned_status: ClassVar[str] = "to be made once its recovered targets are healthy (cutover)"

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        route53 = source.client("route53")
        public = [z for z in zones.hosted_zones(route53) if not (z.get("Config") or {}).get("PrivateZone")]
        if not public:
            return []
        tags = zones.zone_tags(route53, [z["Id"] for z in public])
        addresses = {a["PublicIp"]: a["AllocationId"] for a in source.client("ec2").describe_addresses()["Addresses"]
                     if a.get("AllocationId") and a.get("PublicIp")}
        out = []
        for zone in public:
            zone_id = zones.short_id(zone["Id"])
            for record in paginate(route53, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone["Id"]):
                if zones.apex_record(record, zone["Name"]) or not self._takes(record) or not _points_at_primary(
                        record, zone_id, source.region, addresses):
                    continue
                eips = {v: addresses[v] for v in rr.targets(record) if v in addresses}
                source_id = "/".join(filter(None, (zone_id, record["Name"].lower(), record["Type"],
                                                   record.get("SetIdentifier"))))
                out.append(Resource(
                    type=self.type, source_id=source_id, name=rr.label(record), arn=zones.zone_arn(zone_id),
                    tags=tags.get(zone_id, {}),
                    config={"zone_id": zone_id, "zone": zone["Name"], "record": record, "targets": rr.targets(record),
                            "addresses": {ip: resource_key(EIP, a) for ip, a in eips.items()}},
                    refs=[f"{EIP}:{a}" for a in sorted(eips.values())]))
        return out

    @staticmethod
    def _takes(record: dict[str, Any]) -> bool:
        """Every record set but a SECONDARY of failover routing (FailoverRecordHandler's)."""
        return record.get("Failover") != "SECONDARY"

    # ---- the traffic phase -----------------------------------------------------------------------------

    def _test_zone(self, resource: Resource, ctx: ApplyContext, create: bool) -> dict[str, Any] | None:
        """The drill's private test zone standing in for the record's public zone, shared by the zone's records
        (found or made once per run, under the run's lock): tagged, and associated with every VPC of the drill."""
        cfg = resource.config
        route53 = ctx.recovery.client("route53")
        if not create:
            return zones.find_copy(route53, zones.TEST_ZONE, cfg["zone_id"], cfg["zone"], ctx)
        zone_resource = resource.model_copy(update={"source_id": cfg["zone_id"]})

        def make() -> dict[str, Any]:
            vpcs = self._drill_vpcs(ctx)
            if not vpcs:
                raise Unrecoverable(f"drill {ctx.drill_id}: no VPC of the drill to associate the test zone "
                                    f"{cfg['zone']} with")
            tags = ctx.tags(zone_resource)
            region = ctx.recovery.region
            zone = zones.find_copy(route53, zones.TEST_ZONE, cfg["zone_id"], cfg["zone"], ctx)
            if zone is None:
                zone = zones.create_copy(route53, zones.TEST_ZONE, zone_resource, cfg["zone"],
                                         {"VPCRegion": region, "VPCId": vpcs[0]},
                                         f"drflow drill {ctx.drill_id}: private test zone for public {cfg['zone']}",
                                         ctx, tags)
            elif not zones.claimed(zones.zone_tags(route53, [zone["Id"]]).get(zones.short_id(zone["Id"]), {}), tags):
                zones.tag(route53, zone["Id"], tags)  # an earlier attempt was stopped before it tagged it
            have = {v["VPCId"] for v in zones.vpcs_of(route53, zone["Id"]) if v["VPCRegion"] == region}
            for vpc in sorted(set(vpcs) - have):
                route53.associate_vpc_with_hosted_zone(HostedZoneId=zone["Id"], VPC={"VPCRegion": region, "VPCId": vpc})
            return zone

        return ctx.shared.once(f"route53:test-zone:{cfg['zone_id']}", make)

    @staticmethod
    def _drill_vpcs(ctx: ApplyContext) -> list[str]:
        """The VPCs this drill made (drflow's tags), which its test zones answer in."""
        filters = [{"Name": f"tag:{TAG_PLAN}", "Values": [ctx.plan.name]},
                   {"Name": f"tag:{TAG_DRILL}", "Values": [ctx.drill_id or ""]}]
        vpcs = paginate(ctx.recovery.client("ec2"), "describe_vpcs", "Vpcs", Filters=filters)
        return sorted(v["VpcId"] for v in vpcs)

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        if ctx.mode != Mode.DRILL:
            return resource.source_id  # the public record itself: it is always there
        zone = self._test_zone(resource, ctx, create=False)
        if zone is None:
            return None
        have = _current(ctx.recovery.client("route53"), zone["Id"], resource.config["record"])
        return self._in(zone["Id"], resource) if have else None

    @staticmethod
    def _in(zone_id: str, resource: Resource) -> str:
        return zones.short_id(zone_id) + resource.source_id[len(resource.config["zone_id"]):]

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        """The record set as Route 53 answers it now (in its zone, or in a drill's test zone: the recovered id's
        first part), where drflow makes its change: one left to a human (`report`), to nobody (`none`) or to Route
        53's failover routing still names the primary by design, and is listed among the traffic changes instead."""
        if ctx.mode != Mode.DRILL and not _decision(resource, ctx)[1]:
            return {}
        have = _current(ctx.recovery.client("route53"), recovered_id.split("/", 1)[0], resource.config["record"])
        return {rr.label(have): rr.answer(have)} if have else {}

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        cfg = resource.config
        done, change = _translated(resource, ctx)
        if ctx.mode == Mode.DRILL:
            return self._drill(resource, ctx, done, change)
        if not done.pointed_at:
            return self._left(change, "not changed: none of its targets is recovered by this plan", done.warnings)
        route53 = ctx.recovery.client("route53")
        if _already(route53, resource, done.record, ctx):
            return Applied(resource.source_id, warnings=done.warnings,
                           details={TRAFFIC_CHANGES: [{**change, "status": "already points at the recovered target"}]})
        batch = _batch(ctx, done.record)
        status, by_drflow = _decision(resource, ctx)
        if not by_drflow:
            return self._left({**change, "change_batch": batch} if status.startswith(BY_HAND) else change, status,
                              done.warnings)
        wait = ctx.wait_healthy(done.pointed_at)
        if not wait.healthy:
            reasons = "; ".join(f"{k}: {why}" for k, why in sorted(wait.unhealthy.items()))
            raise Unrecoverable(f"{change['what']} in {cfg['zone']} left unchanged: its recovered targets were not "
                                f"healthy after {wait.seconds:.0f} s ({reasons})")
        zones.change(route53, cfg["zone_id"], batch["Changes"], batch["Comment"])
        return Applied(resource.source_id, changed=True, warnings=done.warnings,
                       details={TRAFFIC_CHANGES: [{**change, "status": MADE, "change_batch": batch}],
                                "health_wait_seconds": wait.seconds})

    @staticmethod
    def _left(change: dict[str, Any], status: str, warnings: list[str]) -> Applied:
        return Applied(None, skipped=status, warnings=warnings,
                       details={"reason": status, TRAFFIC_CHANGES: [{**change, "status": status}]})

    def _drill(self, resource: Resource, ctx: ApplyContext, done: rr.Translated, change: dict[str, Any]) -> Applied:
        """The translated record in the drill's private test zone; the public zone is never written. A record none of
        whose targets the drill recovered (an Elastic IP: a drill is isolated) is not written: it would send the
        drill's clients to the primary."""
        if not done.pointed_at:
            return self._left(change, "drill: not written to the test zone: none of its targets is recovered by the "
                                      "drill", done.warnings)
        route53 = ctx.recovery.client("route53")
        zone = self._test_zone(resource, ctx, create=True)
        assert zone is not None
        current = _current(route53, zone["Id"], done.record)
        changed = current is None or rr.canonical(current) != rr.canonical(done.record)
        if changed:
            zones.change(route53, zone["Id"], [{"Action": "UPSERT", "ResourceRecordSet": done.record}],
                         f"drflow drill {ctx.drill_id}: {rr.label(done.record)}")
        test_zone = zones.short_id(zone["Id"])
        status = f"drill: written to the private test zone {test_zone} (the public zone is not touched)"
        return Applied(self._in(zone["Id"], resource), created=current is None, changed=changed and current is not None,
                       warnings=done.warnings,
                       details={TRAFFIC_CHANGES: [{**change, "where": f"{change['where']} (drill test zone)",
                                                   "zone_id": test_zone, "status": status}]})

    def planned_changes(self, resource: Resource, ctx: ApplyContext) -> list[dict[str, Any]]:
        """The dry run's line for this record: what the failover would do with it, and its change batch (targets by
        key: the dry run recovers nothing)."""
        cfg = resource.config
        record = cfg["record"]
        change = {"where": cfg["zone"].rstrip("."), "what": rr.label(record), "from": rr.shown(record),
                  "to": rr.shown(_placeholder(resource, ctx)), "zone_id": cfg["zone_id"]}
        if ctx.mode == Mode.DRILL:
            return [{**change, "status": "drill: written to a private test zone of the drill (the public zone is not "
                                         "touched)"}]
        if not resource.dependencies:
            return [{**change, "status": "not changed: none of its targets is recovered by this plan"}]
        status, by_drflow = _decision(resource, ctx)
        batch = _batch(ctx, _placeholder(resource, ctx))
        if by_drflow:
            return [{**change, "status": self.planned_status, "change_batch": batch}]
        return [{**change, "status": status, **({"change_batch": batch} if status.startswith(BY_HAND) else {})}]

    # ---- failback, drills ------------------------------------------------------------------------------

    def fail_back(self, resource: Resource, ctx: FailbackContext) -> Step:
        """The captured record put back in the primary's zone (Route 53 is global: the primary account's client)."""
        cfg = resource.config
        route53 = ctx.aws.source.client("route53")
        current = _current(route53, cfg["zone_id"], cfg["record"])
        change = {"where": cfg["zone"].rstrip("."), "what": rr.label(cfg["record"]),
                  "from": rr.shown(current), "to": rr.shown(cfg["record"]), "zone_id": cfg["zone_id"]}
        if current is not None and rr.canonical(current) == rr.canonical(cfg["record"]):
            return Step(Outcome.UNCHANGED, resource.source_id,
                        {TRAFFIC_CHANGES: [{**change, "status": "already points at the primary"}]})
        batch = {"Comment": f"drflow failback of {ctx.plan.name}: {rr.label(cfg['record'])} to the primary",
                 "Changes": [{"Action": "UPSERT", "ResourceRecordSet": cfg["record"]}]}
        zones.change(route53, cfg["zone_id"], batch["Changes"], batch["Comment"])
        return Step(Outcome.UPDATED, resource.source_id,
                    {TRAFFIC_CHANGES: [{**change, "status": MADE, "change_batch": batch}]})

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        return zones.remove_drill_zones(ctx, zones.TEST_ZONE)


class FailoverRecordHandler(RecordHandler):
    """The SECONDARY record of a failover routing pair (Failover PRIMARY/SECONDARY, with health checks), where it
    names a primary resource: Route 53's data plane sends users to the SECONDARY by itself once the PRIMARY's health
    check fails, with no API call (which matters: Route 53's control plane is in us-east-1, zones.py), so what drflow
    owes is a SECONDARY that names the recovered target ahead of time. Staged nightly (pilot light): pointed at the
    recovered target as soon as there is one (a target staged nightly; one made at failover only is pointed at by
    the failover's re-apply), without waiting for health (the record's own health check decides when it is
    answered). The plan's mode still rules: `report` lists the change batch, `none` leaves it; across accounts it is
    reported. Drill, dry run and failback as for any public record."""

    type: ClassVar[str] = FAILOVER_RECORD
    pilot_light: ClassVar[bool] = True  # a record costs nothing, and failover routing needs it right beforehand
    failback_plan: ClassVar[str] = ("the SECONDARY failover record as the recovery point captured it (its "
                                    "primary-side target again), where drflow changed it")
    planned_status: ClassVar[str] = ("to be made: the SECONDARY pointed at the recovered target, without waiting "
                                     "(its health check decides when Route 53 answers it)")

    @staticmethod
    def _takes(record: dict[str, Any]) -> bool:
        return record.get("Failover") == "SECONDARY"

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        cfg = resource.config
        done, change = _translated(resource, ctx)
        if ctx.mode == Mode.DRILL:
            return self._drill(resource, ctx, done, change)
        if not done.pointed_at:
            why = ("not changed tonight: its target is made at failover only (the failover points the SECONDARY at "
                   "it)") if ctx.staging else "not changed: none of its targets is recovered by this plan"
            return self._left(change, why, done.warnings)
        route53 = ctx.recovery.client("route53")
        if _already(route53, resource, done.record, ctx):
            return Applied(resource.source_id, warnings=done.warnings, details={TRAFFIC_CHANGES: [
                {**change, "status": "staged: the SECONDARY names the recovered target (Route 53 fails over to it)"}]})
        batch = _batch(ctx, done.record)
        status, by_drflow = _decision(resource, ctx)
        if not by_drflow:
            return self._left({**change, "change_batch": batch} if status.startswith(BY_HAND) else change, status,
                              done.warnings)
        zones.change(route53, cfg["zone_id"], batch["Changes"], batch["Comment"])
        return Applied(resource.source_id, changed=True, warnings=done.warnings, details={TRAFFIC_CHANGES: [
            {**change, "status": MADE + ": the SECONDARY now names the recovered target (Route 53 fails over to it "
                                        "when the PRIMARY's health check fails)", "change_batch": batch}]})


def _translated(resource: Resource, ctx: ApplyContext) -> tuple[Any, dict[str, Any]]:
    """The captured record set pointed at what its targets became, and the change it is for the report (where,
    what, from, to, the zone's id)."""
    cfg = resource.config
    record = cfg["record"]
    done = rr.translate_record(record, resource, ctx, own_zone=None, addresses=cfg["addresses"])
    return done, {"where": cfg["zone"].rstrip("."), "what": rr.label(record), "from": rr.shown(record),
                  "to": rr.shown(done.record), "zone_id": cfg["zone_id"]}
