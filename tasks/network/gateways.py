"""EC2 gateways: internet gateways, egress-only internet gateways, NAT gateways and Elastic IPs.

Internet and egress-only gateways are free, so they are staged nightly (pilot light). NAT gateways
and Elastic IPs cost money while they exist, so they are created at failover only; the Elastic IP of
a recovered NAT is new, and the report maps the source public IP to it.

A drill makes none of them (it is isolated); their `cleanup` still removes any that carry a drill's tag.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from core.aws import Side, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, Preflight, RemovedAfter, RestoredHome
from core.ec2_index import Lookup, created, ec2_arn, find_owned, name_of
from core.handler import Applied, ApplyContext, CleanupContext, delete_quietly, tags_of
from core.models import Mode, Phase, Resource, resource_key
from core.plan import Plan
from core.preflight import Quota, applied_quota, to_create

from .types import EIGW, EIP, IGW, NAT, SUBNET, VPC

EIP_QUOTA: Quota = ("ec2", "L-0263D0A3", "vpc-max-elastic-ips")  # Service Quotas: EC2-VPC Elastic IPs
IGW_LOOKUP = Lookup("describe_internet_gateways", "InternetGateways", "InternetGatewayId", "InternetGatewayIds")
EIGW_LOOKUP = Lookup("describe_egress_only_internet_gateways", "EgressOnlyInternetGateways",
                     "EgressOnlyInternetGatewayId", "EgressOnlyInternetGatewayIds")
EIP_LOOKUP = Lookup("describe_addresses", "Addresses", "AllocationId", "AllocationIds")
NAT_LOOKUP = Lookup("describe_nat_gateways", "NatGateways", "NatGatewayId", "NatGatewayIds")


def client_token(ctx: ApplyContext, resource: Resource) -> str:
    """Same token for the same resource, plan and run mode: EC2 then refuses to create it twice."""
    raw = f"{ctx.plan.name}:{ctx.mode}:{ctx.drill_id}:{resource.key}"
    return hashlib.sha256(raw.encode()).hexdigest()[:64]


class InternetGatewayHandler(ClaimsArnKinds, Cleaner, RestoredHome, RemovedAfter):
    type: ClassVar[str] = IGW
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:internet-gateway",)
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = True
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1
    # AWS does not detach a gateway from a VPC where an address is still mapped (a NAT gateway's, an Elastic
    # IP's), though no recovered resource records that as a dependency
    removed_after: ClassVar[tuple[str, ...]] = (NAT, EIP)

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for igw in paginate(source.client("ec2"), "describe_internet_gateways", "InternetGateways"):
            attached = [a["VpcId"] for a in igw.get("Attachments", []) if a.get("State") in ("available", "attached")]
            if not attached:
                continue  # a detached gateway routes nothing: nothing to recover
            vpc = resource_key(VPC, attached[0])
            out.append(Resource(type=IGW, source_id=igw["InternetGatewayId"], name=name_of(igw),
                                arn=ec2_arn(source.region, igw, "internet-gateway", igw["InternetGatewayId"]),
                                tags=tags_of(igw), config={"vpc": vpc}, dependencies=[vpc]))
        return out

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = find_owned(ctx, resource, ctx.recovery.client("ec2"), IGW_LOOKUP)
        return found["InternetGatewayId"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ec2 = ctx.recovery.client("ec2")
        vpc_id = ctx.ref(resource.config["vpc"])
        igw = find_owned(ctx, resource, ec2, IGW_LOOKUP)
        new = igw is None
        if new:
            igw = ec2.create_internet_gateway(TagSpecifications=ctx.tag_spec(resource, "internet-gateway"))[
                "InternetGateway"]
            created(ctx, resource, IGW_LOOKUP, igw["InternetGatewayId"])
        attached = [a["VpcId"] for a in igw.get("Attachments", [])]
        changed = False
        if vpc_id not in attached:
            for other in attached:
                ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=other)
            ec2.attach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
            changed = True
        return Applied(igw["InternetGatewayId"], created=new, changed=changed and not new)

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        ec2 = ctx.recovery.client("ec2")
        out = []
        for igw in ctx.ec2_items(ec2, IGW_LOOKUP):
            for attachment in igw.get("Attachments", []):
                delete_quietly(ec2.detach_internet_gateway, InternetGatewayId=igw["InternetGatewayId"],
                               VpcId=attachment["VpcId"])
            if delete_quietly(ec2.delete_internet_gateway, InternetGatewayId=igw["InternetGatewayId"]):
                out.append(igw["InternetGatewayId"])
        return out


class EgressOnlyGatewayHandler(ClaimsArnKinds, Cleaner, RestoredHome):
    type: ClassVar[str] = EIGW
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:egress-only-internet-gateway",)
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = True
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        ec2 = source.client("ec2")
        for gw in paginate(ec2, "describe_egress_only_internet_gateways", "EgressOnlyInternetGateways"):
            attached = [a["VpcId"] for a in gw.get("Attachments", []) if a.get("State") in ("attached", "available")]
            if not attached:
                continue
            vpc = resource_key(VPC, attached[0])
            out.append(Resource(type=EIGW, source_id=gw["EgressOnlyInternetGatewayId"], name=name_of(gw),
                                tags=tags_of(gw), config={"vpc": vpc}, dependencies=[vpc]))
        return out

    def _find(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        return find_owned(ctx, resource, ctx.recovery.client("ec2"), EIGW_LOOKUP)

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._find(resource, ctx)
        return found["EgressOnlyInternetGatewayId"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        found = self._find(resource, ctx)
        if found:
            return Applied(found["EgressOnlyInternetGatewayId"])
        gw = ctx.recovery.client("ec2").create_egress_only_internet_gateway(
            VpcId=ctx.ref(resource.config["vpc"]), ClientToken=client_token(ctx, resource),
            TagSpecifications=ctx.tag_spec(resource, "egress-only-internet-gateway"))["EgressOnlyInternetGateway"]
        return Applied(created(ctx, resource, EIGW_LOOKUP, gw["EgressOnlyInternetGatewayId"]), created=True)

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        ec2 = ctx.recovery.client("ec2")
        return [g["EgressOnlyInternetGatewayId"] for g in ctx.ec2_items(ec2, EIGW_LOOKUP)
                if delete_quietly(ec2.delete_egress_only_internet_gateway,
                                  EgressOnlyInternetGatewayId=g["EgressOnlyInternetGatewayId"])]


class ElasticIpHandler(ClaimsArnKinds, Preflight, Cleaner, RestoredHome):
    type: ClassVar[str] = EIP
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:elastic-ip",)
    pilot_light: ClassVar[bool] = False
    internet_facing: ClassVar[bool] = True
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Before a failover (a drill has no internet, so no address): the addresses to allocate fit in the
        recovery region's quota."""
        if ctx.mode != Mode.RECOVER:
            return []
        ec2 = ctx.recovery.client("ec2")
        eips = to_create(ec2, ctx.plan, resources, "describe_addresses", "Addresses", ctx.drill_id)
        if not eips:
            return []
        limit = applied_quota(ctx.recovery, EIP_QUOTA)
        used = len(ec2.describe_addresses()["Addresses"])
        if limit is not None and used + len(eips) > limit:
            return [("quota.elastic_ips", f"{len(eips)} Elastic IP(s) to allocate and {used} allocated exceed "
                     f"the {int(limit)} allowed in {ctx.plan.recovery.region}: raise 'EC2-VPC Elastic IPs'")]
        return []

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for addr in source.client("ec2").describe_addresses()["Addresses"]:  # not paginated by the API
            if addr.get("Domain") != "vpc":
                continue
            out.append(Resource(type=EIP, source_id=addr["AllocationId"], name=name_of(addr), tags=tags_of(addr),
                                config={"public_ip": addr["PublicIp"]}))
        return out

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._find(resource, ctx)
        return found["AllocationId"] if found else None

    def _find(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        return find_owned(ctx, resource, ctx.recovery.client("ec2"), EIP_LOOKUP)

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        addr = self._find(resource, ctx)
        new = addr is None
        if new:
            addr = ctx.recovery.client("ec2").allocate_address(
                Domain="vpc", TagSpecifications=ctx.tag_spec(resource, "elastic-ip"))
            created(ctx, resource, EIP_LOOKUP, addr["AllocationId"])
        return Applied(addr["AllocationId"], created=new,
                       details={"public_ip": addr["PublicIp"], "source_public_ip": resource.config["public_ip"]})

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """Released after the NAT gateways that held them (their cleanup runs first and waits)."""
        ec2 = ctx.recovery.client("ec2")
        out = []
        for addr in ctx.ec2_items(ec2, EIP_LOOKUP):
            if addr.get("AssociationId"):
                delete_quietly(ec2.disassociate_address, AssociationId=addr["AssociationId"])
            if delete_quietly(ec2.release_address, AllocationId=addr["AllocationId"]):
                out.append(addr["AllocationId"])
        return out


class NatGatewayHandler(ClaimsArnKinds, Cleaner, RestoredHome):
    type: ClassVar[str] = NAT
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:natgateway",)
    pilot_light: ClassVar[bool] = False
    internet_facing: ClassVar[bool] = True
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for nat in paginate(source.client("ec2"), "describe_nat_gateways", "NatGateways"):
            if nat.get("State") not in ("pending", "available"):
                continue
            subnet = resource_key(SUBNET, nat["SubnetId"])
            allocation = next((a["AllocationId"] for a in nat.get("NatGatewayAddresses", []) if a.get("AllocationId")),
                              None)
            eip = resource_key(EIP, allocation) if allocation else None
            connectivity = nat.get("ConnectivityType", "public")
            out.append(Resource(
                type=NAT, source_id=nat["NatGatewayId"], name=name_of(nat), tags=tags_of(nat),
                config={"vpc": resource_key(VPC, nat["VpcId"]), "subnet": subnet, "connectivity_type": connectivity,
                        "elastic_ip": eip if connectivity == "public" else None},
                dependencies=[subnet] + ([eip] if eip and connectivity == "public" else [])))
        return out

    def _find(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        return find_owned(ctx, resource, ctx.recovery.client("ec2"), NAT_LOOKUP, alive=lambda n: n.get("State") in ("pending", "available"))

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._find(resource, ctx)
        return found["NatGatewayId"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ec2 = ctx.recovery.client("ec2")
        cfg = resource.config
        nat = self._find(resource, ctx)
        new = nat is None
        if new:
            kwargs: dict[str, Any] = {"SubnetId": ctx.ref(cfg["subnet"]), "ConnectivityType": cfg["connectivity_type"],
                                      "ClientToken": client_token(ctx, resource),
                                      "TagSpecifications": ctx.tag_spec(resource, "natgateway")}
            if cfg["elastic_ip"]:
                kwargs["AllocationId"] = ctx.ref(cfg["elastic_ip"])
            nat = ec2.create_nat_gateway(**kwargs)["NatGateway"]
            created(ctx, resource, NAT_LOOKUP, nat["NatGatewayId"])
        ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat["NatGatewayId"]],
                                                     WaiterConfig={"Delay": 15, "MaxAttempts": 40})
        return Applied(nat["NatGatewayId"], created=new)

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        ec2 = ctx.recovery.client("ec2")
        live = [n["NatGatewayId"] for n in ctx.ec2_items(ec2, NAT_LOOKUP) if n.get("State") in ("pending", "available")]
        for nat_id in live:
            delete_quietly(ec2.delete_nat_gateway, NatGatewayId=nat_id)
        if live:
            ec2.get_waiter("nat_gateway_deleted").wait(NatGatewayIds=live, WaiterConfig={"Delay": 15, "MaxAttempts": 40})
        return live
