"""The sample pieces the API Gateway tests build on: a function recovered in the recovery region (as the Lambda
handler leaves it), a queue staged there, an HTTP API in the source fronting both, and ACM certificates issued in
both regions (imported: a requested one waits for its validation)."""

from __future__ import annotations

import datetime
import json

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import ACCOUNT, RECOVERY, SOURCE
from core.handler import ApplyContext
from core.ec2_index import OwnedIndex
from core.models import Mode, Resource, ResourceResult
from core.netmap import NetworkMapper

FUNCTION = "shop-thumbnails"
QUEUE = "shop-orders"
ROLE = "shop-api-sqs"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123"


def role_arn() -> str:
    iam = boto3.client("iam", region_name=SOURCE)
    try:
        return iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
                "Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]


def recovered_function(name: str = FUNCTION) -> str:
    """A function in the recovery region, as the Lambda handler recreates it at failover."""
    lam = boto3.client("lambda", region_name=RECOVERY)
    arn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=role_arn(), Handler="x.handler",
                              Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})["FunctionArn"]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)  # the alias the API invokes
    return arn


def seed_api() -> dict[str, str]:
    """shop-api in the source: GET /thumbs -> the function (JWT-authorized), POST /orders -> the queue, stage prod
    (stage variables naming the queue and the region) deployed, and $default auto-deployed."""
    sqs = boto3.client("sqs", region_name=SOURCE)
    queue_url = sqs.create_queue(QueueName=QUEUE, tags={"app": "shop"})["QueueUrl"]
    api2 = boto3.client("apigatewayv2", region_name=SOURCE)
    api = api2.create_api(Name="shop-api", ProtocolType="HTTP", Tags={"app": "shop"}, Description="the shop's API")
    api_id = api["ApiId"]
    function = f"arn:aws:lambda:{SOURCE}:{ACCOUNT}:function:{FUNCTION}"
    jwt = api2.create_authorizer(ApiId=api_id, Name="cognito", AuthorizerType="JWT",
                                 IdentitySource=["$request.header.Authorization"],
                                 JwtConfiguration={"Issuer": ISSUER, "Audience": ["shop-web"]})
    thumbs = api2.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", PayloadFormatVersion="2.0",
        IntegrationUri=f"arn:aws:apigateway:{SOURCE}:lambda:path/2015-03-31/functions/{function}:live/invocations")
    orders = api2.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationSubtype="SQS-SendMessage", PayloadFormatVersion="1.0",
        CredentialsArn=role_arn(), RequestParameters={"QueueUrl": queue_url, "MessageBody": "$request.body"})
    api2.create_route(ApiId=api_id, RouteKey="GET /thumbs", Target=f"integrations/{thumbs['IntegrationId']}",
                      AuthorizationType="JWT", AuthorizerId=jwt["AuthorizerId"])
    api2.create_route(ApiId=api_id, RouteKey="POST /orders", Target=f"integrations/{orders['IntegrationId']}")
    api2.create_stage(ApiId=api_id, StageName="prod", StageVariables={"orders": queue_url, "region": SOURCE})
    api2.create_deployment(ApiId=api_id, StageName="prod")
    api2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return {"api": api_id, "endpoint": api["ApiEndpoint"], "queue_url": queue_url, "function": function}


def staged_queue() -> str:
    sqs = boto3.client("sqs", region_name=RECOVERY)
    return sqs.create_queue(QueueName=QUEUE)["QueueUrl"]


def certificate(region: str, domain: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .sign(key, hashes.SHA256()))
    return boto3.client("acm", region_name=region).import_certificate(
        Certificate=cert.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))["CertificateArn"]


def context(plan, aws, deps: dict[str, ResourceResult], mode: Mode = Mode.RECOVER, drill_id: str | None = None,
            health_of=None) -> ApplyContext:
    return ApplyContext(plan=plan, recovery=aws.recovery, mode=mode, deps=deps, net=NetworkMapper({}, {}, RECOVERY),
                        index=OwnedIndex(), drill_id=drill_id, health_of=health_of)


def result(resource: Resource, recovered_id: str | None, endpoints: dict[str, str] | None = None) -> ResourceResult:
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome="created" if recovered_id else "skipped", recovered_id=recovered_id,
                          endpoints=endpoints or {})
