"""ECS and Fargate through the sandbox: clusters and task definitions staged nightly, the service recovered at
failover behind the recovered ALB, drills and their cleanup.

moto runs no containers. drflow/sandbox/moto_ecs.py makes a new service's tasks "run" at once (running count =
desired count, deployment COMPLETED: what a Fargate service whose image pulls and whose health checks pass
reports), so `services_stable` can succeed; and it refuses, as AWS does, a service behind a target group that no
load balancer forwards to. The running count asserted below is therefore the sandbox's; what the tests prove is
what drflow asked AWS for (cluster, revision, images, roles, logs, network, target group, desired count) and that
it waited for a stable service.

The repository is recovered by the real ECR handler (tasks/ecr/repositories.py): its replica, with the image copied nightly.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import paginate
from core.ec2_index import OwnedIndex
from core.handler import TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID, ApplyContext
from core.images import repository_uri
from core.models import Outcome, Resource, ResourceResult
from core.netmap import NetworkMapper
from drflow.sandbox.faults import Faults
from drflow.sandbox.seed_ecs import EXECUTION_ROLE, IMAGE_TAG, LOG_GROUP, SECRET_VALUE, SIDECAR, TASK_ROLE, seed_ecs
from flows.cleanup import drill_cleanup
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.ecs.task_definitions import TAG_CONTENT, TaskDefinitionHandler, tag_dict

REPLICA_IMAGE = f"{repository_uri(ACCOUNT, RECOVERY, 'shop/api')}:{IMAGE_TAG}"


@pytest.fixture
def orders(shop, sandbox):
    """The shop's network, an ALB "shop-alb" with its :80 listener (the servers are not needed here), and the
    ECS service on top."""
    elb = boto3.client("elbv2", region_name=SOURCE)
    alb = elb.create_load_balancer(Name="shop-alb", Subnets=[shop["public-a"], shop["public-b"]],
                                   SecurityGroups=[shop["sg-web"]], Scheme="internet-facing", Type="application",
                                   Tags=[{"Key": "app", "Value": "shop"}])["LoadBalancers"][0]
    shop["alb"] = alb["LoadBalancerArn"]
    shop["listener"] = elb.create_listener(
        LoadBalancerArn=shop["alb"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])[
        "Listeners"][0]["ListenerArn"]
    ids = seed_ecs(boto3.Session(), SOURCE, shop)
    sandbox.app.clear_log()
    return ids


def ecs(region: str = RECOVERY):
    return boto3.client("ecs", region_name=region)


def service_of(cluster: str, name: str) -> dict[str, Any]:
    [service] = ecs().describe_services(cluster=cluster, services=[name], include=["TAGS"])["services"]
    return service


def definition(arn: str) -> tuple[dict[str, Any], dict[str, str]]:
    described = ecs().describe_task_definition(taskDefinition=arn, include=["TAGS"])
    return described["taskDefinition"], tag_dict(described.get("tags"))


def active_definitions(family: str) -> list[str]:
    arns = paginate(ecs(), "list_task_definitions", "taskDefinitionArns", familyPrefix=family, status="ACTIVE")
    return [a for a in arns if a.rsplit("/", 1)[-1].split(":")[0] == family]


def row(report: dict, key: str) -> dict:
    return next(d for d in report["details"] if d["key"] == key)


def test_the_fargate_service_comes_back_behind_the_recovered_alb(orders, sandbox):
    plan = make_plan()
    staged = run(replicate, plan=plan)
    assert staged["failed"] == [], staged["failed"]
    # nightly: the cluster and the translated revision are there; the service (its tasks bill) is not
    cluster = ecs().describe_clusters(clusters=["shop"], include=["TAGS", "SETTINGS"])["clusters"][0]
    assert cluster["status"] == "ACTIVE" and tag_dict(cluster["tags"])[TAG_PLAN] == "shop"
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    [staged_td] = active_definitions("shop-orders")
    assert ecs().list_services(cluster="shop")["serviceArns"] == []
    # the log group's contents are not protected (only an empty group is made in the recovery region); moto's
    # Tagging API lists no ECS resources: that ECS's own kinds are claimed is checked in the test below
    assert "logs:log-group" in {n["kind"] for n in staged["not_protected"]}
    sandbox.app.clear_log()  # the next night, every resource re-checked: the revision is adopted, not registered again
    assert run(replicate, plan=plan, refresh=True)["failed"] == []
    assert [c.operation for c in sandbox.calls if c.write and c.service == "ecs"] == []
    assert active_definitions("shop-orders") == [staged_td]
    # a revision registered from another translation (a moved replica, a recreated role) is replaced, once
    ecs().tag_resource(resourceArn=staged_td, tags=[{"key": TAG_CONTENT, "value": "an-earlier-translation"}])
    assert run(replicate, plan=plan, refresh=True)["failed"] == []
    [replaced] = active_definitions("shop-orders")
    assert replaced != staged_td and definition(staged_td)[0]["status"] == "INACTIVE"
    assert definition(replaced)[1][TAG_CONTENT] != "an-earlier-translation"
    staged_td = replaced

    sandbox.faults = Faults(dark={SOURCE})
    sandbox.app.clear_log()
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    assert [c for c in sandbox.calls if c.region == SOURCE] == []  # not one call went to the primary
    idmap = report["identity_map"]

    service = service_of("shop", "shop-orders")
    assert service["status"] == "ACTIVE" and service["launchType"] == "FARGATE"
    assert service["desiredCount"] == 2 and service["runningCount"] == 2  # the sandbox starts the tasks at once
    assert service["clusterArn"] == cluster["clusterArn"]
    assert service["taskDefinition"] == staged_td  # the revision staged nightly, adopted, not registered again
    tags = tag_dict(service["tags"])
    assert tags["app"] == "shop" and tags[TAG_SOURCE_ID] == "shop/shop-orders" and TAG_DRILL not in tags
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    assert sorted(network["subnets"]) == sorted([idmap[orders["private-a"]], idmap[orders["private-b"]]])
    assert network["securityGroups"] == [idmap[orders["sg-app"]]] and network["assignPublicIp"] == "DISABLED"
    assert row(report, "ecs:service/shop/shop-orders")["details"]["running_count"] == 2

    # behind the RECOVERED ALB: its target group is the recovered one, which the recovered listener forwards to
    elb = boto3.client("elbv2", region_name=RECOVERY)
    [attached] = service["loadBalancers"]
    assert attached["containerName"] == "orders" and attached["containerPort"] == 8080
    [group] = elb.describe_target_groups(Names=["shop-orders"])["TargetGroups"]
    assert attached["targetGroupArn"] == group["TargetGroupArn"] != orders["tg-orders"]
    assert group["TargetType"] == "ip" and group["VpcId"] == idmap[orders["vpc"]]
    [alb] = elb.describe_load_balancers(Names=["shop-alb"])["LoadBalancers"]
    assert alb["LoadBalancerArn"] in group["LoadBalancerArns"]
    [listener] = elb.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
    rules = [r for r in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
    assert [(r["Conditions"][0]["Values"], r["Actions"][0]["TargetGroupArn"]) for r in rules] == \
        [(["/orders/*"], group["TargetGroupArn"])]

    # the task definition: images in the replica registry, the production roles, logs in the recovery region
    td, td_tags = definition(staged_td)
    assert td["requiresCompatibilities"] == ["FARGATE"] and td["networkMode"] == "awsvpc"
    assert (td["cpu"], td["memory"]) == ("512", "1024")
    assert td["taskRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{TASK_ROLE}"
    assert td["executionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION_ROLE}"
    containers = {c["name"]: c for c in td["containerDefinitions"]}
    assert containers["orders"]["image"] == REPLICA_IMAGE and containers["otel"]["image"] == SIDECAR
    for container in containers.values():
        options = container["logConfiguration"]["options"]
        assert options == {"awslogs-group": LOG_GROUP, "awslogs-region": RECOVERY, "awslogs-stream-prefix": "orders"}
    env = {e["name"]: e["value"] for e in containers["orders"]["environment"]}
    assert env == {"AWS_REGION_NAME": RECOVERY, "PAYMENTS_API_KEY": SECRET_VALUE,
                   "ORDERS_TABLE_ARN": f"arn:aws:dynamodb:{RECOVERY}:{ACCOUNT}:table/shop-orders"}
    assert td_tags["app"] == "shop" and td_tags[TAG_SOURCE_ID] == "shop-orders:1"
    logs = boto3.client("logs", region_name=RECOVERY)
    [log_group] = [g for g in logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
                   if g["logGroupName"] == LOG_GROUP]
    assert log_group["retentionInDays"] == 14
    assert SECRET_VALUE not in json.dumps(staged) + json.dumps(report)  # a secret is never reported

    # a failover started again adopts everything: no second service, revision or cluster
    sandbox.app.clear_log()
    again = run(failover, plan=plan, refresh=True)
    assert again["failed"] == [] and again["identity_map"] == idmap
    assert [c.operation for c in sandbox.calls if c.write and c.service == "ecs"] == []
    assert len(ecs().list_services(cluster="shop")["serviceArns"]) == 1
    assert active_definitions("shop-orders") == [staged_td]
    assert [c for c in ecs().describe_clusters(clusters=ecs().list_clusters()["clusterArns"])["clusters"]
            if c["status"] == "ACTIVE"] == [ecs().describe_clusters(clusters=["shop"])["clusters"][0]]


def test_a_drill_runs_beside_production_and_its_cleanup_removes_exactly_it(orders, sandbox):
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    [staged_td] = active_definitions("shop-orders")
    report = run(failover, plan=plan, drill=True)
    assert report["failed"] == [], report["failed"]
    drill_id = report["drill_id"]
    clusters = ecs().describe_clusters(clusters=ecs().list_clusters()["clusterArns"], include=["TAGS"])["clusters"]
    [drill_cluster] = [c for c in clusters if tag_dict(c.get("tags")).get(TAG_DRILL) == drill_id]
    suffix = drill_cluster["clusterName"].removeprefix("shop-")
    assert drill_cluster["clusterName"] == f"shop-{suffix}" and len(suffix) == 5
    service = service_of(drill_cluster["clusterName"], f"shop-orders-{suffix}")
    assert tag_dict(service["tags"])[TAG_DRILL] == drill_id
    assert service["desiredCount"] == service["runningCount"] == 2
    assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    [drill_td] = active_definitions(f"shop-orders-{suffix}")
    assert service["taskDefinition"] == drill_td
    td, _ = definition(drill_td)
    drill_group = f"{LOG_GROUP}-{suffix}"
    assert {c["logConfiguration"]["options"]["awslogs-group"] for c in td["containerDefinitions"]} == {drill_group}
    assert {c["image"] for c in td["containerDefinitions"]} == {REPLICA_IMAGE, SIDECAR}
    [target] = service["loadBalancers"]
    group = boto3.client("elbv2", region_name=RECOVERY).describe_target_groups(
        TargetGroupArns=[target["targetGroupArn"]])["TargetGroups"][0]
    assert group["TargetGroupName"] != "shop-orders" and group["TargetGroupName"].startswith("shop-orders")
    assert ecs().list_services(cluster="shop")["serviceArns"] == []  # production's pilot light untouched

    cleaned = run(drill_cleanup, plan=plan, drill_id=drill_id)
    assert cleaned["failed"] == [], cleaned["failed"]
    assert service_of(drill_cluster["clusterName"], f"shop-orders-{suffix}")["status"] == "INACTIVE"
    assert active_definitions(f"shop-orders-{suffix}") == []
    assert ecs().describe_clusters(clusters=[drill_cluster["clusterArn"]])["clusters"][0]["status"] == "INACTIVE"
    logs = boto3.client("logs", region_name=RECOVERY)
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]] == \
        [LOG_GROUP]
    # production's staged cluster and revision are left as they were; a second cleanup finds nothing
    assert ecs().describe_clusters(clusters=["shop"])["clusters"][0]["status"] == "ACTIVE"
    assert active_definitions("shop-orders") == [staged_td]
    sandbox.app.clear_log()
    again = run(drill_cleanup, plan=plan, drill_id=drill_id)
    assert again["failed"] == [] and [c for c in sandbox.calls if c.write and c.service == "ecs"] == []


def test_into_a_separate_recovery_account_the_service_runs_with_the_roles_and_images_made_there(orders, sandbox):
    """Across accounts: the roles are recreated in the recovery account (tasks/iam/roles.py), and the revision names
    them, the replica repository there, and that account's ARNs in its environment."""
    from drflow.sandbox.accounts import recovery_role, session_for

    other = "222222222222"
    plan = make_plan(recovery={"account_id": other, "region": RECOVERY,
                               "role_arn": recovery_role(other, [ACCOUNT])})
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    there = session_for(other, RECOVERY)
    ecs_there = there.client("ecs")
    [service] = ecs_there.describe_services(cluster="shop", services=["shop-orders"])["services"]
    assert service["status"] == "ACTIVE" and service["desiredCount"] == service["runningCount"] == 2
    assert service["serviceArn"].startswith(f"arn:aws:ecs:{RECOVERY}:{other}:")
    td = ecs_there.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    assert td["taskRoleArn"] == f"arn:aws:iam::{other}:role/{TASK_ROLE}"
    assert td["executionRoleArn"] == f"arn:aws:iam::{other}:role/{EXECUTION_ROLE}"
    there.client("iam").get_role(RoleName=TASK_ROLE)  # the role it names exists in that account
    orders_container = next(c for c in td["containerDefinitions"] if c["name"] == "orders")
    assert orders_container["image"] == f"{repository_uri(other, RECOVERY, 'shop/api')}:{IMAGE_TAG}"
    env = {e["name"]: e["value"] for e in orders_container["environment"]}
    assert env["ORDERS_TABLE_ARN"] == f"arn:aws:dynamodb:{RECOVERY}:{other}:table/shop-orders"
    groups = there.client("logs").describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [LOG_GROUP]
    [attached] = service["loadBalancers"]
    assert attached["targetGroupArn"].startswith(f"arn:aws:elasticloadbalancing:{RECOVERY}:{other}:targetgroup/")


