"""The network package's resource types, declared once: its modules name each other's types from here."""

from __future__ import annotations

from enum import StrEnum


class NetworkType(StrEnum):
    DHCP = "ec2:dhcp-options"
    VPC = "ec2:vpc"
    SUBNET = "ec2:subnet"
    IGW = "ec2:internet-gateway"
    EIGW = "ec2:egress-only-internet-gateway"
    EIP = "ec2:elastic-ip"
    NAT = "ec2:nat-gateway"
    ROUTE_TABLE = "ec2:route-table"
    NACL = "ec2:network-acl"
    GROUP = "ec2:security-group"
    RULES = "ec2:security-group-rules"
    GATEWAY = "ec2:vpc-endpoint"
    INTERFACE = "ec2:interface-endpoint"


DHCP, VPC, SUBNET = NetworkType.DHCP, NetworkType.VPC, NetworkType.SUBNET
IGW, EIGW, EIP, NAT = NetworkType.IGW, NetworkType.EIGW, NetworkType.EIP, NetworkType.NAT
ROUTE_TABLE, NACL = NetworkType.ROUTE_TABLE, NetworkType.NACL
GROUP, RULES = NetworkType.GROUP, NetworkType.RULES
GATEWAY, INTERFACE = NetworkType.GATEWAY, NetworkType.INTERFACE
