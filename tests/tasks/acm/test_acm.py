"""ACM certificates, handler-direct on the sandbox: the recovery region gets a certificate of the same names,
requested by drflow and validated through the public zone when the recovery side reaches one (else its records
are listed for a human, and a failover's pre-flight refuses it); an imported certificate is refused unless
mapped; a drill uses production's copy and writes nothing; a second apply writes nothing."""

from __future__ import annotations

import datetime

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext, Unrecoverable
from core.models import Mode, Resource
from core.netmap import NetworkMapper
from core.ownership import TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID
from drflow.sandbox.accounts import recovery_role, session_for
from drflow.sandbox.seed_acm import public_zone, validate_in_zone
from tasks.acm import CertificateHandler

OTHER = "222222222222"
DOMAIN, WWW = "shop.example", "www.shop.example"


def _seed(keep_records: bool = True) -> str:
    """A certificate for shop.example and www.shop.example in the source region, issued through the account's
    public zone; `keep_records=False`: the team removed the validation records afterwards (it stays issued)."""
    acm, route53 = boto3.client("acm", region_name=SOURCE), boto3.client("route53", region_name=SOURCE)
    arn = acm.request_certificate(DomainName=DOMAIN, SubjectAlternativeNames=[DOMAIN, WWW], ValidationMethod="DNS",
                                  Tags=[{"Key": "app", "Value": "shop"}])["CertificateArn"]
    zone = public_zone(route53, DOMAIN)
    validate_in_zone(acm, route53, arn, zone)
    if not keep_records:
        cnames = [r for r in route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
                  if r["Type"] == "CNAME"]
        route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            {"Action": "DELETE", "ResourceRecordSet": r} for r in cnames]})
    return arn


def _resource(plan, arn: str) -> Resource:
    return next(r for r in CertificateHandler().discover(AwsAccess(plan).source, plan) if r.source_id == arn)


def _ctx(plan, mode=Mode.STAGE, drill_id=None) -> ApplyContext:
    return ApplyContext(plan=plan, recovery=AwsAccess(plan).recovery, mode=mode, deps={},
                        net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex(), drill_id=drill_id)


def _writes(sandbox) -> list[str]:
    """The writes the sandbox saw (Route 53's REST calls by service: their operation is the HTTP request)."""
    return [c.service if c.service == "route53" else f"{c.service}:{c.operation}" for c in sandbox.calls if c.write]


def _imported() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "legacy.shop.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=90)).sign(key, hashes.SHA256()))
    return boto3.client("acm", region_name=SOURCE).import_certificate(
        Certificate=cert.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption()))["CertificateArn"]


def test_the_certificate_is_requested_again_and_its_validation_records_upserted_in_the_public_zone(sandbox):
    source_arn = _seed(keep_records=False)
    plan = make_plan()
    resource = _resource(plan, source_arn)
    assert (resource.name, resource.config["alternative_names"], resource.config["kind"]) == (
        DOMAIN, [WWW], "AMAZON_ISSUED")
    handler, ctx = CertificateHandler(), _ctx(plan)
    sandbox.app.clear_log()
    applied = handler.apply(resource, ctx)
    assert _writes(sandbox) == ["acm:RequestCertificate", "route53", "route53"]  # one UPSERT per record
    acm = boto3.client("acm", region_name=RECOVERY)
    detail = acm.describe_certificate(CertificateArn=applied.recovered_id)["Certificate"]
    assert applied.recovered_id.startswith(f"arn:aws:acm:{RECOVERY}:{ACCOUNT}:certificate/")
    assert (detail["DomainName"], sorted(detail["SubjectAlternativeNames"]), detail["Status"]) == (
        DOMAIN, [DOMAIN, WWW], "ISSUED")
    tags = {t["Key"]: t["Value"] for t in acm.list_tags_for_certificate(CertificateArn=applied.recovered_id)["Tags"]}
    assert tags == {"app": "shop", TAG_PLAN: "shop", TAG_SOURCE_ID: source_arn}
    made = applied.details["traffic_changes"]
    assert [c["status"] for c in made] == ["made", "made"] and all(c["zone_id"] for c in made)
    assert sorted(c["what"].split()[1].split(".", 1)[1] for c in made) == [f"{DOMAIN}.", f"{WWW}."]
    assert handler.find(resource, ctx) == applied.recovered_id

    sandbox.app.clear_log()
    again = handler.apply(resource, _ctx(plan))
    assert (again.recovered_id, again.created, again.changed, _writes(sandbox)) == (
        applied.recovered_id, False, False, [])  # a second night writes nothing


def test_records_already_in_place_validate_the_copy_with_one_request(sandbox):
    """ACM's record is the same for every certificate of a name in the account: the primary's validates the copy."""
    source_arn = _seed()
    plan = make_plan()
    sandbox.app.clear_log()
    applied = CertificateHandler().apply(_resource(plan, source_arn), _ctx(plan))
    assert _writes(sandbox) == ["acm:RequestCertificate"]
    assert applied.details["status"] == "ISSUED" and applied.details["traffic_changes"] == []


