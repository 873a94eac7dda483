"""The sample workload's Lambda function: `shop-thumbnails` (python3.11, zip) in the shop's private subnets, with
its role, a layer, a published version behind alias `live` ($LATEST has moved on since), reserved concurrency,
an environment naming the shop's assets bucket (and a value that stands for a secret), and an SQS trigger."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3

from drflow.sandbox.seed_s3 import seed_s3

APP_TAGS = {"app": "shop"}
FUNCTION = "shop-thumbnails"
ROLE = "shop-lambda"
LAYER = "shop-imaging"
QUEUE = "shop-uploads"
SECRET_VALUE = "sk-live-not-a-real-secret-0042"
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def zipped(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), body)
    return out.getvalue()


def handler_code(release: str) -> bytes:
    return zipped({"thumbnails.py": "import os\n\n\ndef handler(event, context):\n"
                                    f"    return {{'bucket': os.environ['BUCKET'], 'release': {release!r}}}\n"})


def seed_lambda(session: boto3.Session, region: str, ids: dict[str, Any]) -> dict[str, str]:
    """Needs the shop network's `private-a`, `private-b` and `sg-app`; uses `bucket` and `role-shop-lambda` when
    given, else makes them. Returns the names and ARNs it made."""
    lam, iam = session.client("lambda", region_name=region), session.client("iam", region_name=region)
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    bucket = ids.get("bucket") or seed_s3(session, region, objects=2)["bucket"]
    role = ids.get("role-shop-lambda")
    if not role:
        role = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST),
                               Description="the shop's thumbnail function",
                               Tags=[{"Key": k, "Value": v} for k, v in APP_TAGS.items()])["Role"]["Arn"]
        iam.put_role_policy(RoleName=ROLE, PolicyName="assets", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{bucket}/*"},
                {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                 "Resource": f"arn:aws:sqs:{region}:{account}:{QUEUE}"}]}))
    layer = lam.publish_layer_version(LayerName=LAYER, Description="image helpers", CompatibleRuntimes=["python3.11"],
                                      Content={"ZipFile": zipped({"python/imaging.py": "SIZES = (64, 256)\n"})})
    fn = lam.create_function(
        FunctionName=FUNCTION, Runtime="python3.11", Role=role, Handler="thumbnails.handler",
        Code={"ZipFile": handler_code("1")}, Description="makes thumbnails of the shop's images", Timeout=30,
        MemorySize=512, Layers=[layer["LayerVersionArn"]], Tags=APP_TAGS,
        Environment={"Variables": {"BUCKET": bucket, "STAGE": "prod", "API_KEY": SECRET_VALUE,
                                   "ASSETS_URL": f"https://{bucket}.s3.{region}.amazonaws.com/thumbnails/", **{
            name: ids[key] for name, key in (("DB_HOST", "db-endpoint"), ("ORDERS_QUEUE_URL", "queue-url"))
            if ids.get(key)}}},
        VpcConfig={"SubnetIds": [ids["private-a"], ids["private-b"]], "SecurityGroupIds": [ids["sg-app"]]})
    version = lam.publish_version(FunctionName=FUNCTION, Description="release 1")["Version"]
    lam.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=version, Description="what the shop calls")
    lam.update_function_code(FunctionName=FUNCTION, ZipFile=handler_code("2"))  # $LATEST moves on
    lam.put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=5)
    sqs = session.client("sqs", region_name=region)
    queue = sqs.create_queue(QueueName=QUEUE, tags=APP_TAGS)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=FUNCTION, BatchSize=10)
    return {"lambda-function": FUNCTION, "lambda-function-arn": fn["FunctionArn"], "lambda-role": role,
            "lambda-layer": layer["LayerVersionArn"], "lambda-queue": queue_arn, "bucket": bucket}
