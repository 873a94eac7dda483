"""KMS keys across regions: which recovery-region key re-encrypts the copy of data a source key protects.

Data handlers (RDS, S3, EFS) capture the source key of each encrypted resource with `describe_source_key`
at discovery, and ask `recovery_key` for its counterpart when they copy or restore. The counterpart comes
from the plan's `kms_key_map`, matched by the key's id, ARN or any of its aliases; a mapping to "create"
means drflow makes the key itself (the KMS handler), so the resource links to that key's resource (`kms:<key
id>`, core.scope) and waits for it.

An AWS managed key (alias/aws/rds, ...) cannot leave its region or account; in a same-account plan its
counterpart is the recovery region's AWS managed key of the same alias, with no mapping needed.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any, Iterable

from botocore.exceptions import ClientError

from core.aws import Side, error_code
from core.handler import ApplyContext, Unrecoverable
from core.models import Resource
from core.plan import KMS_CREATE, Plan

KEY_SERVICE = "kms"  # the service part of a link to a key drflow creates (core.scope)


class KeyCatalog:
    """Source keys described once per discovery, however many resources they encrypt."""

    def __init__(self, source: Side) -> None:
        self._kms = source.client("kms")
        self._keys: dict[str, dict[str, Any]] = {}
        self._metadata: dict[str, dict[str, Any]] = {}

    def metadata(self, key_id: str) -> dict[str, Any]:
        """The key's KeyMetadata as describe_key gave it (after `describe` of the same key)."""
        return self._metadata[self.describe(key_id)["id"]]

    def describe(self, key_id: str) -> dict[str, Any]:
        """A source key as a resource's config records it: {arn, id, aliases, multi_region, aws_managed}.

        A key the source credentials may not read (AccessDeniedException: a key policy or IAM policy that does not
        grant kms:DescribeKey, or kms:ListAliases) is recorded as it was named, with `denied` naming the permission
        missing: discovery goes on, and only the resources it encrypts fail, at apply (`recovery_key`), rather than
        the whole run (issue 15, item 14)."""
        if key_id not in self._keys:
            action = "kms:DescribeKey"
            try:
                meta = self._kms.describe_key(KeyId=key_id)["KeyMetadata"]
                action = "kms:ListAliases"
                aliases = [a["AliasName"] for page in self._kms.get_paginator("list_aliases").paginate(
                    KeyId=meta["KeyId"]) for a in page["Aliases"]]
            except ClientError as exc:
                if error_code(exc) != "AccessDeniedException":
                    raise
                self._keys[key_id] = _denied(key_id, action)
                return self._keys[key_id]
            self._metadata[meta["KeyId"]] = meta
            key = {"arn": meta["Arn"], "id": meta["KeyId"], "aliases": sorted(aliases),
                   "multi_region": bool(meta.get("MultiRegion")), "aws_managed": meta.get("KeyManager") == "AWS"}
            self._keys[key_id] = self._keys[meta["KeyId"]] = self._keys[meta["Arn"]] = key
        return self._keys[key_id]


def _denied(key_id: str, action: str) -> dict[str, Any]:
    """The record of a key drflow was refused `action` on: as named (an RDS database names its key by ARN)."""
    return {"arn": key_id, "id": key_id.rsplit(":key/", 1)[-1], "aliases": [], "multi_region": False,
            "aws_managed": False, "denied": action}


def denied_problem(key: dict[str, Any] | None) -> str | None:
    """Why a key recorded by `KeyCatalog.describe` cannot be used to copy what it encrypts (None: it can)."""
    if not key or not key.get("denied"):
        return None
    return (f"the key that encrypts it, {key['arn']}, cannot be read with the source credentials (AccessDeniedException on "
            f"{key['denied']}): grant them {key['denied']} on that key (its key policy, or their IAM policy) and "
            "run again; nothing was copied")