def test_without_a_zone_in_the_recovery_account_the_records_are_listed_and_a_failover_waits_for_one(sandbox):
    source_arn = _seed()
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY,
                               "role_arn": recovery_role(OTHER, trusted=ACCOUNT)})
    handler, resource = CertificateHandler(), _resource(plan, source_arn)
    night = handler.apply(resource, _ctx(plan))
    assert night.recovered_id.split(":")[4] == OTHER and night.details["status"] == "PENDING_VALIDATION"
    by_hand = night.details["traffic_changes"]
    assert len(by_hand) == 2 and all(c["status"].startswith("to apply by hand") for c in by_hand)
    assert all(c["change_batch"]["Changes"][0]["Action"] == "UPSERT" for c in by_hand)
    assert any("PENDING_VALIDATION" in w for w in night.warnings)

    problems = handler.preflight([resource], _ctx(plan, Mode.RECOVER))
    assert len(problems) == 1 and problems[0][0] == "certificates"
    assert source_arn in problems[0][1] and DOMAIN in problems[0][1] and "PENDING_VALIDATION" in problems[0][1]

    theirs = session_for(OTHER).client("route53")
    public_zone(theirs, DOMAIN)  # the team gives the recovery account the zone (delegated to it)
    assert handler.preflight([resource], _ctx(plan, Mode.RECOVER)) == []
    failover = handler.apply(resource, _ctx(plan, Mode.RECOVER))
    assert failover.recovered_id == night.recovered_id and failover.details["status"] == "ISSUED"
    assert [c["status"] for c in failover.details["traffic_changes"]] == ["made", "made"]


def test_an_imported_certificate_is_refused_before_any_write_unless_mapped(sandbox):
    imported = _imported()
    plan = make_plan()
    handler, resource = CertificateHandler(), _resource(plan, imported)
    assert resource.config["kind"] == "IMPORTED"
    sandbox.app.clear_log()
    for mode in (Mode.STAGE, Mode.RECOVER):
        problems = handler.preflight([resource], _ctx(plan, mode))
        assert [f for f, _ in problems] == ["certificates"]
        assert imported in problems[0][1] and "legacy.shop.example" in problems[0][1]
        assert "import it" in problems[0][1] and f"into ACM in {RECOVERY}" in problems[0][1]
    with pytest.raises(Unrecoverable, match="imported"):
        handler.apply(resource, _ctx(plan))
    assert _writes(sandbox) == []

    mapped = f"arn:aws:acm:{RECOVERY}:{ACCOUNT}:certificate/11111111-2222-4333-8444-555555555555"
    plan = make_plan(certificates={imported: mapped})
    assert handler.preflight([resource], _ctx(plan)) == []
    applied = handler.apply(resource, _ctx(plan))
    assert (applied.recovered_id, applied.skipped) == (mapped, "mapped in the plan's certificates")
    assert _writes(sandbox) == []


def test_a_drill_uses_production_copy_and_writes_nothing(sandbox):
    source_arn = _seed()
    plan = make_plan()
    handler, resource = CertificateHandler(), _resource(plan, source_arn)
    drill = _ctx(plan, Mode.DRILL, drill_id="drill-20261208t010000")
    assert handler.preflight([resource], drill)[0][0] == "certificates"  # nothing staged yet
    with pytest.raises(Unrecoverable, match="nightly replication"):
        handler.apply(resource, drill)
    production = handler.apply(resource, _ctx(plan)).recovered_id
    sandbox.app.clear_log()
    assert handler.preflight([resource], drill) == []
    assert handler.apply(resource, drill).recovered_id == production
    assert handler.find(resource, drill) == production
    assert _writes(sandbox) == []
    tags = boto3.client("acm", region_name=RECOVERY).list_tags_for_certificate(CertificateArn=production)["Tags"]
    assert TAG_DRILL not in {t["Key"] for t in tags}


def test_a_copy_acm_will_never_issue_is_requested_again(sandbox):
    """A copy whose validation timed out (72 hours without its records) is not adopted: the next night requests
    another. (The sandbox models no clock for ACM: its backend is set as 72 hours would leave it, the request's
    idempotency token, good for an hour, expired too.)"""
    from moto.acm.models import acm_backends

    source_arn = _seed()
    plan = make_plan()
    handler, resource = CertificateHandler(), _resource(plan, source_arn)
    first = handler.apply(resource, _ctx(plan)).recovered_id
    backend = acm_backends[ACCOUNT][RECOVERY]
    backend._certificates[first].status = "VALIDATION_TIMED_OUT"
    for token in backend._idempotency_tokens.values():
        token["expires"] = datetime.datetime(2000, 1, 1)
    assert handler.find(resource, _ctx(plan)) is None
    again = handler.apply(resource, _ctx(plan))
    assert again.created and again.recovered_id != first and again.details["status"] == "ISSUED"
    assert handler.find(resource, _ctx(plan)) == again.recovered_id
