"""What the Route 53 handlers rely on from the sandbox (drflow/sandbox/moto_route53.py: as AWS documents it, not as
moto 5.2 is kinder) and from the plan's scope: a change starts PENDING and is INSYNC when asked after; a
CallerReference is used once; the request log names Route 53's REST calls; a private zone comes with its VPC."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import RECOVERY, make_plan
from core.models import Resource
from core.scope import enclosing, select
from tasks.registry import default_registry


def test_a_change_is_pending_until_asked_again_and_a_caller_reference_is_used_once(sandbox):
    vpc = boto3.client("ec2", region_name=RECOVERY).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    route53 = boto3.client("route53", region_name=RECOVERY)
    sandbox.app.clear_log()
    zone = route53.create_hosted_zone(Name="internal.shop", CallerReference="once", HostedZoneConfig={
        "PrivateZone": True}, VPC={"VPCRegion": RECOVERY, "VPCId": vpc})["HostedZone"]["Id"]
    info = route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {"Name": "db.internal.shop.", "Type": "CNAME", "TTL": 60,
                                                  "ResourceRecords": [{"Value": "db.example.net"}]}}]})["ChangeInfo"]
    assert info["Status"] == "PENDING"
    assert route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    with pytest.raises(ClientError, match="HostedZoneAlreadyExists"):
        route53.create_hosted_zone(Name="other.shop", CallerReference="once", HostedZoneConfig={
            "PrivateZone": True}, VPC={"VPCRegion": RECOVERY, "VPCId": vpc})
    logged = [(c.operation, c.write) for c in sandbox.calls if c.service == "route53"]
    assert logged[:3] == [("CreateHostedZone", True), ("ChangeResourceRecordSets", True), ("GetChange", False)]


def test_a_private_zone_is_protected_with_the_vpc_it_serves_though_untagged():
    plan = make_plan()
    vpc = Resource(type="ec2:vpc", source_id="vpc-0a", tags={"app": "shop"})
    zone = Resource(type="route53:private-zone", source_id="Z1", name="internal.shop",
                    config={"vpc": vpc.key, "vpcs": [vpc.key]}, refs=["ec2:vpc:vpc-0a"])
    other = Resource(type="route53:private-zone", source_id="Z2", name="team.b", config={"vpc": "ec2:vpc/vpc-0b"})
    chosen = select([vpc, zone, other], plan.scope, enclosing(default_registry()))
    assert {r.key for r in chosen} == {vpc.key, zone.key}
