"""Checks that need the recovery side, made with reads only, before anything is written.

Every problem found is reported at once, each naming the field or resource it concerns.
"""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from core.aws import REFUSED_CREDENTIALS, AssumeRoleError, AwsAccess, Side, error_code, is_transient, paginate
from core.graph import GraphError, topological_order
from core.handler import TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID, Registry, ScopeError, tags_of
from core.keys import check_mapped_keys
from core.models import Resource
from core.plan import Plan
from core.scope import protected

DISCOVERY_THREADS = 8  # `drflow validate` discovers the types side by side, as a replication's tasks do


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


def check_source_estate(plan: Plan, source: Side, registry: Registry) -> tuple[list[tuple[str, str]], int]:
    """The names the plan gives, checked against the source estate as a replication would find it, with reads
    only: each handler discovers its own type (a `servers.<name>` that names no server is its handler's to refuse),
    then the links are resolved (`depends_on: [rds:orders]` that names no discovered resource, named by its
    field), as flows.replicate refuses them before any write. Returns the problems, and how many resources the
    plan protects."""
    problems: list[tuple[str, str]] = []
    resources: list[Resource] = []
    with ThreadPoolExecutor(max_workers=DISCOVERY_THREADS) as pool:
        futures = [pool.submit(handler.discover, source, plan) for handler in registry.values()]
        for future in futures:  # every type's problems at once, as core.engine.discover_all reports them
            try:
                resources += future.result()
            except ScopeError as exc:
                problems += exc.problems
    if problems:
        return problems, 0
    try:
        selected = protected(resources, plan, registry)
        topological_order({r.key: r.dependencies for r in selected})
    except ScopeError as exc:
        return exc.problems, 0
    except GraphError as exc:
        return [("recovery point", str(exc))], 0
    return [], len(selected)


def check_recovery_region(plan: Plan, recovery: Side, drill: bool = False) -> list[tuple[str, str]]:
    """The plan's own maps fit the recovery region: the AZs it maps to exist, the CIDRs it maps to do not collide
    with VPCs that are not drflow's, every mapped KMS key is there and usable. What each resource needs there
    (its zone, its CIDR, room in a quota) is its handler's pre-flight."""
    problems: list[tuple[str, str]] = check_mapped_keys(plan, recovery) if plan.kms_key_map else []
    ec2 = recovery.client("ec2")
    zones = available_zones(ec2)
    for src, dst in plan.network.az_map.items():
        if dst not in zones:
            problems.append((f"network.az_map.{src}", f"{dst} is not an available zone in {plan.recovery.region} "
                             f"(available: {', '.join(sorted(zones))})"))
    cidrs = plan.network.cidrs_for(drill)
    field = "drill_cidr_map" if cidrs is not plan.network.cidr_map else "cidr_map"
    foreign = foreign_cidrs(plan, ec2)
    for src, dst in cidrs.items():
        for vpc_id, cidr in foreign:
            if ipaddress.ip_network(dst).overlaps(cidr):
                problems.append((f"network.{field}.{src}", f"target {dst} overlaps {cidr} of {vpc_id}, a VPC in "
                                 f"{plan.recovery.region} that drflow does not own"))
    return problems


def available_zones(ec2: Any) -> set[str]:
    return {z["ZoneName"] for z in ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}])["AvailabilityZones"]}


def foreign_cidrs(plan: Plan, ec2: Any) -> list[tuple[str, ipaddress.IPv4Network]]:
    """The CIDR blocks of the recovery region's VPCs that are not this plan's (another team's, the default VPC)."""
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


# Service Quotas: (service code, quota code, the EC2 account attribute that tells the same limit where the quota
# is not available); handlers check the quotas of what they create in their pre-flight, with `quota`
Quota = tuple[str, str, "str | None"]
LIVE = ["pending", "running", "stopping", "stopped"]  # instance states that hold a quota


def to_create(ec2: Any, plan: Plan, resources: list[Resource], operation: str, key: str,
              drill_id: str | None) -> list[Resource]:
    """The resources a run will create: those drflow has not already made for this plan and drill (EC2 resources
    found by drflow's tags with one describe `operation`, `key` its result list). Reads only."""
    if not resources:
        return []
    filters = [{"Name": f"tag:{TAG_PLAN}", "Values": [plan.name]}]
    items = paginate(ec2, operation, key, Filters=filters) if ec2.can_paginate(operation) \
        else getattr(ec2, operation)(Filters=filters)[key]
    if operation == "describe_instances":
        items = [i for r in items for i in r["Instances"] if i["State"]["Name"] in LIVE]
    made = {tags_of(i).get(TAG_SOURCE_ID) for i in items if tags_of(i).get(TAG_DRILL) == drill_id}
    return [r for r in resources if r.source_id not in made]


def applied_quota(recovery: Side, quota: Quota) -> float | None:
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
    return account_attribute(recovery.client("ec2"), attribute) if attribute else None


def account_attribute(ec2: Any, name: str | None) -> float | None:
    try:
        items = ec2.describe_account_attributes(AttributeNames=[name])["AccountAttributes"]
    except ClientError as exc:
        if error_code(exc) != "UnauthorizedOperation" and not is_transient(exc):
            raise
        return None
    values = [v["AttributeValue"] for a in items if a["AttributeName"] == name for v in a["AttributeValues"]]
    return float(values[0]) if values and values[0].isdigit() else None
