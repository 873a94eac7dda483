"""Finding a drill's resources by its tags, and a plan file for the CLI: shared by the drill tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from conftest import RECOVERY

from core.handler import TAG_DRILL


def _drill_of(tags: Any) -> str | None:
    tags = {t["Key"]: t["Value"] for t in tags} if isinstance(tags, list) else (tags or {})
    return tags.get(TAG_DRILL)


def _elb_tags(elb: Any, arns: list[str]) -> dict[str, list[dict[str, str]]]:
    out = {}
    for start in range(0, len(arns), 20):
        for d in elb.describe_tags(ResourceArns=arns[start:start + 20])["TagDescriptions"]:
            out[d["ResourceArn"]] = d.get("Tags", [])
    return out


def inventory(region: str) -> dict[str, list[dict[str, Any]]]:
    """Every resource of the kinds a drill makes, as described, with its drill id (None: production)."""
    ec2, elb = boto3.client("ec2", region_name=region), boto3.client("elbv2", region_name=region)
    rds, efs = boto3.client("rds", region_name=region), boto3.client("efs", region_name=region)
    out: dict[str, list[dict[str, Any]]] = {}
    # deleted endpoints and NAT gateways stay listed for a while, as terminated instances do: gone for good
    gone = {"VpcEndpoints": ("State", "deleted"), "NatGateways": ("State", "deleted")}
    for op, key in (("describe_vpcs", "Vpcs"), ("describe_subnets", "Subnets"),
                    ("describe_route_tables", "RouteTables"), ("describe_security_groups", "SecurityGroups"),
                    ("describe_network_acls", "NetworkAcls"), ("describe_dhcp_options", "DhcpOptions"),
                    ("describe_internet_gateways", "InternetGateways"),
                    ("describe_egress_only_internet_gateways", "EgressOnlyInternetGateways"),
                    ("describe_nat_gateways", "NatGateways"), ("describe_addresses", "Addresses"),
                    ("describe_vpc_endpoints", "VpcEndpoints"), ("describe_vpc_peering_connections",
                                                                 "VpcPeeringConnections")):
        field, value = gone.get(key, ("", None))
        out[key] = [{"drill": _drill_of(i.get("Tags")), "item": i} for i in getattr(ec2, op)()[key]
                    if str(i.get(field, "")).lower() != value or not _drill_of(i.get("Tags"))]
    group_drill = {g["item"]["GroupId"]: g["drill"] for g in out["SecurityGroups"]}
    out["SecurityGroupRules"] = [{"drill": group_drill.get(r["GroupId"]), "item": r}
                                 for r in ec2.describe_security_group_rules()["SecurityGroupRules"]]
    out["Instances"] = [{"drill": _drill_of(i.get("Tags")), "item": i}
                        for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                        if i["State"]["Name"] != "terminated" or not _drill_of(i.get("Tags"))]
    balancers = elb.describe_load_balancers()["LoadBalancers"]
    groups = elb.describe_target_groups()["TargetGroups"]
    listeners = [li for b in balancers for li in elb.describe_listeners(LoadBalancerArn=b["LoadBalancerArn"])["Listeners"]]
    tags = _elb_tags(elb, [b["LoadBalancerArn"] for b in balancers] + [g["TargetGroupArn"] for g in groups]
                     + [li["ListenerArn"] for li in listeners])
    for key, items, arn in (("LoadBalancers", balancers, "LoadBalancerArn"), ("TargetGroups", groups, "TargetGroupArn"),
                            ("Listeners", listeners, "ListenerArn")):
        out[key] = [{"drill": _drill_of(tags.get(i[arn])), "item": i} for i in items]
    for op, key in (("describe_db_instances", "DBInstances"), ("describe_db_clusters", "DBClusters")):
        # LatestRestorableTime moves on by itself
        out[key] = [{"drill": _drill_of(i.get("TagList")), "item": {k: v for k, v in i.items()
                                                                    if k != "LatestRestorableTime"}}
                    for i in getattr(rds, op)()[key]]
    db_drill = {d["item"]["DBInstanceIdentifier"]: d["drill"] for d in out["DBInstances"]}
    # an automated snapshot is its database's: a drill database's are the drill's (and go with it)
    out["DBSnapshots"] = [{"drill": _drill_of(s.get("TagList")) or (db_drill.get(s["DBInstanceIdentifier"], "db gone")
                                                                      if s["SnapshotType"] == "automated" else None),
                           "item": s} for s in rds.describe_db_snapshots()["DBSnapshots"]]
    for op, key, name, arn in (("describe_db_subnet_groups", "DBSubnetGroups", "DBSubnetGroupName", "DBSubnetGroupArn"),
                               ("describe_db_parameter_groups", "DBParameterGroups", "DBParameterGroupName",
                                "DBParameterGroupArn"),
                               ("describe_option_groups", "OptionGroupsList", "OptionGroupName", "OptionGroupArn")):
        out[key] = [{"drill": _drill_of(rds.list_tags_for_resource(ResourceName=i[arn])["TagList"]), "item": i}
                    for i in getattr(rds, op)()[key] if not i[name].startswith("default")]
    subnet_drill = {s["item"]["SubnetId"]: s["drill"] for s in out["Subnets"]}
    out["FileSystems"], out["MountTargets"], out["AccessPoints"] = [], [], []
    for fs in efs.describe_file_systems()["FileSystems"]:
        # the mount target count and size move with the drill's mount targets (listed apart) and the replication
        out["FileSystems"].append({"drill": _drill_of(fs.get("Tags")), "item": {
            k: v for k, v in fs.items() if k not in ("NumberOfMountTargets", "SizeInBytes")}})
        for mt in efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]:
            out["MountTargets"].append({"drill": subnet_drill.get(mt["SubnetId"], "subnet gone"), "item": mt})
        for ap in efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"]:
            out["AccessPoints"].append({"drill": _drill_of(ap.get("Tags")), "item": ap})
    return out


def of_drill(drill_id: str) -> dict[str, list[dict[str, Any]]]:
    """What a drill left in the recovery region, by kind (terminated instances are gone for good)."""
    found = {kind: [e["item"] for e in items if e["drill"] == drill_id]
             for kind, items in inventory(RECOVERY).items()}
    return {kind: items for kind, items in found.items() if items}


def names(found: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """The ids in `of_drill`'s answer, for a readable failure message."""
    return {kind: [next((str(v) for k, v in i.items() if k.endswith(("Id", "Arn", "Identifier"))), "?") for i in items]
            for kind, items in found.items()}


