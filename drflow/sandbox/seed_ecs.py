"""The sample workload's container service: `shop-orders` on Fargate, behind the shop's ALB at /orders/*.

A cluster `shop`; a Fargate task definition `shop-orders` whose `orders` container runs an image from the
source's own ECR repository `shop/api` (beside a public sidecar image), with a task role, an execution role, an
awslogs group and environment variables (one of them a secret-looking value, and one naming the region); an
IP target group `shop-orders` (port 8080) that a rule of the shop's ALB listener forwards /orders/* to; and the
service itself: 2 tasks in the private subnets, in sg-app, no public IP. Seeded after `seed_network` and
`seed_servers` (the listener), whose ids it uses; tagged app=shop.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from core.images import repository_uri
from drflow.sandbox.seed_ecr import push_image
from drflow.sandbox.workload import APP_TAGS

REPOSITORY = "shop/api"
IMAGE_TAG = "1.4.2"
SIDECAR = "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"
LOG_GROUP = "/ecs/shop-orders"
TASK_ROLE, EXECUTION_ROLE = "shop-orders-task", "shop-ecs-execution"
SECRET_VALUE = "sk_live_5hopOrdersNotForLogs"  # stands for a secret kept in an environment variable
ECS_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}


def _ecs_tags() -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in APP_TAGS.items()]


def _aws_tags() -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in APP_TAGS.items()]


def _push_orders_image(session: boto3.Session, region: str, repository_exists: bool) -> None:
    """The orders image, pushed with its blobs as docker push does (seed_ecr.py's push), into the shop's
    repository (made here when seed_ecr did not make it)."""
    ecr = session.client("ecr", region_name=region)
    if not repository_exists:
        ecr.create_repository(repositoryName=REPOSITORY, tags=_aws_tags())
    push_image(ecr, REPOSITORY, IMAGE_TAG, {"orders": b"#!/bin/sh\necho orders\n"})


def _roles(session: boto3.Session) -> dict[str, str]:
    iam = session.client("iam")
    arns = {}
    for role, policy in ((TASK_ROLE, {"Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::shop-assets-*/*"}),
                         (EXECUTION_ROLE, {"Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                                     "ecr:GetAuthorizationToken", "logs:CreateLogStream",
                                                     "logs:PutLogEvents"], "Resource": "*"})):
        arns[role] = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(ECS_TRUST),
                                     Tags=_aws_tags())["Role"]["Arn"]
        iam.put_role_policy(RoleName=role, PolicyName="tasks", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **policy}]}))
    return arns


def _app_references(ids: dict[str, str]) -> list[dict[str, str]]:
    """The database and the queue, as an application names them (when the shop has them: seed_apps)."""
    found = []
    if ids.get("db-endpoint"):
        found.append({"name": "DATABASE_URL", "value": f"jdbc:postgresql://{ids['db-endpoint']}:5433/shop"})
    if ids.get("queue-url"):
        found.append({"name": "ORDERS_QUEUE_URL", "value": ids["queue-url"]})
    return found


def seed_ecs(session: boto3.Session, region: str, ids: dict[str, str]) -> dict[str, str]:
    """Create the shop's ECS service; returns `ids` with ecr-repository (the repository's name),
    ecs-cluster, task-definition, tg-orders, rule-orders, ecs-service, and the roles' ARNs (role-task,
    role-execution).

    Needs ids["listener"] (the shop ALB's :80 listener, from seed_servers)."""
    ecs = session.client("ecs", region_name=region)
    elb = session.client("elbv2", region_name=region)
    logs = session.client("logs", region_name=region)
    _push_orders_image(session, region, repository_exists="ecr-repository" in ids)
    ids.setdefault("ecr-repository", REPOSITORY)
    roles = _roles(session)
    ids["role-task"], ids["role-execution"] = roles[TASK_ROLE], roles[EXECUTION_ROLE]
    logs.create_log_group(logGroupName=LOG_GROUP, tags=APP_TAGS)
    logs.put_retention_policy(logGroupName=LOG_GROUP, retentionInDays=14)
    ids["ecs-cluster"] = ecs.create_cluster(
        clusterName="shop", capacityProviders=["FARGATE", "FARGATE_SPOT"], tags=_ecs_tags(),
        settings=[{"name": "containerInsights", "value": "enabled"}])["cluster"]["clusterArn"]
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    image = f"{repository_uri(account, region, REPOSITORY)}:{IMAGE_TAG}"  # whoever made the repository
    logging: dict[str, Any] = {"logDriver": "awslogs", "options": {
        "awslogs-group": LOG_GROUP, "awslogs-region": region, "awslogs-stream-prefix": "orders"}}
    ids["task-definition"] = ecs.register_task_definition(
        family="shop-orders", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="512", memory="1024",
        taskRoleArn=roles[TASK_ROLE], executionRoleArn=roles[EXECUTION_ROLE], tags=_ecs_tags(),
        containerDefinitions=[
            {"name": "orders", "image": image, "essential": True,
             "portMappings": [{"containerPort": 8080, "protocol": "tcp"}], "logConfiguration": logging,
             "environment": [{"name": "AWS_REGION_NAME", "value": region},
                             {"name": "PAYMENTS_API_KEY", "value": SECRET_VALUE},
                             {"name": "ORDERS_TABLE_ARN",
                              "value": f"arn:aws:dynamodb:{region}:{account}:table/shop-orders"},
                             *_app_references(ids)]},
            {"name": "otel", "image": SIDECAR, "essential": False, "logConfiguration": logging}],
    )["taskDefinition"]["taskDefinitionArn"]
    ids["tg-orders"] = elb.create_target_group(
        Name="shop-orders", Protocol="HTTP", Port=8080, VpcId=ids["vpc"], TargetType="ip",
        HealthCheckPath="/orders/health", Tags=_aws_tags())["TargetGroups"][0]["TargetGroupArn"]
    ids["rule-orders"] = elb.create_rule(
        ListenerArn=ids["listener"], Priority=20, Conditions=[{"Field": "path-pattern", "Values": ["/orders/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": ids["tg-orders"]}])["Rules"][0]["RuleArn"]
    ids["ecs-service"] = ecs.create_service(
        cluster="shop", serviceName="shop-orders", taskDefinition=ids["task-definition"], desiredCount=2,
        launchType="FARGATE", platformVersion="LATEST", schedulingStrategy="REPLICA",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [ids["private-a"], ids["private-b"]],
                                                      "securityGroups": [ids["sg-app"]], "assignPublicIp": "DISABLED"}},
        loadBalancers=[{"targetGroupArn": ids["tg-orders"], "containerName": "orders", "containerPort": 8080}],
        healthCheckGracePeriodSeconds=60, deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100},
        tags=_ecs_tags())["service"]["serviceArn"]
    return ids
