"""The IAM role EFS assumes to replicate a file system into another account.

Support for `FileSystemHandler` (file_systems.py) in a cross-account plan. EFS replicates across accounts only
through a role of the SOURCE account, passed as the destination's `RoleArn` (botocore's DestinationToCreate.RoleArn:
"the IAM role in the source account that allows Amazon EFS to perform replication on its behalf ... required for
cross-account replication"). The EFS user guide, "Replicating EFS file systems across AWS accounts", gives the role:
the trust policy of the service principal elasticfilesystem.amazonaws.com, and permissions to replicate into the
destination file system and read the source one; those two statements are `role_policy`, narrowed to the two file
systems. One role per plan and file system, named deterministically under /drflow/ (as the S3 replication roles
are), so that a re-run adopts it; a role of that name that is not drflow's is refused (core.service_roles).
"""

from __future__ import annotations

import hashlib
from typing import Any

from core.handler import ApplyContext
from core.models import Resource
from core.ownership import copy_of
from core.service_roles import ensure_service_role

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
    source_arn = resource.arn or (f"arn:aws:elasticfilesystem:{ctx.plan.source.region}:{ctx.plan.source.account_id}:"
                                  f"file-system/{resource.source_id}")
    arn, _ = ensure_service_role(
        ctx.source.client("iam"), role_name(ctx.plan.name, resource.source_id), path=ROLE_PATH, trust=TRUST,
        policy_name=ROLE_POLICY, policy=role_policy(source_arn, destination_arn),
        description=f"drflow: EFS replication of {resource.source_id} into account {ctx.plan.recovery.account_id}",
        tags=ctx.tag_list(resource), ours=lambda tags: copy_of(tags, resource, ctx),
        account=ctx.plan.source.account_id)
    return arn
