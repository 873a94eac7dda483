"""Registry replication from the source registry to the recovery region (and account), merged, never clobbered.

PutReplicationConfiguration replaces the whole registry's configuration, which may already hold the customer's
own rules (to other regions or accounts). So drflow reads it, and changes it only when no rule already
replicates the repository to the recovery registry: it then adds a PREFIX_MATCH filter naming the repository to
a rule whose only destination is the recovery registry (a rule that sends nothing anywhere else, so widening it
changes nothing else), or appends such a rule (ECR allows 10). Every other rule is written back as it was read.
A prefix filter also matches longer names (`shop/api` matches `shop/api-v2`): such repositories are replicated
too, which costs storage but never drops an image.

Cross-account, the recovery registry must let the source account replicate into it: drflow keeps one statement
of its own (by Sid) in the recovery registry's policy, beside whatever the policy already says.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from botocore.exceptions import ClientError

from core.aws import error_code
from core.handler import Unrecoverable

MAX_RULES = 10
MAX_FILTERS = 100


def destination(account: str, region: str) -> dict[str, str]:
    return {"region": region, "registryId": account}


def _covers(rule: dict[str, Any], repository: str, dest: dict[str, str]) -> bool:
    if dest not in rule.get("destinations", []):
        return False
    filters = rule.get("repositoryFilters") or []
    return not filters or any(f.get("filterType", "PREFIX_MATCH") == "PREFIX_MATCH"
                              and repository.startswith(f["filter"]) for f in filters)


def merged_rules(rules: list[dict[str, Any]], repository: str, dest: dict[str, str]) -> list[dict[str, Any]] | None:
    """The registry's rules with `repository` replicated to `dest`; None when they already do it (no write)."""
    if any(_covers(rule, repository, dest) for rule in rules):
        return None
    out = copy.deepcopy(rules)
    new_filter = {"filter": repository, "filterType": "PREFIX_MATCH"}
    for rule in out:
        filters = rule.get("repositoryFilters") or []
        if rule.get("destinations") == [dest] and filters and len(filters) < MAX_FILTERS:
            rule["repositoryFilters"] = filters + [new_filter]
            return out
    if len(out) >= MAX_RULES:
        raise Unrecoverable(f"the source registry already has {len(out)} replication rules (ECR allows "
                            f"{MAX_RULES}) and none replicates only to {dest['registryId']}/{dest['region']}: "
                            f"make room, or add repository {repository} to a rule yourself")
    out.append({"destinations": [dest], "repositoryFilters": [new_filter]})
    return out


def ensure_replication(ecr: Any, repository: str, dest: dict[str, str]) -> bool:
    """Make the source registry replicate `repository` to `dest`; True when that took a write. The caller holds
    the run's registry lock: the read-merge-write must not race another repository's."""
    rules = ecr.describe_registry().get("replicationConfiguration", {}).get("rules", [])
    merged = merged_rules(rules, repository, dest)
    if merged is None:
        return False
    ecr.put_replication_configuration(replicationConfiguration={"rules": merged})
    return True


def policy_statement(source_account: str, recovery_account: str, recovery_region: str) -> dict[str, Any]:
    return {"Sid": f"DrflowReplicationFrom{source_account}", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{source_account}:root"},
            "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
            "Resource": f"arn:aws:ecr:{recovery_region}:{recovery_account}:repository/*"}


def ensure_registry_policy(ecr: Any, statement: dict[str, Any]) -> bool:
    """Keep drflow's statement (by Sid) in the recovery registry's policy, beside the others; True on a write."""
    try:
        document = json.loads(ecr.get_registry_policy()["policyText"])
    except ClientError as exc:
        if error_code(exc) != "RegistryPolicyNotFoundException":
            raise
        document = {"Version": "2012-10-17", "Statement": []}
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else list(statements)
    if statement in statements:
        return False
    document["Statement"] = [s for s in statements if s.get("Sid") != statement["Sid"]] + [statement]
    ecr.put_registry_policy(policyText=json.dumps(document))
    return True
