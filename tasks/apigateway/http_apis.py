"""API Gateway HTTP APIs (apigatewayv2): the front door of Lambda-backed services, recreated in the recovery region
with its routes, integrations, authorizers and stages, and deployed.

An HTTP API is billed per request only, so an API with no traffic costs nothing: it is staged nightly (pilot
light). What an integration or a Lambda authorizer names is translated (tasks/apigateway/targets.py): a function
to the recovered one, an SQS queue URL to the recovered queue's, a role to the recovery account's. Functions are
made at failover only, so tonight's copy has the routes to them without a target (nothing to invoke yet, and no
route that answers with the primary's function); the failover puts the integrations, points the routes at them,
gives each recovered function the one statement that lets the recovered API invoke it (core.invoke_grants: the
function's own policy is not copied) and deploys. JWT authorizers keep their issuer and audience (the identity
provider is not regional). A private integration goes through a VPC link recreated on the recovered subnets and
groups to the recovered listener (tasks/apigateway/vpc_links.py). Stage variables and access log settings are
translated.

A stage serves what was deployed to it: every stage without auto-deploy gets a deployment whenever what drflow put
differs from what it deployed last (a digest of it in the deployment's description, so a re-run after an
interrupted one deploys again, and an unchanged night writes nothing); an auto-deploy stage deploys itself. A staged
API whose routes wait for their functions is not deployed (half an API is not what users should meet), nor is a
night after a failover redeployed. The recovered API is healthy (core.capabilities.ReportsHealth) once each of its
stages has a deployment.

The recovered id is the API id; its invoke URL (`https://<id>.execute-api.<region>.amazonaws.com`) is its
endpoint `invoke_url` and its host `host`, so that a document naming the primary's API is rewritten to it
(core/references.py). A drill's API is a suffixed copy invoking the drill's functions (its URL is new and
unpublished: no user reaches it), removed by `cleanup`. WebSocket APIs are not recovered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.artifacts import console_host
from core.aws import Side, error_code, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack, ReportsHealth
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable, delete_quietly
from core.invoke_grants import allow_invoke
from core.models import Phase, Resource
from core.ownership import owned, recovered_name
from core.plan import Plan

from .targets import INVOKER, Deferred, comparable, links_of, recovered_uri, translated
from .vpc_links import captured, listener_link, private_target, recovered_links, remove_drill_links

HTTP_API = "apigateway:http-api"
NAME_LIMIT = 128  # CreateApi: Name, StringWithLengthBetween1And128
DEPLOYED = "drflow deployment"  # a recovered deployment's description: this, and the digest of what it deploys
API_FIELDS = ("Description", "CorsConfiguration", "DisableExecuteApiEndpoint", "RouteSelectionExpression",
              "ApiKeySelectionExpression", "Version")
INTEGRATION_FIELDS = ("ConnectionType", "ContentHandlingStrategy", "CredentialsArn", "Description",
                      "IntegrationMethod", "IntegrationSubtype", "IntegrationType", "IntegrationUri",
                      "PassthroughBehavior", "PayloadFormatVersion", "RequestParameters", "RequestTemplates",
                      "ResponseParameters", "TemplateSelectionExpression", "TimeoutInMillis", "TlsConfig")
ROUTE_FIELDS = ("ApiKeyRequired", "AuthorizationScopes", "AuthorizationType", "OperationName", "RequestParameters",
                "RouteKey")
AUTHORIZER_FIELDS = ("AuthorizerCredentialsArn", "AuthorizerPayloadFormatVersion", "AuthorizerResultTtlInSeconds",
                     "AuthorizerType", "AuthorizerUri", "EnableSimpleResponses", "IdentitySource",
                     "IdentityValidationExpression", "JwtConfiguration", "Name")
STAGE_FIELDS = ("AccessLogSettings", "AutoDeploy", "DefaultRouteSettings", "Description", "RouteSettings",
                "StageVariables")
NOT_FOUND = "NotFoundException"


def api_arn(region: str, api_id: str) -> str:
    return f"arn:aws:apigateway:{region}::/apis/{api_id}"


def _picked(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: item[k] for k in fields if item.get(k) not in (None, "", {}, [])}


def _endpoints(api: dict[str, Any]) -> dict[str, str]:
    url = api.get("ApiEndpoint") or ""
    return {"invoke_url": url, "host": url.removeprefix("https://")} if url else {}


def _deployed(api2: Any, api_id: str, deployment_id: str | None) -> str | None:
    """The description of a stage's deployment (None: no deployment, or one no longer there)."""
    if not deployment_id:
        return None
    try:
        return api2.get_deployment(ApiId=api_id, DeploymentId=deployment_id).get("Description")
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return None
        raise


