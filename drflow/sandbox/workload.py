"""The sample workload: a 3-tier shop in the primary region, seeded into the sandbox.

Two AZs; public, private and database subnets (the database ones in a secondary CIDR); an internet
gateway, a NAT gateway with its Elastic IP, an egress-only gateway for IPv6, an S3 gateway endpoint;
a custom DHCP option set; a NACL on the database subnets; web/app/db security groups that reference
each other (app and web both ways). Next to it, an untagged VPC that drflow must leave alone.
"""

from __future__ import annotations

from typing import Any

import boto3

APP_TAGS = {"app": "shop"}


def _tags(name: str, kind: str, extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    tags = {"Name": name, **APP_TAGS, **(extra or {})}
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def seed_network(session: boto3.Session, region: str = "us-east-1") -> dict[str, str]:
    """Create the shop's network; returns the ids by role name, for tests and the demo's report."""
    ec2 = session.client("ec2", region_name=region)
    ids: dict[str, str] = {}
    dhcp = ec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "domain-name", "Values": ["shop.internal"]},
        {"Key": "domain-name-servers", "Values": ["AmazonProvidedDNS"]}],
        TagSpecifications=_tags("shop-dhcp", "dhcp-options"))["DhcpOptions"]
    ids["dhcp"] = dhcp["DhcpOptionsId"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=False,
                         TagSpecifications=_tags("shop-vpc", "vpc"))["Vpc"]
    ids["vpc"] = vpc_id = vpc["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.1.0.0/16")
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    ec2.associate_dhcp_options(DhcpOptionsId=ids["dhcp"], VpcId=vpc_id)

    subnets = {"public-a": ("10.0.0.0/24", "a"), "public-b": ("10.0.1.0/24", "b"),
               "private-a": ("10.0.10.0/24", "a"), "private-b": ("10.0.11.0/24", "b"),
               "db-a": ("10.1.20.0/24", "a"), "db-b": ("10.1.21.0/24", "b")}
    for name, (cidr, letter) in subnets.items():
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=region + letter,
                                   TagSpecifications=_tags(f"shop-{name}", "subnet"))["Subnet"]
        ids[name] = subnet["SubnetId"]
        if name.startswith("public"):
            ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})

    ids["igw"] = ec2.create_internet_gateway(
        TagSpecifications=_tags("shop-igw", "internet-gateway"))["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=ids["igw"], VpcId=vpc_id)
    ids["eigw"] = ec2.create_egress_only_internet_gateway(
        VpcId=vpc_id, TagSpecifications=_tags("shop-eigw", "egress-only-internet-gateway"),
    )["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=_tags("shop-nat-eip", "elastic-ip"))
    ids["eip"] = eip["AllocationId"]
    ids["nat"] = ec2.create_nat_gateway(SubnetId=ids["public-a"], AllocationId=ids["eip"],
                                        TagSpecifications=_tags("shop-nat", "natgateway"))["NatGateway"]["NatGatewayId"]

    public = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=_tags("shop-public", "route-table"))
    ids["rt-public"] = public["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=ids["rt-public"], DestinationCidrBlock="0.0.0.0/0", GatewayId=ids["igw"])
    private = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=_tags("shop-private", "route-table"))
    ids["rt-private"] = private["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=ids["rt-private"], DestinationCidrBlock="0.0.0.0/0", NatGatewayId=ids["nat"])
    ec2.create_route(RouteTableId=ids["rt-private"], DestinationIpv6CidrBlock="::/0",
                     EgressOnlyInternetGatewayId=ids["eigw"])
    for name in ("public-a", "public-b"):
        ec2.associate_route_table(RouteTableId=ids["rt-public"], SubnetId=ids[name])
    for name in ("private-a", "private-b", "db-a", "db-b"):
        ec2.associate_route_table(RouteTableId=ids["rt-private"], SubnetId=ids[name])
    ids["vpce-s3"] = ec2.create_vpc_endpoint(
        VpcId=vpc_id, ServiceName=f"com.amazonaws.{region}.s3", VpcEndpointType="Gateway",
        RouteTableIds=[ids["rt-private"]], TagSpecifications=_tags("shop-s3-endpoint", "vpc-endpoint"),
    )["VpcEndpoint"]["VpcEndpointId"]

    nacl = ec2.create_network_acl(VpcId=vpc_id, TagSpecifications=_tags("shop-db-nacl", "network-acl"))
    ids["nacl-db"] = nacl_id = nacl["NetworkAcl"]["NetworkAclId"]
    for number, egress, cidr, port, action in [(100, False, "10.0.10.0/23", 5432, "allow"),
                                               (110, False, "0.0.0.0/0", 22, "deny"),
                                               (100, True, "10.0.0.0/16", None, "allow")]:
        entry: dict[str, Any] = {"NetworkAclId": nacl_id, "RuleNumber": number, "Egress": egress,
                                 "CidrBlock": cidr, "RuleAction": action}
        if port:
            entry.update(Protocol="6", PortRange={"From": port, "To": port})
        else:
            entry.update(Protocol="-1")
        ec2.create_network_acl_entry(**entry)
    for name in ("db-a", "db-b"):
        current = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [ids[name]]}])
        assoc = next(a["NetworkAclAssociationId"] for a in current["NetworkAcls"][0]["Associations"]
                     if a["SubnetId"] == ids[name])
        ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=nacl_id)

    for tier in ("web", "app", "db"):
        ids[f"sg-{tier}"] = ec2.create_security_group(
            GroupName=f"shop-{tier}", Description=f"shop {tier} tier", VpcId=vpc_id,
            TagSpecifications=_tags(f"shop-{tier}", "security-group"))["GroupId"]

    def allow(group: str, port: int, *, cidr: str | None = None, source: str | None = None, egress: bool = False):
        perm: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if cidr:
            perm["IpRanges"] = [{"CidrIp": cidr, "Description": "anywhere"}]
        if source:
            perm["UserIdGroupPairs"] = [{"GroupId": ids[source], "Description": f"from {source}"}]
        call = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
        call(GroupId=ids[group], IpPermissions=[perm])

    allow("sg-web", 443, cidr="0.0.0.0/0")
    allow("sg-app", 8080, source="sg-web")
    allow("sg-web", 8080, source="sg-app", egress=True)
    allow("sg-app", 9090, source="sg-app")        # self reference
    allow("sg-db", 5432, source="sg-app")
    allow("sg-app", 5432, source="sg-db", egress=True)
    allow("sg-app", 22, cidr="10.0.0.0/16")

    other = ec2.create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]  # not the shop's: out of scope
    ec2.create_subnet(VpcId=other, CidrBlock="172.31.0.0/20", AvailabilityZone=region + "a")
    ids["other-vpc"] = other
    return ids


