"""The handler registry: every resource type drflow supports, one handler each.

Adding a service means adding its module and listing its handlers here; the flows do not change.
"""

from __future__ import annotations

from core.handler import Handler, Registry
from tasks.autoscaling import GroupHandler
from tasks.beanstalk import ApplicationHandler, EnvironmentHandler
from tasks.ecs import TaskDefinitionHandler
from tasks.ecs_services import ClusterHandler as EcsClusterHandler, ServiceHandler as EcsServiceHandler
from tasks.ecr import RepositoryHandler
from tasks.efs import FileSystemHandler
from tasks.iam import RoleHandler
from tasks.iam_policies import PolicyHandler
from tasks.iam_profiles import InstanceProfileHandler
from tasks.gateways import (EgressOnlyGatewayHandler, ElasticIpHandler, InternetGatewayHandler,
                            NatGatewayHandler)
from tasks.kms import KeyHandler
from tasks.launch_templates import LaunchTemplateHandler
from tasks.lambda_functions import FunctionHandler
from tasks.load_balancers import ListenerHandler, LoadBalancerHandler, TargetGroupHandler, TargetsHandler
from tasks.network_acls import NetworkAclHandler
from tasks.rds import ClusterHandler, InstanceHandler
from tasks.rds_groups import (ClusterParameterGroupHandler, OptionGroupHandler, ParameterGroupHandler,
                              SubnetGroupHandler)
from tasks.route_tables import RouteTableHandler
from tasks.s3 import BucketHandler
from tasks.security_groups import SecurityGroupHandler, SecurityGroupRulesHandler
from tasks.servers import ServerHandler
from tasks.vpc import DhcpOptionsHandler, SubnetHandler, VpcHandler
from tasks.vpc_endpoints import GatewayEndpointHandler, InterfaceEndpointHandler

HANDLERS: tuple[Handler, ...] = (
    DhcpOptionsHandler(), VpcHandler(), SubnetHandler(), InternetGatewayHandler(), EgressOnlyGatewayHandler(),
    ElasticIpHandler(), NatGatewayHandler(), RouteTableHandler(), GatewayEndpointHandler(),
    InterfaceEndpointHandler(), NetworkAclHandler(), SecurityGroupHandler(), SecurityGroupRulesHandler(),
    KeyHandler(), ServerHandler(), TargetGroupHandler(), LoadBalancerHandler(), ListenerHandler(), TargetsHandler(),
    BucketHandler(), FileSystemHandler(),
    SubnetGroupHandler(), ParameterGroupHandler(), ClusterParameterGroupHandler(), OptionGroupHandler(),
    ClusterHandler(), InstanceHandler(),
    PolicyHandler(), RoleHandler(), InstanceProfileHandler(),
    EcsClusterHandler(), TaskDefinitionHandler(), EcsServiceHandler(),
    LaunchTemplateHandler(), GroupHandler(),
    ApplicationHandler(), EnvironmentHandler(),
    RepositoryHandler(), FunctionHandler(),
)


def default_registry() -> Registry:
    return {h.type: h for h in HANDLERS}
