"""The IAM roles drflow makes for an AWS service to assume (S3 and EFS replication): found by a deterministic name,
adopted only when drflow's, given exactly the trust and inline policy they need, with no write when they have it.

Shared by tasks/s3 and tasks/efs (two services: core, not one of them)."""

from __future__ import annotations

import json
from typing import Any, Callable

from botocore.exceptions import ClientError

from core.aws import error_code
from core.handler import Unrecoverable
from core.ownership import tags_of


def ensure_service_role(iam: Any, name: str, *, path: str, trust: dict[str, Any], policy_name: str,
                        policy: dict[str, Any], description: str, tags: list[dict[str, str]],
                        ours: Callable[[dict[str, str]], bool], account: str,
                        reconcile_trust: bool = True) -> tuple[str, list[str]]:
    """Create the role `name` (or adopt it when `ours(its tags)`, else refuse it naming `account`), its trust
    reconciled unless `reconcile_trust` is off, its inline policy `policy_name` exactly `policy`. Returns the role's
    ARN and the writes made ("create_role", "update_assume_role_policy", "put_role_policy")."""
    writes: list[str] = []
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        role = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust),
                               Description=description, Tags=tags)["Role"]
        iam.get_waiter("role_exists").wait(RoleName=name)
        writes.append("create_role")
    else:
        if not ours(tags_of(role) or role_tags(iam, name)):
            raise Unrecoverable(f"IAM role {name} exists in account {account} and is not drflow's")
        if reconcile_trust and role["AssumeRolePolicyDocument"] != trust:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
            writes.append("update_assume_role_policy")
    if put_role_policy(iam, name, policy_name, policy):
        writes.append("put_role_policy")
    return role["Arn"], writes


def put_role_policy(iam: Any, name: str, policy_name: str, wanted: dict[str, Any]) -> bool:
    """Give the role its inline policy unless it already has exactly that one; True when that took a write."""
    try:
        current = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        current = None
    if current == wanted:
        return False
    iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(wanted))
    return True


def role_tags(iam: Any, name: str) -> dict[str, str]:
    """A role's tags (GetRole returns them; this is for when it did not)."""
    return {t["Key"]: t["Value"] for page in iam.get_paginator("list_role_tags").paginate(RoleName=name)
            for t in page["Tags"]}
