"""The sample shop's DNS: a private zone `internal.shop` in the shop's VPC (the database by `db.internal.shop`, the
cache server by `cache.internal.shop`, the load balancer by `www.internal.shop`), and the public zone `shop.example`
whose `www` is an alias to the shop's ALB (what the traffic phase cuts over), and whose `api` uses failover routing
(a PRIMARY with a health check, a SECONDARY that drflow points at the recovered ALB)."""

from __future__ import annotations

from typing import Any

import boto3

APP_TAGS = [{"Key": "app", "Value": "shop"}]
CACHE_IP = "10.1.21.10"  # the cache server's private address (workload.SERVERS)


def seed_route53(session: boto3.Session, region: str, ids: dict[str, Any]) -> dict[str, str]:
    """The shop's zones, from the ids seed_workload made (`vpc`, `alb`, `rds-db`); returns their zone ids."""
    route53 = session.client("route53", region_name=region)
    db = session.client("rds", region_name=region).describe_db_instances(
        DBInstanceIdentifier=ids["rds-db"])["DBInstances"][0]["Endpoint"]["Address"]
    alb = session.client("elbv2", region_name=region).describe_load_balancers(
        LoadBalancerArns=[ids["alb"]])["LoadBalancers"][0]
    private = route53.create_hosted_zone(
        Name="internal.shop", CallerReference="shop-internal", VPC={"VPCRegion": region, "VPCId": ids["vpc"]},
        HostedZoneConfig={"Comment": "the shop's internal names", "PrivateZone": True})["HostedZone"]["Id"]
    public = route53.create_hosted_zone(Name="shop.example", CallerReference="shop-public", HostedZoneConfig={
        "Comment": "the shop", "PrivateZone": False})["HostedZone"]["Id"]
    for zone in (private, public):
        route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone.rsplit("/", 1)[-1],
                                         AddTags=APP_TAGS)
    alias = {"HostedZoneId": alb["CanonicalHostedZoneId"], "DNSName": f"dualstack.{alb['DNSName']}.",
             "EvaluateTargetHealth": True}
    route53.change_resource_record_sets(HostedZoneId=private, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "db.internal.shop.", "Type": "CNAME", "TTL": 60,
                                                   "ResourceRecords": [{"Value": db}]}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "cache.internal.shop.", "Type": "A", "TTL": 60,
                                                   "ResourceRecords": [{"Value": CACHE_IP}]}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "www.internal.shop.", "Type": "A", "AliasTarget": alias}}]})
    check = route53.create_health_check(CallerReference="shop-api-health", HealthCheckConfig={
        "Type": "HTTPS", "FullyQualifiedDomainName": alb["DNSName"], "ResourcePath": "/health", "Port": 443,
        "RequestInterval": 30, "FailureThreshold": 3})["HealthCheck"]["Id"]
    route53.change_resource_record_sets(HostedZoneId=public, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "www.shop.example.", "Type": "A", "AliasTarget": alias}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "shop.example.", "Type": "MX", "TTL": 300,
                                                   "ResourceRecords": [{"Value": "10 mail.example.net."}]}},
        # failover routing: Route 53 answers the SECONDARY once the PRIMARY's health check fails; the SECONDARY
        # names the primary's ALB until drflow points it at the recovered one
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "api.shop.example.", "Type": "A", "SetIdentifier": "primary",
                                                   "Failover": "PRIMARY", "HealthCheckId": check,
                                                   "AliasTarget": alias}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "api.shop.example.", "Type": "A",
                                                   "SetIdentifier": "secondary", "Failover": "SECONDARY",
                                                   "AliasTarget": alias}}]})
    return {"zone-internal": private.rsplit("/", 1)[-1], "zone-public": public.rsplit("/", 1)[-1]}
