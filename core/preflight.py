"""Checks that need the recovery side, made with reads only, before anything is written.

Every problem found is reported at once, each naming the field or resource it concerns.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from botocore.exceptions import ClientError

from core.aws import REFUSED_CREDENTIALS, AssumeRoleError, AwsAccess, Side, error_code, paginate
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
    net = NetworkMapper(plan.network.cidr_map, plan.network.az_map, plan.recovery.region)
    for resource in resources or []:
        if resource.type == "ec2:subnet" and net.az(resource.config["availability_zone"]) not in zones:
            az = resource.config["availability_zone"]
            problems.append((f"network.az_map.{az}", f"subnet {resource.source_id} ({resource.name}) is in {az}, which "
                             f"maps to {net.az(az)}: not available in {plan.recovery.region}; add an az_map entry"))
    foreign = _foreign_cidrs(plan, ec2)
    for src, dst in plan.network.cidr_map.items():
        for vpc_id, cidr in foreign:
            if ipaddress.ip_network(dst).overlaps(cidr):
                problems.append((f"network.cidr_map.{src}", f"target {dst} overlaps {cidr} of {vpc_id}, a VPC in "
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
