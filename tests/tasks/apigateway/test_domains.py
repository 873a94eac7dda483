"""Custom domain names, handler-direct on the sandbox: recreated with the recovery certificate (the plan's map),
mapped to the recovered API's stage, their regional name and zone in details and endpoints (what a Route 53
alias is pointed at); healthy once the mapped stage is deployed; a missing certificate is refused before any
write, naming it; a second apply writes nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import boto3
import pytest
from apigw_helper import certificate, context, result, seed_api

from conftest import RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.handler import Unrecoverable
from core.models import Mode
from core.models import Resource
from core.scope import link, resolve_links
from drflow.sandbox.faults import Faults
from tasks.apigateway import DomainNameHandler, HttpApiHandler
from tasks.apigateway.domains import DOMAIN

NAME = "api.shop.example"


def _seed() -> dict[str, str]:
    seeded = seed_api()
    cert = certificate(SOURCE, NAME)
    api2 = boto3.client("apigatewayv2", region_name=SOURCE)
    domain = api2.create_domain_name(DomainName=NAME, Tags={"app": "shop"}, DomainNameConfigurations=[
        {"CertificateArn": cert, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}])
    api2.create_api_mapping(DomainName=NAME, ApiId=seeded["api"], Stage="prod", ApiMappingKey="v1")
    return {**seeded, "cert": cert, "regional": domain["DomainNameConfigurations"][0]["ApiGatewayDomainName"]}


def _recovered_api(api_id: str) -> str:
    """The recovered API as the HTTP API handler leaves it, with its prod stage deployed."""
    api2 = boto3.client("apigatewayv2", region_name=RECOVERY)
    recovered = api2.create_api(Name="shop-api", ProtocolType="HTTP")["ApiId"]
    api2.create_stage(ApiId=recovered, StageName="prod")
    return recovered


def _discovered(plan):
    aws = AwsAccess(plan)
    found, _ = resolve_links(HttpApiHandler().discover(aws.source, plan)
                             + DomainNameHandler().discover(aws.source, plan))
    return aws, {r.type: r for r in found}


def test_a_domain_comes_back_with_the_recovery_certificate_mapped_to_the_recovered_api(sandbox):
    seeded = _seed()
    recovery_cert = certificate(RECOVERY, NAME)
    plan = make_plan(certificates={seeded["cert"]: recovery_cert})
    aws, found = _discovered(plan)
    domain, api = found[DOMAIN], found["apigateway:http-api"]
    assert domain.dependencies == [api.key]  # the mapped API first; the mapped certificate needs no link
    assert domain.endpoints["regional_domain_name"] == seeded["regional"]
    recovered = _recovered_api(seeded["api"])
    ctx = context(plan, aws, {api.key: result(api, recovered)}, Mode.STAGE)
    handler = DomainNameHandler()
    applied = handler.apply(domain, ctx)
    api2 = boto3.client("apigatewayv2", region_name=RECOVERY)
    [configuration] = api2.get_domain_name(DomainName=NAME)["DomainNameConfigurations"]
    assert configuration["CertificateArn"] == recovery_cert
    assert applied.details["regional_domain_name"] == configuration["ApiGatewayDomainName"] != seeded["regional"]
    assert applied.details["regional_hosted_zone_id"] == configuration["HostedZoneId"] == "Z2OJLYMUO9EFXC"
    assert applied.endpoints == {"regional_domain_name": configuration["ApiGatewayDomainName"],
                                 "regional_hosted_zone_id": "Z2OJLYMUO9EFXC"}
    [mapping] = api2.get_api_mappings(DomainName=NAME)["Items"]
    assert (mapping["ApiId"], mapping["Stage"], mapping["ApiMappingKey"]) == (recovered, "prod", "v1")
    assert handler.health(domain, NAME, ctx) == f"domain name {NAME}: stage prod of API {recovered} not deployed"
    api2.create_deployment(ApiId=recovered, StageName="prod")
    assert handler.health(domain, NAME, ctx) is None
    assert handler.find(domain, ctx) == NAME
    sandbox.app.clear_log()
    again = handler.apply(domain, ctx)
    assert (again.created, again.changed) == (False, False)
    assert [c.operation for c in sandbox.calls if c.write] == []


def test_a_domain_without_a_recovery_certificate_is_refused_naming_it_before_any_write(sandbox):
    seeded = _seed()
    plan = make_plan()
    aws, found = _discovered(plan)
    domain, api = found[DOMAIN], found["apigateway:http-api"]
    assert f"acm:{seeded['cert']}" in domain.links  # the ACM handler's copy is linked when the map has none
    sandbox.app.clear_log()
    with pytest.raises(Unrecoverable, match=seeded["cert"]):
        DomainNameHandler().apply(domain, context(plan, aws, {api.key: result(api, "abc")}))
    assert [c.operation for c in sandbox.calls if c.write] == []


def test_the_domain_handler_keeps_the_contract():
    """Held to tests/contract/contract.py although it is not in the registry yet (the sample shop has no domain name
    until it has an issued certificate: tasks/registry.py)."""
    path = Path(__file__).resolve().parents[2] / "contract" / "contract.py"
    spec = importlib.util.spec_from_file_location("apigateway_contract", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.problems(DomainNameHandler()) == []


@pytest.mark.parametrize("kill", [1, 2])
def test_a_domain_apply_killed_at_any_write_run_again_leaves_one_domain_fully_mapped(sandbox, kill):
    """The contract test's killed-apply check (tests/contract/test_killed_apply.py ELSEWHERE), killed at its create
    (1) or its mapping (2), then run again."""
    seeded = _seed()
    plan = make_plan(certificates={seeded["cert"]: certificate(RECOVERY, NAME)})
    aws, found = _discovered(plan)
    domain, api = found[DOMAIN], found["apigateway:http-api"]
    ctx = context(plan, aws, {api.key: result(api, _recovered_api(seeded["api"]))})
    sandbox.faults = Faults(fail_write=kill)
    with pytest.raises(Exception):
        DomainNameHandler().apply(domain, ctx)
    sandbox.faults = Faults()
    sandbox.app.clear_log()
    DomainNameHandler().apply(domain, ctx)
    made = [c.operation for c in sandbox.calls if c.write]
    assert len(made) == 3 - kill  # what the killed run did not make, and only that
    api2 = boto3.client("apigatewayv2", region_name=RECOVERY)
    assert [d["DomainName"] for d in api2.get_domain_names()["Items"]] == [NAME]
    assert len(api2.get_api_mappings(DomainName=NAME)["Items"]) == 1
    assert DomainNameHandler().find(domain, ctx) == NAME


def test_a_domain_name_taken_in_the_recovery_region_is_refused_by_the_preflight_reading_only(sandbox):
    seeded = _seed()
    recovery_cert = certificate(RECOVERY, NAME)
    boto3.client("apigatewayv2", region_name=RECOVERY).create_domain_name(
        DomainName=NAME, DomainNameConfigurations=[{"CertificateArn": recovery_cert, "EndpointType": "REGIONAL"}])
    plan = make_plan(certificates={seeded["cert"]: recovery_cert})
    aws, found = _discovered(plan)
    sandbox.app.clear_log()
    [(where, why)] = DomainNameHandler().preflight([found[DOMAIN]], context(plan, aws, {}))
    assert where == f"{DOMAIN} {NAME}" and "not drflow's copy" in why
    assert [c.operation for c in sandbox.calls if c.write] == []


def test_a_mapping_to_a_rest_api_follows_the_recovered_rest_api(sandbox):
    seeded = _seed()
    gw = boto3.client("apigateway", region_name=SOURCE)
    rest = gw.create_rest_api(name="shop-rest")["id"]
    boto3.client("apigatewayv2", region_name=SOURCE).create_api_mapping(DomainName=NAME, ApiId=rest, Stage="v1",
                                                                        ApiMappingKey="legacy")
    recovery_cert = certificate(RECOVERY, NAME)
    plan = make_plan(certificates={seeded["cert"]: recovery_cert})
    aws = AwsAccess(plan)
    [domain] = DomainNameHandler().discover(aws.source, plan)
    assert f"apigateway:rest-api:{rest}" in domain.links
    recovered_rest = boto3.client("apigateway", region_name=RECOVERY).create_rest_api(name="shop-rest")["id"]
    rest_resource = Resource(type="apigateway:rest-api", source_id=rest, name="shop-rest")
    http_resource = Resource(type="apigateway:http-api", source_id=seeded["api"], name="shop-api")
    linked = link([domain, rest_resource, http_resource])[0]
    deps = {rest_resource.key: result(rest_resource, recovered_rest),
            http_resource.key: result(http_resource, _recovered_api(seeded["api"]))}
    DomainNameHandler().apply(linked, context(plan, aws, deps))
    mappings = boto3.client("apigatewayv2", region_name=RECOVERY).get_api_mappings(DomainName=NAME)["Items"]
    assert {m["ApiMappingKey"]: m["ApiId"] for m in mappings}["legacy"] == recovered_rest
