"""Where the sandbox's moto API Gateway v2 (HTTP APIs) lacks what drflow meets, or is kinder than AWS.

moto 5.2 lists no authorizers (GetAuthorizers), updates no domain name (UpdateDomainName): both added. It has
no deployments at all: no CreateDeployment, GetDeployments, GetDeployment, UpdateStage, and its stages carry no
`DeploymentId`. On AWS a stage serves nothing until a deployment is released to it ("After you create a
deployment, you can release it to a stage", API Gateway Developer Guide, "Deploy HTTP APIs"), either by
CreateDeployment with a StageName or by the stage's `AutoDeploy` ("Specifies whether updates to an API
automatically trigger a new deployment", botocore's apigatewayv2 model, CreateStageRequest.AutoDeploy). Here
both are added: a deployment is recorded per API, a stage names its `deploymentId`, and an auto-deploy stage gets
a new deployment (`autoDeployed: true`) when it is created and after each change of a route, integration or
authorizer.

moto's custom domain names are kinder: any certificate ARN is taken, and the answer lacks what a Route 53 alias
needs. AWS refuses a regional domain whose certificate is not an issued ACM certificate of the same region ("For
a Regional custom domain name, the certificate must be in the same Region as your API", Developer Guide, "Set up
a Regional custom domain name in API Gateway": BadRequestException), and answers each configuration with its
`ApiGatewayDomainName` (d-<id>.execute-api.<region>.amazonaws.com), `HostedZoneId` (the regional endpoint's
zone, "Amazon API Gateway endpoints and quotas", AWS General Reference) and `DomainNameStatus` AVAILABLE. Both are
done here.

A VPC link is made asynchronously: "When you create a VPC link, its status is PENDING ... can take a few minutes"
(Developer Guide, "Working with VPC links for HTTP APIs"; VpcLinkStatus PENDING | AVAILABLE | DELETING | FAILED |
INACTIVE). moto's is AVAILABLE at once; here CreateVpcLink answers PENDING, and the link is AVAILABLE when next
read (the sandbox's "few minutes" are that short).

moto's CreateApiMapping knows HTTP APIs only; AWS maps REST APIs through the same call ("API mappings ... connect
API stages to a custom domain name", for REST and HTTP APIs alike, Developer Guide, "Map API stages to a custom
domain name for REST APIs"): a REST API's id is taken here too.

Installed by drflow.sandbox.server (as the other shims are), so it applies to the sandbox only.
"""

from __future__ import annotations

import json
import string
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from moto.acm.models import acm_backends
from moto.apigateway.models import apigateway_backends
from moto.apigatewayv2 import urls
from moto.apigatewayv2.exceptions import BadRequestException
from moto.apigatewayv2.models import Api, ApiGatewayV2Backend, DomainName, Stage, VpcLink
from moto.apigatewayv2.responses import ApiGatewayV2Response
from moto.moto_api._internal import mock_random as random

# the regional execute-api endpoints' hosted zones (AWS General Reference, "Amazon API Gateway endpoints")
REGIONAL_ZONES = {"us-east-1": "Z1UJRXOUMOOFQ8", "us-east-2": "ZOJJZC49E0EPZ", "us-west-1": "Z2MUQ32089INYE",
                  "us-west-2": "Z2OJLYMUO9EFXC", "eu-west-1": "ZLY8HYME6SFDD", "eu-central-1": "Z1U9ULNL0V5AJ3"}
CHANGES = ("create_route", "update_route", "delete_route", "create_integration", "update_integration",
           "delete_integration", "create_authorizer", "update_authorizer", "delete_authorizer")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _deploy(api: Api, description: str | None, auto: bool) -> dict[str, Any]:
    deployment = {"deploymentId": "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(6)),
                  "deploymentStatus": "DEPLOYED", "createdDate": _now(), "autoDeployed": auto}
    if description:
        deployment["description"] = description
    api.__dict__.setdefault("_drflow_deployments", []).append(deployment)
    return deployment


def _auto_deploy(api: Api) -> None:
    for stage in api.stages.values():
        if stage.auto_deploy:
            stage.__dict__["_drflow_deployment"] = _deploy(api, None, auto=True)["deploymentId"]


