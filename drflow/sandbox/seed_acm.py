"""The sample shop's HTTPS: a public ACM certificate for shop.example (and www., and thumbnails. for the API's custom
domain) in the primary region,
validated through the public hosted zone shop.example (its validation CNAMEs written there, as the console's
"Create records in Route 53" does), and an HTTPS listener on port 443 of the shop's ALB that presents it.

The public zone is seed_route53's where it exists already (call this after it), else made here, so that the
certificate can be issued either way."""

from __future__ import annotations

from typing import Any

import boto3

from tasks.acm import records_waiter

DOMAIN = "shop.example"
ALTERNATIVE = "www.shop.example"
API_DOMAIN = "thumbnails.shop.example"  # the HTTP API's custom domain name (seed_apigateway.seed_api_domain)
APP_TAGS = [{"Key": "app", "Value": "shop"}]
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def public_zone(route53: Any, name: str) -> str:
    """The id of the public hosted zone `name` (made when there is none)."""
    dotted = name.rstrip(".") + "."
    zones = [z for z in route53.list_hosted_zones_by_name(DNSName=dotted)["HostedZones"]
             if z["Name"] == dotted and not z.get("Config", {}).get("PrivateZone")]
    if zones:
        return zones[0]["Id"].rsplit("/", 1)[-1]
    zone = route53.create_hosted_zone(Name=dotted, CallerReference=f"seed-{dotted}")["HostedZone"]
    return zone["Id"].rsplit("/", 1)[-1]


def validate_in_zone(acm: Any, route53: Any, arn: str, zone_id: str) -> None:
    """Write the certificate's DNS validation records into the zone; ACM issues it once they resolve."""
    records_waiter(acm).wait(CertificateArn=arn)
    options = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"]
    records = {o["ResourceRecord"]["Name"]: o["ResourceRecord"] for o in options}
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": r["Name"], "Type": r["Type"], "TTL": 300,
                                                   "ResourceRecords": [{"Value": r["Value"]}]}}
        for r in records.values()]})
    acm.get_waiter("certificate_validated").wait(CertificateArn=arn, WaiterConfig={"Delay": 1, "MaxAttempts": 5})


def seed_acm(session: boto3.Session, region: str, ids: dict[str, Any]) -> dict[str, str]:
    acm = session.client("acm", region_name=region)
    route53 = session.client("route53", region_name=region)
    arn = acm.request_certificate(DomainName=DOMAIN, SubjectAlternativeNames=[DOMAIN, ALTERNATIVE, API_DOMAIN],
                                  ValidationMethod="DNS", Tags=APP_TAGS)["CertificateArn"]
    zone_id = public_zone(route53, DOMAIN)
    validate_in_zone(acm, route53, arn, zone_id)
    elb = session.client("elbv2", region_name=region)
    listener = elb.create_listener(LoadBalancerArn=ids["alb"], Protocol="HTTPS", Port=443, SslPolicy=TLS_POLICY,
                                   Certificates=[{"CertificateArn": arn}],
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": ids["tg-web"]}])
    return {"certificate": arn, "listener-https": listener["Listeners"][0]["ListenerArn"], "public-zone": zone_id}
