"""The handler registry: every resource type drflow supports, one handler each.

Adding a service means adding its module and listing its handlers here; the flows do not change.
"""

from __future__ import annotations

from core.handler import Handler, Registry
from tasks.acm import CertificateHandler
from tasks.apigateway import DomainNameHandler, HttpApiHandler, RestApiHandler
from tasks.autoscaling import GroupHandler
from tasks.awslambda import FunctionHandler
from tasks.beanstalk import ApplicationHandler, EnvironmentHandler
from tasks.cloudfront import DistributionHandler
from tasks.dynamodb import TableHandler
from tasks.ecr import RepositoryHandler
from tasks.ecs import EcsClusterHandler, EcsServiceHandler, TaskDefinitionHandler
from tasks.efs import FileSystemHandler
from tasks.events import EventBusHandler, RuleHandler
from tasks.iam import InstanceProfileHandler, PolicyHandler, RoleHandler
from tasks.kms import KeyHandler
from tasks.launch_templates import LaunchTemplateHandler
from tasks.load_balancers import ListenerHandler, LoadBalancerHandler, TargetGroupHandler, TargetsHandler
from tasks.network import (DhcpOptionsHandler, EgressOnlyGatewayHandler, ElasticIpHandler, GatewayEndpointHandler,
                           InterfaceEndpointHandler, InternetGatewayHandler, NatGatewayHandler, NetworkAclHandler,
                           RouteTableHandler, SecurityGroupHandler, SecurityGroupRulesHandler, SubnetHandler,
                           VpcHandler)
from tasks.rds import (ClusterParameterGroupHandler, DbClusterHandler, DbInstanceHandler, OptionGroupHandler,
                       ParameterGroupHandler, SubnetGroupHandler)
from tasks.route53 import FailoverRecordHandler, PrivateZoneHandler, RecordHandler
from tasks.s3 import BucketHandler
from tasks.servers import ServerHandler
from tasks.secrets import SecretHandler
from tasks.sns import TopicHandler
from tasks.sqs import QueueHandler
from tasks.ssm import ParameterHandler

HANDLERS: tuple[Handler, ...] = (
    DhcpOptionsHandler(), VpcHandler(), SubnetHandler(), InternetGatewayHandler(), EgressOnlyGatewayHandler(),
    ElasticIpHandler(), NatGatewayHandler(), RouteTableHandler(), GatewayEndpointHandler(),
    InterfaceEndpointHandler(), NetworkAclHandler(), SecurityGroupHandler(), SecurityGroupRulesHandler(),
    KeyHandler(), ServerHandler(), CertificateHandler(), TargetGroupHandler(), LoadBalancerHandler(),
    ListenerHandler(), TargetsHandler(),
    BucketHandler(), FileSystemHandler(),
    SubnetGroupHandler(), ParameterGroupHandler(), ClusterParameterGroupHandler(), OptionGroupHandler(),
    DbClusterHandler(), DbInstanceHandler(),
    PolicyHandler(), RoleHandler(), InstanceProfileHandler(),
    EcsClusterHandler(), TaskDefinitionHandler(), EcsServiceHandler(),
    LaunchTemplateHandler(), GroupHandler(),
    ApplicationHandler(), EnvironmentHandler(),
    QueueHandler(), TopicHandler(), TableHandler(), ParameterHandler(), SecretHandler(), RepositoryHandler(),
    FunctionHandler(), EventBusHandler(), RuleHandler(),
    PrivateZoneHandler(), RecordHandler(), FailoverRecordHandler(),
    HttpApiHandler(), RestApiHandler(), DomainNameHandler(),
    DistributionHandler(),
)


def default_registry() -> Registry:
    return {h.type: h for h in HANDLERS}
