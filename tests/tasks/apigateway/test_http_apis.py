"""HTTP APIs, handler-direct on the sandbox: staged nightly without the routes to functions not made yet; at
failover every route points at the recovered function or queue, the function lets the recovered API invoke it,
the JWT authorizer keeps its issuer, stage variables are translated, the stages are deployed (healthy), the invoke
URL is the recovered one; a second apply writes nothing; a drill's copy is suffixed and cleaned up."""

from __future__ import annotations

import json

import boto3
from apigw_helper import (FUNCTION, ISSUER, QUEUE, ROLE, context, recovered_function, result, role_arn, seed_api,
                          staged_queue)

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.handler import CleanupContext
from core.models import Mode, Resource
from core.scope import link
from tasks.apigateway import HttpApiHandler

DRILL = "drill-20261208t010000"


def _discovered(plan, seeded):
    aws = AwsAccess(plan)
    others = [Resource(type="lambda:function", source_id=FUNCTION, name=FUNCTION),
              Resource(type="sqs:queue", source_id=f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:{QUEUE}", name=QUEUE,
                       endpoints={"url": seeded["queue_url"]}),
              Resource(type="iam:role", source_id=ROLE, name=ROLE)]
    found = link(HttpApiHandler().discover(aws.source, plan) + others)
    return aws, next(r for r in found if r.type == "apigateway:http-api"), {r.type: r for r in others}


def _deps(others, function_arn, queue_url, seeded):
    return {others["lambda:function"].key: result(others["lambda:function"], function_arn),
            others["sqs:queue"].key: result(others["sqs:queue"], f"arn:aws:sqs:{RECOVERY}:{ACCOUNT}:{QUEUE}",
                                            {seeded["queue_url"]: queue_url}),
            others["iam:role"].key: result(others["iam:role"], role_arn())}


def _routes(api_id):
    api2 = boto3.client("apigatewayv2", region_name=RECOVERY)
    integrations = {i["IntegrationId"]: i for i in api2.get_integrations(ApiId=api_id)["Items"]}
    return {r["RouteKey"]: (r, integrations.get((r.get("Target") or "").removeprefix("integrations/")))
            for r in api2.get_routes(ApiId=api_id)["Items"]}


