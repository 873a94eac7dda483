"""API Gateway REST APIs (apigateway): resources, methods, integrations, authorizers and stages, recreated in the
recovery region and deployed.

Like an HTTP API, a REST API is billed per request, so it is staged nightly (pilot light): its resources, its
authorizers whose targets exist, and its methods; a method whose integration (or Lambda authorizer) invokes a
function made at failover only is put by the failover (tasks/apigateway/targets.py translates what integrations
name: the recovered function, the recovery region's service URIs, the role). A staged API with such methods is not
deployed (AWS refuses an API without methods, and half an API is not what users should meet), nor is a night after a
failover redeployed. Each stage is deployed by CreateDeployment when what drflow put differs from what it deployed
to it last (a digest in the deployment's description, as for HTTP APIs), its variables translated; the recovered
API is healthy once every stage has a deployment. The recovered function gets the one statement that lets the
recovered API invoke it (core.invoke_grants).

The recovered id is the REST API id; its invoke URL `https://<id>.execute-api.<region>.amazonaws.com` is its
endpoint `invoke_url` (and `host`). A drill's API is a suffixed copy, removed by `cleanup`. Private APIs (their
VPC endpoints) and VPC-link integrations are refused, naming what to do by hand.
"""

from __future__ import annotations

import hashlib
import json
import re
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

from .http_apis import DEPLOYED
from .targets import INVOKER, Deferred, comparable, links_of, recovered_uri, translated

REST_API = "apigateway:rest-api"
API_FIELDS = ("description", "binaryMediaTypes", "apiKeySource", "minimumCompressionSize",
              "disableExecuteApiEndpoint", "endpointConfiguration")
METHOD_FIELDS = ("authorizationType", "apiKeyRequired", "requestParameters", "operationName", "authorizationScopes")
INTEGRATION_FIELDS = ("type", "httpMethod", "uri", "credentials", "requestParameters", "requestTemplates",
                      "passthroughBehavior", "contentHandling", "timeoutInMillis", "cacheNamespace",
                      "cacheKeyParameters", "connectionType")
AUTHORIZER_FIELDS = ("name", "type", "providerARNs", "authType", "authorizerUri", "authorizerCredentials",
                     "identitySource", "identityValidationExpression", "authorizerResultTtlInSeconds")
NOT_FOUND = "NotFoundException"
# an AWS service integration: arn:aws:apigateway:us-east-1:sqs:path/111111111111/orders
SERVICE_URI_RE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):apigateway:(?P<region>[a-z0-9-]+):(?P<service>[a-z0-9-]+)"
                            r":(?P<kind>path|action)/(?P<rest>.*)$")


def rest_api_arn(region: str, api_id: str) -> str:
    return f"arn:aws:apigateway:{region}::/restapis/{api_id}"


def _invoke(region: str, api_id: str) -> dict[str, str]:
    host = f"{api_id}.execute-api.{region}.amazonaws.com"
    return {"invoke_url": f"https://{host}", "host": host}


def _picked(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: item[k] for k in fields if item.get(k) not in (None, "", {}, [])}


def _deployed(gw: Any, api_id: str, deployment_id: str | None) -> str | None:
    if not deployment_id:
        return None
    try:
        return gw.get_deployment(restApiId=api_id, deploymentId=deployment_id).get("description")
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return None
        raise


def _queue_link(uri: str | None) -> list[str]:
    match = SERVICE_URI_RE.match(uri or "")
    if match and match["service"] == "sqs" and match["kind"] == "path":
        return [f"sqs:{match['rest'].rsplit('/', 1)[-1]}"]
    return []


