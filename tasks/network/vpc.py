"""EC2 VPCs, their subnets and DHCP option sets."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from core.aws import Side, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, RestoredHome
from core.handler import (Applied, ApplyContext, CleanupContext, Lookup, Unrecoverable, created, delete_quietly,
                          ec2_arn, ensure_tagged, find_owned, name_of, tags_of)
from core.plan import Plan
from core.models import Mode, Resource, resource_key

DHCP = "ec2:dhcp-options"
VPC = "ec2:vpc"
SUBNET = "ec2:subnet"
VPC_LOOKUP = Lookup("describe_vpcs", "Vpcs", "VpcId", "VpcIds")
DHCP_LOOKUP = Lookup("describe_dhcp_options", "DhcpOptions", "DhcpOptionsId", "DhcpOptionsIds")
ENI_POLL_SECONDS, ENI_POLL_ATTEMPTS = 10, 30  # a deleted load balancer's interfaces linger for minutes
SUBNET_LOOKUP = Lookup("describe_subnets", "Subnets", "SubnetId", "SubnetIds")


def default_domain(region: str) -> str:
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def _dhcp_config(item: dict[str, Any]) -> dict[str, list[str]]:
    return {c["Key"]: sorted(v["Value"] for v in c.get("Values", [])) for c in item.get("DhcpConfigurations", [])}


def _is_default_dhcp(config: dict[str, list[str]], region: str) -> bool:
    return config == {"domain-name": [default_domain(region)], "domain-name-servers": ["AmazonProvidedDNS"]}


class DhcpOptionsHandler(ClaimsArnKinds, Cleaner, RestoredHome):
    type: ClassVar[str] = DHCP
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:dhcp-options",)
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        ec2 = source.client("ec2")
        out = []
        for item in paginate(ec2, "describe_dhcp_options", "DhcpOptions"):
            config = _dhcp_config(item)
            if _is_default_dhcp(config, source.region):
                continue  # every region has its own default: nothing to carry over
            out.append(Resource(type=DHCP, source_id=item["DhcpOptionsId"], name=name_of(item),
                                arn=ec2_arn(source.region, item, "dhcp-options", item["DhcpOptionsId"]),
                                config={"options": config, "source_region": source.region}, tags=tags_of(item)))
        return out

    def _desired(self, resource: Resource, ctx: ApplyContext) -> dict[str, list[str]]:
        options = dict(resource.config["options"])
        src_default = default_domain(resource.config["source_region"])
        if "domain-name" in options:
            options["domain-name"] = [default_domain(ctx.recovery.region) if d == src_default else d
                                      for d in options["domain-name"]]
        return options

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._matching(resource, ctx)
        return found["DhcpOptionsId"] if found else None

    def _matching(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        desired = self._desired(resource, ctx)
        ec2 = ctx.recovery.client("ec2")
        items = ec2.describe_dhcp_options(Filters=ctx.owner_filters(resource))["DhcpOptions"]
        if ctx.mode == Mode.FAILBACK:  # back in the primary: the original set itself, when it survived
            original = ctx.index.ids(ctx, ec2, DHCP_LOOKUP).get(resource.source_id)
            items += ec2.describe_dhcp_options(DhcpOptionsIds=[original])["DhcpOptions"] if original else []
        # option sets are immutable: a changed set is a new one, so adopt only an exact match
        return next((i for i in items if ctx.owns(i.get("Tags")) and _dhcp_config(i) == desired), None)

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        found = self._matching(resource, ctx)
        if found:
            return Applied(found["DhcpOptionsId"])
        desired = self._desired(resource, ctx)
        options = ctx.recovery.client("ec2").create_dhcp_options(
            DhcpConfigurations=[{"Key": k, "Values": v} for k, v in sorted(desired.items())],
            TagSpecifications=ctx.tag_spec(resource, "dhcp-options"))["DhcpOptions"]
        ensure_tagged(ctx.recovery.client("ec2"), options["DhcpOptionsId"], options, ctx, resource)
        return Applied(options["DhcpOptionsId"], created=True)

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' option sets; run after their VPCs are gone (a set in use cannot be deleted)."""
        ec2 = ctx.recovery.client("ec2")
        return [i["DhcpOptionsId"] for i in ctx.ec2_items(ec2, DHCP_LOOKUP)
                if delete_quietly(ec2.delete_dhcp_options, DhcpOptionsId=i["DhcpOptionsId"])]


