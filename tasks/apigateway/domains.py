"""API Gateway custom domain names (apigatewayv2, regional) and their API mappings: the name users call
(`api.shop.example`), recreated in the recovery region with the recovery certificate and mapped to the recovered
APIs' stages.

A domain name costs nothing, so it is staged nightly once its certificate is issued in the recovery region
(core/certificates.py: the plan's `certificates` map, else the ACM handler's copy, linked): its regional domain
name (`d-<id>.execute-api.<region>.amazonaws.com`) and hosted zone id are then known before a failover, and are
what a Route 53 alias for the name is pointed at in the traffic phase (`Applied.details` and endpoints
`regional_domain_name`, `regional_hosted_zone_id`). Its mappings follow the source's (path key, stage), each to the
recovered HTTP or REST API (a dependency, link `apigateway:http-api:<id>` or `apigateway:rest-api:<id>`: an API
mapping of API Gateway v2 maps either, as a REST API's base path mapping does).

It is healthy (core.capabilities.ReportsHealth) when the domain is AVAILABLE and every mapped stage is deployed.
A drill never takes the production name (a custom domain name is unique within a region): the type is left out
of drills (`internet_facing`), and the drill's APIs are tested on their own execute-api URLs. Edge-optimized
domain names (served by CloudFront, their certificate in us-east-1) are not recovered: the report says so.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from botocore.exceptions import ClientError

from core.artifacts import console_host
from core.aws import Side, error_code, paginate
from core.capabilities import Audited, ClaimsArnKinds, ConsoleLink, NotFailedBack, Preflight, ReportsHealth
from core.certificates import certificate_links, recovery_certificate
from core.handler import Applied, ApplyContext, Unrecoverable
from core.models import Mode, Phase, Resource
from core.ownership import owned
from core.plan import Plan

from .http_apis import HTTP_API
from .rest_apis import REST_API
from .targets import pages

DOMAIN = "apigateway:domain-name"
NOT_FOUND = "NotFoundException"
CONFIGURATION_FIELDS = ("EndpointType", "SecurityPolicy", "IpAddressType")


def domain_arn(region: str, name: str) -> str:
    return f"arn:aws:apigateway:{region}::/domainnames/{name}"


def _regional(domain: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in domain.get("DomainNameConfigurations") or [] if c.get("EndpointType") == "REGIONAL"), {})


def _endpoints(configuration: dict[str, Any]) -> dict[str, str]:
    return {k: configuration[f] for k, f in (("regional_domain_name", "ApiGatewayDomainName"),
                                             ("regional_hosted_zone_id", "HostedZoneId")) if configuration.get(f)}


def _mappings(api2: Any, name: str) -> list[dict[str, Any]]:
    return pages(api2.get_api_mappings, DomainName=name)


def _domain(api2: Any, name: str) -> dict[str, Any] | None:
    try:
        return api2.get_domain_name(DomainName=name)
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return None
        raise


class DomainNameHandler(ClaimsArnKinds, ConsoleLink, NotFailedBack, Audited, ReportsHealth, Preflight):
    type: ClassVar[str] = DOMAIN
    phase: ClassVar[Phase] = Phase.TRAFFIC  # a front door: after the APIs it maps
    pilot_light: ClassVar[bool] = True  # a domain name costs nothing; staged once its certificate is issued
    arn_kinds: ClassVar[tuple[str, ...]] = ("apigateway:domainnames",)
    internet_facing: ClassVar[bool] = True  # the production name: never taken by a drill
    version: ClassVar[int] = 1
    not_failed_back: ClassVar[str] = ("the primary's domain name serves again once DNS points back at its regional "
                                      "domain name (the Route 53 failback); the recovered one is left staged")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        api2 = source.client("apigatewayv2")
        kinds = {a["ApiId"]: HTTP_API for a in paginate(api2, "get_apis", "Items") if a.get("ProtocolType") == "HTTP"}
        kinds.update({a["id"]: REST_API for a in paginate(source.client("apigateway"), "get_rest_apis", "items")})
        out = []
        for domain in paginate(api2, "get_domain_names", "Items"):
            name = domain["DomainName"]
            try:
                mappings = _mappings(api2, name)
            except ClientError as exc:
                if error_code(exc) == NOT_FOUND:  # deleted between the listing and now
                    continue
                raise
            configuration = _regional(domain)
            certificates = [configuration["CertificateArn"]] if configuration.get("CertificateArn") else []
            mapped = [{"ApiId": m["ApiId"], "ApiMappingKey": m.get("ApiMappingKey") or "", "Stage": m["Stage"],
                       "type": kinds.get(m["ApiId"])} for m in mappings]
            out.append(Resource(
                type=DOMAIN, source_id=name, name=name, arn=domain_arn(source.region, name),
                tags=dict(domain.get("Tags") or {}),
                config={"certificate": certificates[0] if certificates else None,
                        "configuration": {k: configuration[k] for k in CONFIGURATION_FIELDS if configuration.get(k)},
                        "mappings": mapped, "mutual_tls": bool(domain.get("MutualTlsAuthentication"))},
                endpoints=_endpoints(configuration),
                links=certificate_links(plan, certificates) + sorted(
                    {f"{m['type']}:{m['ApiId']}" for m in mapped if m["type"]})))
        return out

    # ---- the recovered domain name ---------------------------------------------------------------------

    def _existing(self, api2: Any, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        domain = _domain(api2, resource.name)
        if domain and not owned(domain.get("Tags"), resource, ctx):
            raise Unrecoverable(f"domain name {resource.name} already exists in {ctx.recovery.region} and is not "
                                "drflow's copy for this plan; remove it, or leave it out of the plan's scope")
        return domain

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Before any write, reading the recovery side only: every domain is a regional one with a certificate,
        and its name is not taken in the recovery region by a domain that is not drflow's copy."""
        if ctx.mode == Mode.DRILL:  # a drill leaves the production name alone (internet_facing): nothing to check
            return []
        api2, problems = ctx.recovery.client("apigatewayv2"), []
        for resource in resources:
            where = f"{DOMAIN} {resource.name}"
            try:
                self._recoverable(resource)
                self._existing(api2, resource, ctx)
            except Unrecoverable as why:
                problems.append((where, str(why)))
        return problems

    @staticmethod
    def _recoverable(resource: Resource) -> None:
        cfg = resource.config
        if not cfg["certificate"] or cfg["configuration"].get("EndpointType") != "REGIONAL":
            raise Unrecoverable(f"domain name {resource.name}: only regional domain names are recovered (an "
                                "edge-optimized one is served by CloudFront with a certificate in us-east-1)")

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        domain = self._existing(ctx.recovery.client("apigatewayv2"), resource, ctx)
        return resource.name if domain else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        cfg = resource.config
        self._recoverable(resource)
        certificate = recovery_certificate(ctx, cfg["certificate"])
        if certificate is None:
            raise Unrecoverable(f"domain name {resource.name}: no certificate in {ctx.recovery.region} for "
                                f"{cfg['certificate']}: map it in the plan's certificates, or bring it into scope")
        api2 = ctx.recovery.client("apigatewayv2")
        wanted = [{**cfg["configuration"], "CertificateArn": certificate}]
        domain = self._existing(api2, resource, ctx)
        warnings = ["mutual TLS is not recovered: set the truststore by hand"] if cfg["mutual_tls"] else []
        writes: list[str] = []
        try:
            if domain is None:
                domain = api2.create_domain_name(DomainName=resource.name, DomainNameConfigurations=wanted,
                                                 Tags=ctx.tags(resource))
                writes.append("create_domain_name")
            elif _regional(domain).get("CertificateArn") != certificate:
                domain = api2.update_domain_name(DomainName=resource.name, DomainNameConfigurations=wanted)
                writes.append("update_domain_name")
        except ClientError as exc:
            if error_code(exc) == "BadRequestException" and ctx.staging:  # the certificate is not issued yet
                return Applied(None, skipped=f"certificate {certificate} not usable yet: {exc}")
            raise
        writes += self._map(api2, resource, ctx, warnings)
        configuration = _regional(domain)
        endpoints = _endpoints(configuration)
        return Applied(resource.name, created="create_domain_name" in writes,
                       changed=bool(writes) and "create_domain_name" not in writes, warnings=warnings,
                       details={"regional_domain_name": endpoints.get("regional_domain_name"),
                                "regional_hosted_zone_id": endpoints.get("regional_hosted_zone_id"),
                                "certificate": certificate, "writes": writes}, endpoints=endpoints)

    @staticmethod
    def _map(api2: Any, resource: Resource, ctx: ApplyContext, warnings: list[str]) -> list[str]:
        """Each mapping (by its path key) to the recovered API's stage; a mapping to an API this plan does not
        recover is left out, with a warning. A mapping that differs is replaced (DeleteApiMapping, CreateApiMapping)."""
        have = {m.get("ApiMappingKey") or "": m for m in _mappings(api2, resource.name)}
        writes = []
        for mapping in resource.config["mappings"]:
            key = mapping["ApiMappingKey"]
            try:
                api_id = ctx.linked(f"{mapping.get('type') or HTTP_API}:{mapping['ApiId']}").recovered_id
            except KeyError:
                api_id = None
            if not api_id:
                warnings.append(f"mapping '{key}': API {mapping['ApiId']} is not recovered by this plan")
                continue
            found = have.get(key)
            if found and (found["ApiId"], found["Stage"]) == (api_id, mapping["Stage"]):
                continue
            if found:
                api2.delete_api_mapping(DomainName=resource.name, ApiMappingId=found["ApiMappingId"])
                writes.append(f"delete_api_mapping '{key}'")
            api2.create_api_mapping(DomainName=resource.name, ApiId=api_id, ApiMappingKey=key, Stage=mapping["Stage"])
            writes.append(f"create_api_mapping '{key}'")
        return writes

    # ---- health, audit, console ------------------------------------------------------------------------

    def health(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> str | None:
        """AVAILABLE, and every mapped stage deployed (a mapping to a stage without a deployment serves nothing)."""
        api2 = ctx.recovery.client("apigatewayv2")
        domain = _domain(api2, recovered_id)
        if domain is None:
            return f"domain name {recovered_id} does not exist in {ctx.recovery.region}"
        status = _regional(domain).get("DomainNameStatus", "AVAILABLE")
        if status != "AVAILABLE":
            return f"domain name {recovered_id} is {status}: {_regional(domain).get('DomainNameStatusMessage', '')}"
        for mapping in _mappings(api2, recovered_id):
            try:
                stage = api2.get_stage(ApiId=mapping["ApiId"], StageName=mapping["Stage"])
            except ClientError as exc:
                if error_code(exc) == NOT_FOUND:
                    return f"domain name {recovered_id}: stage {mapping['Stage']} of API {mapping['ApiId']} is missing"
                raise
            if not stage.get("DeploymentId") and not stage.get("AutoDeploy"):
                return f"domain name {recovered_id}: stage {mapping['Stage']} of API {mapping['ApiId']} not deployed"
        return None

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        api2 = ctx.recovery.client("apigatewayv2")
        domain = _domain(api2, recovered_id)
        if domain is None:
            return {}
        return {"CertificateArn": _regional(domain).get("CertificateArn"),
                "ApiMappings": [{k: m.get(k) for k in ("ApiId", "ApiMappingKey", "Stage")}
                                for m in _mappings(api2, recovered_id)]}

    def console_url(self, recovered_id: str, region: str) -> str:
        return (f"{console_host(region)}/apigateway/main/publish/domain-names?domain={quote(recovered_id)}"
                f"&region={region}")
