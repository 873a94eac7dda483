"""The whole sample shop with the example plan: network, servers, ALB, and its data (an encrypted Postgres
database, an assets bucket, a shared file system, all under one customer key mapped to "create")."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import boto3
from typer.testing import CliRunner

from conftest import RECOVERY, SOURCE
from core.aws import AwsAccess
from core.plan import load_plan
from core.references import decode_user_data
from core.report import markdown, text
from artifacts_helper import assert_the_failover_artifacts
from drflow.cli import app
from drflow.sandbox.drs import drs_backend
from drflow.sandbox.faults import Faults
from drflow.sandbox.seed_apps import CART_ROWS, DB_PASSWORD_VALUE, SECURE_PARAMETER_VALUE
from drflow.sandbox.workload import seed_workload
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import default_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop-plan.yaml"


def _row(report: dict, key: str) -> dict:
    return next(d for d in report["details"] if d["key"] == key)


def test_the_sample_shop_and_its_data_come_back_with_the_primary_dark(sandbox, caplog):
    ids = seed_workload(boto3.Session(), SOURCE)
    plan = load_plan(EXAMPLE, set(default_registry()))
    drs_backend(plan.recovery.account_id, RECOVERY).set_latency(0.2)
    replicated = run(replicate, plan=plan)
    assert replicated["failed"] == []
    sandbox.app.clear_log()
    # the primary in an outage as clients meet it (calls hang, then 503, retried): a failover that called it would
    # wait on it; this one never calls it
    sandbox.faults = Faults(outage={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    assert [c for c in sandbox.calls if c.region == SOURCE] == []
    idmap = report["identity_map"]
    # what the failover left in the Prefect UI (its progress, resources table, report and console links)
    assert_the_failover_artifacts(report, ids)

    key = boto3.client("kms", region_name=RECOVERY).describe_key(KeyId="alias/shop-data")["KeyMetadata"]
    db = boto3.client("rds", region_name=RECOVERY).describe_db_instances(DBInstanceIdentifier="shop-db")["DBInstances"][0]
    assert db["DBInstanceStatus"] == "available" and db["KmsKeyId"] == key["Arn"]
    assert {s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]} == {idmap[ids["db-a"]], idmap[ids["db-b"]]}
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [idmap[ids["sg-db"]]]

    # db-proxy declares `depends_on: [rds:shop-db]`: its launch began only once the database was restored
    restored = _row(report, "rds:db-instance/shop-db")
    proxy = _row(report, f"ec2:instance/{ids['db-proxy']}")
    assert datetime.fromisoformat(proxy["started"]) >= datetime.fromisoformat(restored["ended"])

    replica = f"{ids['bucket']}-{RECOVERY}"
    assert idmap[ids["bucket"]] == replica
    sandbox.faults = Faults()  # the primary is back, to compare with
    source_keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=ids["bucket"])["Contents"]}
    assert {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=replica)["Contents"]} == source_keys

    efs = boto3.client("efs", region_name=RECOVERY)
    fs_id = idmap[ids["efs"]]
    mounts = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
    assert {m["SubnetId"] for m in mounts} == {idmap[ids["private-a"]], idmap[ids["private-b"]]}
    protection = efs.describe_file_systems(FileSystemId=fs_id)["FileSystems"][0]["FileSystemProtection"]
    assert protection["ReplicationOverwriteProtection"] == "ENABLED"  # replication removed: writable

    # beside the servers, the shop's compute came back in the same failover
    private = {idmap[ids["private-a"]], idmap[ids["private-b"]]}
    function = boto3.client("lambda", region_name=RECOVERY).get_function(FunctionName="shop-thumbnails")
    assert function["Configuration"]["Environment"]["Variables"]["BUCKET"] == replica
    # the function's connection to the database names the recovered one (read back after its restore)
    recovered_db = db["Endpoint"]["Address"]
    assert function["Configuration"]["Environment"]["Variables"]["DB_HOST"] == recovered_db != ids["db-endpoint"]
    assert idmap[ids["db-endpoint"]] == recovered_db
    # a bucket named in a URL is its replica's URL (virtual-hosted, in the recovery region)
    assets_url = function["Configuration"]["Environment"]["Variables"]["ASSETS_URL"]
    assert assets_url == f"https://{replica}.s3.{RECOVERY}.amazonaws.com/thumbnails/"
    assert set(function["Configuration"]["VpcConfig"]["SubnetIds"]) == private
    assert function["Configuration"]["CodeSha256"] == boto3.client("lambda", region_name=SOURCE).get_function(
        FunctionName="shop-thumbnails")["Configuration"]["CodeSha256"]

    # the HTTP API in front of the function invokes the recovered function, which lets the recovered API invoke it
    api2 = boto3.client("apigatewayv2", region_name=RECOVERY)
    api_id = idmap[ids["api"]]
    [integration] = api2.get_integrations(ApiId=api_id)["Items"]
    alias = f"{function['Configuration']['FunctionArn']}:live"
    assert integration["IntegrationUri"] == (f"arn:aws:apigateway:{RECOVERY}:lambda:path/2015-03-31/functions/"
                                             f"{alias}/invocations")
    grants = json.loads(boto3.client("lambda", region_name=RECOVERY).get_policy(FunctionName=alias)["Policy"])
    assert sorted(g["Condition"]["ArnLike"]["AWS:SourceArn"] for g in grants["Statement"]
                  if g["Principal"] == {"Service": "apigateway.amazonaws.com"}) == sorted(
        f"arn:aws:execute-api:{RECOVERY}:{plan.recovery.account_id}:{recovered}/*"
        for recovered in (api_id, idmap[ids["rest-api"]]))
    assert all(s.get("DeploymentId") for s in api2.get_stages(ApiId=api_id)["Items"])  # what the traffic phase waits for

    elb = boto3.client("elbv2", region_name=RECOVERY)
    [alb] = elb.describe_load_balancers(Names=["shop-alb"])["LoadBalancers"]
    listeners = {l["Port"]: l for l in elb.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]}
    listener, https = listeners[80], listeners[443]
    # the HTTPS listener presents the certificate drflow requested in the recovery region (issued: its validation
    # record, the same for every certificate of the name in the account, was in the shop's public zone)
    [presented] = [c["CertificateArn"] for c in https["Certificates"]]
    assert presented == idmap[ids["certificate"]] != ids["certificate"] and f":acm:{RECOVERY}:" in presented
    acm = boto3.client("acm", region_name=RECOVERY)
    assert acm.describe_certificate(CertificateArn=presented)["Certificate"]["Status"] == "ISSUED"
    assert {t["Key"]: t["Value"] for t in acm.list_tags_for_certificate(CertificateArn=presented)["Tags"]}[
        "drflow:source-id"] == ids["certificate"]
    # DNS: internal.shop answers in the recovered VPC and names the recovered database and load balancer; the
    # public www.shop.example was cut over to the recovered ALB (after its targets were healthy), and listed
    route53 = boto3.client("route53", region_name=RECOVERY)
    [internal] = [z for z in route53.list_hosted_zones_by_vpc(VPCId=idmap[ids["vpc"]], VPCRegion=RECOVERY)[
        "HostedZoneSummaries"] if z["Name"] == "internal.shop."]
    records = {r["Name"]: r for r in route53.list_resource_record_sets(HostedZoneId=internal["HostedZoneId"])[
        "ResourceRecordSets"]}
    assert records["db.internal.shop."]["ResourceRecords"] == [{"Value": recovered_db}]
    assert records["www.internal.shop."]["AliasTarget"]["DNSName"].rstrip(".").endswith(alb["DNSName"])
    public = {r["Name"]: r for r in route53.list_resource_record_sets(HostedZoneId=ids["zone-public"])[
        "ResourceRecordSets"] if r["Type"] == "A" and not r.get("SetIdentifier")}
    www = public["www.shop.example."]["AliasTarget"]
    assert www["DNSName"].rstrip(".").endswith(alb["DNSName"]) and www["HostedZoneId"] == alb["CanonicalHostedZoneId"]
    # the API's custom domain came back on the recovery certificate, and its public alias names the recovered one
    [domain] = api2.get_domain_name(DomainName="thumbnails.shop.example")["DomainNameConfigurations"]
    assert domain["CertificateArn"] == presented and domain["ApiGatewayDomainName"] != ids["api-domain-target"]
    thumbnails = {r["Name"]: r for r in route53.list_resource_record_sets(HostedZoneId=ids["zone-public"])[
        "ResourceRecordSets"]}["thumbnails.shop.example."]["AliasTarget"]
    assert thumbnails["DNSName"].rstrip(".") == domain["ApiGatewayDomainName"].rstrip(".")
    made = [c for c in report["traffic_changes"] if c["what"].startswith("www.shop.example")]
    assert [c["status"] for c in made] == ["made"], report["traffic_changes"]
    [cutover] = [d for d in report["details"] if d["key"].startswith("route53:record/") and "www.shop.example" in d["key"]]
    assert datetime.fromisoformat(cutover["ended"]) >= max(  # it waited for the targets to be registered and healthy
        datetime.fromisoformat(d["ended"]) for d in report["details"] if d["key"].startswith("elbv2:targets/"))
    assert "traffic" in report["rto_seconds_by_phase"]
    orders_rule = next(r for r in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
                       if r["Conditions"] and r["Conditions"][0].get("Values") == ["/orders/*"])
    [service] = boto3.client("ecs", region_name=RECOVERY).describe_services(
        cluster="shop", services=["shop-orders"])["services"]
    assert service["launchType"] == "FARGATE" and service["runningCount"] == service["desiredCount"] == 2
    assert service["loadBalancers"][0]["targetGroupArn"] == orders_rule["Actions"][0]["TargetGroupArn"]
    assert set(service["networkConfiguration"]["awsvpcConfiguration"]["subnets"]) == private

    containers = boto3.client("ecs", region_name=RECOVERY).describe_task_definition(
        taskDefinition=service["taskDefinition"])["taskDefinition"]["containerDefinitions"]
    environment = {v["name"]: v["value"] for c in containers for v in c.get("environment", [])}
    assert environment["DATABASE_URL"] == f"jdbc:postgresql://{recovered_db}:5433/shop"
    orders_url = boto3.client("sqs", region_name=RECOVERY).get_queue_url(QueueName="shop-orders")["QueueUrl"]
    assert environment["ORDERS_QUEUE_URL"] == orders_url

    # the batch tier's boot script (gzip in base64) exports the recovered database and queue
    [template] = boto3.client("ec2", region_name=RECOVERY).describe_launch_template_versions(
        LaunchTemplateName="shop-batch", Versions=["$Default"])["LaunchTemplateVersions"]
    script, zipped = decode_user_data(template["LaunchTemplateData"]["UserData"])
    assert zipped and f"DB_HOST={recovered_db}\n" in script and f"ORDERS_QUEUE_URL={orders_url}\n" in script

    [group] = boto3.client("autoscaling", region_name=RECOVERY).describe_auto_scaling_groups(
        AutoScalingGroupNames=["shop-batch"])["AutoScalingGroups"]
    assert len([i for i in group["Instances"] if i["LifecycleState"] == "InService"]) == group["DesiredCapacity"] == 2
    assert set(group["VPCZoneIdentifier"].split(",")) == private
    # the queues came back (their messages stay in the primary): the function names the recovered one, its event
    # source mapping reads from it, and the audit finds no reference to the primary in what it read back
    queue_url = boto3.client("sqs", region_name=RECOVERY).get_queue_url(QueueName="shop-orders")["QueueUrl"]
    assert function["Configuration"]["Environment"]["Variables"]["ORDERS_QUEUE_URL"] == queue_url != ids["queue-url"]
    assert not [n for n in report["not_protected"] if n["kind"] == "sqs"]
    [mapping] = boto3.client("lambda", region_name=RECOVERY).list_event_source_mappings(
        FunctionName="shop-thumbnails")["EventSourceMappings"]
    assert mapping["EventSourceArn"] == f"arn:aws:sqs:{RECOVERY}:{plan.recovery.account_id}:shop-uploads"
    dlq = boto3.client("sqs", region_name=RECOVERY).get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    assert json.loads(dlq)["deadLetterTargetArn"] == f"arn:aws:sqs:{RECOVERY}:{plan.recovery.account_id}:shop-orders-dlq"
    # the database connection secret holds the recovered host, the configuration the recovered queue URL
    value = boto3.client("secretsmanager", region_name=RECOVERY).get_secret_value(SecretId="shop/db")["SecretString"]
    assert json.loads(value)["host"] == recovered_db and json.loads(value)["password"] == DB_PASSWORD_VALUE
    ssm = boto3.client("ssm", region_name=RECOVERY)
    assert ssm.get_parameter(Name="/shop/config/queue-url")["Parameter"]["Value"] == orders_url
    assert ssm.get_parameter(Name="/shop/config/bucket")["Parameter"]["Value"] == replica
    secure = ssm.get_parameter(Name="/shop/config/api-key", WithDecryption=True)["Parameter"]
    assert (secure["Type"], secure["Value"]) == ("SecureString", SECURE_PARAMETER_VALUE)
    # the topic fans out to the recovered queue
    sns = boto3.client("sns", region_name=RECOVERY)
    topic = f"arn:aws:sns:{RECOVERY}:{plan.recovery.account_id}:shop-events"
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == (
        "sqs", f"arn:aws:sqs:{RECOVERY}:{plan.recovery.account_id}:shop-orders")
    # the nightly schedule and the order bus's rule target the recovered function, which lets them invoke it
    events = boto3.client("events", region_name=RECOVERY)
    fn_arn = function["Configuration"]["FunctionArn"]
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule="shop-nightly")["Targets"]] == [fn_arn]
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule="shop-order-placed", EventBusName="shop-orders")[
        "Targets"]] == [fn_arn]
    invokers = {s["Condition"]["ArnLike"]["AWS:SourceArn"] for s in json.loads(boto3.client(
        "lambda", region_name=RECOVERY).get_policy(FunctionName=fn_arn)["Policy"])["Statement"]}
    assert invokers >= {events.describe_rule(Name="shop-nightly")["Arn"],
                        events.describe_rule(Name="shop-order-placed", EventBusName="shop-orders")["Arn"]}
    # the carts table, with its index and its rows (a replica the night kept in step, the primary dark now)
    dynamodb = boto3.client("dynamodb", region_name=RECOVERY)
    table = dynamodb.describe_table(TableName="shop-carts")["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-customer"]
    rows = dynamodb.scan(TableName="shop-carts")["Items"]
    assert sorted(rows, key=lambda r: r["cart_id"]["S"]) == sorted(CART_ROWS, key=lambda r: r["cart_id"]["S"])
    assert not [n for n in report["not_protected"]
                if n["kind"] in ("sqs", "sns", "events:rule", "events:event-bus", "dynamodb:table",
                                 "secretsmanager:secret", "ssm:parameter")]
    audit = report["audit"]
    assert audit["unreadable"] == [] and audit["audited"] >= 7, audit
    assert audit["references_to_primary"] == 0, audit["findings"]

    # the audit has teeth: a primary endpoint planted back into the recovered function (as a handler that did not
    # translate would leave it) is named by `drflow audit`, by resource, path and token, and it exits 1
    variables = function["Configuration"]["Environment"]["Variables"]
    boto3.client("lambda", region_name=RECOVERY).update_function_configuration(
        FunctionName="shop-thumbnails", Environment={"Variables": {**variables, "DB_HOST": ids["db-endpoint"]}})
    planted = CliRunner().invoke(app, ["audit", "--plan", str(EXAMPLE), "--json"])
    assert planted.exit_code == 1, planted.output
    found = json.loads(planted.stdout[planted.stdout.index("{"):])["audit"]["findings"]
    assert [(f["key"], f["path"], f["token"]) for f in found] == [
        ("lambda:function/shop-thumbnails", "$.Environment.Variables.DB_HOST", ids["db-endpoint"])]

    # the shop's database password and its SecureString are in no log line, report, --json output, artifact text
    # or vault object (every version of every object of the vault bucket)
    sandbox.faults = Faults()
    vault = AwsAccess(plan).vault.client("s3")
    bodies = [vault.get_object(Bucket=plan.vault_bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
              for page in vault.get_paginator("list_object_versions").paginate(Bucket=plan.vault_bucket)
              for v in page.get("Versions", [])]
    said = [r.getMessage() for r in caplog.records] + [json.dumps(x, default=str) for x in (replicated, report)]
    said += [markdown(report), text(report), planted.stdout]
    for secret in (DB_PASSWORD_VALUE, SECURE_PARAMETER_VALUE):
        assert not [line for line in said if secret in line]
        assert not [b for b in bodies if secret.encode() in b]
    assert len(bodies) >= 8  # the recovery point, its index, leases, the failover marker, code copies