class RestApiHandler(ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack, Audited, ReportsHealth):
    type: ClassVar[str] = REST_API
    phase: ClassVar[Phase] = Phase.COMPUTE  # it fronts functions: after them
    pilot_light: ClassVar[bool] = True  # billed per request: an API with no traffic costs nothing
    arn_kinds: ClassVar[tuple[str, ...]] = ("apigateway:restapis",)
    internet_facing: ClassVar[bool] = False  # a drill's copy reaches only the drill's functions, at a new URL
    version: ClassVar[int] = 1
    not_failed_back: ClassVar[str] = ("the primary's API serves again as it was once DNS points at it; the "
                                      "recovered API costs nothing idle and is left for the next failover")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        gw = source.client("apigateway")
        out = []
        for api in paginate(gw, "get_rest_apis", "items"):
            api_id = api["id"]
            try:
                resources = self._resources(gw, api_id)
                authorizers = paginate(gw, "get_authorizers", "items", restApiId=api_id)
                stages = gw.get_stages(restApiId=api_id).get("item", [])
            except ClientError as exc:
                if error_code(exc) == NOT_FOUND:  # deleted between the listing and now
                    continue
                raise
            links = {link for r in resources.values() for m in r["methods"].values() if m.get("integration")
                     for link in links_of(m["integration"].get("uri"), m["integration"].get("credentials"))
                     + _queue_link(m["integration"].get("uri"))}
            links |= {link for a in authorizers for link in links_of(a.get("authorizerUri"),
                                                                     a.get("authorizerCredentials"))}
            out.append(Resource(
                type=REST_API, source_id=api_id, name=api["name"], arn=rest_api_arn(source.region, api_id),
                tags=dict(api.get("tags") or {}),
                config={"api": _picked(api, API_FIELDS),
                        "policy": json.loads(api["policy"].replace('\\"', '"')) if api.get("policy") else None,
                        "resources": resources,
                        "authorizers": {a["id"]: _picked(a, AUTHORIZER_FIELDS) for a in authorizers},
                        "stages": {s["stageName"]: {"variables": s.get("variables") or {},
                                                    "description": s.get("description") or ""} for s in stages}},
                endpoints=_invoke(source.region, api_id), links=sorted(links)))
        return out

    @staticmethod
    def _resources(gw: Any, api_id: str) -> dict[str, dict[str, Any]]:
        """path -> its methods (each with its integration and responses), read one method at a time."""
        out = {}
        for res in paginate(gw, "get_resources", "items", restApiId=api_id):
            methods = {}
            for verb in sorted(res.get("resourceMethods") or {}):
                method = gw.get_method(restApiId=api_id, resourceId=res["id"], httpMethod=verb)
                integration = method.get("methodIntegration") or {}
                methods[verb] = {
                    **_picked(method, METHOD_FIELDS), "authorizerId": method.get("authorizerId"),
                    "responses": {code: _picked(r, ("responseParameters", "responseModels"))
                                  for code, r in (method.get("methodResponses") or {}).items()},
                    "integration": _picked(integration, INTEGRATION_FIELDS) if integration else None,
                    "integration_responses": {
                        code: _picked(r, ("selectionPattern", "responseParameters", "responseTemplates",
                                          "contentHandling"))
                        for code, r in (integration.get("integrationResponses") or {}).items()}}
            out[res["path"]] = {"methods": methods}
        return out

    # ---- the recovered API -----------------------------------------------------------------------------

    @staticmethod
    def _existing(gw: Any, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        for api in paginate(gw, "get_rest_apis", "items"):
            if owned(api.get("tags"), resource, ctx):
                return api
        return None

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        api = self._existing(ctx.recovery.client("apigateway"), resource, ctx)
        return api["id"] if api else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        gw = ctx.recovery.client("apigateway")
        cfg, warnings, writes = resource.config, [], []
        if "PRIVATE" in (cfg["api"].get("endpointConfiguration") or {}).get("types", []):
            raise Unrecoverable(f"REST API {resource.name} is private (reached through VPC endpoints): not recovered "
                                "by drflow yet; recreate it with the recovered VPC endpoint by hand")
        api = self._existing(gw, resource, ctx)
        t = ctx.translation(resource)
        wanted = translated(cfg["api"], t, "api", warnings)
        wanted.get("endpointConfiguration", {}).pop("vpcEndpointIds", None)
        if api is None:
            policy = {"policy": json.dumps(translated(cfg["policy"], t, "policy", warnings))} if cfg["policy"] else {}
            api = gw.create_rest_api(name=recovered_name(resource.name, ctx, 128), tags=ctx.tags(resource),
                                     **wanted, **policy)
            writes.append("create_rest_api")
        api_id = api["id"]
        t = replace(t, renames={**t.renames, resource.source_id: api_id,
                                resource.arn: rest_api_arn(ctx.recovery.region, api_id)})
        functions: set[str] = set()
        deferred: list[str] = []
        authorizers = self._authorizers(gw, api_id, cfg["authorizers"], ctx, t, warnings, writes, functions,
                                        deferred)
        put = self._methods(gw, api_id, cfg["resources"], authorizers, ctx, t, warnings, writes, functions, deferred)
        for function in sorted(functions):  # the function's own policy is not recovered: see core.invoke_grants
            source_arn = f"arn:aws:execute-api:{ctx.recovery.region}:{ctx.plan.recovery.account_id}:{api_id}/*"
            if allow_invoke(ctx.recovery.client("lambda"), function, INVOKER, source_arn):
                writes.append(f"add_permission {function}")
        stages = {name: {"variables": translated(s["variables"], t, f"stage {name}", warnings),
                         "description": s["description"]} for name, s in cfg["stages"].items()}
        digest = hashlib.sha256(json.dumps([wanted, put, sorted(authorizers.items()), stages], sort_keys=True,
                                           default=str).encode()).hexdigest()[:16]
        details: dict[str, Any] = {"invoke_url": _invoke(ctx.recovery.region, api_id)["invoke_url"],
                                   "stages": sorted(stages), "writes": writes}
        if deferred:
            details["at failover"] = sorted(set(deferred))
        if ctx.staging and deferred:  # what is incomplete is not deployed (AWS refuses an API without methods)
            details["deployed"] = "at failover, once every method is put"
        else:
            self._deploy(gw, api_id, stages, digest, writes)
        return Applied(api_id, created="create_rest_api" in writes,
                       changed=bool(writes) and "create_rest_api" not in writes, warnings=warnings, details=details,
                       endpoints=_invoke(ctx.recovery.region, api_id))

    @staticmethod
    def _authorizers(gw: Any, api_id: str, wanted: dict[str, dict[str, Any]], ctx: ApplyContext, t: Any,
                     warnings: list[str], writes: list[str], functions: set[str], deferred: list[str]
                     ) -> dict[str, str]:
        """Source authorizer id -> recovered one, by name; one that differs is replaced field by field."""
        have = {a["name"]: a for a in paginate(gw, "get_authorizers", "items", restApiId=api_id)}
        out = {}
        for source_id, authorizer in sorted(wanted.items()):
            body = translated({k: v for k, v in authorizer.items() if k != "authorizerUri"}, t,
                              f"authorizer {authorizer['name']}", warnings)
            if authorizer.get("authorizerUri"):
                try:
                    body["authorizerUri"], function = recovered_uri(authorizer["authorizerUri"], ctx)
                except Deferred as why:
                    deferred.append(f"authorizer {authorizer['name']}: {why}")
                    continue
                functions |= {function} if function else set()
            found = have.get(authorizer["name"])
            if found is None:
                found = gw.create_authorizer(restApiId=api_id, **body)
                writes.append(f"create_authorizer {authorizer['name']}")
            elif not comparable(found, body):
                ops = [{"op": "replace", "path": f"/{k}", "value": str(v)} for k, v in body.items()
                       if k not in ("name", "providerARNs") and found.get(k) != v]
                gw.update_authorizer(restApiId=api_id, authorizerId=found["id"], patchOperations=ops)
                writes.append(f"update_authorizer {authorizer['name']}")
            out[source_id] = found["id"]
        return out

    def _methods(self, gw: Any, api_id: str, wanted: dict[str, dict[str, Any]], authorizers: dict[str, str],
                 ctx: ApplyContext, t: Any, warnings: list[str], writes: list[str], functions: set[str],
                 deferred: list[str]) -> list[Any]:
        """Every resource by its path (parents first), its methods, integrations and responses; a method that
        waits for the failover is not put tonight (nor touched, a night after a failover)."""
        ids = {r["path"]: r for r in paginate(gw, "get_resources", "items", restApiId=api_id)}
        put = []
        for path in sorted(wanted, key=lambda p: (p.count("/"), p)):
            if path not in ids:
                parent, _, part = path.rpartition("/")
                made = gw.create_resource(restApiId=api_id, parentId=ids[parent or "/"]["id"], pathPart=part)
                ids[path] = made
                writes.append(f"create_resource {path}")
            for verb, method in sorted(wanted[path]["methods"].items()):
                where = f"{verb} {path}"
                try:
                    body, integration = self._method_body(method, authorizers, ctx, t, warnings, functions, where)
                except Deferred as why:
                    deferred.append(f"{where}: {why}")
                    continue
                self._put_method(gw, api_id, ids[path], verb, body, integration, method, t, warnings, writes)
                put.append([where, body, integration])
        return put

    @staticmethod
    def _method_body(method: dict[str, Any], authorizers: dict[str, str], ctx: ApplyContext, t: Any,
                     warnings: list[str], functions: set[str], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
        body = {k: method[k] for k in METHOD_FIELDS if k in method}
        if method.get("authorizerId"):
            if method["authorizerId"] not in authorizers:
                raise Deferred(f"its authorizer {method['authorizerId']} is put at failover")
            body["authorizerId"] = authorizers[method["authorizerId"]]
        source = method.get("integration") or {}
        if source.get("connectionType") == "VPC_LINK":
            raise Unrecoverable(f"{where}: a private integration through a VPC link is not recovered by drflow yet; "
                                "recreate the VPC link to the recovered network load balancer by hand")
        integration = translated({k: v for k, v in source.items() if k != "uri"}, t, f"{where} integration",
                                 warnings)
        if source.get("uri"):
            uri, function = recovered_uri(source["uri"], ctx)
            functions |= {function} if function else set()
            integration["uri"] = uri if function else _service_uri(source["uri"], ctx, t, warnings, where)
        return body, integration

    @staticmethod
    def _put_method(gw: Any, api_id: str, res: dict[str, Any], verb: str, body: dict[str, Any],
                    integration: dict[str, Any], method: dict[str, Any], t: Any, warnings: list[str],
                    writes: list[str]) -> None:
        where = f"{verb} {res['path']}"
        try:
            have = gw.get_method(restApiId=api_id, resourceId=res["id"], httpMethod=verb)
        except ClientError as exc:
            if error_code(exc) != NOT_FOUND:
                raise
            have = None
        if have is not None and not comparable(have, body):  # a method is replaced whole (PutMethod conflicts)
            gw.delete_method(restApiId=api_id, resourceId=res["id"], httpMethod=verb)
            writes.append(f"delete_method {where}")
            have = None
        if have is None:
            gw.put_method(restApiId=api_id, resourceId=res["id"], httpMethod=verb, **body)
            writes.append(f"put_method {where}")
            have = {}
        for code, response in sorted(method["responses"].items()):
            if code not in (have.get("methodResponses") or {}):
                gw.put_method_response(restApiId=api_id, resourceId=res["id"], httpMethod=verb, statusCode=code,
                                       **response)
                writes.append(f"put_method_response {where} {code}")
        current = have.get("methodIntegration") or {}
        if integration and not comparable(current, integration):
            gw.put_integration(restApiId=api_id, resourceId=res["id"], httpMethod=verb,
                               **{("integrationHttpMethod" if k == "httpMethod" else k): v
                                  for k, v in integration.items()})
            writes.append(f"put_integration {where}")
            current = {}
        for code, response in sorted(method["integration_responses"].items()):
            wanted = translated(response, t, f"{where} integration response {code}", warnings)
            if not comparable((current.get("integrationResponses") or {}).get(code) or {}, wanted) or \
                    code not in (current.get("integrationResponses") or {}):
                gw.put_integration_response(restApiId=api_id, resourceId=res["id"], httpMethod=verb,
                                            statusCode=code, **wanted)
                writes.append(f"put_integration_response {where} {code}")

    @staticmethod
    def _deploy(gw: Any, api_id: str, stages: dict[str, dict[str, Any]], digest: str, writes: list[str]) -> None:
        """A deployment per stage whose deployment is not of what was put now (its description carries the
        digest: the write that deploys records it), or that is new; stage variables that drifted alone are
        patched."""
        marker = f"{DEPLOYED} {digest}"
        have = {s["stageName"]: s for s in gw.get_stages(restApiId=api_id).get("item", [])}
        for name, stage in sorted(stages.items()):
            if name not in have or _deployed(gw, api_id, have[name].get("deploymentId")) != marker:
                gw.create_deployment(restApiId=api_id, stageName=name, stageDescription=stage["description"],
                                     variables=stage["variables"], description=marker)
                writes.append(f"create_deployment {name}")
            elif (have[name].get("variables") or {}) != stage["variables"]:
                old = have[name].get("variables") or {}
                ops = [{"op": "replace", "path": f"/variables/{k}", "value": v} for k, v in stage["variables"].items()]
                ops += [{"op": "remove", "path": f"/variables/{k}"} for k in old if k not in stage["variables"]]
                gw.update_stage(restApiId=api_id, stageName=name, patchOperations=ops)
                writes.append(f"update_stage {name}")

    # ---- health, audit, drills, console ----------------------------------------------------------------

    def health(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> str | None:
        """Healthy once every stage of the recovered API has a deployment."""
        try:
            stages = ctx.recovery.client("apigateway").get_stages(restApiId=recovered_id).get("item", [])
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                return f"REST API {recovered_id} does not exist in {ctx.recovery.region}"
            raise
        if not stages:
            return f"REST API {recovered_id} has no stage"
        bare = sorted(s["stageName"] for s in stages if not s.get("deploymentId"))
        return f"REST API {recovered_id}: stage(s) {', '.join(bare)} not deployed" if bare else None

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        gw = ctx.recovery.client("apigateway")
        try:
            methods = self._resources(gw, recovered_id)
            stages = gw.get_stages(restApiId=recovered_id).get("item", [])
            authorizers = paginate(gw, "get_authorizers", "items", restApiId=recovered_id)
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                return {}
            raise
        return {"Integrations": {f"{verb} {path}": m["integration"] for path, r in methods.items()
                                 for verb, m in r["methods"].items() if m["integration"]},
                "Authorizers": [_picked(a, ("authorizerUri", "authorizerCredentials", "providerARNs"))
                                for a in authorizers],
                "Stages": {s["stageName"]: s.get("variables") or {} for s in stages}}

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' REST APIs, by drflow's tags (their resources, stages and deployments go with them)."""
        gw = ctx.recovery.client("apigateway")
        gone = []
        for api in paginate(gw, "get_rest_apis", "items"):
            if ctx.matches(api.get("tags")) and delete_quietly(gw.delete_rest_api, restApiId=api["id"]):
                gone.append(api["id"])
        return sorted(gone)

    def console_url(self, recovered_id: str, region: str) -> str:
        return (f"{console_host(region)}/apigateway/main/apis/{recovered_id}/resources?api={recovered_id}"
                f"&region={region}")


def _service_uri(uri: str, ctx: ApplyContext, t: Any, warnings: list[str], where: str) -> str:
    """An AWS service integration's URI for the recovery region: an SQS path names the recovered queue (a drill's
    suffixed one, the recovery account); anything else gets the recovery region and the translation."""
    match = SERVICE_URI_RE.match(uri)
    if match is None:
        return translated(uri, t, f"{where} integration.uri", warnings)
    rest = match["rest"]
    if match["service"] == "sqs" and match["kind"] == "path":
        try:
            queue = ctx.linked(f"sqs:{rest.rsplit('/', 1)[-1]}").recovered_id
        except KeyError:
            queue = None
        if queue:
            *_, account, name = queue.split(":")
            rest = f"{account}/{name}"
        else:
            warnings.append(f"{where}: queue {rest} is not recovered by this plan: the URI names it in "
                            f"{ctx.recovery.region}")
    else:
        rest = translated(rest, t, f"{where} integration.uri", warnings)
    return f"arn:{match['partition']}:apigateway:{ctx.recovery.region}:{match['service']}:{match['kind']}/{rest}"
