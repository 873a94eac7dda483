"""Seeding for plans that span accounts: the role a recovery account lets drflow assume.

The sandbox's AssumeRole checks the role and its trust policy like AWS (drflow/sandbox/sts.py), so a
cross-account plan needs the role to exist in the recovery account first, as it would in AWS.
"""

from __future__ import annotations

import json

import boto3

from drflow.sandbox.server import SECRET, access_key_for


def session_for(account_id: str, region: str = "us-east-1") -> boto3.Session:
    """A session acting in `account_id` with its sandbox access key."""
    return boto3.Session(aws_access_key_id=access_key_for(account_id), aws_secret_access_key=SECRET,
                         region_name=region)


def trust_policy(trusted: str | list[str], external_id: str | None = None) -> dict:
    """A trust policy letting `trusted` (account ids or principal ARNs) assume the role, with an external id."""
    principals = [trusted] if isinstance(trusted, str) else trusted
    principals = [p if p.startswith("arn:") else f"arn:aws:iam::{p}:root" for p in principals]
    statement: dict = {"Effect": "Allow", "Principal": {"AWS": principals if len(principals) > 1 else principals[0]},
                       "Action": "sts:AssumeRole"}
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def recovery_role(account_id: str, trusted: str | list[str], name: str = "drflow-recovery",
                  external_id: str | None = None) -> str:
    """Create (or find) the role `name` in `account_id`, trusting `trusted`; returns its ARN."""
    iam = session_for(account_id).client("iam")
    try:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
            trust_policy(trusted, external_id)))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
