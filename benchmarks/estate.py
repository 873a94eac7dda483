"""A synthetic estate for benchmarks: N VPCs, each with subnets, route tables, gateways and groups."""

from __future__ import annotations

from typing import Any

import boto3

SUBNETS_PER_VPC = 8
GROUPS_PER_VPC = 4
# per VPC: vpc, igw, 8 subnets, main + 1 route table, default ACL, 5 groups (4 + default) x (group + rules)
RESOURCES_PER_VPC = 1 + 1 + SUBNETS_PER_VPC + 2 + 1 + 2 * (GROUPS_PER_VPC + 1)


def _tags(kind: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": "app", "Value": "bench"}, {"Key": "Name", "Value": name}]}]


def seed_estate(session: boto3.Session, region: str, vpcs: int) -> int:
    """Create `vpcs` VPCs in `region`; returns how many resources drflow will find in scope."""
    ec2 = session.client("ec2", region_name=region)
    for v in range(vpcs):
        cidr = f"10.{v // 16}.{(v % 16) * 16}.0/20"
        vpc_id = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=_tags("vpc", f"bench-{v}"))["Vpc"]["VpcId"]
        igw = ec2.create_internet_gateway(TagSpecifications=_tags("internet-gateway", f"igw-{v}"))
        igw_id = igw["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        table = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=_tags("route-table", f"rt-{v}"))
        table_id = table["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
        base = int(cidr.split(".")[2])
        for s in range(SUBNETS_PER_VPC):
            subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.{v // 16}.{base + s}.0/24",
                                       AvailabilityZone=region + "ab"[s % 2],
                                       TagSpecifications=_tags("subnet", f"subnet-{v}-{s}"))["Subnet"]["SubnetId"]
            ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet)
        groups = [ec2.create_security_group(GroupName=f"g{g}", Description="bench", VpcId=vpc_id,
                                            TagSpecifications=_tags("security-group", f"sg-{v}-{g}"))["GroupId"]
                  for g in range(GROUPS_PER_VPC)]
        for g, group in enumerate(groups):
            ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                {"IpProtocol": "tcp", "FromPort": 8000 + g, "ToPort": 8000 + g,
                 "UserIdGroupPairs": [{"GroupId": groups[(g + 1) % len(groups)]}]}])
    return vpcs * RESOURCES_PER_VPC
