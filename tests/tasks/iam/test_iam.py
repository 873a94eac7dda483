"""IAM: roles, their policies and instance profiles, in the same account (a staged grant, attached only by a real
failover) and into a separate recovery account (recreated there with translated documents)."""

from __future__ import annotations

import json

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.handler import ApplyContext
from core.models import Outcome, Resource, ResourceResult
from core.policy import Translation, references, translate
from core.scope import refer
from drflow.sandbox.faults import Faults
from drflow.sandbox.server import SECRET, access_key_for
from drflow.sandbox.workload import seed_workload
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.iam.roles import _unknown_principals, grant_documents
from accounts_helper import OTHER, RECOVERY_ROLE, _example, agents_replicate_into, cross_account_plan, recovery_account_ready


def _iam(account: str = ACCOUNT):
    return boto3.Session(aws_access_key_id=access_key_for(account), aws_secret_access_key=SECRET).client("iam")


def _production_iam(iam) -> str:
    """Every role and managed policy of the account that is not drflow's, with everything IAM says about it
    (documents, attachments, boundary, tags, profiles), as one canonical text to compare byte for byte."""
    pages = iam.get_paginator("get_account_authorization_details").paginate(Filter=["Role", "LocalManagedPolicy"])
    roles, policies = [], []
    for page in pages:
        roles += [r for r in page["RoleDetailList"] if r["Path"] != "/drflow/"]  # drflow's own (S3 replication)
        policies += [p for p in page["Policies"] if p["Path"] != "/drflow/"]
    roles.sort(key=lambda r: r["Arn"])
    policies.sort(key=lambda p: p["Arn"])  # IAM lists in no promised order
    described = [iam.get_role(RoleName=r["RoleName"])["Role"] for r in roles]
    return json.dumps({"roles": roles, "described": described, "policies": policies}, sort_keys=True, default=str)


def _document(iam, arn: str) -> dict:
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"]


def test_same_account_roles_stay_untouched_until_a_failover_attaches_drflows_grant(sandbox):
    ids = seed_workload(boto3.Session(), SOURCE)
    iam = _iam()
    before = _production_iam(iam)
    plan = _example()

    replicated = run(replicate, plan=plan)
    assert replicated["failed"] == [], replicated["failed"]
    assert _production_iam(iam) == before  # replication changed no production role or policy
    grant_arn = f"arn:aws:iam::{ACCOUNT}:policy/drflow/drflow-shop-shop-app"
    grant = iam.get_policy(PolicyArn=grant_arn)["Policy"]
    assert grant["AttachmentCount"] == 0
    text = json.dumps(_document(iam, grant_arn))
    idmap = replicated["identity_map"]
    replica = f"{ids['bucket']}-{RECOVERY}"
    recovered_key = boto3.client("kms", region_name=RECOVERY).describe_key(KeyId="alias/shop-data")["KeyMetadata"]
    assert f"arn:aws:s3:::{replica}/*" in text and idmap[ids["vpce-s3"]] in text  # replica, recovered endpoint
    assert recovered_key["Arn"] in text  # the key drflow made in us-west-2
    assert f"arn:aws:ssm:{RECOVERY}:{ACCOUNT}:parameter/shop/*" in text
    assert f"arn:aws:logs:{RECOVERY}:{ACCOUNT}:log-group:/shop/shop-app:*" in text  # the inline policy's too
    assert SOURCE not in text and ids["vpce-s3"] not in text
    names = {p["PolicyName"] for p in iam.list_policies(Scope="Local", PathPrefix="/drflow/")["Policies"]}
    # the function's role names the assets bucket: its grant names the replica; the ECS roles need none (a
    # wildcard bucket pattern, and account-wide actions) and billing-reports is not in scope
    assert names == {"drflow-shop-shop-app", "drflow-shop-shop-web", "drflow-shop-shop-deployer",
                     "drflow-shop-shop-lambda"}

    drill = run(failover, plan=plan, drill=True)
    assert drill["failed"] == [], drill["failed"]
    assert _production_iam(iam) == before  # a drill leaves every production role byte for byte as it was
    assert iam.get_policy(PolicyArn=grant_arn)["Policy"]["AttachmentCount"] == 0

    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    sandbox.faults = Faults()  # IAM is global: this client signs for us-east-1
    attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="shop-app")["AttachedPolicies"]}
    assert attached == {f"arn:aws:iam::{ACCOUNT}:policy/shop/shop-assets-read", grant_arn}
    assert iam.list_role_policies(RoleName="shop-app")["PolicyNames"] == ["logs"]  # its own policies: as they were