def test_the_ecs_handlers_claim_the_arn_kinds_of_clusters_task_definitions_and_services():
    from core.coverage import not_protected
    from tasks.registry import default_registry

    arns = [f"arn:aws:ecs:{SOURCE}:{ACCOUNT}:{kind}" for kind in (
        "cluster/shop", "task-definition/shop-orders:1", "service/shop/shop-orders", "capacity-provider/shop-asg")]
    kinds = [k for h in default_registry().values() for k in getattr(h, "arn_kinds", ())]
    assert [n["arn"] for n in not_protected(arns, kinds)] == [arns[3]]  # an ASG capacity provider is not recovered


def test_cross_account_revision_uses_the_recovered_roles_and_never_reports_a_secret():
    """A separate recovery account: the roles are the recreated ones there (their recovered ids), the image the
    replica's, the awslogs region the recovery region; an environment value that cannot be translated is kept
    and flagged by name only. The translation alone, on a captured record (no AWS call)."""
    other = "222222222222"
    plan = make_plan(recovery={"account_id": other, "region": RECOVERY, "role_arn": f"arn:aws:iam::{other}:role/dr"})
    image = f"{repository_uri(ACCOUNT, SOURCE, 'shop/api')}@sha256:{'ab' * 32}"
    definition_ = {"family": "shop-orders", "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/app/{TASK_ROLE}",
                   "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION_ROLE}",
                   "containerDefinitions": [{
                       "name": TASK_ROLE, "image": image,  # named like its role: the name is kept
                       "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": LOG_GROUP,
                                                                                "awslogs-region": SOURCE}},
                       "secrets": [{"name": "DB", "valueFrom": f"arn:aws:ssm:{SOURCE}:{ACCOUNT}:parameter/shop/db"}],
                       "environment": [{"name": "PARTNER", "value": "333333333333"},
                                       {"name": "HOME_ACCOUNT", "value": ACCOUNT}]}]}
    resource = Resource(type="ecs:task-definition", source_id="shop-orders:7", name="shop-orders",
                        config={"family": "shop-orders", "definition": definition_, "log_groups": {LOG_GROUP: None}},
                        dependencies=["iam:role/shop-orders-task", "iam:role/shop-ecs-execution",
                                      "ecr:repository/shop/api"])
    recovered = {TASK_ROLE: f"arn:aws:iam::{other}:role/app/{TASK_ROLE}",
                 EXECUTION_ROLE: f"arn:aws:iam::{other}:role/{EXECUTION_ROLE}",
                 "shop/api": repository_uri(other, RECOVERY, "shop/api")}
    deps = {f"{kind}/{name}": ResourceResult(key=f"{kind}/{name}", type=kind, source_id=name, name=name,
                                             outcome=Outcome.CREATED, recovered_id=recovered[name])
            for kind, name in (("iam:role", TASK_ROLE), ("iam:role", EXECUTION_ROLE), ("ecr:repository", "shop/api"))}
    ctx = ApplyContext(plan=plan, recovery=None, mode="recover", deps=deps, net=NetworkMapper({}, {}, RECOVERY),
                       index=OwnedIndex())
    td, warnings = TaskDefinitionHandler()._translated(resource, ctx)
    assert td["taskRoleArn"] == recovered[TASK_ROLE] and td["executionRoleArn"] == recovered[EXECUTION_ROLE]
    [container] = td["containerDefinitions"]
    assert container["name"] == TASK_ROLE
    assert container["image"] == f"{recovered['shop/api']}@sha256:{'ab' * 32}"
    assert container["logConfiguration"]["options"] == {"awslogs-group": LOG_GROUP, "awslogs-region": RECOVERY}
    assert container["secrets"] == [{"name": "DB", "valueFrom": f"arn:aws:ssm:{RECOVERY}:{other}:parameter/shop/db"}]
    assert container["environment"] == [{"name": "PARTNER", "value": "333333333333"},
                                        {"name": "HOME_ACCOUNT", "value": other}]
    assert any("environment variable PARTNER" in w for w in warnings)
    assert not any("333333333333" in w for w in warnings)


