"""Elastic Beanstalk: bundles copied nightly into the vault, the application and its versions staged from them,
environments recreated at failover with their option settings translated, drills suffixed and cleaned up.

moto 5.2.5's Elastic Beanstalk has no application versions, no DescribeConfigurationSettings, no
TerminateEnvironment and no CheckDNSAvailability: the Beanstalk calls are made against botocore's Stubber with the
real service model (each call's parameters validated against it, and matched against what AWS must be asked),
while S3 (the bundles and the vault) and EC2 (the security groups) are the sandbox's moto. The handlers are run
directly, with the contexts the engine would give them.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.audit import scan
from core.aws import AwsAccess
from core.coverage import arn_kind
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext, CleanupContext
from core.models import Endpoint, Outcome, RecoveryPoint, Resource, ResourceResult, resource_key
from core.netmap import NetworkMapper
from core.scope import link, refer
from core.vault import Vault
from tasks.beanstalk import ApplicationHandler, EnvironmentHandler, bundle_key

APP, ENV, ENV_ID = "shop-web", "shop-web-prod", "e-abcdef1234"
BUNDLE = b"PK\x03\x04 the shop's web app"
SECRET = "s3cr3t-db-password"
APP_ARN = f"arn:aws:elasticbeanstalk:{SOURCE}:{ACCOUNT}:application/{APP}"
ENV_ARN = f"arn:aws:elasticbeanstalk:{SOURCE}:{ACCOUNT}:environment/{APP}/{ENV}"
PLATFORM = f"arn:aws:elasticbeanstalk:{SOURCE}::platform/Python 3.11 running on 64bit Amazon Linux 2023/4.0.1"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def world(shop, sandbox):
    """The source's bundle bucket, a security group Beanstalk made for the environment, the vault bucket."""
    s3 = boto3.client("s3", region_name=SOURCE)
    s3.create_bucket(Bucket="shop-eb-bundles")
    s3.put_object(Bucket="shop-eb-bundles", Key=f"{APP}/v42.zip", Body=BUNDLE)
    ec2 = boto3.client("ec2", region_name=SOURCE)
    managed = ec2.create_security_group(GroupName="awseb-e-abc-stack-AWSEBSecurityGroup", Description="eb",
                                        VpcId=shop["vpc"], TagSpecifications=[{"ResourceType": "security-group", "Tags": [
                                            {"Key": "elasticbeanstalk:environment-id", "Value": ENV_ID}]}])["GroupId"]
    plan = make_plan()
    Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name).ensure()
    return {**shop, "managed-sg": managed, "plan": plan}


def settings(ids: dict) -> list[dict]:
    return [
        {"Namespace": "aws:ec2:vpc", "OptionName": "VPCId", "Value": ids["vpc"]},
        {"Namespace": "aws:ec2:vpc", "OptionName": "Subnets", "Value": f"{ids['private-a']},{ids['private-b']}"},
        {"Namespace": "aws:ec2:vpc", "OptionName": "ELBSubnets", "Value": f"{ids['public-a']},{ids['public-b']}"},
        {"Namespace": "aws:autoscaling:launchconfiguration", "OptionName": "SecurityGroups",
         "Value": f"{ids['sg-web']},{ids['managed-sg']}"},
        {"Namespace": "aws:autoscaling:launchconfiguration", "OptionName": "IamInstanceProfile",
         "Value": "shop-web-profile"},
        {"Namespace": "aws:autoscaling:launchconfiguration", "OptionName": "InstanceType", "Value": "t3.small"},
        {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "ASSETS",
         "Value": "arn:aws:s3:::shop-assets/uploads"},
        {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "DB_PASSWORD", "Value": SECRET},
        {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "PARTNER_QUEUE",
         "Value": f"arn:aws:sqs:{SOURCE}:999999999999:partner-{SECRET}"},
        {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "REGION", "Value": SOURCE},
        {"Namespace": "aws:cloudformation:template:parameter", "OptionName": "EnvironmentVariables", "Value": "x"},
        {"Namespace": "aws:autoscaling:asg", "OptionName": "MinSize", "Value": "2"},
        {"Namespace": "aws:autoscaling:asg", "OptionName": "Availability Zones", "Value": ""},
    ]