def test_cross_account_roles_profiles_and_policies_are_recreated_with_translated_documents(sandbox):
    ids = seed_workload(boto3.Session(), SOURCE)
    agents_replicate_into(OTHER, ids)
    recovery_account_ready()
    plan = cross_account_plan()
    report = run(replicate, plan=plan)
    assert report["failed"] == [], report["failed"]
    iam = _iam(OTHER)
    roles = {r["RoleName"]: r for r in iam.list_roles()["Roles"]}
    assert set(roles) == {"drflow-recovery", "shop-app", "shop-web", "shop-deployer",  # not billing-reports
                          "shop-lambda", "shop-orders-task", "shop-ecs-execution"}  # the function's, the service's
    app = iam.get_role(RoleName="shop-app")["Role"]
    assert app["Arn"] == f"arn:aws:iam::{OTHER}:role/shop/shop-app"
    assert app["MaxSessionDuration"] == 7200 and app["Description"] == "the shop's application servers"
    assert app["PermissionsBoundary"]["PermissionsBoundaryArn"] == f"arn:aws:iam::{OTHER}:policy/shop/shop-boundary"
    assert {t["Key"]: t["Value"] for t in app["Tags"]}["app"] == "shop"
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="shop-app")["AttachedPolicies"]]
    assert attached == [f"arn:aws:iam::{OTHER}:policy/shop/shop-assets-read"]
    logs = iam.get_role_policy(RoleName="shop-app", PolicyName="logs")["PolicyDocument"]
    assert logs["Statement"][0]["Resource"] == f"arn:aws:logs:{RECOVERY}:{OTHER}:log-group:/shop/shop-app:*"

    assets = json.dumps(_document(iam, attached[0]))
    recovered_key = boto3.Session(aws_access_key_id=access_key_for(OTHER), aws_secret_access_key=SECRET).client(
        "kms", region_name=RECOVERY).describe_key(KeyId="alias/shop-data")["KeyMetadata"]["Arn"]
    assert f"arn:aws:s3:::{ids['bucket']}-{RECOVERY}/*" in assets and recovered_key in assets
    rest = assets.replace(f"{ids['bucket']}-{RECOVERY}", "<replica>")  # the replica's name holds the account id
    assert report["identity_map"][ids["vpce-s3"]] in assets and ACCOUNT not in rest and SOURCE not in rest
    deployer = iam.get_role(RoleName="shop-deployer")["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert deployer["Principal"] == {"AWS": f"arn:aws:iam::{OTHER}:root"}
    assert deployer["Condition"] == {"StringEquals": {"aws:PrincipalAccount": OTHER}}
    profile = iam.get_instance_profile(InstanceProfileName="shop-app")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["shop-app"] and profile["Path"] == "/shop/"
    assert _iam().get_role(RoleName="shop-app")["Role"]["Arn"].startswith(f"arn:aws:iam::{ACCOUNT}:")

    sandbox.app.clear_log()
    again = run(replicate, plan=plan, refresh=True)  # every resource re-checked: nothing changed, nothing written
    iam_writes = [c for c in sandbox.calls if c.service == "iam" and c.write]
    assert again["failed"] == [] and iam_writes == []


def test_a_failover_into_the_recovery_account_needs_nothing_from_the_source_account(sandbox, tmp_path, monkeypatch):
    """The source account's credentials are revoked (a compromised primary): the failover runs on the recovery
    account's side alone, through an operator identity of a third account that may assume the recovery role."""
    ids = seed_workload(boto3.Session(), SOURCE)
    agents_replicate_into(OTHER, ids)
    operator = "333333333333"
    recovery_account_ready(trusted=(operator,))
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[dr-operator]\naws_access_key_id = {access_key_for(operator)}\n"
                           f"aws_secret_access_key = {SECRET}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    plan = cross_account_plan(credentials={"profile": "dr-operator"})
    assert run(replicate, plan=plan)["failed"] == []

    sandbox.revoke(ACCOUNT)
    sandbox.faults.dark = {SOURCE}
    sandbox.app.clear_log()
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    assert {c.account for c in sandbox.calls} <= {OTHER, operator} and not [c for c in sandbox.calls
                                                                          if c.region == SOURCE]
    ec2 = boto3.Session(aws_access_key_id=access_key_for(OTHER), aws_secret_access_key=SECRET).client(
        "ec2", region_name=RECOVERY)
    app = report["identity_map"][ids["app-a"]]
    launched = ec2.describe_instances(InstanceIds=[app])["Reservations"][0]["Instances"][0]
    assert launched["IamInstanceProfile"]["Arn"] == f"arn:aws:iam::{OTHER}:instance-profile/shop/shop-app"
    assert launched["State"]["Name"] == "running"


def test_a_role_of_the_same_name_in_the_recovery_account_is_refused_before_any_write(sandbox):
    seed_workload(boto3.Session(), SOURCE)
    recovery_account_ready()
    _iam(OTHER).create_role(RoleName="shop-web", AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(replicate, plan=cross_account_plan())
    assert ("iam:role shop-web" in str(refused.value) and "not drflow's" in str(refused.value))
    assert [c for c in sandbox.calls if c.account == OTHER and c.write and c.service != "sts"] == []
    assert _iam(OTHER).get_role(RoleName="shop-web")["Role"].get("Tags", []) == []


def _role(**config) -> Resource:
    base = {"path": "/", "description": "", "max_session_duration": 3600, "trust": {}, "inline": {},
            "managed": [], "boundary": None, "managed_documents": {}}
    return Resource(type="iam:role", source_id="r", name="r", config={**base, **config})


def test_the_grant_holds_only_what_changes_in_the_recovery_region_within_iams_size_limit():
    t = Translation(ACCOUNT, ACCOUNT, SOURCE, RECOVERY)
    anywhere = {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}
    assert grant_documents(_role(inline={"a": {"Statement": [anywhere]}}), t, []) == []
    many = [{"Sid": f"S{i}", "Effect": "Allow", "Action": "sqs:SendMessage",
             "Resource": f"arn:aws:sqs:{SOURCE}:{ACCOUNT}:queue-{i:04d}-" + "x" * 60} for i in range(120)]
    documents = grant_documents(_role(inline={"a": {"Statement": [anywhere, *many]}}), t, [])
    assert len(documents) > 1 and all(len(json.dumps(d, separators=(",", ":"))) <= 6144 for d in documents)
    statements = [s for d in documents for s in d["Statement"]]
    assert len(statements) == 120 and all(RECOVERY in s["Resource"] and "Sid" not in s for s in statements)


def test_a_role_named_in_a_trust_policy_is_recreated_first_and_an_unprotected_one_is_warned():
    trust = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": [
        f"arn:aws:iam::{ACCOUNT}:role/ci/builder", f"arn:aws:iam::{ACCOUNT}:role/outsider"]}}]}
    deployer = Resource(type="iam:role", source_id="deployer", name="deployer", refs=references(trust),
                        tags={"app": "shop"})
    builder = Resource(type="iam:role", source_id="builder", name="builder", tags={"app": "shop"})
    linked = {r.name: r for r in refer([deployer, builder])}
    assert linked["deployer"].dependencies == ["iam:role/builder"]  # the role it trusts exists first
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY, "role_arn": RECOVERY_ROLE})
    built = ResourceResult(key="iam:role/builder", type="iam:role", source_id="builder", name="builder",
                           outcome=Outcome.CREATED, recovered_id=f"arn:aws:iam::{OTHER}:role/ci/builder")
    ctx = ApplyContext(plan=plan, recovery=None, mode="stage", deps={"iam:role/builder": built}, net=None,
                       index=None)
    translated_trust = translate(trust, Translation(ACCOUNT, OTHER, SOURCE, RECOVERY)).document
    (warning,) = _unknown_principals(translated_trust, linked["deployer"], ctx)
    assert f"arn:aws:iam::{OTHER}:role/outsider" in warning and "builder" not in warning