def _names(key: dict[str, Any]) -> list[str]:
    """Every way a plan may name the key: id, ARN, alias, alias ARN."""
    region_prefix = key["arn"].rsplit(":", 1)[0]
    return [key["id"], key["arn"], *key["aliases"], *(f"{region_prefix}:{a}" for a in key["aliases"])]


def mapping(plan: Plan, key: dict[str, Any]) -> str | None:
    """The plan's target for this source key: a recovery key, "create", or None when unmapped."""
    for name in _names(key):
        if name in plan.kms_key_map:
            return plan.kms_key_map[name]
    return None


def key_links(plan: Plan, key: dict[str, Any] | None) -> list[str]:
    """The link to the key resource a resource waits for when its key is mapped to "create" (none otherwise):
    core.scope.link makes it a dependency, and `created_key` reads what it became."""
    if key and mapping(plan, key) == KMS_CREATE:
        return [f"{KEY_SERVICE}:{key['id']}"]
    return []


def created_key(ctx: ApplyContext, key: dict[str, Any] | None) -> str | None:
    """The recovered id of the key drflow created for `key` (a dependency by `key_links`), for `recovery_key`;
    None when the key is not mapped to "create", or its key resource was not recovered."""
    links = key_links(ctx.plan, key)
    if not links:
        return None
    try:
        return ctx.linked(links[0]).recovered_id
    except KeyError:
        return None


def key_problems(plan: Plan, key: dict[str, Any] | None, what: str, shared: bool = False) -> list[tuple[str, str]]:
    """Why `what` (encrypted with `key`) cannot be copied to the recovery side, if it cannot.

    `shared`: the copy is made by sharing it with the recovery account (a database snapshot, an AMI and its
    snapshots), which AWS refuses for anything encrypted with an AWS managed key, whatever the plan maps that key
    to: the mapping names the key of the recovery account's copy, made after the share (RDS User Guide, "Sharing a
    DB snapshot": "You can't share a snapshot that has been encrypted using the default AWS KMS key"; EC2 User
    Guide, "Share an Amazon EBS snapshot": snapshots "encrypted with your default AWS managed key can't be
    shared")."""
    if key is None or key.get("denied"):
        return []  # a key drflow may not read fails the resources it encrypts alone, at apply (recovery_key)
    target = mapping(plan, key)
    label = key["aliases"][0] if key["aliases"] else key["arn"]
    if key["aws_managed"]:
        if plan.cross_account and shared:
            return [("kms_key_map", f"{what} is encrypted with the AWS managed key {label}: AWS does not let it be "
                                    f"shared with account {plan.recovery.account_id}, whatever kms_key_map maps it "
                                    "to; re-encrypt it with a customer managed key")]
        if plan.cross_account and target is None:
            return [("kms_key_map", f"{what} is encrypted with the AWS managed key {label}, which cannot be shared "
                                    f"with account {plan.recovery.account_id}; re-encrypt it with a customer key")]
        return []
    if target is None:
        return [("kms_key_map", f"{what} is encrypted with {key['arn']} ({label}), which has no mapping to a key in "
                                f"{plan.recovery.region}; add it to kms_key_map (a recovery key, or \"create\")")]
    return []


def recovery_key(plan: Plan, key: dict[str, Any] | None, created: str | None = None) -> str | None:
    """The recovery-side key for data encrypted with `key` (None: unencrypted).

    `created`: the recovered id of the key drflow created, for a key mapped to "create" (`created_key`).
    """
    if key is None:
        return None
    problem = denied_problem(key)
    if problem:
        raise Unrecoverable(problem)
    target = mapping(plan, key)
    if target == KMS_CREATE:
        if not created:
            raise Unrecoverable(f"key {key['arn']} is mapped to create, but the key drflow creates for it was not "
                                "recovered")
        return created
    if target is None and key["aws_managed"] and key["aliases"]:
        return key["aliases"][0]  # the recovery region's AWS managed key of the same name
    if target is None:
        raise Unrecoverable(f"key {key['arn']} has no mapping in kms_key_map")
    return target