def discovered(world) -> tuple[Resource, Resource]:
    plan = world["plan"]
    source = AwsAccess(plan).source
    with Stubber(source.client("elasticbeanstalk")) as eb:
        eb.add_response("describe_applications", {"Applications": [
            {"ApplicationName": APP, "ApplicationArn": APP_ARN, "Description": "the shop"}]})
        eb.add_response("describe_application_versions", {"ApplicationVersions": [
            {"ApplicationName": APP, "VersionLabel": "v42", "Description": "release 42",
             "SourceBundle": {"S3Bucket": "shop-eb-bundles", "S3Key": f"{APP}/v42.zip"}, "Status": "PROCESSED"},
            {"ApplicationName": APP, "VersionLabel": "from-codecommit", "Status": "PROCESSED"}]},
            {"ApplicationName": APP})
        eb.add_response("list_tags_for_resource", {"ResourceTags": [{"Key": "app", "Value": "shop"}]},
                        {"ResourceArn": APP_ARN})
        [app] = ApplicationHandler().discover(source, plan)
        eb.assert_no_pending_responses()
    with Stubber(source.client("elasticbeanstalk")) as eb:
        eb.add_response("describe_environments", {"Environments": [
            {"EnvironmentName": ENV, "EnvironmentId": ENV_ID, "ApplicationName": APP, "VersionLabel": "v42",
             "PlatformArn": PLATFORM, "SolutionStackName": "64bit Amazon Linux 2023 v4.0.1 running Python 3.11",
             "CNAME": f"shop-web.{SOURCE}.elasticbeanstalk.com", "Status": "Ready", "EnvironmentArn": ENV_ARN,
             "Tier": {"Name": "WebServer", "Type": "Standard", "Version": "1.0"}, "Description": "shop front"}]},
            {"IncludeDeleted": False})
        eb.add_response("describe_configuration_settings", {"ConfigurationSettings": [
            {"ApplicationName": APP, "EnvironmentName": ENV, "OptionSettings": settings(world)}]},
            {"ApplicationName": APP, "EnvironmentName": ENV})
        eb.add_response("list_tags_for_resource", {"ResourceTags": [
            {"Key": "app", "Value": "shop"}, {"Key": "elasticbeanstalk:environment-name", "Value": ENV}]},
            {"ResourceArn": ENV_ARN})
        [env] = EnvironmentHandler().discover(source, plan)
        eb.assert_no_pending_responses()
    return app, env


def result(type_: str, source_id: str, recovered: str, name: str = "") -> ResourceResult:
    return ResourceResult(key=resource_key(type_, source_id), type=type_, source_id=source_id, name=name,
                          outcome=Outcome.CREATED, recovered_id=recovered)


def context(plan, mode: str, deps: dict, source=None, drill_id: str | None = None) -> ApplyContext:
    aws = AwsAccess(plan)
    return ApplyContext(plan=plan, recovery=aws.recovery, mode=mode, deps=deps, index=OwnedIndex(),
                        net=NetworkMapper({}, {}, RECOVERY), source=source, drill_id=drill_id)


def test_discovery_captures_keys_links_and_refs_not_ids(world):
    app, env = discovered(world)
    assert [v["label"] for v in app.config["versions"]] == ["v42"]  # a CodeCommit version has no bundle to copy
    assert app.tags == {"app": "shop"}
    options = {(o["Namespace"], o["OptionName"]): o["Value"] for o in env.config["options"]}
    assert options[("aws:ec2:vpc", "Subnets")] == [resource_key("ec2:subnet", world["private-a"]),
                                                   resource_key("ec2:subnet", world["private-b"])]
    # the security group Beanstalk made for the environment is its own: the new environment makes a new one
    assert options[("aws:autoscaling:launchconfiguration", "SecurityGroups")] == [
        resource_key("ec2:security-group", world["sg-web"])]
    assert ("aws:cloudformation:template:parameter", "EnvironmentVariables") not in options
    assert ("aws:autoscaling:asg", "Availability Zones") not in options
    assert env.config["vpc"] == resource_key("ec2:vpc", world["vpc"]) and env.config["cname_prefix"] == "shop-web"
    assert set(env.links) == {f"elasticbeanstalk:application:{APP}", "iam:instance-profile:shop-web-profile"}
    assert "s3:shop-assets" in env.refs
    assert resource_key("ec2:security-group", world["managed-sg"]) not in env.dependencies


