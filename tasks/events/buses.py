"""EventBridge custom event buses: where an application's own events go, recreated in the recovery region with
their description, the mapped key, the dead-letter queue and the bus policy translated (the accounts and rules
allowed to put events). The default bus exists in every region and is never made; partner event buses
(`aws.partner/...`) belong to their SaaS partner's event source, set up again with the partner.

A bus costs nothing idle, so it is staged nightly. Its archives are noted, not recovered: an archive's events stay
in the primary's region (EventBridge has no copy of an archive to another region), the report names each. A
drill's bus is suffixed; cleanup deletes it, after the drill's rules on it.

The recovered id is the bus's ARN.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote

from botocore.exceptions import ClientError

from core.artifacts import console_host
from core.aws import Side, error_code, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable
from core.keys import KeyCatalog, created_key, key_links, recovery_key
from core.models import Phase, Resource
from core.ownership import owned, recovered_name
from core.plan import Plan
from core.policy import references, translate

BUS = "events:event-bus"
DEFAULT = "default"
PARTNER = "aws.partner/"
NAME_LIMIT = 256  # CreateEventBus: Name, "Maximum length of 256"
NOT_FOUND = "ResourceNotFoundException"
TARGETS_PER_CALL = 10  # PutTargets and RemoveTargets: "You can add/remove up to 10 targets in one request"


def bus_names(events: Any) -> list[str]:
    """The default bus and every custom one. ListEventBuses has no botocore paginator: its NextToken is followed
    here (a loop of reads, not a retry)."""
    names, token = [], None
    while True:
        page = events.list_event_buses(**({"NextToken": token} if token else {}))
        names += [b["Name"] for b in page.get("EventBuses", [])]
        token = page.get("NextToken")
        if not token:
            return sorted(set(names) | {DEFAULT}, key=lambda n: (n != DEFAULT, n))


def bus_of_rule(arn: str | None, rule: bool = False) -> str | None:
    """The bus name an ARN names: a bus's (`event-bus/<name>`) or, `rule`, a custom bus rule's
    (`rule/<bus>/<name>`; None for a default-bus rule)."""
    if not arn:
        return None
    resource = arn.split(":", 5)[-1]
    if rule:
        parts = resource.split("/")
        return parts[1] if len(parts) == 3 else None
    return resource.split("/", 1)[1] if resource.startswith("event-bus/") else None


def _bus(events: Any, name: str) -> dict[str, Any] | None:
    """DescribeEventBus, None when there is no such bus (deleted between a listing and now, or never made)."""
    try:
        return events.describe_event_bus(Name=name)
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return None
        raise


def tags_or_none(events: Any, arn: str) -> list[dict[str, str]] | None:
    """A bus's or rule's tags, None when it is gone (ListTagsForResource: ResourceNotFoundException)."""
    try:
        return events.list_tags_for_resource(ResourceARN=arn).get("Tags") or []
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return None
        raise


class EventBusHandler(ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack, Audited):
    type: ClassVar[str] = BUS
    phase: ClassVar[Phase] = Phase.DATA
    pilot_light: ClassVar[bool] = True  # an idle bus costs nothing
    arn_kinds: ClassVar[tuple[str, ...]] = ("events:event-bus",)
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 2  # 2: a staged bus's settings and dropped policy put right
    not_failed_back: ClassVar[str] = "the primary's bus serves again as it was; events put on the recovered bus stay there"

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        events = source.client("events")
        catalog: KeyCatalog | None = None
        out = []
        for name in bus_names(events):
            if name == DEFAULT or name.startswith(PARTNER):
                continue
            bus = _bus(events, name)
            if bus is None:
                continue
            tags = tags_or_none(events, bus["Arn"]) or []
            key = None
            if bus.get("KmsKeyIdentifier"):
                catalog = catalog or KeyCatalog(source)
                key = catalog.describe(bus["KmsKeyIdentifier"])
            policy = json.loads(bus["Policy"]) if bus.get("Policy") else None
            dead_letter = (bus.get("DeadLetterConfig") or {}).get("Arn")
            refs = set(references(policy)) if policy else set()
            refs |= {f"sqs:{dead_letter.rsplit(':', 1)[-1]}"} if dead_letter else set()
            archives = sorted(a["ArchiveName"] for a in paginate_archives(events, bus["Arn"]))
            out.append(Resource(
                type=BUS, source_id=bus["Arn"], name=name, arn=bus["Arn"], tags={t["Key"]: t["Value"] for t in tags},
                config={"description": bus.get("Description"), "kms_key": key, "policy": policy,
                        "dead_letter": dead_letter, "archives": archives},
                links=key_links(plan, key), refs=sorted(refs)))
        return out

    def _name(self, resource: Resource, ctx: ApplyContext | CleanupContext) -> str:
        return recovered_name(resource.name, ctx, NAME_LIMIT)

    def _existing(self, events: Any, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        bus = _bus(events, self._name(resource, ctx))
        if bus is None:
            return None
        if not owned(tags_or_none(events, bus["Arn"]), resource, ctx):
            raise Unrecoverable(f"event bus {bus['Name']} already exists in {ctx.recovery.region} and is not "
                                "drflow's copy for this plan; rename or remove it")
        return bus

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        bus = self._existing(ctx.recovery.client("events"), resource, ctx)
        return bus["Arn"] if bus else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        events = ctx.recovery.client("events")
        cfg, name = resource.config, self._name(resource, ctx)
        bus = self._existing(events, resource, ctx)
        warnings = [f"archive {a}: not recovered (its events stay in {ctx.plan.source.region})" for a in cfg["archives"]]
        created = changed = False
        settings = self._settings(resource, ctx, warnings)
        if bus is None:  # one call with its tags: nothing half-made to find again
            arn = events.create_event_bus(Name=name, Tags=ctx.tag_list(resource), **settings)["EventBusArn"]
            created = True
            have_policy = None
        else:
            arn, have_policy = bus["Arn"], json.loads(bus["Policy"]) if bus.get("Policy") else None
            if any(bus.get(k) != v for k, v in settings.items()):  # the source's changed since it was staged
                events.update_event_bus(Name=name, **settings)
                changed = True
        if cfg.get("policy"):
            t = ctx.translation(resource)
            done = translate(cfg["policy"], replace(t, renames={**t.renames, resource.source_id: arn}))
            warnings += [f"Policy: {w}" for w in done.warnings]
            if done.document != have_policy:
                events.put_permission(EventBusName=name, Policy=json.dumps(done.document, sort_keys=True))
                changed = not created
        elif have_policy:  # the source's bus no longer has one
            events.remove_permission(EventBusName=name, RemoveAllPermissions=True)
            changed = True
        return Applied(arn, created=created, changed=changed, warnings=warnings,
                       details={"archives": cfg["archives"]} if cfg["archives"] else {})

    def _settings(self, resource: Resource, ctx: ApplyContext, warnings: list[str]) -> dict[str, Any]:
        """What CreateEventBus and UpdateEventBus take besides the name (botocore's events model)."""
        cfg, out = resource.config, {}
        if cfg.get("description"):
            out["Description"] = cfg["description"]
        key = recovery_key(ctx.plan, cfg["kms_key"], created_key(ctx, cfg["kms_key"]))
        if key:
            out["KmsKeyIdentifier"] = key
        if cfg.get("dead_letter"):
            out["DeadLetterConfig"] = {"Arn": self._dead_letter(cfg["dead_letter"], ctx, ctx.translation(resource),
                                                                warnings)}
        return out

    @staticmethod
    def _dead_letter(arn: str, ctx: ApplyContext, t: Any, warnings: list[str]) -> str:
        try:
            recovered = ctx.linked(f"sqs:{arn.rsplit(':', 1)[-1]}").recovered_id
        except KeyError:
            recovered = None
        if recovered:
            return recovered
        warnings.append(f"DeadLetterConfig.Arn: {arn} is not recovered by this plan")
        return translate(arn, t).document

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        bus = _bus(ctx.recovery.client("events"), bus_of_rule(recovered_id))
        if bus is None:
            return {}
        return {"Policy": json.loads(bus["Policy"]) if bus.get("Policy") else None,
                "DeadLetterConfig": bus.get("DeadLetterConfig")}

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' buses, by drflow's tags, with whatever rules are left on them (targets first)."""
        events = ctx.recovery.client("events")
        gone = []
        for name in bus_names(events):
            if name == DEFAULT:
                continue
            bus = _bus(events, name)
            if bus is None:
                continue
            if not ctx.matches(tags_or_none(events, bus["Arn"])):
                continue
            for rule in paginate(events, "list_rules", "Rules", EventBusName=name):
                remove_rule(events, name, rule["Name"])
            try:
                events.delete_event_bus(Name=name)
            except ClientError as exc:
                if error_code(exc) != NOT_FOUND:
                    raise
            gone.append(name)
        return sorted(gone)

    def console_url(self, recovered_id: str, region: str) -> str:
        return f"{console_host(region)}/events/home?region={region}#/eventbus/{quote(bus_of_rule(recovered_id) or '')}"


def remove_rule(events: Any, bus: str, name: str) -> None:
    """A rule's targets, then the rule (DeleteRule refuses a rule with targets); quiet when already gone."""
    try:
        ids = [t["Id"] for t in paginate(events, "list_targets_by_rule", "Targets", Rule=name, EventBusName=bus)]
        for i in range(0, len(ids), TARGETS_PER_CALL):
            events.remove_targets(Rule=name, EventBusName=bus, Ids=ids[i:i + TARGETS_PER_CALL])
        events.delete_rule(Name=name, EventBusName=bus)
    except ClientError as exc:
        if error_code(exc) != NOT_FOUND:
            raise


def paginate_archives(events: Any, bus_arn: str) -> list[dict[str, Any]]:
    """ListArchives of one bus (no botocore paginator: its NextToken followed here, reads only)."""
    archives, token = [], None
    while True:
        page = events.list_archives(EventSourceArn=bus_arn, **({"NextToken": token} if token else {}))
        archives += page.get("Archives", [])
        token = page.get("NextToken")
        if not token:
            return archives
