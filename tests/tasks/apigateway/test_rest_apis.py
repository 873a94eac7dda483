"""REST APIs, handler-direct on the sandbox: staged nightly without the methods invoking functions not made yet;
at failover the Lambda proxy method and the Lambda authorizer invoke the recovered function, the SQS service
integration names the recovered queue in the recovery region, stage variables are translated, the stage is
deployed (healthy); a second apply writes nothing; a drill's copy is suffixed and cleaned up."""

from __future__ import annotations

import boto3
from apigw_helper import FUNCTION, QUEUE, ROLE, context, recovered_function, result, role_arn, staged_queue

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.handler import CleanupContext
from core.models import Mode, Resource
from core.scope import link
from tasks.apigateway.rest_apis import RestApiHandler

DRILL = "drill-20261208t020000"


def _seed() -> str:
    gw = boto3.client("apigateway", region_name=SOURCE)
    boto3.client("sqs", region_name=SOURCE).create_queue(QueueName=QUEUE)
    api = gw.create_rest_api(name="shop-rest", description="the shop's REST API", tags={"app": "shop"},
                             endpointConfiguration={"types": ["REGIONAL"]})
    api_id = api["id"]
    root = next(r for r in gw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")["id"]
    function = f"arn:aws:lambda:{SOURCE}:{ACCOUNT}:function:{FUNCTION}"
    lambda_uri = f"arn:aws:apigateway:{SOURCE}:lambda:path/2015-03-31/functions/{function}/invocations"
    authorizer = gw.create_authorizer(restApiId=api_id, name="token", type="TOKEN", authorizerUri=lambda_uri,
                                      identitySource="method.request.header.Authorization")
    thumbs = gw.create_resource(restApiId=api_id, parentId=root, pathPart="thumbs")["id"]
    gw.put_method(restApiId=api_id, resourceId=thumbs, httpMethod="GET", authorizationType="CUSTOM",
                  authorizerId=authorizer["id"])
    gw.put_integration(restApiId=api_id, resourceId=thumbs, httpMethod="GET", type="AWS_PROXY",
                       integrationHttpMethod="POST", uri=lambda_uri)
    orders = gw.create_resource(restApiId=api_id, parentId=root, pathPart="orders")["id"]
    gw.put_method(restApiId=api_id, resourceId=orders, httpMethod="POST", authorizationType="NONE")
    gw.put_method_response(restApiId=api_id, resourceId=orders, httpMethod="POST", statusCode="200")
    gw.put_integration(restApiId=api_id, resourceId=orders, httpMethod="POST", type="AWS", integrationHttpMethod="POST",
                       uri=f"arn:aws:apigateway:{SOURCE}:sqs:path/{ACCOUNT}/{QUEUE}", credentials=role_arn(),
                       requestParameters={
                           "integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"},
                       requestTemplates={"application/json": "Action=SendMessage&MessageBody=$input.body"})
    gw.put_integration_response(restApiId=api_id, resourceId=orders, httpMethod="POST", statusCode="200",
                                responseTemplates={"application/json": '{"queued": true}'})
    gw.create_deployment(restApiId=api_id, stageName="prod", variables={"region": SOURCE})
    return api_id


def _discovered(plan):
    aws = AwsAccess(plan)
    others = [Resource(type="lambda:function", source_id=FUNCTION, name=FUNCTION),
              Resource(type="sqs:queue", source_id=f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:{QUEUE}", name=QUEUE),
              Resource(type="iam:role", source_id=ROLE, name=ROLE)]
    found = link(RestApiHandler().discover(aws.source, plan) + others)
    return aws, next(r for r in found if r.type == "apigateway:rest-api"), {r.type: r for r in others}


def _deps(others, function_arn, queue_name=QUEUE):
    return {others["lambda:function"].key: result(others["lambda:function"], function_arn),
            others["sqs:queue"].key: result(others["sqs:queue"], f"arn:aws:sqs:{RECOVERY}:{ACCOUNT}:{queue_name}"),
            others["iam:role"].key: result(others["iam:role"], role_arn())}


def _integration(api_id, path, verb):
    gw = boto3.client("apigateway", region_name=RECOVERY)
    res = next(r for r in gw.get_resources(restApiId=api_id)["items"] if r["path"] == path)
    return gw.get_method(restApiId=api_id, resourceId=res["id"], httpMethod=verb)


def test_a_rest_api_is_staged_then_recovered_in_front_of_the_recovered_function_and_queue(sandbox):
    _seed()
    plan = make_plan()
    aws, api, others = _discovered(plan)
    assert sorted(api.links) == [f"iam:role:{ROLE}", f"lambda:function:{FUNCTION}", f"sqs:{QUEUE}"]
    staged_queue()
    handler = RestApiHandler()
    staged = handler.apply(api, context(plan, aws, _deps(others, None), Mode.STAGE))
    orders = _integration(staged.recovered_id, "/orders", "POST")["methodIntegration"]
    assert orders["uri"] == f"arn:aws:apigateway:{RECOVERY}:sqs:path/{ACCOUNT}/{QUEUE}"
    assert any("GET /thumbs" in d for d in staged.details["at failover"])
    sandbox.app.clear_log()
    night = handler.apply(api, context(plan, aws, _deps(others, None), Mode.STAGE))
    assert night.details["writes"] == [] and [c.operation for c in sandbox.calls if c.write] == []

    function = recovered_function()
    ctx = context(plan, aws, _deps(others, function))
    applied = handler.apply(api, ctx)
    assert applied.recovered_id == staged.recovered_id
    api_id = applied.recovered_id
    thumbs = _integration(api_id, "/thumbs", "GET")
    assert thumbs["methodIntegration"]["uri"] == (f"arn:aws:apigateway:{RECOVERY}:lambda:path/2015-03-31/functions/"
                                                  f"{function}/invocations")
    gw = boto3.client("apigateway", region_name=RECOVERY)
    authorizer = gw.get_authorizer(restApiId=api_id, authorizerId=thumbs["authorizerId"])
    assert function in authorizer["authorizerUri"]
    [stage] = gw.get_stages(restApiId=api_id)["item"]
    assert stage["variables"] == {"region": RECOVERY} and stage.get("deploymentId")
    assert handler.health(api, api_id, ctx) is None
    assert applied.endpoints["invoke_url"] == f"https://{api_id}.execute-api.{RECOVERY}.amazonaws.com"
    sandbox.app.clear_log()
    again = handler.apply(api, ctx)
    assert (again.created, again.changed, again.details["writes"]) == (False, False, [])
    assert [c.operation for c in sandbox.calls if c.write] == []


def test_a_drill_rest_api_is_a_suffixed_copy_and_is_cleaned_up(sandbox):
    _seed()
    plan = make_plan()
    aws, api, others = _discovered(plan)
    boto3.client("sqs", region_name=RECOVERY).create_queue(QueueName=f"{QUEUE}-d1a2b")
    function = recovered_function(f"{FUNCTION}-d1a2b")
    applied = RestApiHandler().apply(api, context(plan, aws, _deps(others, function, f"{QUEUE}-d1a2b"), Mode.DRILL,
                                                  DRILL))
    gw = boto3.client("apigateway", region_name=RECOVERY)
    [drill_api] = gw.get_rest_apis()["items"]
    assert drill_api["name"].startswith("shop-rest-") and drill_api["tags"]["drflow:drill"] == DRILL
    assert _integration(applied.recovered_id, "/orders", "POST")["methodIntegration"]["uri"].endswith(
        f"{QUEUE}-d1a2b")
    assert RestApiHandler().cleanup(CleanupContext(plan=plan, recovery=aws.recovery)) == [applied.recovered_id]
    assert gw.get_rest_apis()["items"] == []