def test_staging_copies_the_bundle_to_the_vault_and_creates_the_versions_from_it(world):
    app, _ = discovered(world)
    plan = world["plan"]
    aws = AwsAccess(plan)
    ctx = context(plan, "stage", {}, source=aws.source)
    key = app.data["bundles"]["v42"]
    [(where, problem)] = ApplicationHandler().preflight([app], context(plan, "recover", {}))
    assert where == f"beanstalk.{APP}" and "v42" in problem  # before the first night, a failover is refused
    with Stubber(ctx.recovery.client("elasticbeanstalk")) as eb:
        eb.add_response("describe_applications", {"Applications": []}, {"ApplicationNames": [APP]})
        eb.add_response("create_application", {"Application": {"ApplicationName": APP}}, {
            "ApplicationName": APP, "Description": "the shop",
            "Tags": [{"Key": "app", "Value": "shop"}, {"Key": "drflow:plan", "Value": plan.name},
                     {"Key": "drflow:source-id", "Value": APP}]})
        eb.add_response("describe_application_versions", {"ApplicationVersions": []}, {"ApplicationName": APP})
        eb.add_response("create_application_version", {"ApplicationVersion": {"ApplicationName": APP}}, {
            "ApplicationName": APP, "VersionLabel": "v42", "Description": "release 42", "Process": True,
            "SourceBundle": {"S3Bucket": plan.vault_bucket, "S3Key": key}})
        applied = ApplicationHandler().apply(app, ctx)
        eb.assert_no_pending_responses()
    assert applied.created and applied.details["bundles_copied"] == 1
    vault = boto3.client("s3", region_name=RECOVERY)
    assert vault.get_object(Bucket=plan.vault_bucket, Key=key)["Body"].read() == BUNDLE
    assert key.startswith(f"beanstalk/{plan.name}/{APP}/v42/")
    assert ApplicationHandler().preflight([app], context(plan, "recover", {})) == []

    ctx = context(plan, "stage", {}, source=aws.source)  # the next night: the copy is there, the version too
    with Stubber(ctx.recovery.client("elasticbeanstalk")) as eb:
        app_arn = f"arn:aws:elasticbeanstalk:{RECOVERY}:{ACCOUNT}:application/{APP}"
        eb.add_response("describe_applications", {"Applications": [{"ApplicationName": APP, "ApplicationArn": app_arn}]})
        eb.add_response("list_tags_for_resource", {"ResourceTags": [
            {"Key": "drflow:plan", "Value": plan.name}, {"Key": "drflow:source-id", "Value": APP}]})
        eb.add_response("describe_application_versions", {"ApplicationVersions": [
            {"ApplicationName": APP, "VersionLabel": "v42"}]})
        again = ApplicationHandler().apply(app, ctx)
        eb.assert_no_pending_responses()
    assert not again.created and not again.changed and again.details["bundles_copied"] == 0
    assert len(vault.list_objects_v2(Bucket=plan.vault_bucket, Prefix="beanstalk/")["Contents"]) == 1
    assert bundle_key(plan.name, APP, "v42", '"abc"', "x/v42.zip") != bundle_key(plan.name, APP, "v42", '"abd"',
                                                                                   "x/v42.zip")


