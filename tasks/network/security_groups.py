"""EC2 security groups, in two resource types so that mutual references work.

`ec2:security-group` is the group itself (depends on its VPC only); `ec2:security-group-rules` is its
rule set (depends on its group and on every group its rules reference). The engine therefore
creates all groups first and their rules after, and two groups that reference each other never
form a cycle. A VPC's default group is adopted, not created.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

from core.aws import Side, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, PartOf, RestoredHome
from core.ec2_index import Lookup, adopt_tags, created, find_owned, find_vpc_default
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable, delete_quietly, tags_of
from core.models import Phase, Resource, resource_key
from core.plan import Plan

from .types import GROUP, RULES, VPC

LOOKUP = Lookup("describe_security_groups", "SecurityGroups", "GroupId", "GroupIds")


def _identity(rule: dict[str, Any]) -> tuple:
    """What makes two rules the same rule (descriptions are not part of it)."""
    return (rule["egress"], rule["protocol"], rule["from"], rule["to"], rule["kind"], rule["value"])


def _normalise(rule: dict[str, Any]) -> dict[str, Any]:
    """A describe_security_group_rules item -> a plain rule with raw ids."""
    for field, kind in (("CidrIpv4", "cidr"), ("CidrIpv6", "ipv6"), ("PrefixListId", "prefix_list")):
        if rule.get(field):
            value = rule[field]
            break
    else:
        kind, value = "group", rule.get("ReferencedGroupInfo", {}).get("GroupId", "")
    protocol = str(rule["IpProtocol"])
    ports = (-1, -1) if protocol == "-1" else (rule.get("FromPort", -1), rule.get("ToPort", -1))
    return {"egress": bool(rule["IsEgress"]), "protocol": protocol, "from": ports[0], "to": ports[1],
            "kind": kind, "value": value, "description": rule.get("Description", ""),
            "owner": rule.get("ReferencedGroupInfo", {}).get("UserId")}


def _permission(rule: dict[str, Any]) -> dict[str, Any]:
    perm: dict[str, Any] = {"IpProtocol": rule["protocol"]}
    if rule["protocol"] != "-1":
        perm.update(FromPort=rule["from"], ToPort=rule["to"])
    desc = {"Description": rule["description"]} if rule.get("description") else {}
    if rule["kind"] == "cidr":
        perm["IpRanges"] = [{"CidrIp": rule["value"], **desc}]
    elif rule["kind"] == "ipv6":
        perm["Ipv6Ranges"] = [{"CidrIpv6": rule["value"], **desc}]
    elif rule["kind"] == "prefix_list":
        perm["PrefixListIds"] = [{"PrefixListId": rule["value"], **desc}]
    else:
        perm["UserIdGroupPairs"] = [{"GroupId": rule["value"], **desc}]
    return perm


class SecurityGroupHandler(ClaimsArnKinds, Cleaner, RestoredHome):
    type: ClassVar[str] = GROUP
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:security-group",)
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for group in paginate(source.client("ec2"), "describe_security_groups", "SecurityGroups"):
            if not group.get("VpcId"):
                continue
            vpc = resource_key(VPC, group["VpcId"])
            out.append(Resource(
                type=GROUP, source_id=group["GroupId"], name=group["GroupName"], tags=tags_of(group),
                arn=group.get("SecurityGroupArn", ""),
                config={"vpc": vpc, "group_name": group["GroupName"], "description": group.get("Description", ""),
                        "default": group["GroupName"] == "default"},
                dependencies=[vpc]))
        return out

    def _find(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        ec2 = ctx.recovery.client("ec2")
        if resource.config["default"]:
            return find_vpc_default(ctx, resource, ec2, LOOKUP, {"Name": "group-name", "Values": ["default"]})
        return find_owned(ctx, resource, ec2, LOOKUP)

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._find(resource, ctx)
        return found["GroupId"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ec2 = ctx.recovery.client("ec2")
        cfg = resource.config
        group = self._find(resource, ctx)
        if group is None:
            group_id = ec2.create_security_group(
                GroupName=cfg["group_name"], Description=cfg["description"] or cfg["group_name"],
                VpcId=ctx.ref(cfg["vpc"]), TagSpecifications=ctx.tag_spec(resource, "security-group"))["GroupId"]
            return Applied(created(ctx, resource, LOOKUP, group_id), created=True)
        changed = cfg["default"] and adopt_tags(ctx, resource, ec2, group, group["GroupId"])
        return Applied(group["GroupId"], changed=changed)

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' groups (their rules referencing each other were revoked first); a VPC's default group
        goes with its VPC."""
        ec2 = ctx.recovery.client("ec2")
        return [g["GroupId"] for g in ctx.ec2_items(ec2, LOOKUP) if g["GroupName"] != "default"
                and delete_quietly(ec2.delete_security_group, GroupId=g["GroupId"])]