def tagged_with(drill_id: str) -> list[str]:
    """ARNs the Resource Groups Tagging API knows with the drill's tag, but for terminated instances (which EC2
    keeps listing for a while)."""
    api = boto3.client("resourcegroupstaggingapi", region_name=RECOVERY)
    arns = [r["ResourceARN"] for page in api.get_paginator("get_resources").paginate(
        TagFilters=[{"Key": TAG_DRILL, "Values": [drill_id]}]) for r in page["ResourceTagMappingList"]]
    live = {i["InstanceId"] for r in boto3.client("ec2", region_name=RECOVERY).describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])[
        "Reservations"] for i in r["Instances"]}
    return sorted(a for a in arns if (":instance/" not in a or a.rsplit("/", 1)[1] in live) and _ecs_active(a))


def _ecs_active(arn: str) -> bool:
    """False for an ECS cluster, service or task definition that is deleted: ECS keeps describing (and the Tagging
    API keeps listing) it as INACTIVE or DELETE_IN_PROGRESS for a while, as EC2 does terminated instances."""
    if ":ecs:" not in arn:
        return True
    ecs = boto3.client("ecs", region_name=RECOVERY)
    kind, _, rest = arn.split(":", 5)[5].partition("/")
    if kind == "cluster":
        found = ecs.describe_clusters(clusters=[arn])["clusters"]
    elif kind == "service":
        found = ecs.describe_services(cluster=rest.split("/")[0], services=[arn])["services"]
    elif kind == "task-definition":
        try:
            found = [ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]]
        except ecs.exceptions.ClientException:
            found = []
    else:
        return True
    return any(f.get("status") == "ACTIVE" for f in found)


def plan_file(plan) -> Path:
    import tempfile

    import yaml

    path = Path(tempfile.mkdtemp()) / "plan.yaml"
    path.write_text(yaml.safe_dump(plan.model_dump(mode="json")))
    return path