class VpcHandler(ClaimsArnKinds, Cleaner, RestoredHome):
    type: ClassVar[str] = VPC
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:vpc", "ec2:vpc-cidr-block-association")
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        ec2 = source.client("ec2")
        defaults = {d["DhcpOptionsId"] for d in paginate(ec2, "describe_dhcp_options", "DhcpOptions")
                    if _is_default_dhcp(_dhcp_config(d), source.region)}
        out = []
        for vpc in paginate(ec2, "describe_vpcs", "Vpcs"):
            vpc_id = vpc["VpcId"]
            attrs = {name: ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=name)[key]["Value"]
                     for name, key in (("enableDnsSupport", "EnableDnsSupport"),
                                       ("enableDnsHostnames", "EnableDnsHostnames"))}
            secondary = sorted(a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", [])
                               if a["CidrBlockState"]["State"] == "associated" and a["CidrBlock"] != vpc["CidrBlock"])
            dhcp_id = vpc.get("DhcpOptionsId")
            dhcp = resource_key(DHCP, dhcp_id) if dhcp_id and dhcp_id != "default" and dhcp_id not in defaults else None
            out.append(Resource(
                type=VPC, source_id=vpc_id, name=name_of(vpc), tags=tags_of(vpc),
                arn=ec2_arn(source.region, vpc, "vpc", vpc_id),
                config={"cidr_block": vpc["CidrBlock"], "secondary_cidr_blocks": secondary,
                        "instance_tenancy": vpc.get("InstanceTenancy", "default"),
                        "enable_dns_support": attrs["enableDnsSupport"],
                        "enable_dns_hostnames": attrs["enableDnsHostnames"], "dhcp_options": dhcp},
                dependencies=[dhcp] if dhcp else []))
        return out

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = find_owned(ctx, resource, ctx.recovery.client("ec2"), VPC_LOOKUP)
        return found["VpcId"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ec2 = ctx.recovery.client("ec2")
        cfg = resource.config
        vpc = find_owned(ctx, resource, ec2, VPC_LOOKUP)
        new = vpc is None
        if new:
            vpc = ec2.create_vpc(CidrBlock=ctx.net.cidr(cfg["cidr_block"]), InstanceTenancy=cfg["instance_tenancy"],
                                 TagSpecifications=ctx.tag_spec(resource, "vpc"))["Vpc"]
            created(ctx, resource, VPC_LOOKUP, vpc["VpcId"])
            ec2.get_waiter("vpc_available").wait(VpcIds=[vpc["VpcId"]])
        vpc_id = vpc["VpcId"]
        if not new and vpc["CidrBlock"] != ctx.net.cidr(cfg["cidr_block"]):
            raise Unrecoverable(f"recovered {vpc_id} has CIDR {vpc['CidrBlock']}, the plan maps "
                                f"{cfg['cidr_block']} to {ctx.net.cidr(cfg['cidr_block'])}; delete it to recreate")
        changed = False
        present = {a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", [])
                   if a["CidrBlockState"]["State"] in ("associated", "associating")}
        for cidr in cfg["secondary_cidr_blocks"]:
            if ctx.net.cidr(cidr) not in present:
                ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock=ctx.net.cidr(cidr))
                changed = True
        for attr, key in (("enableDnsSupport", "enable_dns_support"), ("enableDnsHostnames", "enable_dns_hostnames")):
            current = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attr)[attr[0].upper() + attr[1:]]["Value"]
            if current != cfg[key]:
                ec2.modify_vpc_attribute(VpcId=vpc_id, **{attr[0].upper() + attr[1:]: {"Value": cfg[key]}})
                changed = True
        dhcp_id = ctx.ref(cfg["dhcp_options"])
        if dhcp_id and vpc.get("DhcpOptionsId") != dhcp_id:
            ec2.associate_dhcp_options(DhcpOptionsId=dhcp_id, VpcId=vpc_id)
            changed = True
        return Applied(vpc_id, created=new, changed=changed and not new,
                       details={"cidr_block": ctx.net.cidr(cfg["cidr_block"])})

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' VPCs, last of their network: their main route table, default ACL and default group go
        with them."""
        ec2 = ctx.recovery.client("ec2")
        return [v["VpcId"] for v in ctx.ec2_items(ec2, VPC_LOOKUP) if delete_quietly(ec2.delete_vpc, VpcId=v["VpcId"])]


class SubnetHandler(ClaimsArnKinds, Cleaner, RestoredHome):
    type: ClassVar[str] = SUBNET
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:subnet",)
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for subnet in paginate(source.client("ec2"), "describe_subnets", "Subnets"):
            vpc = resource_key(VPC, subnet["VpcId"])
            out.append(Resource(
                type=SUBNET, source_id=subnet["SubnetId"], name=name_of(subnet), tags=tags_of(subnet),
                arn=subnet.get("SubnetArn", ""),
                config={"vpc": vpc, "cidr_block": subnet["CidrBlock"], "availability_zone": subnet["AvailabilityZone"],
                        "map_public_ip_on_launch": bool(subnet.get("MapPublicIpOnLaunch"))},
                dependencies=[vpc]))
        return out

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = find_owned(ctx, resource, ctx.recovery.client("ec2"), SUBNET_LOOKUP)
        return found["SubnetId"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ec2 = ctx.recovery.client("ec2")
        cfg = resource.config
        cidr, az = ctx.net.cidr(cfg["cidr_block"]), ctx.net.az(cfg["availability_zone"])
        subnet = find_owned(ctx, resource, ec2, SUBNET_LOOKUP)
        new = subnet is None
        if new:
            subnet = ec2.create_subnet(VpcId=ctx.ref(cfg["vpc"]), CidrBlock=cidr, AvailabilityZone=az,
                                       TagSpecifications=ctx.tag_spec(resource, "subnet"))["Subnet"]
            created(ctx, resource, SUBNET_LOOKUP, subnet["SubnetId"])
        elif (subnet["CidrBlock"], subnet["AvailabilityZone"]) != (cidr, az):
            raise Unrecoverable(f"recovered {subnet['SubnetId']} is {subnet['CidrBlock']} in "
                                f"{subnet['AvailabilityZone']}, the plan wants {cidr} in {az}; delete it to recreate")
        changed = False
        if bool(subnet.get("MapPublicIpOnLaunch")) != cfg["map_public_ip_on_launch"]:
            ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"],
                                        MapPublicIpOnLaunch={"Value": cfg["map_public_ip_on_launch"]})
            changed = True
        return Applied(subnet["SubnetId"], created=new, changed=changed and not new,
                       details={"cidr_block": cidr, "availability_zone": az})

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' subnets, once no network interface is left in them (what used them was removed before)."""
        ec2 = ctx.recovery.client("ec2")
        subnets = ctx.ec2_items(ec2, SUBNET_LOOKUP)
        if subnets:
            wait_interfaces_gone(ec2, [s["SubnetId"] for s in subnets])
        return [s["SubnetId"] for s in subnets if delete_quietly(ec2.delete_subnet, SubnetId=s["SubnetId"])]


def wait_interfaces_gone(ec2: Any, subnet_ids: list[str]) -> None:
    """Poll until the subnets hold no network interface: EC2 releases those of terminated instances and deleted
    load balancers or endpoints some time after the call returned, and has no waiter for it."""
    for _ in range(ENI_POLL_ATTEMPTS):
        left = paginate(ec2, "describe_network_interfaces", "NetworkInterfaces",
                        Filters=[{"Name": "subnet-id", "Values": subnet_ids}])
        if not left:
            return
        time.sleep(ENI_POLL_SECONDS)
    raise Unrecoverable(f"network interfaces still in the drill's subnets after {ENI_POLL_SECONDS * ENI_POLL_ATTEMPTS} "
                        f"s: {sorted(i['NetworkInterfaceId'] for i in left)}; something drflow did not make uses them")
