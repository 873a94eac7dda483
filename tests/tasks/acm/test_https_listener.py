"""An HTTPS listener recovered with the certificate drflow requested (its link to the ACM handler's copy), the plan's
`certificates` map as an override; a certificate neither mapped nor recovered refused by the pre-flight, one not
issued failing the listener, each named. Handler-direct on the sandbox."""

from __future__ import annotations

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.certificates import CERTIFICATE
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext, Unrecoverable
from core.models import Mode, Outcome, Resource, ResourceResult, resource_key
from core.netmap import NetworkMapper
from core.scope import link
from drflow.sandbox.seed_acm import public_zone, validate_in_zone
from tasks.acm import CertificateHandler
from tasks.load_balancers import LB, TG, ListenerHandler


def _alb(region: str) -> tuple[str, str]:
    """A VPC with two subnets, a target group and an ALB in `region`: (target group ARN, load balancer ARN)."""
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"][
        "SubnetId"] for i, az in enumerate("ab")]
    elb = boto3.client("elbv2", region_name=region)
    tg = elb.create_target_group(Name="shop-web", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0][
        "TargetGroupArn"]
    lb = elb.create_load_balancer(Name="shop-alb", Subnets=subnets, Type="application")["LoadBalancers"][0][
        "LoadBalancerArn"]
    return tg, lb


def _seed(domain: str, validated: bool) -> tuple[str, str, str]:
    """The source ALB with an HTTPS listener presenting a certificate for `domain` (validated through the account's
    public zone, or never); the recovery side's ALB made by hand. Returns (certificate ARN, recovery target group
    ARN, recovery load balancer ARN)."""
    acm = boto3.client("acm", region_name=SOURCE)
    cert = acm.request_certificate(DomainName=domain, ValidationMethod="DNS")["CertificateArn"]
    if validated:
        route53 = boto3.client("route53", region_name=SOURCE)
        validate_in_zone(acm, route53, cert, public_zone(route53, domain))
    tg, lb = _alb(SOURCE)
    boto3.client("elbv2", region_name=SOURCE).create_listener(
        LoadBalancerArn=lb, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert}],
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06", DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    return (cert, *_alb(RECOVERY))


def _result(resource: Resource, recovered: str) -> ResourceResult:
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=Outcome.CREATED, recovered_id=recovered)


def _ctx(plan, deps=None, mode=Mode.RECOVER) -> ApplyContext:
    return ApplyContext(plan=plan, recovery=AwsAccess(plan).recovery, mode=mode, deps=deps or {},
                        net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex())


def _recovered(plan, recovery_tg: str, recovery_lb: str) -> tuple[Resource, dict[str, ResourceResult]]:
    """The listener as the recovery point has it (its certificate link resolved), and its dependencies' results:
    the certificate staged tonight by the ACM handler, the load balancer and target group made by hand."""
    source = AwsAccess(plan).source
    certificates = CertificateHandler().discover(source, plan)
    listener = next(r for r in link(ListenerHandler().discover(source, plan) + certificates) if r.type != CERTIFICATE)
    deps = {}
    for key in listener.dependencies:
        if key.startswith(CERTIFICATE):
            cert = next(c for c in certificates if c.key == key)
            deps[key] = _result(cert, CertificateHandler().apply(cert, _ctx(plan, mode=Mode.STAGE)).recovered_id)
        kind = key.split("/", 1)[0]
        if kind in (LB, TG):
            deps[key] = ResourceResult(key=key, type=kind, source_id=key.split("/", 1)[1], outcome=Outcome.CREATED,
                                       recovered_id=recovery_lb if kind == LB else recovery_tg)
    return listener, deps


def test_the_https_listener_presents_the_certificate_drflow_requested(sandbox):
    cert, recovery_tg, recovery_lb = _seed("shop.example", validated=True)
    plan = make_plan()
    listener, deps = _recovered(plan, recovery_tg, recovery_lb)
    assert listener.links == [f"acm:{cert}"] and resource_key(CERTIFICATE, cert) in listener.dependencies
    assert ListenerHandler().preflight([listener], _ctx(plan)) == []
    applied = ListenerHandler().apply(listener, _ctx(plan, deps))
    elb = boto3.client("elbv2", region_name=RECOVERY)
    made = elb.describe_listeners(ListenerArns=[applied.recovered_id])["Listeners"][0]
    requested = deps[resource_key(CERTIFICATE, cert)].recovered_id
    assert requested.startswith(f"arn:aws:acm:{RECOVERY}:{ACCOUNT}:certificate/") and requested != cert
    assert [c["CertificateArn"] for c in made["Certificates"]] == [requested]
    assert (made["Protocol"], made["Port"]) == ("HTTPS", 443)
    sandbox.app.clear_log()
    again = ListenerHandler().apply(listener, _ctx(plan, deps))
    assert (again.created, again.changed, [c for c in sandbox.calls if c.write]) == (False, False, [])


def test_a_certificate_acm_has_not_issued_fails_the_listener_naming_it(sandbox):
    cert, recovery_tg, recovery_lb = _seed("legacy.elsewhere.example", validated=False)  # no zone anywhere
    plan = make_plan()
    listener, deps = _recovered(plan, recovery_tg, recovery_lb)
    with pytest.raises(Unrecoverable) as failed:
        ListenerHandler().apply(listener, _ctx(plan, deps))
    assert cert in str(failed.value) and "PENDING_VALIDATION" in str(failed.value)
    assert "listener shop-alb:443" in str(failed.value)
    assert boto3.client("elbv2", region_name=RECOVERY).describe_listeners(LoadBalancerArn=recovery_lb)[
        "Listeners"] == []


def test_a_certificate_neither_mapped_nor_recovered_is_refused_and_a_mapped_one_is_not_linked(sandbox):
    cert, recovery_tg, recovery_lb = _seed("shop.example", validated=True)
    plan = make_plan()
    listener, _ = _recovered(plan, recovery_tg, recovery_lb)
    unlinked = listener.model_copy(update={"dependencies": [d for d in listener.dependencies
                                                            if not d.startswith(CERTIFICATE)]})
    problems = ListenerHandler().preflight([unlinked], _ctx(plan))
    assert [f for f, _ in problems] == ["certificates"] and cert in problems[0][1]

    mapped = make_plan(certificates={cert: f"arn:aws:acm:{RECOVERY}:{ACCOUNT}:certificate/0000-mapped"})
    listener = next(iter(ListenerHandler().discover(AwsAccess(mapped).source, mapped)))
    assert listener.links == []  # the map overrides: nothing requested for it
    problems = ListenerHandler().preflight([listener], _ctx(mapped))
    assert [f for f, _ in problems] == [f"certificates.{mapped.certificates[cert]}"]  # mapped to nothing in ACM
