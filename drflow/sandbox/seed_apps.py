"""What the sample shop's application talks to: a queue with a dead-letter queue, a topic fanning out to it, a
DynamoDB table with rows, the database connection as a JSON secret, configuration parameters, and a nightly
EventBridge schedule invoking the function. Everything tagged app=shop.

`seed_apps` runs after the database and the bucket (the secret holds the database's address, a parameter names the
bucket), before the containers and the function (their environments name the queue); `seed_schedule` after the
function (the rule targets it).
"""

from __future__ import annotations

import json
from typing import Any

import boto3

APP_TAGS = {"app": "shop"}
QUEUE, DEAD_LETTER_QUEUE, TOPIC, TABLE = "shop-orders", "shop-orders-dlq", "shop-events", "shop-carts"
SECRET = "shop/db"
# distinctive values a test looks for in every log line, artifact, report and vault object (and must not find)
DB_PASSWORD_VALUE = "pw-Shop-DB-not-for-logs-7731"
SECURE_PARAMETER_VALUE = "ssm-Secure-shop-value-4412"
PARAMETERS = {"bucket": "/shop/config/bucket", "queue-url": "/shop/config/queue-url",
              "api-key": "/shop/config/api-key"}
RULE = "shop-nightly"
BUS, ORDER_RULE = "shop-orders", "shop-order-placed"
CART_ROWS = [{"cart_id": {"S": f"cart-{i}"}, "customer": {"S": f"customer-{i % 3}"}, "items": {"N": str(i)}}
             for i in range(6)]


def _tag_list(extra: dict[str, str] | None = None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in {**APP_TAGS, **(extra or {})}.items()]


def seed_apps(session: boto3.Session, region: str, ids: dict[str, Any]) -> dict[str, str]:
    """Needs ids["rds-db"] (the database's identifier) and ids["bucket"]. Returns queue-url, queue-arn, dlq-url,
    topic-arn, table, secret-arn, db-endpoint and the parameters' names."""
    sqs, sns = session.client("sqs", region_name=region), session.client("sns", region_name=region)
    rds = session.client("rds", region_name=region)
    db = rds.describe_db_instances(DBInstanceIdentifier=ids["rds-db"])["DBInstances"][0]
    host, port = db["Endpoint"]["Address"], db["Endpoint"]["Port"]
    out: dict[str, str] = {"db-endpoint": host}

    dlq = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE, tags=APP_TAGS,
                           Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName=QUEUE, tags=APP_TAGS, Attributes={
        "VisibilityTimeout": "60",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name=TOPIC, Tags=_tag_list())["TopicArn"]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    out.update({"queue-url": queue, "queue-arn": queue_arn, "dlq-url": dlq, "dlq-arn": dlq_arn, "topic-arn": topic})

    dynamodb = session.client("dynamodb", region_name=region)
    dynamodb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST", Tags=_tag_list(),
        AttributeDefinitions=[{"AttributeName": "cart_id", "AttributeType": "S"},
                              {"AttributeName": "customer", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "cart_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-customer",
                                 "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    # point-in-time recovery on, as for any table worth recovering: a cross-account plan exports from it nightly
    dynamodb.update_continuous_backups(TableName=TABLE, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    for row in CART_ROWS:
        dynamodb.put_item(TableName=TABLE, Item=row)
    out["table"] = TABLE

    secrets = session.client("secretsmanager", region_name=region)
    out["secret-arn"] = secrets.create_secret(Name=SECRET, Tags=_tag_list(), SecretString=json.dumps({
        "engine": "postgres", "host": host, "port": port, "username": "shop", "password": DB_PASSWORD_VALUE,
        "dbname": "shop"}))["ARN"]

    ssm = session.client("ssm", region_name=region)
    ssm.put_parameter(Name=PARAMETERS["bucket"], Type="String", Value=ids["bucket"], Tags=_tag_list())
    ssm.put_parameter(Name=PARAMETERS["queue-url"], Type="String", Value=queue, Tags=_tag_list())
    ssm.put_parameter(Name=PARAMETERS["api-key"], Type="SecureString", Value=SECURE_PARAMETER_VALUE,
                      Tags=_tag_list())
    out.update({f"parameter-{k}": v for k, v in PARAMETERS.items()})
    return out


def seed_schedule(session: boto3.Session, region: str, ids: dict[str, Any]) -> dict[str, str]:
    """The nightly rule on the default bus, and the shop's own order bus with its rule, both invoking the shop's
    function (ids["lambda-function-arn"])."""
    events = session.client("events", region_name=region)
    rule = events.put_rule(Name=RULE, ScheduleExpression="cron(0 3 * * ? *)", State="ENABLED",
                           Description="nightly thumbnails sweep", Tags=_tag_list())["RuleArn"]
    events.put_targets(Rule=RULE, Targets=[{"Id": "thumbnails", "Arn": ids["lambda-function-arn"],
                                            "Input": json.dumps({"sweep": True})}])
    session.client("lambda", region_name=region).add_permission(
        FunctionName=ids["lambda-function-arn"], StatementId="shop-nightly", Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com", SourceArn=rule)
    # the shop's own bus: the storefront puts an event per order placed, a rule sends them to the function
    bus = events.create_event_bus(Name=BUS, Description="the shop's order events", Tags=_tag_list())["EventBusArn"]
    events.put_permission(EventBusName=BUS, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "shop-account-puts", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{bus.split(':')[4]}:root"},
        "Action": "events:PutEvents", "Resource": bus}]}))
    placed = events.put_rule(Name=ORDER_RULE, EventBusName=BUS, State="ENABLED", Tags=_tag_list(),
                             EventPattern=json.dumps({"source": ["shop.storefront"], "detail-type": ["OrderPlaced"]}),
                             )["RuleArn"]
    events.put_targets(Rule=ORDER_RULE, EventBusName=BUS, Targets=[{"Id": "thumbnails",
                                                                    "Arn": ids["lambda-function-arn"]}])
    session.client("lambda", region_name=region).add_permission(
        FunctionName=ids["lambda-function-arn"], StatementId="shop-order-placed", Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com", SourceArn=placed)
    return {"rule-arn": rule, "bus-arn": bus, "order-rule-arn": placed}
