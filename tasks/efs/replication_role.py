"""The IAM role EFS assumes to replicate a file system into another account.

Support for `FileSystemHandler` (file_systems.py) in a cross-account plan. EFS replicates across accounts only
through a role of the SOURCE account, passed as the destination's `RoleArn` (botocore's DestinationToCreate.RoleArn:
"the IAM role in the source account that allows Amazon EFS to perform replication on its behalf ... required for
cross-account replication"). The EFS user guide, "Replicating EFS file systems across AWS accounts", gives the role:
the trust policy of the service principal elasticfilesystem.amazonaws.com, and permissions to replicate into the
destination file system and read the source one; those two statements are `role_policy`, narrowed to the two file
systems. One role per plan and file system, named deterministically under /drflow/ (as the S3 replication roles
are, tasks/s3/replication.py), so that a re-run adopts it; a role of that name that is not drflow's is refused.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from core.aws import error_code
from core.handler import ApplyContext, Unrecoverable, tags_of
from core.models import Resource
from core.ownership import copy_of

ROLE_PATH = "/drflow/"
ROLE_POLICY = "efs-replication"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                 "Principal": {"Service": "elasticfilesystem.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


def role_name(plan_name: str, file_system_id: str) -> str:
    """Deterministic (a re-run adopts it), unique per plan and file system, within IAM's 64 characters."""
    digest = hashlib.sha256(f"{plan_name}:{file_system_id}".encode()).hexdigest()[:12]
    return f"drflow-efs-{plan_name[:35]}-{digest}"


def role_policy(source_arn: str, destination_arn: str) -> dict[str, Any]:
    """The EFS guide's permissions for the role: replicate into the destination, read the source."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReplicateIntoTheDestination", "Effect": "Allow",
         "Action": ["elasticfilesystem:DescribeFileSystems", "elasticfilesystem:CreateReplicationConfiguration",
                    "elasticfilesystem:DescribeReplicationConfigurations",
                    "elasticfilesystem:DeleteReplicationConfiguration", "elasticfilesystem:ReplicationWrite"],
         "Resource": destination_arn},
        {"Sid": "ReadTheSource", "Effect": "Allow",
         "Action": ["elasticfilesystem:ReplicationRead", "elasticfilesystem:DescribeFileSystems"],
         "Resource": source_arn}]}


def ensure_role(resource: Resource, ctx: ApplyContext, destination_arn: str) -> str:
    """The replication role in the source account, created or adopted, with exactly its trust and permissions;
    returns its ARN. Reads first: an unchanged role costs no write."""
    assert ctx.source is not None, "replication is configured during nightly staging only"
    iam = ctx.source.client("iam")
    name = role_name(ctx.plan.name, resource.source_id)
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        role = iam.create_role(RoleName=name, Path=ROLE_PATH, AssumeRolePolicyDocument=json.dumps(TRUST),
                               Description=f"drflow: EFS replication of {resource.source_id} into account "
                                           f"{ctx.plan.recovery.account_id}", Tags=ctx.tag_list(resource))["Role"]
        iam.get_waiter("role_exists").wait(RoleName=name)
    else:
        if not copy_of(tags_of(role) or _role_tags(iam, name), resource, ctx):
            raise Unrecoverable(f"IAM role {name} exists in account {ctx.plan.source.account_id} and is not drflow's")
        if role["AssumeRolePolicyDocument"] != TRUST:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(TRUST))
    source_arn = resource.arn or (f"arn:aws:elasticfilesystem:{ctx.plan.source.region}:{ctx.plan.source.account_id}:"
                                  f"file-system/{resource.source_id}")
    wanted = role_policy(source_arn, destination_arn)
    try:
        current = iam.get_role_policy(RoleName=name, PolicyName=ROLE_POLICY)["PolicyDocument"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        current = None
    if current != wanted:
        iam.put_role_policy(RoleName=name, PolicyName=ROLE_POLICY, PolicyDocument=json.dumps(wanted))
    return role["Arn"]


def _role_tags(iam: Any, name: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for page in iam.get_paginator("list_role_tags").paginate(RoleName=name)
            for t in page["Tags"]}