class StubSide:
    """The recovery side's ECS client, stubbed."""

    def __init__(self, client) -> None:
        self.region, self._client = RECOVERY, client

    def client(self, service: str, region: str | None = None):
        assert service == "ecs"
        return self._client


def test_a_drill_service_keeps_deployment_settings_and_fargate_capacity_only():
    """What moto drops from CreateService (capacity provider strategy, health check grace period, deployment
    configuration) checked against botocore's Stubber with the real ECS service model: the exact request."""
    from botocore.stub import Stubber

    from tasks.ecs import EcsServiceHandler

    plan = make_plan()
    cluster = f"arn:aws:ecs:{RECOVERY}:{ACCOUNT}:cluster/shop-abcde"
    td = f"arn:aws:ecs:{RECOVERY}:{ACCOUNT}:task-definition/shop-orders-abcde:1"
    group = f"arn:aws:elasticloadbalancing:{RECOVERY}:{ACCOUNT}:targetgroup/shop-orders-abcde/0123456789abcdef"
    recovered = {"ecs:cluster/shop": cluster, "ecs:task-definition/shop-orders:3": td,
                 "ec2:subnet/subnet-0a": "subnet-1a", "ec2:security-group/sg-0a": "sg-1a",
                 "elbv2:target-group/targetgroup/shop-orders/f00": group}
    deps = {key: ResourceResult(key=key, type=key.split("/", 1)[0], source_id=key.split("/", 1)[1],
                                name="shop-orders" if key.startswith("elbv2") else "", outcome=Outcome.CREATED,
                                recovered_id=value) for key, value in recovered.items()}
    resource = Resource(
        type="ecs:service", source_id="shop/shop-orders", name="shop-orders", tags={"app": "shop"},
        dependencies=sorted(recovered), links=["elbv2:target-group:shop-orders"],
        config={"cluster": "ecs:cluster/shop", "task_definition": "ecs:task-definition/shop-orders:3",
                "name": "shop-orders", "launch_type": None, "desired_count": 3, "scheduling_strategy": "REPLICA",
                "network": {"subnets": ["ec2:subnet/subnet-0a"], "security_groups": ["ec2:security-group/sg-0a"],
                            "assign_public_ip": "ENABLED"},
                "load_balancers": [{"target_group": "shop-orders", "container_name": "orders", "container_port": 8080}],
                "classic_load_balancers": [], "service_registries": ["arn:aws:servicediscovery:x"],
                "deployment_controller": "ECS", "health_check_grace_period": 90,
                "capacity_provider_strategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                                               {"capacityProvider": "shop-asg", "weight": 1}],
                "deployment_configuration": {"maximumPercent": 200, "minimumHealthyPercent": 50,
                                             "alarms": {"alarmNames": ["x"], "enable": True, "rollback": True}}})
    client = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="stubbed",
                           region_name=RECOVERY).client("ecs")
    ctx = ApplyContext(plan=plan, recovery=StubSide(client), mode="drill", deps=deps,
                       net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex(), drill_id="drill-20261124T200000")
    from core.ownership import recovered_name

    name = recovered_name("shop-orders", ctx)
    stable = {"services": [{"serviceArn": f"arn:aws:ecs:{RECOVERY}:{ACCOUNT}:service/shop-abcde/{name}",
                            "serviceName": name, "status": "ACTIVE", "desiredCount": 3, "runningCount": 3,
                            "taskDefinition": td, "deployments": [{"id": "d", "status": "PRIMARY"}]}], "failures": []}
    with Stubber(client) as stub:
        stub.add_response("describe_services", {"services": [], "failures": [{"arn": name, "reason": "MISSING"}]},
                          {"cluster": cluster, "services": [name], "include": ["TAGS"]})
        stub.add_response("create_service", {"service": stable["services"][0]}, {
            "cluster": cluster, "serviceName": name, "taskDefinition": td, "desiredCount": 3,
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1a"], "securityGroups": ["sg-1a"],
                                                             "assignPublicIp": "DISABLED"}},
            "loadBalancers": [{"targetGroupArn": group, "containerName": "orders", "containerPort": 8080}],
            "schedulingStrategy": "REPLICA",
            "tags": [{"key": k, "value": v} for k, v in sorted(ctx.tags(resource).items())],
            "healthCheckGracePeriodSeconds": 90,
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 1}],
            "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 50}})
        stub.add_response("describe_services", stable, {"cluster": cluster, "services": [name]})  # the waiter
        stub.add_response("describe_services", stable, {"cluster": cluster, "services": [name]})
        applied = EcsServiceHandler().apply(resource, ctx)
        stub.assert_no_pending_responses()
    assert applied.created and applied.details["running_count"] == 3
    assert any("shop-asg" in w for w in applied.warnings) and any("alarms" in w for w in applied.warnings)
    assert any("service registry" in w for w in applied.warnings) and any("public IP" in w for w in applied.warnings)
