"""Recovery into a separate account: the sandbox's STS checks like AWS, revoked keys, and drflow's refusals.

The sandbox's AssumeRole (drflow/sandbox/sts.py) and revoked keys answer with errors that no service model
declares (AccessDenied for STS, InvalidClientTokenId / UnrecognizedClientException / AuthFailure are common
errors outside the models), so tests/model_check.py does not apply to them: these tests check instead that
botocore parses each into the ClientError (code, HTTP status, message) AWS's own answer gives.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from drflow.sandbox.accounts import recovery_role, session_for, trust_policy
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run

OTHER = "222222222222"
THIRD = "333333333333"
CALLER = f"arn:aws:sts::{ACCOUNT}:user/moto"  # who the sandbox's access key of ACCOUNT is (GetCallerIdentity)


def sts(account: str = ACCOUNT):
    return session_for(account).client("sts")


def make_role(account: str, policy: dict, name: str = "dr") -> str:
    return session_for(account).client("iam").create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"]


def denied(role_arn: str, caller: str = CALLER, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as refused:
        sts().assume_role(RoleArn=role_arn, RoleSessionName="tt", **kwargs)
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == "AccessDenied" and error["Error"]["Type"] == "Sender"
    assert error["Error"]["Message"] == f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: " \
                                        f"{role_arn}"
    return refused.value


def allowed(role_arn: str, **kwargs) -> dict:
    creds = sts().assume_role(RoleArn=role_arn, RoleSessionName="tt", **kwargs)["Credentials"]
    session = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"], region_name=SOURCE)
    return session.client("sts").get_caller_identity()


# -- AssumeRole checks the role and its trust policy ---------------------------------------------------------

def test_a_role_that_does_not_exist_is_denied_as_aws_denies_it(sandbox):
    denied(f"arn:aws:iam::{OTHER}:role/nobody")
    make_role(OTHER, trust_policy(ACCOUNT), name="elsewhere")
    denied(f"arn:aws:iam::{THIRD}:role/elsewhere")  # same name, another account


@pytest.mark.parametrize("principal", [ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", CALLER, "*", [THIRD, ACCOUNT]])
def test_a_trust_policy_naming_the_caller_lets_it_in_and_the_session_acts_in_the_roles_account(sandbox, principal):
    role = make_role(OTHER, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]})
    identity = allowed(role)
    assert identity["Account"] == OTHER and identity["Arn"] == f"arn:aws:sts::{OTHER}:assumed-role/dr/tt"


@pytest.mark.parametrize("statement", [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{THIRD}:root"}, "Action": "sts:AssumeRole"},
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
    {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:TagSession"},
    {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole",
     "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},  # a condition the sandbox cannot vouch for
], ids=["other-account", "service-only", "other-action", "unevaluated-condition"])
def test_a_trust_policy_not_naming_the_caller_denies_it(sandbox, statement):
    denied(make_role(OTHER, {"Version": "2012-10-17", "Statement": [statement]}))


def test_an_explicit_deny_wins_over_an_allow(sandbox):
    denied(make_role(OTHER, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:*"},
        {"Effect": "Deny", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}))


def test_an_external_id_condition_must_be_met_exactly(sandbox):
    role = make_role(OTHER, trust_policy(ACCOUNT, external_id="shop-dr-7"))
    denied(role)
    denied(role, ExternalId="shop-dr-8")
    assert allowed(role, ExternalId="shop-dr-7")["Account"] == OTHER
    like = make_role(OTHER, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole",
         "Condition": {"StringLike": {"sts:ExternalId": "shop-*"}}}]}, name="like")
    assert allowed(like, ExternalId="shop-anything")["Account"] == OTHER
    denied(like, ExternalId="other")


def test_a_role_session_is_named_in_trust_policies_by_its_roles_arn(sandbox):
    hop = recovery_role(OTHER, trusted=ACCOUNT, name="hop")
    target = make_role(THIRD, trust_policy(hop), name="target")
    creds = sts().assume_role(RoleArn=hop, RoleSessionName="ss")["Credentials"]
    chained = boto3.client("sts", region_name=SOURCE, aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    made = chained.assume_role(RoleArn=target, RoleSessionName="tt")["AssumedRoleUser"]
    assert made["Arn"] == f"arn:aws:sts::{THIRD}:assumed-role/target/tt"
    with pytest.raises(ClientError) as refused:  # the hop's session may not assume a role that trusts only ACCOUNT
        chained.assume_role(RoleArn=make_role(THIRD, trust_policy(ACCOUNT), name="only-a"), RoleSessionName="tt")
    assert refused.value.response["Error"]["Message"].startswith(f"User: arn:aws:sts::{OTHER}:assumed-role/hop/ss ")


# -- revoked access keys ----------------------------------------------------------------------------------------

def test_a_revoked_key_is_refused_on_every_service_while_other_accounts_and_earlier_sessions_work(sandbox):
    role = recovery_role(OTHER, trusted=ACCOUNT)
    creds = sts().assume_role(RoleArn=role, RoleSessionName="before")["Credentials"]
    sandbox.revoke(ACCOUNT)
    expected = {"sts": ("InvalidClientTokenId", 403), "iam": ("InvalidClientTokenId", 403),
                "ec2": ("AuthFailure", 401), "kms": ("UnrecognizedClientException", 403),
                "s3": ("InvalidAccessKeyId", 403)}
    calls = {"sts": "get_caller_identity", "iam": "list_roles", "ec2": "describe_vpcs", "kms": "list_keys",
             "s3": "list_buckets"}
    for service, operation in calls.items():
        with pytest.raises(ClientError) as refused:
            getattr(session_for(ACCOUNT).client(service), operation)()
        error = refused.value.response
        assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == expected[service], service
    assert "security token included in the request is invalid" in str(
        pytest.raises(ClientError, sts().get_caller_identity).value)
    assert sts(OTHER).get_caller_identity()["Account"] == OTHER
    session = boto3.client("sts", region_name=SOURCE, aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    assert session.get_caller_identity()["Account"] == OTHER  # a session assumed before stays valid, as in AWS
    assert [c.fault for c in sandbox.calls if c.account == ACCOUNT][-1] == "revoked"
    sandbox.restore(ACCOUNT)
    assert sts().get_caller_identity()["Account"] == ACCOUNT
    sandbox.revoke(ACCOUNT)
    sandbox.reset()
    assert sts().get_caller_identity()["Account"] == ACCOUNT


# -- drflow refuses, naming the field, before any write ---------------------------------------------------------

def writes(sandbox) -> list:
    return [c for c in sandbox.calls if c.write]


def test_replicate_refuses_a_recovery_role_it_cannot_assume_and_suggests_the_external_id(shop, sandbox):
    role = recovery_role(OTHER, trusted=ACCOUNT, external_id="shop-dr-7")
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY, "role_arn": role})
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=plan)
    [(field, message)] = refused.value.problems
    assert field == "recovery.role_arn" and role in message and "AccessDenied" in message
    assert "recovery.external_id" in message and "may require one" in message
    assert writes(sandbox) == []


def test_failover_refuses_a_wrong_external_id_without_printing_it_and_never_touches_the_primary(shop, sandbox):
    role = recovery_role(OTHER, trusted=ACCOUNT, external_id="shop-dr-7")
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY, "role_arn": role,
                               "external_id": "secret-guess-42"})
    sandbox.faults.dark = {SOURCE}
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan)
    [(field, message)] = refused.value.problems
    assert field == "recovery.role_arn" and "recovery.external_id" in message and "(not shown)" in message
    assert "secret-guess-42" not in str(refused.value)
    assert writes(sandbox) == [] and [c for c in sandbox.calls if c.region == SOURCE] == []


def test_a_source_role_that_cannot_be_assumed_is_named_by_its_field(shop, sandbox):
    plan = make_plan(source={"account_id": ACCOUNT, "region": SOURCE,
                             "credentials": {"role_arn": f"arn:aws:iam::{ACCOUNT}:role/drflow-reader"}})
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=plan)
    [(field, message)] = refused.value.problems
    assert field == "source.credentials.role_arn" and "source.credentials.external_id" in message
    assert writes(sandbox) == []


def test_revoked_source_credentials_are_named_before_any_write(shop, sandbox):
    sandbox.revoke(ACCOUNT)
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=make_plan())
    assert [f for f, _ in refused.value.problems] == ["source.credentials", "recovery.credentials"]
    assert "InvalidClientTokenId" in refused.value.problems[0][1]
    assert writes(sandbox) == []


def test_failover_in_the_recovery_account_succeeds_with_the_primarys_credentials_revoked(shop, sandbox, monkeypatch,
                                                                                           tmp_path):
    """The recovery side reaches its account with its own credentials (a profile of that account) and role, so
    revoking the primary's key, as an incident responder would, does not stop the failover."""
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[dr]\naws_access_key_id = AKIA{OTHER}SBOX\n"
                           f"aws_secret_access_key = sandbox-secret-not-a-real-key\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    role = recovery_role(OTHER, trusted=OTHER, external_id="shop-dr-7")
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY, "role_arn": role, "external_id": "shop-dr-7",
                               "credentials": {"profile": "dr"}, "mode": "cross-account"})
    staged = run(replicate, plan=plan)
    assert staged["failed"] == [], staged["failed"]
    sandbox.revoke(ACCOUNT)
    sandbox.app.clear_log()
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    vpcs = session_for(OTHER, RECOVERY).client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:drflow:plan", "Values": ["shop"]}])["Vpcs"]
    assert [v["VpcId"] for v in vpcs] == [report["identity_map"][shop["vpc"]]]
    assert {c.account for c in sandbox.calls} == {OTHER}  # nothing signed by the primary's account