def _deployed_stages(api2: Any, api_id: str) -> dict[str, str | None]:
    return {s["StageName"]: s.get("DeploymentId") for s in paginate(api2, "get_stages", "Items", ApiId=api_id)}


class HttpApiHandler(ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack, Audited, ReportsHealth):
    type: ClassVar[str] = HTTP_API
    phase: ClassVar[Phase] = Phase.COMPUTE  # it fronts functions (and queues): after them
    pilot_light: ClassVar[bool] = True  # billed per request: an API with no traffic costs nothing
    arn_kinds: ClassVar[tuple[str, ...]] = ("apigateway:apis",)
    internet_facing: ClassVar[bool] = False  # a drill's copy reaches only the drill's functions, at a new URL
    version: ClassVar[int] = 1
    not_failed_back: ClassVar[str] = ("the primary's API serves again as it was once DNS points at it; the "
                                      "recovered API costs nothing idle and is left for the next failover")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        api2 = source.client("apigatewayv2")
        out = []
        for api in paginate(api2, "get_apis", "Items"):
            if api.get("ProtocolType") != "HTTP":
                continue
            api_id = api["ApiId"]
            try:
                integrations = paginate(api2, "get_integrations", "Items", ApiId=api_id)
                routes = paginate(api2, "get_routes", "Items", ApiId=api_id)
                authorizers = paginate(api2, "get_authorizers", "Items", ApiId=api_id)
                stages = paginate(api2, "get_stages", "Items", ApiId=api_id)
            except ClientError as exc:
                if error_code(exc) == NOT_FOUND:  # deleted between the listing and now
                    continue
                raise
            links = {link for i in integrations for link in links_of(
                i.get("IntegrationUri"), i.get("CredentialsArn"), i.get("RequestParameters"))}
            private = {i["ConnectionId"] for i in integrations if i.get("ConnectionType") == "VPC_LINK"}
            vpc_links, network = captured(source, private)
            links |= {listener_link(i.get("IntegrationUri")) for i in integrations
                      if i.get("ConnectionType") == "VPC_LINK"} - {None}
            links |= {link for a in authorizers for link in links_of(a.get("AuthorizerUri"),
                                                                     a.get("AuthorizerCredentialsArn"))}
            out.append(Resource(
                type=HTTP_API, source_id=api_id, name=api["Name"], arn=api_arn(source.region, api_id),
                tags=dict(api.get("Tags") or {}),
                config={"api": _picked(api, API_FIELDS),
                        "integrations": {i["IntegrationId"]: {**_picked(i, INTEGRATION_FIELDS), **(
                            {"ConnectionId": i["ConnectionId"]} if i.get("ConnectionType") == "VPC_LINK" else {})}
                            for i in integrations},
                        "vpc_links": vpc_links,
                        "routes": [{**_picked(r, ROUTE_FIELDS), "Target": r.get("Target"),
                                    "AuthorizerId": r.get("AuthorizerId")} for r in routes],
                        "authorizers": {a["AuthorizerId"]: _picked(a, AUTHORIZER_FIELDS) for a in authorizers},
                        "stages": {s["StageName"]: {**_picked(s, STAGE_FIELDS), "Tags": s.get("Tags") or {}}
                                   for s in stages}},
                endpoints=_endpoints(api), links=sorted(links), dependencies=network))
        return out

    # ---- the recovered API -----------------------------------------------------------------------------

    @staticmethod
    def _existing(api2: Any, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        """drflow's copy of this API (found by its tags, set at creation); an API of the same name that is not
        drflow's is left alone (API names need not be unique)."""
        for api in paginate(api2, "get_apis", "Items"):
            if owned(api.get("Tags"), resource, ctx):
                return api
        return None

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        api = self._existing(ctx.recovery.client("apigatewayv2"), resource, ctx)
        return api["ApiId"] if api else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        api2 = ctx.recovery.client("apigatewayv2")
        cfg, warnings, writes = resource.config, [], []
        api = self._existing(api2, resource, ctx)
        t = ctx.translation(resource)
        wanted_api = translated(cfg["api"], t, "api", warnings)
        if api is None:
            api = api2.create_api(Name=recovered_name(resource.name, ctx, NAME_LIMIT), ProtocolType="HTTP",
                                  Tags=ctx.tags(resource), **wanted_api)
            writes.append("create_api")
        elif not comparable(api, wanted_api):
            api2.update_api(ApiId=api["ApiId"], **wanted_api)
            writes.append("update_api")
        api_id = api["ApiId"]
        own = api_arn(ctx.recovery.region, api_id)
        t = replace(t, renames={**t.renames, resource.source_id: api_id, resource.arn: own})
        functions: set[str] = set()
        deferred: list[str] = []
        authorizers = self._authorizers(api2, api_id, cfg["authorizers"], ctx, t, warnings, writes, functions, deferred)
        vpc_links = recovered_links(api2, resource, ctx, writes)
        integrations = self._integrations(api2, api_id, cfg["integrations"], vpc_links, ctx, t, warnings, writes,
                                          functions, deferred)
        routes = self._routes(api2, api_id, cfg["routes"], integrations, authorizers, writes)
        if not deferred:  # a night after a failover leaves what the failover put (its functions are not staged)
            self._prune(api2, api_id, set(integrations.values()), set(authorizers.values()), writes)
        for function in sorted(functions):  # the function's own policy is not recovered: see core.invoke_grants
            source_arn = f"arn:aws:execute-api:{ctx.recovery.region}:{ctx.plan.recovery.account_id}:{api_id}/*"
            if allow_invoke(ctx.recovery.client("lambda"), function, INVOKER, source_arn):
                writes.append(f"add_permission {function}")
        self._stages(api2, api_id, cfg["stages"], t, warnings, writes)
        digest = hashlib.sha256(json.dumps([wanted_api, routes, sorted(integrations.items()),
                                            sorted(authorizers.items())], sort_keys=True, default=str)
                                .encode()).hexdigest()[:16]
        details: dict[str, Any] = {"invoke_url": api.get("ApiEndpoint"), "routes": len(cfg["routes"])}
        if deferred:
            details["at failover"] = sorted(set(deferred))
        if ctx.staging and deferred:  # half an API is not deployed; a night after a failover keeps its deployment
            details["deployed"] = "at failover, once every route has its target"
        else:
            details["deployed_stages"] = self._deploy(api2, api_id, digest, writes)
        return Applied(api_id, created="create_api" in writes, changed=bool(writes) and "create_api" not in writes,
                       warnings=warnings, details={**details, "writes": writes}, endpoints=_endpoints(api))

    @staticmethod
    def _authorizers(api2: Any, api_id: str, wanted: dict[str, dict[str, Any]], ctx: ApplyContext, t: Any,
                     warnings: list[str], writes: list[str], functions: set[str], deferred: list[str]
                     ) -> dict[str, str]:
        """Source authorizer id -> recovered one, found by name (unique within an API)."""
        have = {a["Name"]: a for a in paginate(api2, "get_authorizers", "Items", ApiId=api_id)}
        out = {}
        for source_id, authorizer in sorted(wanted.items()):
            body = translated({k: v for k, v in authorizer.items() if k != "AuthorizerUri"}, t,
                              f"authorizer {authorizer['Name']}", warnings)
            if authorizer.get("AuthorizerUri"):
                try:
                    body["AuthorizerUri"], function = recovered_uri(authorizer["AuthorizerUri"], ctx)
                except Deferred as why:
                    deferred.append(f"authorizer {authorizer['Name']}: {why}")
                    continue
                functions |= {function} if function else set()
            found = have.get(authorizer["Name"])
            if found is None:
                found = api2.create_authorizer(ApiId=api_id, **body)
                writes.append(f"create_authorizer {authorizer['Name']}")
            elif not comparable(found, body):
                api2.update_authorizer(ApiId=api_id, AuthorizerId=found["AuthorizerId"], **body)
                writes.append(f"update_authorizer {authorizer['Name']}")
            out[source_id] = found["AuthorizerId"]
        return out

    @staticmethod
    def _integrations(api2: Any, api_id: str, wanted: dict[str, dict[str, Any]], vpc_links: dict[str, str],
                      ctx: ApplyContext, t: Any, warnings: list[str], writes: list[str], functions: set[str],
                      deferred: list[str]) -> dict[str, str]:
        """Source integration id -> recovered one. An integration has no name nor tags: the recovered one is
        found by what it is (its translated settings), so an interrupted apply's integration is adopted."""
        have = paginate(api2, "get_integrations", "Items", ApiId=api_id)
        taken: set[str] = set()
        out = {}
        for source_id, integration in sorted(wanted.items()):
            where = f"integration {source_id}"
            body = translated({k: v for k, v in integration.items() if k not in ("IntegrationUri", "ConnectionId")},
                              t, where, warnings)
            uri = integration.get("IntegrationUri")
            if integration.get("ConnectionType") == "VPC_LINK":
                try:
                    body.update(private_target(integration, vpc_links, ctx))
                except Deferred as why:
                    deferred.append(f"{where}: {why}")
                    continue
                except ValueError as why:
                    raise Unrecoverable(f"{where}: {why}") from None
            elif uri:
                try:
                    uri, function = recovered_uri(uri, ctx)
                except Deferred as why:
                    deferred.append(f"{where}: {why}")
                    continue
                functions |= {function} if function else set()
                body["IntegrationUri"] = uri if function else translated(uri, t, where, warnings)
            found = next((i for i in have if i["IntegrationId"] not in taken and comparable(i, body)), None)
            if found is None:
                found = api2.create_integration(ApiId=api_id, **body)
                writes.append(f"create_integration {source_id}")
            taken.add(found["IntegrationId"])
            out[source_id] = found["IntegrationId"]
        return out

    @staticmethod
    def _routes(api2: Any, api_id: str, wanted: list[dict[str, Any]], integrations: dict[str, str],
                authorizers: dict[str, str], writes: list[str]) -> list[dict[str, Any]]:
        """Each route by its key, pointing at the recovered integration and authorizer; one whose integration or
        authorizer waits for the failover is made without a target tonight (and no authorizer: it answers
        nothing), and left as it is when it exists (a night after a failover: what the failover put serves)."""
        have = {r["RouteKey"]: r for r in paginate(api2, "get_routes", "Items", ApiId=api_id)}
        out = []
        for route in wanted:
            body = {k: v for k, v in route.items() if k not in ("Target", "AuthorizerId")}
            target = (route.get("Target") or "").removeprefix("integrations/")
            authorizer = route.get("AuthorizerId")
            ready = (not target or target in integrations) and (not authorizer or authorizer in authorizers)
            if ready and target:
                body["Target"] = f"integrations/{integrations[target]}"
            if ready and authorizer:
                body["AuthorizerId"] = authorizers[authorizer]
            if not ready:
                body["AuthorizationType"] = "NONE"
                body.pop("AuthorizationScopes", None)
            found = have.get(route["RouteKey"])
            if found is None:
                api2.create_route(ApiId=api_id, **body)
                writes.append(f"create_route {route['RouteKey']}")
            elif not ready:
                body = {k: found.get(k) for k in (*ROUTE_FIELDS, "Target", "AuthorizerId")}
            elif not comparable(found, body):
                api2.update_route(ApiId=api_id, RouteId=found["RouteId"], **body)
                writes.append(f"update_route {route['RouteKey']}")
            out.append(body)
        return out

    @staticmethod
    def _prune(api2: Any, api_id: str, integrations: set[str], authorizers: set[str], writes: list[str]) -> None:
        """What an earlier apply put that the source no longer has (an integration matched by content changed)."""
        for item in paginate(api2, "get_integrations", "Items", ApiId=api_id):
            if item["IntegrationId"] not in integrations:
                api2.delete_integration(ApiId=api_id, IntegrationId=item["IntegrationId"])
                writes.append(f"delete_integration {item['IntegrationId']}")
        for item in paginate(api2, "get_authorizers", "Items", ApiId=api_id):
            if item["AuthorizerId"] not in authorizers:
                api2.delete_authorizer(ApiId=api_id, AuthorizerId=item["AuthorizerId"])
                writes.append(f"delete_authorizer {item['AuthorizerId']}")

    @staticmethod
    def _stages(api2: Any, api_id: str, wanted: dict[str, dict[str, Any]], t: Any, warnings: list[str],
                writes: list[str]) -> None:
        have = {s["StageName"]: s for s in paginate(api2, "get_stages", "Items", ApiId=api_id)}
        for name, stage in sorted(wanted.items()):
            body = translated({k: v for k, v in stage.items() if k != "Tags"}, t, f"stage {name}", warnings)
            if (body.get("AccessLogSettings") or {}).get("DestinationArn"):
                warnings.append(f"stage {name}: access logs go to {body['AccessLogSettings']['DestinationArn']}, "
                                "a log group drflow does not create: make it, or the stage logs nothing")
            found = have.get(name)
            if found is None:
                tags = {k: v for k, v in stage["Tags"].items() if not k.startswith("aws:")}
                api2.create_stage(ApiId=api_id, StageName=name, Tags=tags, **body)
                writes.append(f"create_stage {name}")
            elif not comparable(found, body):
                api2.update_stage(ApiId=api_id, StageName=name, **body)
                writes.append(f"update_stage {name}")

    @staticmethod
    def _deploy(api2: Any, api_id: str, digest: str, writes: list[str]) -> list[str]:
        """Deploy to every stage without auto-deploy whose deployment is not of what was put now: the deployment's
        description carries the digest, so the one write that deploys also records what it deployed (an
        interrupted run deploys again; an unchanged one writes nothing)."""
        marker = f"{DEPLOYED} {digest}"
        for stage in paginate(api2, "get_stages", "Items", ApiId=api_id):
            if stage.get("AutoDeploy") or _deployed(api2, api_id, stage.get("DeploymentId")) == marker:
                continue
            api2.create_deployment(ApiId=api_id, StageName=stage["StageName"], Description=marker)
            writes.append(f"create_deployment {stage['StageName']}")
        return sorted(s["StageName"] for s in paginate(api2, "get_stages", "Items", ApiId=api_id)
                      if s.get("DeploymentId"))

    # ---- health, audit, drills, console ----------------------------------------------------------------

    def health(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> str | None:
        """Healthy once every stage of the recovered API has a deployment (a stage without one serves nothing)."""
        try:
            stages = _deployed_stages(ctx.recovery.client("apigatewayv2"), recovered_id)
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                return f"API {recovered_id} does not exist in {ctx.recovery.region}"
            raise
        if not stages:
            return f"API {recovered_id} has no stage"
        bare = sorted(name for name, deployment in stages.items() if not deployment)
        return f"API {recovered_id}: stage(s) {', '.join(bare)} not deployed" if bare else None

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        api2 = ctx.recovery.client("apigatewayv2")
        try:
            return {
                "Integrations": [_picked(i, ("IntegrationUri", "CredentialsArn", "RequestParameters",
                                             "RequestTemplates", "TlsConfig"))
                                 for i in paginate(api2, "get_integrations", "Items", ApiId=recovered_id)],
                "Authorizers": [_picked(a, ("AuthorizerUri", "AuthorizerCredentialsArn", "JwtConfiguration"))
                                for a in paginate(api2, "get_authorizers", "Items", ApiId=recovered_id)],
                "Stages": {s["StageName"]: _picked(s, ("StageVariables", "AccessLogSettings"))
                           for s in paginate(api2, "get_stages", "Items", ApiId=recovered_id)}}
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                return {}
            raise

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' APIs, by drflow's tags (their routes, integrations, stages and deployments go with them),
        then their VPC links."""
        api2 = ctx.recovery.client("apigatewayv2")
        gone = []
        for api in paginate(api2, "get_apis", "Items"):
            if ctx.matches(api.get("Tags")) and delete_quietly(api2.delete_api, ApiId=api["ApiId"]):
                gone.append(api["ApiId"])
        return sorted(gone) + remove_drill_links(api2, ctx)

    def console_url(self, recovered_id: str, region: str) -> str:
        return f"{console_host(region)}/apigateway/main/api-detail?api={recovered_id}&region={region}"