def test_staging_deletes_the_bundle_copies_no_kept_recovery_point_names(world):
    app, _ = discovered(world)
    plan = world["plan"]
    aws = AwsAccess(plan)
    Vault(aws.vault, plan.vault_bucket, plan.name).write(RecoveryPoint(
        id=RecoveryPoint.new_id(), plan_name=plan.name, created_at=NOW, plan={}, resources=[app],
        source=Endpoint(account_id=ACCOUNT, region=SOURCE), recovery=Endpoint(account_id=ACCOUNT, region=RECOVERY)))
    vault = boto3.client("s3", region_name=RECOVERY)
    stale = f"beanstalk/{plan.name}/{APP}/v41/0123/v41.zip"
    for body in (b"one", b"two"):
        vault.put_object(Bucket=plan.vault_bucket, Key=stale, Body=body)
    elsewhere = f"beanstalk/another-plan/{APP}/v1/0123/v1.zip"
    vault.put_object(Bucket=plan.vault_bucket, Key=elsewhere, Body=b"not ours")
    ctx = context(plan, "stage", {}, source=aws.source)
    with Stubber(ctx.recovery.client("elasticbeanstalk")) as eb:
        eb.add_response("describe_applications", {"Applications": []})
        eb.add_response("create_application", {"Application": {"ApplicationName": APP}})
        eb.add_response("describe_application_versions", {"ApplicationVersions": []})
        eb.add_response("create_application_version", {"ApplicationVersion": {"ApplicationName": APP}})
        applied = ApplicationHandler().apply(app, ctx)
    assert applied.details["bundles_pruned"] == 1
    versions = vault.list_object_versions(Bucket=plan.vault_bucket, Prefix="beanstalk/")
    keys = sorted({v["Key"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])})
    assert keys == sorted([app.data["bundles"]["v42"], elsewhere])


def _deps(world, env: Resource, drill: bool = False) -> tuple[Resource, dict]:
    """The environment as the engine gives it: refs to protected resources resolved, dependencies recovered."""
    bucket = Resource(type="s3:bucket", source_id="shop-assets", name="shop-assets")
    profile = Resource(type="iam:instance-profile", source_id="shop-web-profile", name="shop-web-profile")
    app = Resource(type="elasticbeanstalk:application", source_id=APP, name=APP)
    [env] = [r for r in refer(link([env, bucket, profile, app])) if r.type == env.type]
    suffix = "-d" if drill else ""
    recovered = {k: k.split("/", 1)[1].replace("-", "-d" if drill else "-r", 1)
                 for k in env.dependencies if k.startswith("ec2:")}
    deps = {k: result(k.split("/", 1)[0], k.split("/", 1)[1], v) for k, v in recovered.items()}
    deps[bucket.key] = result(bucket.type, "shop-assets", f"shop-assets-{RECOVERY}{suffix}", "shop-assets")
    deps[profile.key] = result(profile.type, "shop-web-profile",
                               f"arn:aws:iam::{ACCOUNT}:instance-profile/shop-web-profile", "shop-web-profile")
    deps[app.key] = result(app.type, APP, APP, APP)
    return env, {k: deps[k] for k in env.dependencies}


def _expected_options(world, deps: dict, drill: bool = False) -> list[dict]:
    def ref(type_: str, *roles: str) -> str:
        return ",".join(deps[resource_key(type_, world[r])].recovered_id for r in roles)
    suffix = "-d" if drill else ""
    return [
        {"Namespace": "aws:autoscaling:asg", "OptionName": "MinSize", "Value": "2"},
        {"Namespace": "aws:autoscaling:launchconfiguration", "OptionName": "IamInstanceProfile",
         "Value": f"arn:aws:iam::{ACCOUNT}:instance-profile/shop-web-profile"},
        {"Namespace": "aws:autoscaling:launchconfiguration", "OptionName": "InstanceType", "Value": "t3.small"},
        {"Namespace": "aws:autoscaling:launchconfiguration", "OptionName": "SecurityGroups",
         "Value": ref("ec2:security-group", "sg-web")},
        {"Namespace": "aws:ec2:vpc", "OptionName": "ELBSubnets", "Value": ref("ec2:subnet", "public-a", "public-b")},
        {"Namespace": "aws:ec2:vpc", "OptionName": "Subnets", "Value": ref("ec2:subnet", "private-a", "private-b")},
        {"Namespace": "aws:ec2:vpc", "OptionName": "VPCId", "Value": ref("ec2:vpc", "vpc")},
        {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "ASSETS",
         "Value": f"arn:aws:s3:::shop-assets-{RECOVERY}{suffix}/uploads"},
        {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "DB_PASSWORD", "Value": SECRET},
        {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "PARTNER_QUEUE",
         "Value": f"arn:aws:sqs:{RECOVERY}:999999999999:partner-{SECRET}"},
        {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "REGION", "Value": RECOVERY},
    ]