def _check_certificate(backend: ApiGatewayV2Backend, arn: str | None) -> None:
    certificates = acm_backends[backend.account_id][backend.region_name]
    try:
        status = certificates.get_certificate(arn or "").status
    except Exception:  # moto's AWSResourceNotFoundException
        status = None
    if status != "ISSUED":
        raise BadRequestException(f"Certificate {arn} not found or not issued in region {backend.region_name}: a "
                                  "Regional domain name needs an issued ACM certificate of its own region")


def install() -> None:
    if getattr(ApiGatewayV2Backend, "_drflow_deployments", False):  # once per process
        return
    ApiGatewayV2Backend._drflow_deployments = True  # type: ignore[attr-defined]
    urls.url_paths["{0}/v2/apis/(?P<api_id>[^/]+)/deployments$"] = ApiGatewayV2Response.dispatch
    urls.url_paths["{0}/v2/apis/(?P<api_id>[^/]+)/deployments/(?P<deployment_id>[^/]+)$"] = \
        ApiGatewayV2Response.dispatch

    stage_json, create_stage = Stage.to_json, ApiGatewayV2Backend.create_stage

    def _stage_json(self: Stage) -> dict[str, Any]:
        out = stage_json(self)
        if self.__dict__.get("_drflow_deployment"):
            out["deploymentId"] = self.__dict__["_drflow_deployment"]
        return out

    def _create_stage(self: ApiGatewayV2Backend, api_id: str, config: dict[str, Any]) -> Stage:
        stage = create_stage(self, api_id, config)
        if config.get("deploymentId"):
            stage.__dict__["_drflow_deployment"] = config["deploymentId"]
        elif stage.auto_deploy:
            stage.__dict__["_drflow_deployment"] = _deploy(self.get_api(api_id), None, auto=True)["deploymentId"]
        return stage

    Stage.to_json = _stage_json  # type: ignore[method-assign]
    ApiGatewayV2Backend.create_stage = _create_stage  # type: ignore[method-assign]

    for name in CHANGES:
        def _changed(self: ApiGatewayV2Backend, api_id: str, *args: Any, _own: Any = getattr(
                ApiGatewayV2Backend, name), **kwargs: Any) -> Any:
            out = _own(self, api_id, *args, **kwargs)
            _auto_deploy(self.get_api(api_id))
            return out
        setattr(ApiGatewayV2Backend, name, _changed)

    def create_deployment(self: ApiGatewayV2Response) -> Any:
        api = self.apigatewayv2_backend.get_api(self.path.split("/")[-2])
        params = json.loads(self.body or "{}")
        stage_name = params.get("stageName")
        stage = api.get_stage(stage_name) if stage_name else None
        deployment = _deploy(api, params.get("description"), auto=False)
        if stage is not None:
            stage.__dict__["_drflow_deployment"] = deployment["deploymentId"]
        return 201, {}, json.dumps(deployment)

    def get_deployments(self: ApiGatewayV2Response) -> Any:
        api = self.apigatewayv2_backend.get_api(self.path.split("/")[-2])
        return 200, {}, json.dumps({"items": api.__dict__.get("_drflow_deployments", [])})

    def get_deployment(self: ApiGatewayV2Response) -> Any:
        parts = self.path.split("/")
        api = self.apigatewayv2_backend.get_api(parts[-3])
        for deployment in api.__dict__.get("_drflow_deployments", []):
            if deployment["deploymentId"] == parts[-1]:
                return 200, {}, json.dumps(deployment)
        return 404, {"x-amzn-ErrorType": "NotFoundException"}, json.dumps(
            {"message": f"Invalid Deployment identifier specified {parts[-1]}"})

    def update_stage(self: ApiGatewayV2Response) -> Any:
        parts = self.path.split("/")
        stage = self.apigatewayv2_backend.get_stage(parts[-3], parts[-1])
        params = json.loads(self.body or "{}")
        for key, attribute in (("stageVariables", "stage_variables"), ("description", "description"),
                               ("autoDeploy", "auto_deploy"), ("accessLogSettings", "access_log_settings"),
                               ("defaultRouteSettings", "default_route_settings"),
                               ("routeSettings", "route_settings")):
            if key in params:
                setattr(stage, attribute, params[key])
        if params.get("deploymentId"):
            stage.__dict__["_drflow_deployment"] = params["deploymentId"]
        stage.updated = datetime.now()
        return 200, {}, json.dumps(stage.to_json())

    def get_authorizers(self: ApiGatewayV2Response) -> Any:
        api = self.apigatewayv2_backend.get_api(self.path.split("/")[-2])
        return 200, {}, json.dumps({"items": [a.to_json() for a in api.authorizers.values()]})

    def update_domain_name(self: ApiGatewayV2Response) -> Any:
        backend = self.apigatewayv2_backend
        domain = backend.get_domain_name(unquote(self.path.split("/")[-1]))
        params = json.loads(self.body or "{}")
        if "domainNameConfigurations" in params:
            kept = {k: v for k, v in (domain.domain_name_configurations or [{}])[0].items()
                    if k in ("apiGatewayDomainName", "hostedZoneId", "domainNameStatus")}
            for configuration in params["domainNameConfigurations"]:
                _check_certificate(backend, configuration.get("certificateArn"))
            domain.domain_name_configurations = [{"endpointType": "REGIONAL", "securityPolicy": "TLS_1_2",
                                                  **c, **kept} for c in params["domainNameConfigurations"]]
        return 200, {}, json.dumps(domain.to_json())

    ApiGatewayV2Response.get_authorizers = get_authorizers  # type: ignore[attr-defined]
    ApiGatewayV2Response.update_domain_name = update_domain_name  # type: ignore[attr-defined]
    ApiGatewayV2Response.create_deployment = create_deployment  # type: ignore[attr-defined]
    ApiGatewayV2Response.get_deployments = get_deployments  # type: ignore[attr-defined]
    ApiGatewayV2Response.get_deployment = get_deployment  # type: ignore[attr-defined]
    ApiGatewayV2Response.update_stage = update_stage  # type: ignore[attr-defined]

    create_domain, domain_json = ApiGatewayV2Backend.create_domain_name, DomainName.to_json

    def _create_domain(self: ApiGatewayV2Backend, domain_name: str, domain_name_configurations: list[dict[str, str]],
                       mutual_tls_authentication: dict[str, str], tags: dict[str, str]) -> DomainName:
        configurations = []
        for configuration in domain_name_configurations or [{}]:
            _check_certificate(self, configuration.get("certificateArn"))
            suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(10))
            configurations.append({"endpointType": "REGIONAL", "securityPolicy": "TLS_1_2", **configuration,
                                   "apiGatewayDomainName": f"d-{suffix}.execute-api.{self.region_name}.amazonaws.com",
                                   "hostedZoneId": REGIONAL_ZONES.get(self.region_name, "Z2OJLYMUO9EFXC"),
                                   "domainNameStatus": "AVAILABLE"})
        return create_domain(self, domain_name, configurations, mutual_tls_authentication, tags)

    def _domain_json(self: DomainName) -> dict[str, Any]:
        out = domain_json(self)
        out["tags"] = dict(self.tags or {})
        return out

    link_json = VpcLink.to_json

    def _link_json(self: VpcLink) -> dict[str, Any]:
        out = link_json(self)
        if not self.__dict__.get("_drflow_answered"):  # CreateVpcLink's own answer: still being made
            self.__dict__["_drflow_answered"] = True
            out["vpcLinkStatus"] = "PENDING"
        return out

    VpcLink.to_json = _link_json  # type: ignore[method-assign]
    create_mapping = ApiGatewayV2Backend.create_api_mapping

    def _create_mapping(self: ApiGatewayV2Backend, api_id: str, api_mapping_key: str, domain_name: str,
                        stage: str) -> Any:
        rest = apigateway_backends[self.account_id][self.region_name].apis.get(api_id)
        if rest is None or api_id in self.apis:
            return create_mapping(self, api_id, api_mapping_key, domain_name, stage)
        self.apis[api_id] = rest  # moto checks its own APIs only: a REST API's id is let through for the check
        try:
            return create_mapping(self, api_id, api_mapping_key, domain_name, stage)
        finally:
            del self.apis[api_id]

    ApiGatewayV2Backend.create_api_mapping = _create_mapping  # type: ignore[method-assign]
    ApiGatewayV2Backend.create_domain_name = _create_domain  # type: ignore[method-assign]
    DomainName.to_json = _domain_json  # type: ignore[method-assign]
