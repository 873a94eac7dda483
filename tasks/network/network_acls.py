"""EC2 network ACLs: entries and subnet associations. The VPC's default ACL is adopted, not created."""

from __future__ import annotations

from typing import Any, ClassVar

from core.aws import Side, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, RestoredHome
from core.ec2_index import Lookup, adopt_tags, created, ec2_arn, find_owned, find_vpc_default, name_of
from core.handler import Applied, ApplyContext, CleanupContext, delete_quietly, tags_of
from core.models import Phase, Resource, resource_key
from core.plan import Plan

from .types import NACL, SUBNET, VPC

LOOKUP = Lookup("describe_network_acls", "NetworkAcls", "NetworkAclId", "NetworkAclIds")
DEFAULT_RULE = 32767  # the implicit deny-all, present in every ACL and not editable


def _entry(e: dict[str, Any]) -> dict[str, Any]:
    entry = {"rule": e["RuleNumber"], "egress": bool(e["Egress"]), "protocol": str(e["Protocol"]),
             "action": e["RuleAction"], "cidr": e.get("CidrBlock"), "ipv6_cidr": e.get("Ipv6CidrBlock")}
    if e.get("PortRange"):
        entry["ports"] = [e["PortRange"]["From"], e["PortRange"]["To"]]
    if e.get("IcmpTypeCode"):
        entry["icmp"] = [e["IcmpTypeCode"].get("Type"), e["IcmpTypeCode"].get("Code")]
    return {k: v for k, v in entry.items() if v is not None}


def _entry_kwargs(entry: dict[str, Any], ctx: ApplyContext) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"RuleNumber": entry["rule"], "Egress": entry["egress"], "Protocol": entry["protocol"],
                              "RuleAction": entry["action"]}
    if "cidr" in entry:
        kwargs["CidrBlock"] = ctx.net.cidr(entry["cidr"])
    if "ipv6_cidr" in entry:
        kwargs["Ipv6CidrBlock"] = entry["ipv6_cidr"]
    if "ports" in entry:
        kwargs["PortRange"] = {"From": entry["ports"][0], "To": entry["ports"][1]}
    if "icmp" in entry:
        kwargs["IcmpTypeCode"] = {"Type": entry["icmp"][0], "Code": entry["icmp"][1]}
    return kwargs


class NetworkAclHandler(ClaimsArnKinds, Cleaner, RestoredHome):
    type: ClassVar[str] = NACL
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:network-acl",)
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for acl in paginate(source.client("ec2"), "describe_network_acls", "NetworkAcls"):
            vpc = resource_key(VPC, acl["VpcId"])
            subnets = sorted(resource_key(SUBNET, a["SubnetId"]) for a in acl.get("Associations", []))
            entries = sorted((_entry(e) for e in acl.get("Entries", []) if e["RuleNumber"] != DEFAULT_RULE),
                             key=lambda e: (e["egress"], e["rule"]))
            out.append(Resource(type=NACL, source_id=acl["NetworkAclId"], name=name_of(acl), tags=tags_of(acl),
                                arn=ec2_arn(source.region, acl, "network-acl", acl["NetworkAclId"]),
                                config={"vpc": vpc, "default": bool(acl.get("IsDefault")), "entries": entries,
                                        "subnets": subnets},
                                dependencies=sorted({vpc, *subnets})))
        return out

    def _find(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        ec2 = ctx.recovery.client("ec2")
        if resource.config["default"]:
            return find_vpc_default(ctx, resource, ec2, LOOKUP, {"Name": "default", "Values": ["true"]})
        return find_owned(ctx, resource, ec2, LOOKUP)

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._find(resource, ctx)
        return found["NetworkAclId"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ec2 = ctx.recovery.client("ec2")
        cfg = resource.config
        acl = self._find(resource, ctx)
        new = acl is None
        changed = False
        if new:
            acl = ec2.create_network_acl(VpcId=ctx.ref(cfg["vpc"]),
                                         TagSpecifications=ctx.tag_spec(resource, "network-acl"))["NetworkAcl"]
            created(ctx, resource, LOOKUP, acl["NetworkAclId"])
        elif cfg["default"]:
            changed = adopt_tags(ctx, resource, ec2, acl, acl["NetworkAclId"])
        acl_id = acl["NetworkAclId"]
        current = {(e["egress"], e["rule"]): e for e in (_entry(x) for x in acl.get("Entries", []))
                   if e["rule"] != DEFAULT_RULE}
        desired = {}
        for entry in cfg["entries"]:
            kwargs = _entry_kwargs(entry, ctx)
            want = _entry({**kwargs, "Egress": entry["egress"]})
            desired[(entry["egress"], entry["rule"])] = want
            have = current.get((entry["egress"], entry["rule"]))
            if have is None:
                ec2.create_network_acl_entry(NetworkAclId=acl_id, **kwargs)
                changed = True
            elif have != want:
                ec2.replace_network_acl_entry(NetworkAclId=acl_id, **kwargs)
                changed = True
        for egress, rule in set(current) - set(desired):
            ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=rule, Egress=egress)
            changed = True
        changed |= self._associate(ec2, acl_id, [ctx.ref(s) for s in cfg["subnets"]])
        return Applied(acl_id, created=new, changed=changed and not new,
                       details={"entries": len(desired)})

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' ACLs; their subnets go back to the VPC's default ACL first (an ACL in use cannot be deleted).
        The default ACL goes with its VPC."""
        ec2 = ctx.recovery.client("ec2")
        out = []
        for acl in ctx.ec2_items(ec2, LOOKUP):
            if acl.get("IsDefault"):
                continue
            if acl.get("Associations"):
                default = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [acl["VpcId"]]},
                                                             {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
                for assoc in acl["Associations"]:
                    ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"],
                                                        NetworkAclId=default[0]["NetworkAclId"])
            if delete_quietly(ec2.delete_network_acl, NetworkAclId=acl["NetworkAclId"]):
                out.append(acl["NetworkAclId"])
        return out

    def _associate(self, ec2: Any, acl_id: str, subnet_ids: list[str]) -> bool:
        if not subnet_ids:
            return False
        changed = False
        acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": subnet_ids}])
        for acl in acls["NetworkAcls"]:
            for assoc in acl.get("Associations", []):
                if assoc["SubnetId"] in subnet_ids and acl["NetworkAclId"] != acl_id:
                    ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"],
                                                        NetworkAclId=acl_id)
                    changed = True
        return changed
