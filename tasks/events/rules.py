"""EventBridge rules (the default bus's and custom buses'): the schedules and event patterns that set the
application going, recreated in the recovery region with their targets pointed at the recovered functions, queues,
topics and buses.

A rule costs nothing, so it is staged nightly, but DISABLED and without targets: a schedule enabled in the
recovery region would fire there every night, into targets that do not exist yet (functions are made at failover
only). A failover puts its targets (translated: tasks/events/targets.py), gives each recovered function the one
statement the recovered rule needs to invoke it (core.invoke_grants: the function's own policy is not copied), and
sets the source's state. A drill's rule is suffixed, reaches only the drill's own targets and is created DISABLED
(an event pattern in the recovery region may match what production's replicas emit there: a drill must not act
on it); enabling it is a test step of the operator's. Rules an AWS service manages (`ManagedBy`) are its own.

The recovered id is the rule's ARN. Cleanup removes a drill rule's targets, then the rule (DeleteRule refuses a
rule that still has targets, EventBridge API Reference, DeleteRule).
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
from core.invoke_grants import allow_invoke
from core.models import Mode, Phase, Resource
from core.ownership import owned, recovered_name
from core.plan import Plan
from core.policy import translate

from .buses import DEFAULT, TARGETS_PER_CALL, bus_names, bus_of_rule, remove_rule, tags_or_none
from .delivery import delivery_warning
from .targets import comparable, target_ref, translated_targets

RULE = "events:rule"
NAME_LIMIT = 64  # PutRule: Name, "Maximum length of 64"
SETTABLE = ("ScheduleExpression", "EventPattern", "Description", "RoleArn")
NOT_FOUND = "ResourceNotFoundException"
DELIVERED = {"sqs": "sqs:queue", "sns": "sns:topic"}  # delivered under the target's own policy (delivery.py)


class RuleHandler(ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack, Audited):
    type: ClassVar[str] = RULE
    phase: ClassVar[Phase] = Phase.COMPUTE  # after the functions, queues and topics it targets
    pilot_light: ClassVar[bool] = True  # staged disabled, without targets: costs nothing, fires nothing
    arn_kinds: ClassVar[tuple[str, ...]] = ("events:rule",)
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 2  # 2: a staged rule found keeps its state
    not_failed_back: ClassVar[str] = ("the primary's rule fires again as it was; disable the recovered rule once "
                                      "the primary serves, or it goes on firing in the recovery region")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        events = source.client("events")
        out = []
        for bus in bus_names(events):
            for rule in paginate(events, "list_rules", "Rules", EventBusName=bus):
                if rule.get("ManagedBy"):
                    continue
                targets = paginate(events, "list_targets_by_rule", "Targets", Rule=rule["Name"], EventBusName=bus)
                tags = tags_or_none(events, rule["Arn"])
                if tags is None:  # deleted between the listing and now
                    continue
                refs = {target_ref(t["Arn"]) for t in targets} | {
                    target_ref(t["DeadLetterConfig"]["Arn"]) for t in targets if (t.get("DeadLetterConfig") or {}).get("Arn")}
                if bus != DEFAULT:
                    refs.add(f"events:event-bus:{bus}")
                pattern = rule.get("EventPattern")
                out.append(Resource(
                    type=RULE, source_id=rule["Arn"], name=rule["Name"], arn=rule["Arn"],
                    tags={t["Key"]: t["Value"] for t in tags},
                    config={"bus": bus, "state": rule.get("State", "ENABLED"),
                            "rule": {k: (json.loads(pattern) if k == "EventPattern" and pattern else rule[k])
                                     for k in SETTABLE if rule.get(k)},
                            "targets": targets},
                    refs=sorted(r for r in refs if r)))
        return out

    # ---- the recovered rule ----------------------------------------------------------------------------

    @staticmethod
    def _where(resource: Resource, ctx: ApplyContext | CleanupContext) -> tuple[str, str]:
        """(bus, name) of the recovered rule: a custom bus is the recovered one (a drill's is suffixed)."""
        bus = resource.config["bus"]
        if bus != DEFAULT and isinstance(ctx, ApplyContext):
            try:
                bus = bus_of_rule(ctx.linked(f"events:event-bus:{bus}").recovered_id) or bus
            except KeyError:
                pass
        return bus, recovered_name(resource.name, ctx, NAME_LIMIT)

    def _existing(self, events: Any, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        bus, name = self._where(resource, ctx)
        try:
            rule = events.describe_rule(Name=name, EventBusName=bus)
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                return None
            raise
        if not owned(tags_or_none(events, rule["Arn"]), resource, ctx):
            raise Unrecoverable(f"rule {name} already exists on bus {bus} in {ctx.recovery.region} and is not "
                                "drflow's copy for this plan; rename or remove it")
        return rule

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        rule = self._existing(ctx.recovery.client("events"), resource, ctx)
        return rule["Arn"] if rule else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        events = ctx.recovery.client("events")
        bus, name = self._where(resource, ctx)
        have = self._existing(events, resource, ctx)
        warnings: list[str] = []
        t = ctx.translation(resource)
        own = have["Arn"] if have else _arn(ctx, bus, name)
        t = replace(t, renames={**t.renames, resource.source_id: own})
        wanted = self._rule(resource, ctx, t, warnings, have)
        created = have is None
        changed = False
        if created or any(_differs(k, have.get(k), wanted.get(k)) for k in (*SETTABLE, "State")):
            kwargs = {"Tags": ctx.tag_list(resource)} if created else {}  # one call with its tags
            own = events.put_rule(Name=name, EventBusName=bus, **wanted, **kwargs)["RuleArn"]
            changed = not created
        skipped: list[str] = []
        if not ctx.staging:
            targets, recovered = translated_targets(resource.config["targets"], ctx, t, warnings, skipped,
                                                    drill=ctx.mode == Mode.DRILL)
            changed |= self._put_targets(events, bus, name, targets)
            for arn in sorted(recovered):  # the function's own policy is not recovered: see core.invoke_grants
                if arn.split(":")[2] == "lambda":
                    changed |= allow_invoke(ctx.recovery.client("lambda"), arn, "events.amazonaws.com", own)
                problem = delivery_warning(ctx.recovery, arn, DELIVERED.get(arn.split(":")[2], ""), own)
                warnings += [f"target {arn}: {problem}"] if problem else []
        if ctx.mode == Mode.DRILL and resource.config["state"] == "ENABLED":
            warnings.append("drill: the rule was created disabled (enable it to test it: it then acts in the recovery "
                            "region on what matches it, production's replicas included)")
        details: dict[str, Any] = {"bus": bus, "state": wanted["State"]}
        if ctx.staging:
            details["targets"] = "put at failover (staged disabled, without targets)"
        if skipped:
            details["not targeted"] = skipped
        return Applied(own, created=created, changed=changed, warnings=warnings, details=details)

    @staticmethod
    def _rule(resource: Resource, ctx: ApplyContext, t: Any, warnings: list[str],
              have: dict[str, Any] | None) -> dict[str, Any]:
        """What PutRule is given. The state: the source's at failover; DISABLED for a new staged or drill rule; a
        rule staging finds keeps its own, since a night after a real failover (once the primary answers again,
        before failback) must not stop the recovered rule that serves."""
        wanted: dict[str, Any] = {}
        for k, v in resource.config["rule"].items():
            done = translate(v, t)
            warnings += [f"{k}: {w}" for w in done.warnings]
            wanted[k] = json.dumps(done.document, sort_keys=True) if k == "EventPattern" else done.document
        recover = ctx.mode == Mode.RECOVER or ctx.mode == Mode.FAILBACK
        wanted["State"] = (resource.config["state"] if recover else
                           have["State"] if ctx.staging and have else "DISABLED")
        return wanted

    @staticmethod
    def _put_targets(events: Any, bus: str, name: str, targets: list[dict[str, Any]]) -> bool:
        """The recovered rule's targets made what `targets` says (ids no longer wanted removed). True: wrote."""
        have = paginate(events, "list_targets_by_rule", "Targets", Rule=name, EventBusName=bus)
        if comparable(have) == comparable(targets):
            return False
        stale = sorted({t["Id"] for t in have} - {t["Id"] for t in targets})
        for i in range(0, len(stale), TARGETS_PER_CALL):
            events.remove_targets(Rule=name, EventBusName=bus, Ids=stale[i:i + TARGETS_PER_CALL])
        for i in range(0, len(targets), TARGETS_PER_CALL):
            failed = events.put_targets(Rule=name, EventBusName=bus, Targets=targets[i:i + TARGETS_PER_CALL])
            if failed.get("FailedEntryCount"):  # PutTargets answers 200 with the entries it refused
                entries = "; ".join(f"{e.get('TargetId')}: {e.get('ErrorCode')} {e.get('ErrorMessage')}"
                                    for e in failed.get("FailedEntries", []))
                raise Unrecoverable(f"rule {name}: EventBridge refused targets: {entries}")
        return True

    # ---- audit, drills, console ------------------------------------------------------------------------

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        events = ctx.recovery.client("events")
        bus, name = bus_of_rule(recovered_id, rule=True) or DEFAULT, recovered_id.rsplit("/", 1)[-1]
        try:
            rule = events.describe_rule(Name=name, EventBusName=bus)
            targets = paginate(events, "list_targets_by_rule", "Targets", Rule=name, EventBusName=bus)
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                return {}
            raise
        documents = {k: rule[k] for k in SETTABLE if rule.get(k)}
        if documents.get("EventPattern"):
            documents["EventPattern"] = json.loads(documents["EventPattern"])
        return {"Rule": documents, "Targets": targets}

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' rules on any bus, by drflow's tags: their targets first, then the rule."""
        events = ctx.recovery.client("events")
        gone = []
        for bus in bus_names(events):
            for rule in paginate(events, "list_rules", "Rules", EventBusName=bus):
                tags = tags_or_none(events, rule["Arn"])
                if tags is None or not ctx.matches(tags):
                    continue
                remove_rule(events, bus, rule["Name"])
                gone.append(rule["Name"] if bus == DEFAULT else f"{bus}/{rule['Name']}")
        return sorted(gone)

    def console_url(self, recovered_id: str, region: str) -> str:
        bus, name = bus_of_rule(recovered_id, rule=True) or DEFAULT, recovered_id.rsplit("/", 1)[-1]
        return f"{console_host(region)}/events/home?region={region}#/eventbus/{quote(bus, safe='')}/rules/{quote(name)}"


def _arn(ctx: ApplyContext, bus: str, name: str) -> str:
    where = f"{ctx.recovery.region}:{ctx.plan.recovery.account_id}"
    return f"arn:aws:events:{where}:rule/{name}" if bus == DEFAULT else f"arn:aws:events:{where}:rule/{bus}/{name}"


def _differs(field: str, have: Any, wanted: Any) -> bool:
    if field == "EventPattern" and have and wanted:
        return json.loads(have) != json.loads(wanted)
    return (have or None) != (wanted or None)