def check_mapped_keys(plan: Plan, recovery: Side) -> list[tuple[str, str]]:
    """Every mapped recovery key exists in the recovery region, is enabled, encrypts, and its policy lets
    the recovery account (or the recovery role) use it. Read-only."""
    kms = recovery.client("kms")
    principals = {f"arn:aws:iam::{plan.recovery.account_id}:root", plan.recovery.account_id}  # and "*", always
    if plan.recovery.role_arn:
        principals.add(plan.recovery.role_arn)
    problems: list[tuple[str, str]] = []
    for src, target in sorted(plan.kms_key_map.items()):
        if target == KMS_CREATE:
            continue
        where = f"kms_key_map.{src}"
        try:
            meta = kms.describe_key(KeyId=target)["KeyMetadata"]
        except ClientError as exc:
            if error_code(exc) in ("NotFoundException", "InvalidArnException"):
                problems.append((where, f"recovery key {target} does not exist in {recovery.region}"))
                continue
            raise
        if meta.get("KeyState") != "Enabled":
            problems.append((where, f"recovery key {target} is {meta.get('KeyState')}, not Enabled"))
        elif meta.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
            problems.append((where, f"recovery key {target} is for {meta['KeyUsage']}, not encryption"))
        elif meta.get("KeyManager") != "AWS" and not _policy_allows(kms, meta["KeyId"], principals):
            problems.append((where, f"the policy of recovery key {target} does not let account "
                                    f"{plan.recovery.account_id} use it (the copy and restore calls would be denied)"))
    return problems


def policy_grants(policy: dict[str, Any], principals: set[str], actions: Iterable[str]) -> set[str]:
    """Which of `actions` a key policy grants to any of `principals`.

    `principals`: account ids and ARNs, or ARN patterns such as `arn:aws:iam::<acct>:role/drflow/*` (a policy
    naming any matching ARN grants them); a policy naming "*" grants everyone. An Allow's conditions are taken to fit drflow's use (they narrow who
    and how, such as kms:ViaService; a grant drflow cannot use shows up when it is used), a Deny without
    conditions takes its actions away again. NotAction / NotPrincipal statements are not read."""
    granted: set[str] = set()
    denied: set[str] = set()
    wanted = list(actions)
    for statement in _listed(policy.get("Statement", [])):
        if "NotAction" in statement or "NotPrincipal" in statement:
            continue
        if not _names_any(statement.get("Principal", {}), principals):
            continue
        matched = {a for a in wanted for pattern in _listed(statement.get("Action", []))
                   if fnmatch.fnmatchcase(a.lower(), str(pattern).lower())}
        if statement.get("Effect") == "Allow":
            granted |= matched
        elif statement.get("Effect") == "Deny" and not statement.get("Condition"):
            denied |= matched
    return granted - denied


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _names_any(principal: Any, principals: set[str]) -> bool:
    names = _listed(principal.get("AWS", [])) if isinstance(principal, dict) else _listed(principal)
    return any(name == "*" or any(fnmatch.fnmatchcase(str(name), p) for p in principals) for name in names)


def _key_policy(kms: Any, key_id: str) -> dict[str, Any]:
    return json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])


def _policy_allows(kms: Any, key_id: str, principals: set[str],
                   actions: Iterable[str] = ("kms:Decrypt", "kms:CreateGrant", "kms:Encrypt")) -> bool:
    """The key's policy grants at least one of `actions` to one of `principals`."""
    return bool(policy_grants(_key_policy(kms, key_id), principals, actions))


# Copying an RDS snapshot shared from another account: the copying account describes the source key and
# decrypts through a grant it creates (RDS User Guide, "Sharing encrypted snapshots").
SHARED_SNAPSHOT_ACTIONS = ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey")
# S3 replication (the source account's role) writes replicas encrypted with the recovery key.
REPLICA_WRITE_ACTIONS = ("kms:Encrypt", "kms:GenerateDataKey")
DRFLOW_ROLE_PATH = "/drflow/"  # where drflow's own roles live (the S3 replication roles among them)


