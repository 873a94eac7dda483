"""What the scope holds that drflow cannot protect is reported, never silently ignored; and what an Auto Scaling
group launched is left to the group (no server, no ELB target of its own)."""

from __future__ import annotations

import boto3
import pytest

from conftest import RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.coverage import arn_kind, arn_name, not_protected
from core.report import markdown, text
from core.vault import Vault
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run


@pytest.mark.parametrize("arn,kind,name", [
    ("arn:aws:ec2:us-east-1:111111111111:instance/i-0abc", "ec2:instance", "i-0abc"),
    ("arn:aws:s3:::shop-assets", "s3", "shop-assets"),
    ("arn:aws:sqs:us-east-1:111111111111:shop-orders", "sqs", "shop-orders"),
    ("arn:aws:rds:us-east-1:111111111111:db:orders", "rds:db", "orders"),
    ("arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/shop-alb/50dc6c4",
     "elasticloadbalancing:loadbalancer", "app/shop-alb/50dc6c4"),
    ("arn:aws:logs:us-east-1:111111111111:log-group:/ecs/shop-orders:*", "logs:log-group", "/ecs/shop-orders"),
    ("arn:aws:dynamodb:us-east-1:111111111111:table/shop-carts", "dynamodb:table", "shop-carts"),
    ("arn:aws:lambda:us-east-1:111111111111:function:thumbs", "lambda:function", "thumbs"),
    ("arn:aws:apigateway:us-east-1::/apis/a1b2c3d4", "apigateway:apis", "a1b2c3d4"),
    ("arn:aws:apigateway:us-east-1::/restapis/a1b2c3d4", "apigateway:restapis", "a1b2c3d4"),
    ("arn:aws:apigateway:us-east-1::/domainnames/api.shop.example", "apigateway:domainnames", "api.shop.example"),
])
def test_arn_kinds_are_what_the_tagging_api_calls_them(arn, kind, name):
    assert (arn_kind(arn), arn_name(arn)) == (kind, name)


def test_only_kinds_no_handler_claims_are_listed():
    arns = ["arn:aws:ec2:us-east-1:1:vpc/vpc-1", "arn:aws:sqs:us-east-1:1:q", "arn:aws:dynamodb:us-east-1:1:table/t"]
    assert [n["kind"] for n in not_protected(arns, ["ec2:vpc"])] == ["dynamodb:table", "sqs"]


def _unsupported(region: str = SOURCE) -> dict[str, str]:
    """A state machine and a log group with the shop's tags (drflow has no handler for either), and an untagged
    state machine."""
    sfn = boto3.client("stepfunctions", region_name=region)
    role = "arn:aws:iam::123456789012:role/shop-steps"
    definition = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'
    machine = sfn.create_state_machine(name="shop-checkout", definition=definition, roleArn=role,
                                       tags=[{"key": "app", "value": "shop"}])["stateMachineArn"]
    sfn.create_state_machine(name="someone-elses", definition=definition, roleArn=role)
    boto3.client("logs", region_name=region).create_log_group(logGroupName="/shop/audit", tags={"app": "shop"})
    return {"machine": machine}


def test_unsupported_kinds_in_scope_are_reported_as_not_protected(shop, sandbox):
    ids = _unsupported()
    plan = make_plan()
    report = run(replicate, plan=plan)
    listed = {(n["kind"], n["name"]) for n in report["not_protected"]}
    assert listed == {("states:stateMachine", "shop-checkout"), ("logs:log-group", "/shop/audit")}  # no VPC
    assert ids["machine"] in {n["arn"] for n in report["not_protected"]}
    assert "## Not protected" in markdown(report) and "shop-checkout" in text(report)
    # the recovery point keeps the list, so that the failover's report (read from the vault alone) names them too
    point = Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name).load("latest")
    assert {n["name"] for n in point.not_protected} == {"shop-checkout", "/shop/audit"}
    recovered = run(failover, plan=plan, approve=True)
    assert {n["name"] for n in recovered["not_protected"]} == {"shop-checkout", "/shop/audit"}
    recovery = boto3.client("stepfunctions", region_name=RECOVERY)
    assert recovery.list_state_machines()["stateMachines"] == []  # nothing made of them


def _group_behind(servers: dict[str, str], target_group: str) -> list[str]:
    """An Auto Scaling group in the shop's private subnets whose instances register in `target_group`."""
    ec2 = boto3.client("ec2", region_name=SOURCE)
    ec2.create_launch_template(LaunchTemplateName="shop-batch", LaunchTemplateData={
        "ImageId": "ami-0sample0shop0001", "InstanceType": "t3.small", "SecurityGroupIds": [servers["sg-app"]]})
    autoscaling = boto3.client("autoscaling", region_name=SOURCE)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="shop-batch", LaunchTemplate={"LaunchTemplateName": "shop-batch", "Version": "$Default"},
        MinSize=2, MaxSize=2, DesiredCapacity=2, TargetGroupARNs=[target_group],
        VPCZoneIdentifier=f"{servers['private-a']},{servers['private-b']}",
        Tags=[{"Key": "app", "Value": "shop", "PropagateAtLaunch": True}])
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["shop-batch"])["AutoScalingGroups"][0]
    return [i["InstanceId"] for i in group["Instances"]]


def test_what_an_auto_scaling_group_launched_is_not_a_server_nor_a_target_of_its_own(servers, server_plan, sandbox):
    launched = _group_behind(servers, servers["tg-web"])
    elb = boto3.client("elbv2", region_name=SOURCE)
    registered = {d["Target"]["Id"] for d in elb.describe_target_health(TargetGroupArn=servers["tg-web"])[
        "TargetHealthDescriptions"]}
    assert set(launched) <= registered  # the group registered its instances next to the web server
    replicated = run(replicate, plan=server_plan)  # (complete or not: what it captured is what is asked)
    point = Vault(AwsAccess(server_plan).vault, server_plan.vault_bucket, server_plan.name).load(
        replicated["recovery_point"])
    keys = {r.key for r in point.resources}
    assert not {f"ec2:instance/{i}" for i in launched} & keys
    [web_targets] = [r for r in point.resources if r.type == "elbv2:targets" and r.name == "shop-web"]
    assert web_targets.config["targets"] == [{"instance": f"ec2:instance/{servers['web']}", "port": 80}] \
        and web_targets.config["shared"] is True


def test_a_stale_link_is_refused_only_when_the_resource_holding_it_is_protected():
    from core.handler import ScopeError
    from core.models import Resource
    from core.plan import Scope
    from core.scope import select_linked

    repo = Resource(type="ecr:repository", source_id="shop/api", name="shop/api", tags={"app": "shop"})
    ours = Resource(type="lambda:function", source_id="thumbs", name="thumbs", tags={"app": "shop"},
                    links=["ecr:repository:shop/api"])
    theirs = Resource(type="lambda:function", source_id="legacy", name="legacy", links=["ecr:repository:gone"])
    selected = select_linked([repo, ours, theirs], Scope(tags={"app": "shop"}), {})
    assert {r.key: r.dependencies for r in selected} == {repo.key: [], ours.key: [repo.key]}
    with pytest.raises(ScopeError, match="legacy: depends on 'ecr:repository:gone', which matches no discovered"):
        select_linked([repo, ours, theirs.model_copy(update={"tags": {"app": "shop"}})], Scope(tags={"app": "shop"}),
                      {})
