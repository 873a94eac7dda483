"""The sample workload's HTTP API: `shop-api` in front of the shop's function (drflow/sandbox/seed_lambda.py), its
`GET /thumbnails` route a Lambda proxy integration to the function's `live` alias, on a `prod` stage (deployed,
with stage variables naming the region) and the `$default` stage auto-deployed; and `shop-legacy`, the REST API
the shop's older clients still call, its `GET /thumbnails` a Lambda proxy method to the same alias on stage `v1`.
The wiring line in
workload.seed_workload (after seed_lambda): `ids.update(seed_apigateway(session, region, ids))`."""

from __future__ import annotations

from typing import Any

import boto3

from drflow.sandbox.seed_lambda import APP_TAGS, FUNCTION

API = "shop-api"
REST_API = "shop-legacy"


def seed_apigateway(session: boto3.Session, region: str, ids: dict[str, Any]) -> dict[str, str]:
    """Needs the function seed_lambda made (`lambda-function-arn`). Returns the API's id and invoke URL."""
    api2 = session.client("apigatewayv2", region_name=region)
    function = ids.get("lambda-function-arn") or session.client("lambda", region_name=region).get_function(
        FunctionName=FUNCTION)["Configuration"]["FunctionArn"]
    api = api2.create_api(Name=API, ProtocolType="HTTP", Description="the shop's thumbnails API", Tags=APP_TAGS)
    integration = api2.create_integration(
        ApiId=api["ApiId"], IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0", TimeoutInMillis=10000,
        IntegrationUri=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function}:live/invocations")
    api2.create_route(ApiId=api["ApiId"], RouteKey="GET /thumbnails",
                      Target=f"integrations/{integration['IntegrationId']}")
    api2.create_stage(ApiId=api["ApiId"], StageName="prod", StageVariables={"region": region},
                      Description="what the shop's front end calls")
    api2.create_deployment(ApiId=api["ApiId"], StageName="prod", Description="release 1")
    api2.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    lam = session.client("lambda", region_name=region)
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    lam.add_permission(FunctionName=f"{function}:live", StatementId="shop-api", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{region}:{account}:{api['ApiId']}/*")
    rest = _seed_rest_api(session, region, f"{function}:live", account)
    return {"api": api["ApiId"], "api-url": api["ApiEndpoint"], "rest-api": rest}


def _seed_rest_api(session: boto3.Session, region: str, function: str, account: str) -> str:
    gw = session.client("apigateway", region_name=region)
    api = gw.create_rest_api(name=REST_API, description="the shop's REST API for older clients", tags=APP_TAGS,
                             endpointConfiguration={"types": ["REGIONAL"]})
    root = next(r for r in gw.get_resources(restApiId=api["id"])["items"] if r["path"] == "/")["id"]
    thumbnails = gw.create_resource(restApiId=api["id"], parentId=root, pathPart="thumbnails")["id"]
    gw.put_method(restApiId=api["id"], resourceId=thumbnails, httpMethod="GET", authorizationType="NONE")
    gw.put_integration(restApiId=api["id"], resourceId=thumbnails, httpMethod="GET", type="AWS_PROXY",
                       integrationHttpMethod="POST",
                       uri=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function}/invocations")
    gw.create_deployment(restApiId=api["id"], stageName="v1", variables={"region": region})
    session.client("lambda", region_name=region).add_permission(
        FunctionName=function, StatementId="shop-legacy", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com", SourceArn=f"arn:aws:execute-api:{region}:{account}:{api['id']}/*")
    return api["id"]


def seed_api_domain(session: boto3.Session, region: str, ids: dict[str, Any], certificate_arn: str,
                    name: str = "thumbnails.shop.example", zone_id: str | None = None) -> dict[str, str]:
    """The HTTP API's custom domain name (regional, on an issued ACM certificate of the region), its `prod` stage
    mapped at the root; with `zone_id`, the public zone's alias to it (what the traffic phase cuts over once the
    recovered domain is available and its stage deployed). Returns the name and its regional domain name."""
    api2 = session.client("apigatewayv2", region_name=region)
    domain = api2.create_domain_name(DomainName=name, Tags=APP_TAGS, DomainNameConfigurations=[
        {"CertificateArn": certificate_arn, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}])
    api2.create_api_mapping(DomainName=name, ApiId=ids["api"], Stage="prod", ApiMappingKey="")
    config = domain["DomainNameConfigurations"][0]
    if zone_id:
        session.client("route53", region_name=region).change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
            "Changes": [{"Action": "CREATE", "ResourceRecordSet": {"Name": f"{name}.", "Type": "A", "AliasTarget": {
                "HostedZoneId": config["HostedZoneId"], "DNSName": config["ApiGatewayDomainName"],
                "EvaluateTargetHealth": False}}}]})
    return {"api-domain": name,
            "api-domain-target": domain["DomainNameConfigurations"][0]["ApiGatewayDomainName"]}
