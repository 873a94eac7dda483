"""make bench: IAM at scale. BENCH_ROLES roles (default 300), each with an inline policy, an attached customer
managed policy (one per ten roles) and an instance profile, replicated into a separate recovery account.

Figures: discovery calls and seconds through GetAccountAuthorizationDetails (what drflow does) against the
per-role reads a straightforward discovery makes (GetRole, ListRolePolicies, GetRolePolicy, ListAttachedRolePolicies,
GetPolicy + GetPolicyVersion per attached policy, ListInstanceProfilesForRole), both measured here in one run;
then the first cross-account replication, and a second one re-checking everything (`refresh`), whose writes
should be 0.
"""

from __future__ import annotations

import json
import os
import time

from prefect import flow

from core.aws import CallStats, Side
from core.plan import parse_plan
from drflow.sandbox import start_sandbox
from drflow.sandbox.accounts import recovery_role, session_for
from flows.replicate import replicate
from tasks.iam.roles import RoleHandler
from tasks.iam.policies import PolicyHandler
from tasks.iam.profiles import InstanceProfileHandler
from tasks.registry import default_registry

SOURCE, RECOVERY, RECOVERY_REGION = "111111111111", "222222222222", "us-west-2"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _doc(resource: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": resource}]})


def seed(iam, roles: int) -> None:
    policies = [iam.create_policy(PolicyName=f"bench-{i:03d}", PolicyDocument=_doc(
        f"arn:aws:sqs:us-east-1:{SOURCE}:queue-{i}"))["Policy"]["Arn"] for i in range(max(1, roles // 10))]
    for i in range(roles):
        name = f"bench-role-{i:04d}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "app", "Value": "bench"}])
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=_doc(
            f"arn:aws:sqs:us-east-1:{SOURCE}:inline-{i}"))
        iam.attach_role_policy(RoleName=name, PolicyArn=policies[i % len(policies)])
        iam.create_instance_profile(InstanceProfileName=name, Tags=[{"Key": "app", "Value": "bench"}])
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)


def per_role_discovery(iam) -> int:
    """The straightforward way: list, then describe each role; returns the roles described."""
    count = 0
    for page in iam.get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            name = role["RoleName"]
            iam.get_role(RoleName=name)
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                iam.get_role_policy(RoleName=name, PolicyName=policy)
            for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
                version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
                iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)
            iam.list_instance_profiles_for_role(RoleName=name)
            count += 1
    return count


def _measured(fn):
    stats = CallStats()
    side = Side(session_for(SOURCE), "us-east-1", stats, label="source")
    started = time.monotonic()
    fn(side)
    return round(time.monotonic() - started, 2), stats.summary()["read"]


@flow
def _warm_up() -> None:
    """Starts Prefect's ephemeral server, so that its start-up (~13 s) is not charged to the first run."""


def main() -> None:
    roles = int(os.environ.get("BENCH_ROLES", "300"))
    _warm_up()
    sandbox = start_sandbox(port=0, seed=False)
    try:
        seed(session_for(SOURCE).client("iam"), roles)
        plan_data = {"name": "bench-iam", "source": {"account_id": SOURCE, "region": "us-east-1"},
                     "recovery": {"account_id": RECOVERY, "region": RECOVERY_REGION,
                                  "role_arn": recovery_role(RECOVERY, SOURCE, external_id="bench"),
                                  "external_id": "bench"},
                     "scope": {"tags": {"app": "bench"}}}
        plan = parse_plan(plan_data, set(default_registry()))
        handlers = (RoleHandler(), PolicyHandler(), InstanceProfileHandler())
        drflow_s, drflow_calls = _measured(lambda side: [h.discover(side, plan) for h in handlers])
        naive_s, naive_calls = _measured(lambda side: per_role_discovery(side.client("iam")))
        runs = {}
        for name, params in (("first", {}), ("refresh", {"refresh": True})):
            started = time.monotonic()
            report = replicate(plan=plan, return_state=True, **params).result(raise_on_failure=False)
            if isinstance(report, BaseException):
                raise report
            runs[name] = {"seconds": round(time.monotonic() - started, 2), "writes": report["api_calls"]["write"],
                          "resources": report["resources"]["total"], "failed": len(report["failed"])}
    finally:
        sandbox.stop()
    figures = {"roles": roles,
               "discovery": {"drflow_calls": drflow_calls, "per_role_calls": naive_calls,
                             "calls_ratio": round(naive_calls / drflow_calls, 1), "drflow_seconds": drflow_s,
                             "per_role_seconds": naive_s, "seconds_ratio": round(naive_s / max(drflow_s, 0.01), 1)},
               "cross_account_replication": runs}
    print(f"IAM, {roles} roles: discovery {drflow_calls} calls in {drflow_s} s (per-role reads: {naive_calls} calls "
          f"in {naive_s} s; {figures['discovery']['calls_ratio']}x the calls); cross-account replication: first "
          f"{runs['first']['seconds']} s, {runs['first']['writes']} writes; refresh {runs['refresh']['seconds']} s, "
          f"{runs['refresh']['writes']} writes")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
