"""Cross-account set-ups and data ageing shared by the IAM, permissions and failback tests."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import boto3
from conftest import ACCOUNT, EXAMPLE, RECOVERY, SOURCE

from core.plan import load_plan, parse_plan
from drflow.sandbox.accounts import recovery_role, session_for
from drflow.sandbox.seed_acm import DOMAIN, public_zone
from tasks.registry import default_registry


def age_source_snapshots(days: int = 1) -> None:
    """Let time pass for the source region's snapshots, so that the next night finds none fresh enough.

    Reaches into the sandbox's moto backend (same process): there is no API to make a snapshot older.
    """
    from moto.rds.models import rds_backends

    backend = rds_backends[ACCOUNT][SOURCE]
    for snapshot in [*backend.database_snapshots.values(), *backend.cluster_snapshots.values()]:
        snapshot.created -= timedelta(days=days)


OTHER = "222222222222"


RECOVERY_ROLE = f"arn:aws:iam::{OTHER}:role/drflow-recovery"


EXTERNAL_ID = "shop-dr-7f3a"


def _example(**overrides):
    plan = load_plan(EXAMPLE, set(default_registry())).model_dump(mode="json")
    plan.update(overrides)
    return parse_plan(plan, set(default_registry()))


def recovery_account_ready(trusted: tuple[str, ...] = (ACCOUNT,)) -> None:
    """What an operator sets up once for a separate recovery account: there, a role drflow assumes, trusting
    `trusted` with an external id (deployments/iam/ ships its policies); here, the shop's key lets that account
    copy the database snapshots shared with it; and the recovery account gets a public hosted zone for the shop's
    domain, where drflow writes the recovery certificate's DNS validation records (tasks/acm.py)."""
    recovery_role(OTHER, list(trusted), external_id=EXTERNAL_ID)
    public_zone(session_for(OTHER).client("route53"), DOMAIN)
    kms = boto3.client("kms", region_name=SOURCE)
    key = kms.describe_key(KeyId="alias/shop-data")["KeyMetadata"]["KeyId"]
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    policy["Statement"].append({"Sid": "RecoveryAccountCopiesSnapshots", "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                                "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*"})
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))


def cross_account_plan(**recovery):
    return _example(recovery={"account_id": OTHER, "region": RECOVERY, "role_arn": RECOVERY_ROLE,
                              "external_id": EXTERNAL_ID, **recovery})


def agents_replicate_into(account: str, ids: dict) -> None:
    """DRS cross-account replication: the agents were installed with the recovery account's credentials."""
    servers = [ids[name] for name in ("db-proxy", "app-a", "app-b", "web", "cache", "worker")]
    boto3.client("ec2", region_name=SOURCE).create_tags(Resources=servers, Tags=[
        {"Key": "drs-target-account", "Value": account}])