class SecurityGroupRulesHandler(ClaimsArnKinds, Cleaner, RestoredHome, PartOf):
    type: ClassVar[str] = RULES
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:security-group-rule",)
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        ec2 = source.client("ec2")
        groups = {g["GroupId"]: g for g in paginate(ec2, "describe_security_groups", "SecurityGroups")
                  if g.get("VpcId")}
        account = next((g["OwnerId"] for g in groups.values() if g.get("OwnerId")), None)
        by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for raw in paginate(ec2, "describe_security_group_rules", "SecurityGroupRules"):
            by_group[raw["GroupId"]].append(_normalise(raw))
        out = []
        for group_id, group in groups.items():
            rules, unrecoverable, deps = [], [], {resource_key(GROUP, group_id)}
            for rule in by_group.get(group_id, []):
                owner = rule.pop("owner")
                if rule["kind"] == "group":
                    if rule["value"] not in groups or (owner and account and owner != account):
                        unrecoverable.append({**rule, "reason": "references a group in another account or VPC"})
                        continue
                    rule["value"] = resource_key(GROUP, rule["value"])
                    deps.add(rule["value"])
                elif rule["kind"] == "prefix_list":
                    unrecoverable.append({**rule, "reason": "prefix lists are regional; recreate it and add the rule"})
                    continue
                rules.append(rule)
            out.append(Resource(
                type=RULES, source_id=group_id, name=group["GroupName"],
                config={"vpc": resource_key(VPC, group["VpcId"]), "group": resource_key(GROUP, group_id),
                        "rules": sorted(rules, key=lambda r: [str(x) for x in _identity(r)]),
                        "unrecoverable": unrecoverable},
                dependencies=sorted(deps)))
        return out

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        return None  # rules live inside their group: nothing to adopt on their own

    def part_of(self, resource: Resource) -> str | None:
        """Their group's key: the rules stand or fall with it (failback keeps them where the primary kept it)."""
        return resource.config["group"]

    def _desired(self, resource: Resource, ctx: ApplyContext) -> list[dict[str, Any]]:
        desired = []
        for rule in resource.config["rules"]:
            rule = dict(rule)
            if rule["kind"] == "group":
                rule["value"] = ctx.ref(rule["value"])
            elif rule["kind"] == "cidr":
                rule["value"] = ctx.net.cidr(rule["value"])
            desired.append(rule)
        return desired

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ec2 = ctx.recovery.client("ec2")
        group_id = ctx.ref(resource.config["group"])
        if group_id is None:
            raise Unrecoverable(f"security group {resource.source_id} was not recovered")
        current = {}
        for raw in paginate(ec2, "describe_security_group_rules", "SecurityGroupRules",
                            Filters=[{"Name": "group-id", "Values": [group_id]}]):
            rule = _normalise(raw)
            current[_identity(rule)] = raw["SecurityGroupRuleId"]
        desired = {_identity(r): r for r in self._desired(resource, ctx)}
        changed = False
        for egress in (False, True):
            missing = [_permission(r) for key, r in desired.items() if key not in current and r["egress"] == egress]
            extra = [rule_id for key, rule_id in current.items() if key not in desired and key[0] == egress]
            call = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
            revoke = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
            if missing:
                call(GroupId=group_id, IpPermissions=missing)
                changed = True
            if extra:
                revoke(GroupId=group_id, SecurityGroupRuleIds=extra)
                changed = True
        warnings = [f"{'egress' if u['egress'] else 'ingress'} rule {u['protocol']} {u['from']}-{u['to']} "
                    f"{u['kind']} {u['value']} not recovered: {u['reason']}"
                    for u in resource.config["unrecoverable"]]
        return Applied(group_id, changed=changed, warnings=warnings, details={"rules": len(desired)})

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """Revoke the drills' rules that reference a group: groups referencing each other could not be deleted."""
        ec2 = ctx.recovery.client("ec2")
        groups = [g["GroupId"] for g in ctx.ec2_items(ec2, LOOKUP)]
        if not groups:
            return []
        referencing: dict[tuple[str, bool], list[str]] = defaultdict(list)
        for rule in paginate(ec2, "describe_security_group_rules", "SecurityGroupRules",
                             Filters=[{"Name": "group-id", "Values": groups}]):
            if rule.get("ReferencedGroupInfo", {}).get("GroupId"):
                referencing[(rule["GroupId"], bool(rule["IsEgress"]))].append(rule["SecurityGroupRuleId"])
        out = []
        for (group_id, egress), rule_ids in sorted(referencing.items()):
            revoke = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
            if delete_quietly(revoke, GroupId=group_id, SecurityGroupRuleIds=rule_ids):
                out.append(f"{group_id}: {len(rule_ids)} {'egress' if egress else 'ingress'} rule(s) naming a group")
        return out
