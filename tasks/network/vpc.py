"""EC2 VPCs, their subnets and DHCP option sets."""

from __future__ import annotations

import ipaddress
import time
from typing import Any, ClassVar

from core.artifacts import console_host
from core.aws import Side, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, ConsoleLink, Encloses, Preflight, RestoredHome
from core.ec2_index import Lookup, created, ec2_arn, ensure_tagged, find_owned, name_of
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable, delete_quietly, tags_of
from core.models import Mode, Phase, Resource, resource_key
from core.ownership import same_run_kind
from core.plan import Plan
from core.preflight import Quota, applied_quota, available_zones, foreign_cidrs, to_create

from .types import DHCP, SUBNET, VPC

VPC_QUOTA: Quota = ("vpc", "L-F678F1CE", None)  # Service Quotas: VPCs per Region
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
    phase: ClassVar[Phase] = Phase.NETWORK
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
        return next((i for i in items if same_run_kind(i.get("Tags"), ctx) and _dhcp_config(i) == desired), None)

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


class VpcHandler(ClaimsArnKinds, Preflight, Cleaner, ConsoleLink, Encloses, RestoredHome):
    type: ClassVar[str] = VPC
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:vpc", "ec2:vpc-cidr-block-association")
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1
    encloses: ClassVar[str] = "vpc"  # the config field of what a VPC holds (subnets, tables, groups, ...)

    def console_url(self, recovered_id: str, region: str) -> str:
        return f"{console_host(region)}/vpcconsole/home?region={region}#VpcDetails:VpcId={recovered_id}"

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """In the recovery region (a failback writes in the primary, where the VPCs were): outside a drill (an
        isolated copy may overlap), no VPC needs a CIDR that overlaps a VPC there that is not drflow's; before a
        failover or drill, the VPCs to create fit in the region's quota."""
        if ctx.mode == Mode.FAILBACK:
            return []
        ec2 = ctx.recovery.client("ec2")
        problems = [] if ctx.mode == Mode.DRILL else self._overlaps(resources, ctx, ec2)
        if ctx.mode in (Mode.RECOVER, Mode.DRILL):
            problems += self._quota(resources, ctx, ec2)
        return problems

    def _overlaps(self, resources: list[Resource], ctx: ApplyContext, ec2: Any) -> list[tuple[str, str]]:
        region, problems = ctx.plan.recovery.region, []
        foreign = foreign_cidrs(ctx.plan, ec2)
        mapped_by_user = [ipaddress.ip_network(d) for d in ctx.plan.network.cidr_map.values()]
        for resource in resources:
            for cidr in [resource.config["cidr_block"], *resource.config["secondary_cidr_blocks"]]:
                target = ipaddress.ip_network(ctx.net.cidr(cidr))
                if any(target.subnet_of(m) for m in mapped_by_user):
                    continue  # the plan's own map: core.preflight.check_recovery_region reports it
                for vpc_id, other in foreign:
                    if target.overlaps(other):
                        problems.append(("network.cidr_map", f"{resource.source_id} ({resource.name}) needs {target} "
                                         f"in {region}, which overlaps {other} of {vpc_id} (not drflow's); "
                                         f"map it elsewhere with network.cidr_map"))
        return problems

    def _quota(self, resources: list[Resource], ctx: ApplyContext, ec2: Any) -> list[tuple[str, str]]:
        vpcs = to_create(ec2, ctx.plan, resources, "describe_vpcs", "Vpcs", ctx.drill_id)
        if not vpcs:
            return []
        limit = applied_quota(ctx.recovery, VPC_QUOTA)
        used = len(paginate(ec2, "describe_vpcs", "Vpcs"))
        if limit is not None and used + len(vpcs) > limit:
            return [("quota.vpcs", f"{len(vpcs)} VPC(s) to create ({', '.join(r.name for r in vpcs)}) and "
                     f"{used} in use exceed the {int(limit)} allowed in {ctx.plan.recovery.region}: "
                     "raise 'VPCs per Region'")]
        return []

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


class SubnetHandler(ClaimsArnKinds, Preflight, Cleaner, RestoredHome):
    type: ClassVar[str] = SUBNET
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:subnet",)
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """In the recovery region (not a failback, which writes in the primary): the zone each subnet maps to
        is available there."""
        if ctx.mode == Mode.FAILBACK:
            return []
        zones, region = available_zones(ctx.recovery.client("ec2")), ctx.plan.recovery.region
        problems = []
        for resource in resources:
            az = resource.config["availability_zone"]
            if ctx.net.az(az) not in zones:
                problems.append((f"network.az_map.{az}", f"subnet {resource.source_id} ({resource.name}) is in {az}, "
                                 f"which maps to {ctx.net.az(az)}: not available in {region}; add an az_map entry"))
        return problems

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