def _recover(world, env: Resource, deps: dict, drill_id: str | None, name: str, prefix: str):
    plan = world["plan"]
    ctx = context(plan, "drill" if drill_id else "recover", deps, drill_id=drill_id)
    new_id, arn = "e-recovered01", f"arn:aws:elasticbeanstalk:{RECOVERY}:{ACCOUNT}:environment/{APP}/{name}"
    tags = [{"Key": "app", "Value": "shop"}, *([{"Key": "drflow:drill", "Value": drill_id}] if drill_id else []),
            {"Key": "drflow:plan", "Value": plan.name}, {"Key": "drflow:source-id", "Value": ENV_ID}]
    with Stubber(ctx.recovery.client("elasticbeanstalk")) as eb:
        eb.add_response("describe_environments", {"Environments": []},
                        {"ApplicationName": APP, "EnvironmentNames": [name], "IncludeDeleted": False})
        eb.add_response("create_environment", {"EnvironmentName": name, "EnvironmentId": new_id, "Status": "Launching",
                                               "ApplicationName": APP}, {
            "ApplicationName": APP, "EnvironmentName": name, "Description": "shop front",
            "Tier": {"Name": "WebServer", "Type": "Standard", "Version": "1.0"}, "VersionLabel": "v42",
            "PlatformArn": PLATFORM.replace(SOURCE, RECOVERY), "CNAMEPrefix": prefix,
            "OptionSettings": _expected_options(world, deps, bool(drill_id)), "Tags": tags})
        eb.add_response("describe_environments", {"Environments": [
            {"EnvironmentName": name, "EnvironmentId": new_id, "Status": "Ready", "EnvironmentArn": arn,
             "CNAME": f"{prefix}.{RECOVERY}.elasticbeanstalk.com"}]}, {"ApplicationName": APP, "EnvironmentIds": [new_id]})
        applied = EnvironmentHandler().apply(env, ctx)
        eb.assert_no_pending_responses()
    return applied


def test_failover_recreates_the_environment_with_translated_settings_and_no_secret_in_the_report(world, sandbox):
    _, env = discovered(world)
    env, deps = _deps(world, env)
    assert resource_key("s3:bucket", "shop-assets") in env.dependencies  # the protected bucket: renamed, first
    sandbox.app.clear_log()
    applied = _recover(world, env, deps, None, ENV, "shop-web")
    assert applied.created and applied.recovered_id == "e-recovered01"
    assert applied.warnings == ["aws:elasticbeanstalk:application:environment PARTNER_QUEUE: value kept as it is: it "
                                "names something drflow did not recover"]
    assert SECRET not in repr(applied)
    assert [c for c in sandbox.calls if c.region == SOURCE] == []