SERVERS = {  # name: (subnet role, private IP, instance type, security group, depends on)
    "db-proxy": ("db-a", "10.1.20.10", "t3.medium", "sg-db", []),
    "app-a": ("private-a", "10.0.10.10", "m5.large", "sg-app", ["db-proxy"]),
    "app-b": ("private-b", "10.0.11.10", "m5.large", "sg-app", ["db-proxy"]),
    "web": ("private-a", "10.0.10.20", "t3.large", "sg-web", ["app-a", "app-b"]),
    "cache": ("db-b", "10.1.21.10", "r5.large", "sg-db", []),
    "worker": ("private-b", "10.0.11.20", "c5.large", "sg-app", ["cache"]),
}
# the plan declares the diamond (db-proxy -> app-a, app-b -> web); the worker declares its own by tag
PLAN_SERVERS = {name: {"depends_on": deps} for name, (_, _, _, _, deps) in SERVERS.items() if name != "worker"}
PLAN_SERVERS["web"]["health_check"] = {"status_checks": True}


def seed_servers(session: boto3.Session, ids: dict[str, str], region: str = "us-east-1") -> dict[str, str]:
    """Six servers with the DRS agent, and an internet-facing ALB in front of web (and app for /api/*)."""
    ec2 = session.client("ec2", region_name=region)
    for name, (subnet, ip, itype, group, deps) in SERVERS.items():
        extra = {"drs-agent": "installed"}
        if name == "worker":
            extra["drflow:depends-on"] = ",".join(deps)
        inst = ec2.run_instances(
            ImageId="ami-0sample0shop0001", MinCount=1, MaxCount=1, InstanceType=itype, SubnetId=ids[subnet],
            PrivateIpAddress=ip, SecurityGroupIds=[ids[group]],
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3"}},
                                 {"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 100, "VolumeType": "gp3"}}],
            TagSpecifications=_tags(name, "instance", extra))["Instances"][0]
        ids[name] = inst["InstanceId"]
        data = next(m["Ebs"]["VolumeId"] for m in inst["BlockDeviceMappings"] if m["DeviceName"] == "/dev/xvdb")
        # moto's run_instances drops Iops, so the data disk becomes io1 afterwards, as an operator would do
        ec2.modify_volume(VolumeId=data, VolumeType="io1", Iops=3000)

    elb = session.client("elbv2", region_name=region)
    tags = [{"Key": "app", "Value": "shop"}]
    web_tg = elb.create_target_group(Name="shop-web", Protocol="HTTP", Port=80, VpcId=ids["vpc"], TargetType="instance",
                                     HealthCheckPath="/health", HealthCheckIntervalSeconds=15, Tags=tags)
    app_tg = elb.create_target_group(Name="shop-api", Protocol="HTTP", Port=8080, VpcId=ids["vpc"],
                                     TargetType="instance", HealthCheckPath="/api/health", Tags=tags)
    ids["tg-web"] = web_tg["TargetGroups"][0]["TargetGroupArn"]
    ids["tg-api"] = app_tg["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=ids["tg-web"], Targets=[{"Id": ids["web"]}])
    elb.register_targets(TargetGroupArn=ids["tg-api"], Targets=[{"Id": ids["app-a"]}, {"Id": ids["app-b"]}])
    alb = elb.create_load_balancer(Name="shop-alb", Subnets=[ids["public-a"], ids["public-b"]],
                                   SecurityGroups=[ids["sg-web"]], Scheme="internet-facing", Type="application",
                                   Tags=tags)["LoadBalancers"][0]
    ids["alb"] = alb["LoadBalancerArn"]
    listener = elb.create_listener(LoadBalancerArn=ids["alb"], Protocol="HTTP", Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": ids["tg-web"]}])
    ids["listener"] = listener["Listeners"][0]["ListenerArn"]
    elb.create_rule(ListenerArn=ids["listener"], Priority=10,
                    Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
                    Actions=[{"Type": "forward", "TargetGroupArn": ids["tg-api"]}])
    return ids


def seed_workload(session: boto3.Session, region: str = "us-east-1", aurora: bool = False) -> dict[str, Any]:
    """The whole sample shop: network, servers and ALB, an encrypted Postgres database, an assets bucket
    with objects, a shared file system (encrypted with the same customer key, alias/shop-data), the IAM
    roles the servers run as; and beside the servers: an ECS service on Fargate behind the ALB (/orders/*) from
    an image in the shop's ECR repository, an Auto Scaling group (the batch tier), and a Lambda function that
    writes to the assets bucket, triggered by an SQS queue (which drflow does not protect: the report lists it).
    `aurora`: an Aurora PostgreSQL cluster beside the database (seed_rds)."""
    from drflow.sandbox.seed_acm import seed_acm
    from drflow.sandbox.seed_apps import seed_apps, seed_schedule
    from drflow.sandbox.seed_asg import seed_asg
    from drflow.sandbox.seed_ecr import seed_ecr
    from drflow.sandbox.seed_ecs import seed_ecs
    from drflow.sandbox.seed_efs import seed_efs
    from drflow.sandbox.seed_iam import seed_iam
    from drflow.sandbox.seed_apigateway import seed_api_domain, seed_apigateway
    from drflow.sandbox.seed_lambda import seed_lambda
    from drflow.sandbox.seed_rds import seed_rds
    from drflow.sandbox.seed_route53 import seed_route53
    from drflow.sandbox.seed_s3 import seed_s3

    ids: dict[str, Any] = seed_network(session, region)
    ids.update(seed_servers(session, dict(ids), region))
    databases = seed_rds(session, region, ids, aurora=aurora)
    ids.update({f"rds-{k}": v for k, v in databases.items()})
    ids["bucket"] = seed_s3(session, region)["bucket"]
    seed_efs(session, region, ids, kms_key_id=databases["kms-key"])
    ids.update(seed_iam(session, region, ids))
    ids.update(seed_apps(session, region, ids))  # the queue, topic, table, secret and parameters the app needs
    ids.update(seed_ecr(session, region, ids))
    seed_ecs(session, region, ids)
    ids.update(seed_asg(session, region, ids))
    ids.update(seed_lambda(session, region, ids))
    ids.update(seed_apigateway(session, region, ids))
    ids.update(seed_schedule(session, region, ids))
    ids.update(seed_route53(session, region, ids))  # internal.shop (db, cache) and shop.example (alias to the ALB)
    ids.update(seed_acm(session, region, ids))  # the ALB's HTTPS listener and its certificate (after seed_route53)
    ids.update(seed_api_domain(session, region, ids, ids["certificate"], zone_id=ids["public-zone"]))
    return ids
