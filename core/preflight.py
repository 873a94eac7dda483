"""Checks that need the recovery side, made with reads only, before anything is written.

Every problem found is reported at once, each naming the field or resource it concerns.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from botocore.exceptions import ClientError

from core.aws import REFUSED_CREDENTIALS, AssumeRoleError, AwsAccess, Side, error_code, is_transient, paginate
from core.handler import TAG_PLAN, tags_of
from core.keys import check_mapped_keys
from core.models import Resource
from core.netmap import NetworkMapper
from core.plan import Plan


def check_sides(aws: AwsAccess, labels: tuple[str, ...] = ("source", "recovery")) -> list[tuple[str, str]]:
    """Each side can be reached (its role assumed, its credentials accepted) as the account the plan names.

    Run first, before any other call: a role that cannot be assumed is named by its plan field, with the fix."""
    problems: list[tuple[str, str]] = []
    for label in labels:
        try:
            side = aws.source if label == "source" else aws.recovery
        except AssumeRoleError as exc:
            problems.append((exc.field, str(exc)))
            continue
        problems += check_identity(side, getattr(aws.plan, label).account_id, label)
    return problems


def check_identity(side: Side, expected_account: str, label: str) -> list[tuple[str, str]]:
    """The credentials for a side must belong to the account the plan names."""
    try:
        account = side.client("sts").get_caller_identity()["Account"]
    except ClientError as exc:
        if error_code(exc) not in REFUSED_CREDENTIALS:
            raise
        return [(f"{label}.credentials", f"the credentials for this side were refused ({error_code(exc)}: "
                 f"{exc.response['Error'].get('Message', '')}): revoked, expired or mistyped")]
    if account != expected_account:
        return [(f"{label}.account_id", f"is {expected_account}, but the credentials for this side belong to "
                 f"account {account}")]
    return []


def check_recovery_region(plan: Plan, recovery: Side, resources: list[Resource] | None = None,
                          drill: bool = False) -> list[tuple[str, str]]:
    """AZs exist in the recovery region; mapped CIDRs do not collide with VPCs that are not drflow's; every
    mapped KMS key is there and usable."""
    problems: list[tuple[str, str]] = check_mapped_keys(plan, recovery) if plan.kms_key_map else []
    ec2 = recovery.client("ec2")
    zones = {z["ZoneName"] for z in ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}])["AvailabilityZones"]}
    for src, dst in plan.network.az_map.items():
        if dst not in zones:
            problems.append((f"network.az_map.{src}", f"{dst} is not an available zone in {plan.recovery.region} "
                             f"(available: {', '.join(sorted(zones))})"))
    cidrs = plan.network.cidrs_for(drill)
    field = "drill_cidr_map" if cidrs is not plan.network.cidr_map else "cidr_map"
    net = NetworkMapper(cidrs, plan.network.az_map, plan.recovery.region)
    for resource in resources or []:
        if resource.type == "ec2:subnet" and net.az(resource.config["availability_zone"]) not in zones:
            az = resource.config["availability_zone"]
            problems.append((f"network.az_map.{az}", f"subnet {resource.source_id} ({resource.name}) is in {az}, which "
                             f"maps to {net.az(az)}: not available in {plan.recovery.region}; add an az_map entry"))
    foreign = _foreign_cidrs(plan, ec2)
    for src, dst in cidrs.items():
        for vpc_id, cidr in foreign:
            if ipaddress.ip_network(dst).overlaps(cidr):
                problems.append((f"network.{field}.{src}", f"target {dst} overlaps {cidr} of {vpc_id}, a VPC in "
                                 f"{plan.recovery.region} that drflow does not own"))
    if not drill:  # a drill VPC is isolated: overlapping CIDRs are allowed there
        mapped_by_user = [ipaddress.ip_network(d) for d in plan.network.cidr_map.values()]
        for resource in resources or []:
            if resource.type != "ec2:vpc":
                continue
            for cidr in [resource.config["cidr_block"], *resource.config["secondary_cidr_blocks"]]:
                target = ipaddress.ip_network(net.cidr(cidr))
                if any(target.subnet_of(m) for m in mapped_by_user):
                    continue  # already reported above
                for vpc_id, other in foreign:
                    if target.overlaps(other):
                        problems.append(("network.cidr_map", f"{resource.source_id} ({resource.name}) needs {target} "
                                         f"in {plan.recovery.region}, which overlaps {other} of {vpc_id} (not drflow's); "
                                         f"map it elsewhere with network.cidr_map"))
    return problems


def _foreign_cidrs(plan: Plan, ec2: Any) -> list[tuple[str, ipaddress.IPv4Network]]:
    out = []
    for vpc in paginate(ec2, "describe_vpcs", "Vpcs"):
        if tags_of(vpc).get(TAG_PLAN) == plan.name:
            continue
        for assoc in vpc.get("CidrBlockAssociationSet", []):
            if assoc["CidrBlockState"]["State"] in ("associated", "associating"):
                out.append((vpc["VpcId"], ipaddress.ip_network(assoc["CidrBlock"])))
    return out


def check_recovery_point(point: Any) -> list[tuple[str, str]]:
    """A recovery point whose capture did not finish lacks resources: recovering from it would leave them out."""
    if point.complete:
        return []
    return [("recovery_point", f"{point.id} is incomplete (its capture did not finish): name a complete one "
             "(drflow recovery-points lists them), or use latest")]


# Service Quotas codes, and the EC2 account attribute that tells the same limit where the quota is not available
VPC_QUOTA = ("vpc", "L-F678F1CE", None)  # VPCs per Region
EIP_QUOTA = ("ec2", "L-0263D0A3", "vpc-max-elastic-ips")  # EC2-VPC Elastic IPs
VCPU_QUOTA = ("ec2", "L-1216C47A", "max-instances")  # Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) vCPUs
STANDARD_FAMILIES = tuple("acdhimrtz")
LIVE = ["pending", "running", "stopping", "stopped"]


def check_quotas(plan: Plan, recovery: Side, resources: list[Resource], drill_id: str | None = None,
                 drill: bool = False) -> list[tuple[str, str]]:
    """What the recovery point will create (what drflow has not already made for this plan and drill) fits in
    the recovery region's quotas, where the API tells them: VPCs, Elastic IPs, standard instances' vCPUs (or,
    where Service Quotas has no value, the instance count of the EC2 account attributes). Reads only."""
    ec2 = recovery.client("ec2")
    problems: list[tuple[str, str]] = []
    region = plan.recovery.region

    def new(type_: str, operation: str, key: str) -> list[Resource]:
        wanted = [r for r in resources if r.type == type_]
        if not wanted:
            return []
        filters = [{"Name": f"tag:{TAG_PLAN}", "Values": [plan.name]}]
        items = paginate(ec2, operation, key, Filters=filters) if ec2.can_paginate(operation) \
            else getattr(ec2, operation)(Filters=filters)[key]
        if operation == "describe_instances":
            items = [i for r in items for i in r["Instances"] if i["State"]["Name"] in LIVE]
        made = {tags_of(i).get("drflow:source-id") for i in items if tags_of(i).get("drflow:drill") == drill_id}
        return [r for r in wanted if r.source_id not in made]

    vpcs = new("ec2:vpc", "describe_vpcs", "Vpcs")
    if vpcs:
        limit = _quota(recovery, VPC_QUOTA)
        used = len(paginate(ec2, "describe_vpcs", "Vpcs"))
        if limit is not None and used + len(vpcs) > limit:
            problems.append(("quota.vpcs", f"{len(vpcs)} VPC(s) to create ({', '.join(r.name for r in vpcs)}) and "
                             f"{used} in use exceed the {int(limit)} allowed in {region}: raise 'VPCs per Region'"))
    eips = [] if drill else new("ec2:elastic-ip", "describe_addresses", "Addresses")  # a drill has no internet
    if eips:
        limit = _quota(recovery, EIP_QUOTA)
        used = len(ec2.describe_addresses()["Addresses"])
        if limit is not None and used + len(eips) > limit:
            problems.append(("quota.elastic_ips", f"{len(eips)} Elastic IP(s) to allocate and {used} allocated exceed "
                             f"the {int(limit)} allowed in {region}: raise 'EC2-VPC Elastic IPs'"))
    servers = new("ec2:instance", "describe_instances", "Reservations")
    if servers:
        problems += _instance_quota(recovery, ec2, servers, region)
    return problems


def _instance_quota(recovery: Side, ec2: Any, servers: list[Resource], region: str) -> list[tuple[str, str]]:
    running = [i for r in paginate(ec2, "describe_instances", "Reservations",
                                   Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
               for i in r["Instances"]]
    limit = _quota(recovery, VCPU_QUOTA[:2] + (None,))
    if limit is None:  # no Service Quotas value: the account attribute counts instances, not vCPUs
        limit = _attribute(ec2, VCPU_QUOTA[2])
        if limit is not None and len(running) + len(servers) > limit:
            return [("quota.instances", f"{len(servers)} server(s) to launch and {len(running)} running exceed the "
                     f"{int(limit)} instances allowed in {region} (EC2 max-instances): raise the instance quota")]
        return []
    standard = [t for t in [r.config["instance_type"] for r in servers] + [i["InstanceType"] for i in running]
                if t[0] in STANDARD_FAMILIES]
    vcpus = {t["InstanceType"]: t["VCpuInfo"]["DefaultVCpus"] for t in paginate(
        ec2, "describe_instance_types", "InstanceTypes", InstanceTypes=sorted(set(standard)))} if standard else {}
    need = sum(vcpus.get(r.config["instance_type"], 0) for r in servers)
    used = sum(vcpus.get(i["InstanceType"], 0) for i in running)
    if used + need > limit:
        return [("quota.vcpus", f"{need} vCPUs of standard instances to launch and {used} running exceed the "
                 f"{int(limit)} allowed in {region}: raise 'Running On-Demand Standard instances'")]
    return []


def _quota(recovery: Side, quota: tuple[str, str, str | None]) -> float | None:
    """The applied quota from Service Quotas; else the EC2 account attribute; None when neither tells it
    (or the role may not read them: a quota that cannot be read does not refuse a failover)."""
    service, code, attribute = quota
    try:
        return float(recovery.client("service-quotas").get_service_quota(
            ServiceCode=service, QuotaCode=code)["Quota"]["Value"])
    except ClientError as exc:
        if error_code(exc) not in ("NoSuchResourceException", "AccessDeniedException", "ServiceException") \
                and not is_transient(exc):
            raise
    return _attribute(recovery.client("ec2"), attribute) if attribute else None


def _attribute(ec2: Any, name: str | None) -> float | None:
    try:
        items = ec2.describe_account_attributes(AttributeNames=[name])["AccountAttributes"]
    except ClientError as exc:
        if error_code(exc) != "UnauthorizedOperation" and not is_transient(exc):
            raise
        return None
    values = [v["AttributeValue"] for a in items if a["AttributeName"] == name for v in a["AttributeValues"]]
    return float(values[0]) if values and values[0].isdigit() else None