def test_a_drill_suffixes_the_name_and_cname_and_cleanup_terminates_only_its_environments(world):
    _, env = discovered(world)
    env, deps = _deps(world, env, drill=True)
    drill_id = "drill-20260101T000000Z"
    suffix = hashlib.sha256(drill_id.encode()).hexdigest()[:5]
    applied = _recover(world, env, deps, drill_id, f"{ENV}-{suffix}", f"shop-web-{suffix}")
    assert applied.created

    plan = world["plan"]
    ctx = CleanupContext(plan=plan, recovery=AwsAccess(plan).recovery, drill_id=drill_id)
    mine = f"arn:aws:elasticbeanstalk:{RECOVERY}:{ACCOUNT}:environment/{APP}/{ENV}-{suffix}"
    production = f"arn:aws:elasticbeanstalk:{RECOVERY}:{ACCOUNT}:environment/{APP}/{ENV}"
    with Stubber(ctx.recovery.client("elasticbeanstalk")) as eb:
        eb.add_response("describe_environments", {"Environments": [
            {"EnvironmentName": ENV, "EnvironmentId": "e-prod", "Status": "Ready", "EnvironmentArn": production},
            {"EnvironmentName": f"{ENV}-{suffix}", "EnvironmentId": "e-drill", "Status": "Ready", "EnvironmentArn": mine}]},
            {"IncludeDeleted": False})
        eb.add_response("list_tags_for_resource", {"ResourceTags": [{"Key": "drflow:plan", "Value": plan.name}]},
                        {"ResourceArn": production})
        eb.add_response("list_tags_for_resource", {"ResourceTags": [
            {"Key": "drflow:plan", "Value": plan.name}, {"Key": "drflow:drill", "Value": drill_id}]},
            {"ResourceArn": mine})
        eb.add_response("terminate_environment", {"EnvironmentId": "e-drill", "Status": "Terminating"},
                        {"EnvironmentId": "e-drill", "TerminateResources": True})
        eb.add_response("describe_environments", {"Environments": [
            {"EnvironmentId": "e-drill", "Status": "Terminated", "DateUpdated": NOW}]}, {"EnvironmentIds": ["e-drill"]})
        assert EnvironmentHandler().cleanup(ctx) == [f"e-drill ({ENV}-{suffix})"]
        eb.assert_no_pending_responses()
    with Stubber(ctx.recovery.client("elasticbeanstalk")) as eb:  # run again: nothing left, nothing written
        eb.add_response("describe_environments", {"Environments": [
            {"EnvironmentName": ENV, "EnvironmentId": "e-prod", "Status": "Ready", "EnvironmentArn": production}]},
            {"IncludeDeleted": False})
        eb.add_response("list_tags_for_resource", {"ResourceTags": [{"Key": "drflow:plan", "Value": plan.name}]})
        assert EnvironmentHandler().cleanup(ctx) == []


def test_the_kinds_the_handlers_claim_are_the_tagging_apis():
    version = f"arn:aws:elasticbeanstalk:{SOURCE}:{ACCOUNT}:applicationversion/{APP}/v42"
    claimed = ApplicationHandler.arn_kinds + EnvironmentHandler.arn_kinds
    assert {arn_kind(APP_ARN), arn_kind(ENV_ARN), arn_kind(version)} == set(claimed)


def test_moto_serves_the_application_reads_the_handlers_make(world):
    """Where moto has the operation (applications, environments listed), the handlers run against it as is."""
    plan = world["plan"]
    ctx = context(plan, "recover", {})
    app = Resource(type="elasticbeanstalk:application", source_id=APP, name=APP)
    assert ApplicationHandler().find(app, ctx) is None
    boto3.client("elasticbeanstalk", region_name=RECOVERY).create_application(ApplicationName=APP)
    assert ApplicationHandler().find(app, ctx) == APP
    assert EnvironmentHandler().cleanup(CleanupContext(plan=plan, recovery=ctx.recovery)) == []