def snapshot_key_problems(plan: Plan, databases: list[Resource], source: Side) -> list[tuple[str, str]]:
    """In a cross-account plan: each source customer key encrypting a database's snapshots, which are shared
    with the recovery account, must let that account copy them. Read-only; each problem names the resource and
    the statement to add (the database handlers' pre-flight, before the nightly writes)."""
    if not plan.cross_account:
        return []
    rec = plan.recovery.account_id
    problems: list[tuple[str, str]] = []
    source_kms, policies = source.client("kms"), {}
    for resource in databases:
        key = resource.config.get("kms_key")
        if not isinstance(key, dict) or key["aws_managed"] or key.get("denied"):
            continue  # an AWS managed key is refused by key_problems already; a denied one fails at apply
        if key["arn"] not in policies:
            policies[key["arn"]] = _key_policy(source_kms, key["arn"])
        missing = set(SHARED_SNAPSHOT_ACTIONS) - policy_grants(policies[key["arn"]], {rec, f"arn:aws:iam::{rec}:root"},
                                                                SHARED_SNAPSHOT_ACTIONS)
        if missing:
            problems.append((resource.key, f"its snapshots are shared with account {rec}, encrypted with {key['arn']} "
                             f"({_label(key)}), whose key policy does not let that account copy them: add a "
                             f"statement with Principal AWS arn:aws:iam::{rec}:root and Action "
                             f"{', '.join(sorted(missing))} to that key's policy"))
    return problems


def replica_key_problems(plan: Plan, buckets: list[Resource], recovery: Side) -> list[tuple[str, str]]:
    """In a cross-account plan: a recovery key (mapped, not "create") that S3 replication writes the buckets'
    replicas with must let the source account's replication role (under /drflow/, or the source account as a
    whole) encrypt with it. Read-only; each problem names the kms_key_map entry and the statement to add."""
    if not plan.cross_account:
        return []
    src, kms = plan.source.account_id, recovery.client("kms")
    by_entry: dict[tuple[str, str], list[str]] = {}
    for resource in buckets:
        key = resource.config.get("kms_key")
        target = mapping(plan, key) if isinstance(key, dict) else None
        if target and target != KMS_CREATE:
            entry = next(n for n in _names(key) if n in plan.kms_key_map)
            by_entry.setdefault((entry, target), []).append(resource.source_id)
    problems = []
    principals = {src, f"arn:aws:iam::{src}:root", f"arn:aws:iam::{src}:role{DRFLOW_ROLE_PATH}*"}
    for (entry, target), names in sorted(by_entry.items()):
        try:
            key_id = kms.describe_key(KeyId=target)["KeyMetadata"]["KeyId"]
        except ClientError as exc:
            if error_code(exc) in ("NotFoundException", "InvalidArnException"):
                continue  # check_mapped_keys names a missing recovery key
            raise
        missing = set(REPLICA_WRITE_ACTIONS) - policy_grants(_key_policy(kms, key_id), principals,
                                                             REPLICA_WRITE_ACTIONS)
        if missing:
            problems.append((f"kms_key_map.{entry}", f"S3 replication of {', '.join(names)} writes replicas "
                             f"encrypted with {target} from account {src}, but that key's policy does not let it: "
                             f"add a statement with Principal AWS arn:aws:iam::{src}:root and Action "
                             f"{', '.join(sorted(missing))} (narrowed, if you like, with the condition aws:PrincipalArn "
                             f"arn:aws:iam::{src}:role{DRFLOW_ROLE_PATH}*)"))
    return problems


def _label(key: dict[str, Any]) -> str:
    return key["aliases"][0] if key["aliases"] else key["id"]
