"""The reference audit's core (core/audit.py): what it counts as naming the primary, where, and what the plan
allows; with a double handler whose read-back is a given document (the handlers' read-backs are tested with them)."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from conftest import make_plan
from core.audit import audit
from core.capabilities import Audited
from core.models import Endpoint, RecoveryPoint, Resource
from core.plan import AuditAllow

DB = "shop-db.abc123.us-east-1.rds.amazonaws.com"


class Documents(Audited):
    """Reads back the document a test gives, per recovered id."""

    type = "test:doc"

    def __init__(self, documents):
        self.documents = documents

    def read_back(self, resource, recovered_id, ctx):
        return self.documents[recovered_id]


def _point(plan, resources):
    return RecoveryPoint(id="p1", plan_name=plan.name, created_at=datetime.now(timezone.utc),
                         source=Endpoint(account_id=plan.source.account_id, region=plan.source.region),
                         recovery=Endpoint(account_id=plan.recovery.account_id, region=plan.recovery.region),
                         plan={}, resources=resources)


def _run(documents, allow=(), resources=None):
    plan = make_plan(audit={"allow": list(allow)})
    resources = resources or [Resource(type="test:doc", source_id="fn", name="shop-fn"),
                              Resource(type="test:db", source_id="shop-db", endpoints={"address": DB}),
                              Resource(type="test:vpc", source_id="vpc-0a1b2c3d4e")]
    recovered = {"fn": "fn-new", "shop-db": "shop-db", "vpc-0a1b2c3d4e": "vpc-99998888"}
    return audit(_point(plan, resources), {"test:doc": Documents(documents)}, None, plan,
                 lambda r: recovered.get(r.source_id))


def test_region_endpoint_and_changed_ids_are_found_with_their_paths():
    section = _run({"fn-new": {"Environment": {"Variables": {
        "DB_URL": f"jdbc:postgresql://{DB}:5432/app", "REGION": "us-east-1", "ZONE": "us-east-1b",
        "VPC": "vpc-0a1b2c3d4e", "FINE": "us-west-2 and vpc-99998888", "PASSWORD": "not-a-reference"}}}})
    found = {(f["path"], f["token"]) for f in section["findings"]}
    assert ("$.Environment.Variables.DB_URL", DB) in found
    assert ("$.Environment.Variables.REGION", "us-east-1") in found
    assert ("$.Environment.Variables.ZONE", "us-east-1b") in found
    assert ("$.Environment.Variables.VPC", "vpc-0a1b2c3d4e") in found
    assert not [f for f in section["findings"] if f["path"].endswith(("FINE", "PASSWORD"))]
    assert section["references_to_primary"] == len(section["findings"]) == 4  # DB_URL: the endpoint, not its region
    assert section["audited"] == 1


def test_user_data_is_decoded_and_tags_are_not_references():
    script = base64.b64encode(f"#!/bin/sh\necho {DB}\n".encode()).decode()
    section = _run({"fn-new": {"UserData": script, "Tags": [{"Key": "drflow:source-id", "Value": "vpc-0a1b2c3d4e"}]}})
    assert {f["path"] for f in section["findings"]} == {"$.UserData"}


def test_the_plan_allows_a_listed_reference_with_its_reason():
    allow = [{"resource": "shop-fn", "path": "$.Environment.Variables.PARTNER*", "reason": "the partner stays"}]
    section = _run({"fn-new": {"Environment": {"Variables": {"PARTNER_URL": "api.us-east-1.partner.example"}}}},
                   allow=allow)
    assert section["references_to_primary"] == 0
    assert [f["allowed"] for f in section["allowed"]] == ["the partner stays"]


def test_a_cross_account_audit_finds_the_primary_account():
    plan = make_plan(recovery={"account_id": "222222222222", "region": "us-west-2", "mode": "cross-account",
                               "role_arn": "arn:aws:iam::222222222222:role/drflow-recovery"})
    point = _point(plan, [Resource(type="test:doc", source_id="fn")])
    account = plan.source.account_id
    section = audit(point, {"test:doc": Documents({"x": {"Role": f"arn:aws:iam::{account}:role/r"}})}, None, plan,
                    lambda r: "x")
    assert [f["token"] for f in section["findings"]] == [account]


def test_a_resource_not_recovered_is_listed_not_read():
    section = _run({}, resources=[Resource(type="test:doc", source_id="gone")])
    assert section["not_recovered"] == ["test:doc/gone"] and section["audited"] == 0


@pytest.mark.parametrize("entry", [{"path": "$.x", "reason": "no resource"}, {"resource": "fn"},
                                   {"resource": "fn", "reason": "ok", "extra": 1}])
def test_audit_allow_is_validated(entry):
    with pytest.raises(ValidationError):
        AuditAllow(**entry)
