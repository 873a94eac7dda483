"""The sandbox's ACM validates as AWS does (drflow/sandbox/moto_acm.py): a requested certificate stays
PENDING_VALIDATION until its CNAME is in a public zone of its account, however long it waits; its first description
lacks the records; the record is the same for every certificate of the name in the account, not across accounts."""

from __future__ import annotations

import boto3
import moto.settings

from conftest import RECOVERY, SOURCE
from drflow.sandbox.accounts import session_for

OTHER = "222222222222"


def _upsert(route53, zone_id: str, record: dict) -> None:
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT",
        "ResourceRecordSet": {"Name": record["Name"], "Type": "CNAME", "TTL": 300,
                              "ResourceRecords": [{"Value": record["Value"]}]}}]})


def _zone(route53, name: str, private: bool = False) -> str:
    kwargs = {"HostedZoneConfig": {"PrivateZone": True}, "VPC": {"VPCRegion": SOURCE, "VPCId": boto3.client(
        "ec2", region_name=SOURCE).create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]}} if private else {}
    return route53.create_hosted_zone(Name=name, CallerReference=f"{name}{private}", **kwargs)["HostedZone"]["Id"]


def test_a_certificate_is_issued_once_its_record_is_in_a_public_zone_of_its_account(sandbox, monkeypatch):
    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", -1)  # moto's own rule would issue it at once
    acm, route53 = boto3.client("acm", region_name=SOURCE), boto3.client("route53", region_name=SOURCE)
    arn = acm.request_certificate(DomainName="shop.example", ValidationMethod="DNS")["CertificateArn"]
    first = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert first["Status"] == "PENDING_VALIDATION" and "ResourceRecord" not in first["DomainValidationOptions"][0]
    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    record = detail["DomainValidationOptions"][0]["ResourceRecord"]
    assert record["Name"].endswith(".shop.example.") and "IssuedAt" not in detail

    _upsert(route53, _zone(route53, "shop.example", private=True), record)  # resolves inside one VPC only
    theirs = session_for(OTHER).client("route53")
    _upsert(theirs, _zone(theirs, "shop.example"), record)  # another account's zone, not delegated to
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "PENDING_VALIDATION"

    _upsert(route53, _zone(route53, "shop.example"), record)
    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["Status"] == "ISSUED" and "IssuedAt" in detail
    assert detail["DomainValidationOptions"][0]["ValidationStatus"] == "SUCCESS"

    again = boto3.client("acm", region_name=RECOVERY)  # the same name in another region: the same record, in place
    copy = again.request_certificate(DomainName="shop.example", ValidationMethod="DNS")["CertificateArn"]
    again.describe_certificate(CertificateArn=copy)
    assert again.describe_certificate(CertificateArn=copy)["Certificate"]["Status"] == "ISSUED"
    elsewhere = session_for(OTHER, SOURCE).client("acm")  # another account: a record of its own
    other = elsewhere.request_certificate(DomainName="shop.example", ValidationMethod="DNS")["CertificateArn"]
    elsewhere.describe_certificate(CertificateArn=other)
    theirs_detail = elsewhere.describe_certificate(CertificateArn=other)["Certificate"]
    assert theirs_detail["DomainValidationOptions"][0]["ResourceRecord"]["Name"] != record["Name"]
    assert theirs_detail["Status"] == "PENDING_VALIDATION"