def test_an_http_api_is_staged_then_recovered_in_front_of_the_recovered_function_and_queue(sandbox):
    seeded = seed_api()
    plan = make_plan()
    aws, api, others = _discovered(plan, seeded)
    assert sorted(api.links) == [f"iam:role:{ROLE}", f"lambda:function:{FUNCTION}", f"sqs:{QUEUE}"]
    queue_url = staged_queue()
    handler = HttpApiHandler()

    # nightly: the function is made at failover only, so its route has no target tonight
    staged = handler.apply(api, context(plan, aws, _deps(others, None, queue_url, seeded), Mode.STAGE))
    routes = _routes(staged.recovered_id)
    assert "Target" not in routes["GET /thumbs"][0] and routes["GET /thumbs"][0]["AuthorizationType"] == "NONE"
    assert routes["POST /orders"][1]["RequestParameters"]["QueueUrl"] == queue_url
    assert staged.details["at failover"] and "deployed_stages" not in staged.details  # half an API: not deployed
    sandbox.app.clear_log()
    night = handler.apply(api, context(plan, aws, _deps(others, None, queue_url, seeded), Mode.STAGE))
    assert night.details["writes"] == [] and [c.operation for c in sandbox.calls if c.write] == []

    # failover: the recovered function behind its route, allowed to be invoked by the recovered API only
    function = recovered_function()
    ctx = context(plan, aws, _deps(others, function, queue_url, seeded))
    applied = handler.apply(api, ctx)
    assert applied.recovered_id == staged.recovered_id  # the staged API adopted: its invoke URL known ahead
    api_id = applied.recovered_id
    route, integration = _routes(api_id)["GET /thumbs"]
    assert integration["IntegrationUri"] == (f"arn:aws:apigateway:{RECOVERY}:lambda:path/2015-03-31/functions/"
                                             f"{function}:live/invocations")
    api2 = boto3.client("apigatewayv2", region_name=RECOVERY)
    authorizer = api2.get_authorizer(ApiId=api_id, AuthorizerId=route["AuthorizerId"])
    assert route["AuthorizationType"] == "JWT"
    assert authorizer["JwtConfiguration"] == {"Issuer": ISSUER, "Audience": ["shop-web"]}  # the IdP is not regional
    policy = json.loads(boto3.client("lambda", region_name=RECOVERY).get_policy(FunctionName=function)["Policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == f"arn:aws:execute-api:{RECOVERY}:{ACCOUNT}:{api_id}/*"
    stages = {s["StageName"]: s for s in api2.get_stages(ApiId=api_id)["Items"]}
    assert stages["prod"]["StageVariables"] == {"orders": queue_url, "region": RECOVERY}
    assert all(s.get("DeploymentId") for s in stages.values())
    assert handler.health(api, api_id, ctx) is None
    assert applied.endpoints == {"invoke_url": f"https://{api_id}.execute-api.{RECOVERY}.amazonaws.com",
                                 "host": f"{api_id}.execute-api.{RECOVERY}.amazonaws.com"}
    assert handler.read_back(api, api_id, ctx)["Stages"]["prod"]["StageVariables"]["region"] == RECOVERY

    sandbox.app.clear_log()
    again = handler.apply(api, ctx)
    assert (again.created, again.changed, again.details["writes"]) == (False, False, [])
    assert [c.operation for c in sandbox.calls if c.write] == []


def test_a_stage_without_a_deployment_is_unhealthy(sandbox):
    seeded = seed_api()
    plan = make_plan()
    aws, api, others = _discovered(plan, seeded)
    ctx = context(plan, aws, _deps(others, recovered_function(), staged_queue(), seeded))
    applied = HttpApiHandler().apply(api, ctx)
    api2 = boto3.client("apigatewayv2", region_name=RECOVERY)
    api2.create_stage(ApiId=applied.recovered_id, StageName="canary")
    assert HttpApiHandler().health(api, applied.recovered_id, ctx) == (
        f"API {applied.recovered_id}: stage(s) canary not deployed")


def test_a_drill_api_is_a_suffixed_copy_invoking_the_drill_function_and_is_cleaned_up(sandbox):
    seeded = seed_api()
    plan = make_plan()
    aws, api, others = _discovered(plan, seeded)
    function = recovered_function(f"{FUNCTION}-d1a2b")
    applied = HttpApiHandler().apply(api, context(plan, aws, _deps(others, function, staged_queue(), seeded),
                                                  Mode.DRILL, DRILL))
    api2 = boto3.client("apigatewayv2", region_name=RECOVERY)
    [drill_api] = api2.get_apis()["Items"]
    assert drill_api["Name"].startswith("shop-api-") and drill_api["Tags"]["drflow:drill"] == DRILL
    assert function in _routes(applied.recovered_id)["GET /thumbs"][1]["IntegrationUri"]
    gone = HttpApiHandler().cleanup(CleanupContext(plan=plan, recovery=aws.recovery))
    assert gone == [applied.recovered_id] and api2.get_apis()["Items"] == []


def test_a_private_integration_goes_through_a_vpc_link_on_the_recovered_network_to_the_recovered_listener(sandbox):
    ec2 = boto3.client("ec2", region_name=SOURCE)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(VpcId=vpc, GroupName="api-link", Description="the API's link")["GroupId"]
    api2 = boto3.client("apigatewayv2", region_name=SOURCE)
    link_id = api2.create_vpc_link(Name="shop-link", SubnetIds=[subnet], SecurityGroupIds=[group])["VpcLinkId"]
    listener = f"arn:aws:elasticloadbalancing:{SOURCE}:{ACCOUNT}:listener/app/shop-alb/50dc6c4/f2f7dc8"
    api_id = api2.create_api(Name="shop-private", ProtocolType="HTTP", Tags={"app": "shop"})["ApiId"]
    private = api2.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
                                      ConnectionType="VPC_LINK", ConnectionId=link_id, IntegrationUri=listener,
                                      PayloadFormatVersion="1.0")
    api2.create_route(ApiId=api_id, RouteKey="ANY /shop/{proxy+}", Target=f"integrations/{private['IntegrationId']}")
    api2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    plan = make_plan()
    aws = AwsAccess(plan)
    others = [Resource(type="elbv2:listener", source_id="app/shop-alb/50dc6c4/f2f7dc8", name="shop-alb:443")]
    api = next(r for r in link(HttpApiHandler().discover(aws.source, plan) + others) if r.type == "apigateway:http-api")
    assert sorted(api.dependencies) == sorted([others[0].key, f"ec2:subnet/{subnet}", f"ec2:security-group/{group}"])
    recovered_listener = f"arn:aws:elasticloadbalancing:{RECOVERY}:{ACCOUNT}:listener/app/shop-alb/9e1a2b3/0c4d5e6"
    deps = {others[0].key: result(others[0], recovered_listener),
            f"ec2:subnet/{subnet}": result(Resource(type="ec2:subnet", source_id=subnet), "subnet-0recovered01"),
            f"ec2:security-group/{group}": result(Resource(type="ec2:security-group", source_id=group),
                                                  "sg-0recovered01")}
    applied = HttpApiHandler().apply(api, context(plan, aws, deps))
    _, integration = _routes(applied.recovered_id)["ANY /shop/{proxy+}"]
    assert integration["IntegrationUri"] == recovered_listener
    recovered = boto3.client("apigatewayv2", region_name=RECOVERY).get_vpc_link(VpcLinkId=integration["ConnectionId"])
    assert (recovered["SubnetIds"], recovered["SecurityGroupIds"]) == (["subnet-0recovered01"], ["sg-0recovered01"])
    again = HttpApiHandler().apply(api, context(plan, aws, deps))
    assert again.details["writes"] == []
