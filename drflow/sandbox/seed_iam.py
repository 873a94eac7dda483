"""The sample workload's IAM: the roles its servers run as, a deployer role chosen by tag, and a role of another
team that drflow must leave alone.

The documents are what real ones look like: the source region in ARNs, the assets bucket and its objects, the
shop's KMS key, an `aws:SourceVpce` condition on the S3 gateway endpoint, a permissions boundary, a trust
policy naming the account.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

APP_TAGS = [{"Key": "app", "Value": "shop"}]
EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
PROFILES = {"app-a": "shop-app", "app-b": "shop-app", "worker": "shop-app", "web": "shop-web"}


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def seed_iam(session: boto3.Session, region: str, ids: dict[str, Any]) -> dict[str, str]:
    """Roles, policies and instance profiles; the servers named in PROFILES are given theirs.

    `ids` must hold the bucket (`bucket`), the KMS key (`rds-kms-key`), the S3 endpoint (`vpce-s3`) and the
    servers' instance ids."""
    iam = session.client("iam", region_name=region)
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    bucket, key = ids["bucket"], ids["rds-kms-key"]
    key_arn = key if key.startswith("arn:") else f"arn:aws:kms:{region}:{account}:key/{key}"
    out: dict[str, str] = {}
    out["policy-boundary"] = iam.create_policy(
        PolicyName="shop-boundary", Path="/shop/", Description="the most a shop role may ever do",
        PolicyDocument=_doc({"Effect": "Allow", "Action": ["s3:*", "kms:Decrypt", "ssm:Get*", "logs:*"],
                             "Resource": "*"}))["Policy"]["Arn"]
    out["policy-assets"] = iam.create_policy(
        PolicyName="shop-assets-read", Path="/shop/", Description="read the shop's assets",
        PolicyDocument=_doc(
            {"Sid": "Assets", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
             "Condition": {"StringEquals": {"aws:SourceVpce": ids["vpce-s3"]}}},
            {"Sid": "Key", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn},
            {"Sid": "Config", "Effect": "Allow", "Action": "ssm:GetParameter",
             "Resource": f"arn:aws:ssm:{region}:{account}:parameter/shop/*"}))["Policy"]["Arn"]
    for role, description in (("shop-app", "the shop's application servers"), ("shop-web", "the shop's web server")):
        out[f"role-{role}"] = iam.create_role(
            RoleName=role, Path="/shop/", AssumeRolePolicyDocument=json.dumps(EC2_TRUST), Description=description,
            MaxSessionDuration=7200, PermissionsBoundary=out["policy-boundary"], Tags=APP_TAGS)["Role"]["Arn"]
        iam.attach_role_policy(RoleName=role, PolicyArn=out["policy-assets"])
        iam.put_role_policy(RoleName=role, PolicyName="logs", PolicyDocument=_doc(
            {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": f"arn:aws:logs:{region}:{account}:log-group:/shop/{role}:*"}))
        iam.create_instance_profile(InstanceProfileName=role, Path="/shop/", Tags=APP_TAGS)
        iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
    out["role-shop-deployer"] = iam.create_role(  # no server uses it: protected because it carries the tag
        RoleName="shop-deployer", AssumeRolePolicyDocument=_doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"aws:PrincipalAccount": account}}}),
        Tags=APP_TAGS)["Role"]["Arn"]
    iam.put_role_policy(RoleName="shop-deployer", PolicyName="deploy", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:TerminateInstances"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": region}}},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": out["role-shop-app"]}))
    out["role-billing-reports"] = iam.create_role(  # another team's, untagged: out of scope
        RoleName="billing-reports", AssumeRolePolicyDocument=json.dumps(EC2_TRUST))["Role"]["Arn"]
    ec2 = session.client("ec2", region_name=region)
    for server, profile in PROFILES.items():
        ec2.associate_iam_instance_profile(InstanceId=ids[server], IamInstanceProfile={"Name": profile})
    return out
