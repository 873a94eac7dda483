"""EC2 networking: VPCs, subnets, DHCP options, gateways, route tables, endpoints, network ACLs, security groups."""

from .vpc import DhcpOptionsHandler, SubnetHandler, VpcHandler
from .gateways import EgressOnlyGatewayHandler, ElasticIpHandler, InternetGatewayHandler, NatGatewayHandler
from .route_tables import RouteTableHandler
from .vpc_endpoints import GatewayEndpointHandler, InterfaceEndpointHandler
from .network_acls import NetworkAclHandler
from .security_groups import SecurityGroupHandler, SecurityGroupRulesHandler

__all__ = ["DhcpOptionsHandler", "SubnetHandler", "VpcHandler", "EgressOnlyGatewayHandler", "ElasticIpHandler", "InternetGatewayHandler", "NatGatewayHandler", "RouteTableHandler", "GatewayEndpointHandler", "InterfaceEndpointHandler", "NetworkAclHandler", "SecurityGroupHandler", "SecurityGroupRulesHandler"]