def test_the_audit_reads_back_the_recovered_environments_settings(world):
    """What `drflow audit` scans: the settings as the recovered environment answers them, the primary's host in a
    variable included (kept, since drflow did not recover it), Beanstalk's own stack inputs left out."""
    plan = world["plan"]
    ctx = context(plan, "recover", {})
    partner = f"partner.{SOURCE}.elb.amazonaws.com"
    with Stubber(ctx.recovery.client("elasticbeanstalk")) as eb:
        eb.add_response("describe_environments", {"Environments": [
            {"EnvironmentId": "e-recovered01", "EnvironmentName": ENV, "ApplicationName": APP}]},
            {"EnvironmentIds": ["e-recovered01"], "IncludeDeleted": False})
        eb.add_response("describe_configuration_settings", {"ConfigurationSettings": [{"OptionSettings": [
            {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "PARTNER", "Value": partner},
            {"Namespace": "aws:cloudformation:template:parameter", "OptionName": "EnvironmentVariables",
             "Value": f"PARTNER={partner}"},
            {"Namespace": "aws:ec2:vpc", "OptionName": "ELBScheme", "Value": ""}]}]},
            {"ApplicationName": APP, "EnvironmentName": ENV})
        read = EnvironmentHandler().read_back(None, "e-recovered01", ctx)
        eb.assert_no_pending_responses()
    assert read == {"OptionSettings": {"aws:elasticbeanstalk:application:environment PARTNER": partner}}
    [(path, token, _)] = scan(read, [(re.compile(re.escape(SOURCE)), "the primary region")])
    assert path.endswith("PARTNER") and token == SOURCE


def test_an_https_environment_links_its_certificate_and_presents_the_one_drflow_requested(world, monkeypatch):
    """The listener's certificate option is linked to the ACM handler's copy (the map overrides), and the recovered
    environment's option names the recovery certificate; one ACM has not issued fails the environment, named."""
    import sys

    from core.certificates import CERTIFICATE
    from core.handler import Unrecoverable
    from drflow.sandbox.seed_acm import public_zone, validate_in_zone
    from tasks.acm import CertificateHandler

    acm, route53 = boto3.client("acm", region_name=SOURCE), boto3.client("route53", region_name=SOURCE)
    cert = acm.request_certificate(DomainName="shop.example", ValidationMethod="DNS")["CertificateArn"]
    validate_in_zone(acm, route53, cert, public_zone(route53, "shop.example"))
    https = {"Namespace": "aws:elbv2:listener:443", "OptionName": "SSLCertificateArns", "Value": cert}
    plain = settings
    monkeypatch.setattr(sys.modules[__name__], "settings", lambda ids: [*plain(ids), https])
    _, env = discovered(world)
    assert f"acm:{cert}" in env.links
    plan = world["plan"]
    [copy] = [c for c in CertificateHandler().discover(AwsAccess(plan).source, plan) if c.source_id == cert]
    staged = CertificateHandler().apply(copy, context(plan, "stage", {}))
    options = [o for o in env.config["options"] if o["OptionName"] == "SSLCertificateArns"]
    env = env.model_copy(update={"config": {**env.config, "options": options},
                                 "dependencies": [resource_key(CERTIFICATE, cert)]})
    deps = {resource_key(CERTIFICATE, cert): result(CERTIFICATE, cert, staged.recovered_id, "shop.example")}
    recovered, _ = EnvironmentHandler()._options(env, context(plan, "recover", deps))
    assert recovered[0]["Value"] == staged.recovered_id != cert

    pending = acm.request_certificate(DomainName="api.elsewhere.example", ValidationMethod="DNS")["CertificateArn"]
    [copy] = [c for c in CertificateHandler().discover(AwsAccess(plan).source, plan) if c.source_id == pending]
    staged = CertificateHandler().apply(copy, context(plan, "stage", {}))
    env = env.model_copy(update={"config": {**env.config, "options": [{**options[0], "Value": pending}]},
                                 "dependencies": [resource_key(CERTIFICATE, pending)]})
    deps = {resource_key(CERTIFICATE, pending): result(CERTIFICATE, pending, staged.recovered_id)}
    with pytest.raises(Unrecoverable, match="PENDING_VALIDATION") as failed:
        EnvironmentHandler()._options(env, context(plan, "recover", deps))
    assert pending in str(failed.value) and ENV in str(failed.value)

    mapped = make_plan(certificates={cert: f"arn:aws:acm:{RECOVERY}:{ACCOUNT}:certificate/0000-mapped"})
    monkeypatch.setitem(world, "plan", mapped)
    _, env = discovered(world)
    assert not any(link.startswith("acm:") for link in env.links)
