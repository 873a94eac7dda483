"""S3 replication: what makes a source bucket replicate into its replica, and the replica match its source.

Support for the S3 handler (tasks/s3/buckets.py, which decides what to stage and when; not a handler itself), split out
of it to keep both short. On the primary side: versioning (replication needs it), a replication role that drflow
owns with exactly the permissions replication of this bucket needs, and a replication configuration that sends
every object and delete marker to the replica (re-encrypted with the recovery key; owned by the recovery
account when it is another). On the recovery side: versioning, and the source's encryption, lifecycle rules,
public access block and policy (bucket and account names translated) mirrored on the replica. Every setting is
read before it is written, and each function returns the writes it made, so an unchanged bucket costs reads only.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from botocore.exceptions import ClientError

from core.aws import error_code
from core.handler import TAG_PLAN, TAG_SOURCE_ID, ApplyContext
from core.models import Resource
from core.ownership import copy_of
from core.service_roles import ensure_service_role
from core.plan import Plan
from core.policy import Translated, Translation, translate

ROLE_PATH = "/drflow/"
ROLE_POLICY = "s3-replication"
# what S3 answers for a setting a bucket does not have
ABSENT = {"NoSuchTagSet", "ServerSideEncryptionConfigurationNotFoundError", "NoSuchLifecycleConfiguration",
          "NoSuchPublicAccessBlockConfiguration", "NoSuchBucketPolicy", "ReplicationConfigurationNotFoundError"}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


def setting(call: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> Any:
    """One bucket setting, or None when the bucket has none (S3 answers an unset setting with an error)."""
    try:
        return call(**kwargs)[key]
    except ClientError as exc:
        if error_code(exc) in ABSENT:
            return None
        raise


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def rule_id(plan: Plan) -> str:
    return f"drflow-{plan.name}"


def role_name(plan: Plan, bucket: str) -> str:
    """Deterministic (a re-run adopts it), unique per plan and bucket, within IAM's 64 characters."""
    digest = hashlib.sha256(f"{plan.name}:{bucket}".encode()).hexdigest()[:12]
    return f"drflow-s3-{plan.name[:36]}-{digest}"


def translate_policy(policy: Any, bucket: str, replica: str, plan: Plan) -> Translated:
    """The source bucket's policy for the replica (core.policy: its ARNs name the replica, the source account
    and region become the recovery ones), and what could not be translated."""
    return translate(policy, Translation(plan.source.account_id, plan.recovery.account_id, plan.source.region,
                                         plan.recovery.region, renames={bucket: replica}))


def _normalised_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A replication rule as compared: "all objects" may come back as no filter, {} or an empty prefix."""
    rule = dict(rule)
    if not rule.get("Filter") or rule["Filter"] in ({"Prefix": ""}, {"Prefix": None}):
        rule["Filter"] = {"Prefix": ""}
    rule["Priority"] = int(rule.get("Priority") or 0)
    return rule


def _replication_matches(current: dict[str, Any] | None, desired: dict[str, Any]) -> bool:
    if not current or current.get("Role") != desired["Role"]:
        return False
    return [_normalised_rule(r) for r in current.get("Rules", [])] == [_normalised_rule(r) for r in desired["Rules"]]


# ---- the replica on the recovery side ------------------------------------------------------------------

def mirror_settings(s3: Any, resource: Resource, ctx: ApplyContext,
                    replica_key: str | None) -> tuple[list[str], list[str]]:
    """Versioning on the replica, and the source's encryption, lifecycle, public access block and policy;
    returns (the writes made, what the policy keeps untranslated)."""
    cfg, replica = resource.config, resource.config["replica"]
    writes = _versioning(s3, replica)
    writes += _encryption(s3, replica, cfg["encryption"], replica_key)
    writes += _lifecycle(s3, replica, cfg["lifecycle"])
    writes += _public_access_block(s3, replica, cfg["public_access_block"])
    policy, kept = replica_policy(resource, ctx)
    writes += _policy(s3, replica, policy)
    return writes, [f"bucket policy {w}" for w in kept]


def _versioning(s3: Any, bucket: str) -> list[str]:
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled":
        return []
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return ["put_bucket_versioning"]


def _encryption(s3: Any, replica: str, encryption: dict[str, Any] | None, key_arn: str | None) -> list[str]:
    if encryption is None:  # nothing to mirror; S3's own default stays
        return []
    default: dict[str, Any] = {"SSEAlgorithm": encryption["algorithm"]}
    if key_arn:
        default["KMSMasterKeyID"] = key_arn
    wanted = {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": encryption["bucket_key"]}
    current = setting(s3.get_bucket_encryption, "ServerSideEncryptionConfiguration", Bucket=replica) or {}
    rule = (current.get("Rules") or [{}])[0]
    if rule.get("ApplyServerSideEncryptionByDefault") == default and \
            bool(rule.get("BucketKeyEnabled")) == encryption["bucket_key"]:
        return []
    s3.put_bucket_encryption(Bucket=replica, ServerSideEncryptionConfiguration={"Rules": [wanted]})
    return ["put_bucket_encryption"]


def _lifecycle(s3: Any, replica: str, rules: list[dict[str, Any]]) -> list[str]:
    current = setting(s3.get_bucket_lifecycle_configuration, "Rules", Bucket=replica) or []
    if current == rules:
        return []
    if not rules:
        s3.delete_bucket_lifecycle(Bucket=replica)
        return ["delete_bucket_lifecycle"]
    s3.put_bucket_lifecycle_configuration(Bucket=replica, LifecycleConfiguration={"Rules": rules})
    return ["put_bucket_lifecycle_configuration"]


def _public_access_block(s3: Any, replica: str, block: dict[str, Any] | None) -> list[str]:
    """Set before the policy: a new bucket is born blocking public policies, which a public source policy
    (a website bucket) would hit."""
    if setting(s3.get_public_access_block, "PublicAccessBlockConfiguration", Bucket=replica) == block:
        return []
    if block is None:
        s3.delete_public_access_block(Bucket=replica)
        return ["delete_public_access_block"]
    s3.put_public_access_block(Bucket=replica, PublicAccessBlockConfiguration=block)
    return ["put_public_access_block"]


def _policy(s3: Any, replica: str, policy: dict[str, Any] | None) -> list[str]:
    current = setting(s3.get_bucket_policy, "Policy", Bucket=replica)
    if (json.loads(current) if current else None) == policy:
        return []
    if policy is None:
        s3.delete_bucket_policy(Bucket=replica)
        return ["delete_bucket_policy"]
    s3.put_bucket_policy(Bucket=replica, Policy=json.dumps(policy))
    return ["put_bucket_policy"]


def replica_policy(resource: Resource, ctx: ApplyContext) -> tuple[dict[str, Any] | None, list[str]]:
    """The source policy translated; across accounts, plus what lets the source account's replication role
    replicate into the replica and drflow's one-time copy (made with source credentials) write to it.
    Also returns what the translation kept as it was (core.policy warnings)."""
    plan, replica = ctx.plan, resource.config["replica"]
    policy, kept = resource.config["policy"], []
    if policy is not None:
        translated = translate_policy(policy, resource.source_id, replica, plan)
        policy, kept = translated.document, translated.warnings
    if not plan.cross_account:
        return policy, kept
    policy = dict(policy or {"Version": "2012-10-17", "Statement": []})
    role = f"arn:aws:iam::{plan.source.account_id}:role{ROLE_PATH}{role_name(plan, resource.source_id)}"
    objects = f"{bucket_arn(replica)}/*"
    policy["Statement"] = list(policy.get("Statement", [])) + [
        {"Sid": "DrflowReplication", "Effect": "Allow", "Principal": {"AWS": role},
         "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags",
                    "s3:ObjectOwnerOverrideToBucketOwner"], "Resource": objects},
        {"Sid": "DrflowReplicationBucket", "Effect": "Allow", "Principal": {"AWS": role},
         "Action": ["s3:GetBucketVersioning", "s3:PutBucketVersioning"], "Resource": bucket_arn(replica)},
        {"Sid": "DrflowBackfill", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{plan.source.account_id}:root"},
         "Action": ["s3:PutObject", "s3:AbortMultipartUpload"], "Resource": objects}]
    return policy, kept


# ---- the primary side: replication role and configuration (staging only) -------------------------------

def configure_replication(source_s3: Any, resource: Resource, ctx: ApplyContext,
                          replica_key: str | None) -> tuple[str, bool, list[str]]:
    """Versioning on the source, the replication role, the replication configuration: (the role's ARN, whether
    the bucket replicated before this run, the writes made, each prefixed "source:" or naming it)."""
    name = resource.source_id
    writes = [f"source:{w}" for w in _versioning(source_s3, name)]
    role_arn, role_writes = _role(resource, ctx, replica_key)
    writes += role_writes
    desired = replication_config(resource, ctx, role_arn, replica_key)
    current = setting(source_s3.get_bucket_replication, "ReplicationConfiguration", Bucket=name)
    if not _replication_matches(current, desired):
        source_s3.put_bucket_replication(Bucket=name, ReplicationConfiguration=desired)
        writes.append("source:put_bucket_replication")
    return role_arn, current is not None, writes


def role_policy(resource: Resource, ctx: ApplyContext, replica_key: str | None) -> dict[str, Any]:
    """Exactly what S3 replication of this bucket needs: read the source's objects, replicate into the
    replica, and (SSE-KMS) decrypt with the source key and encrypt with the replica key through S3 only."""
    plan, source, replica = ctx.plan, bucket_arn(resource.source_id), bucket_arn(resource.config["replica"])
    writes = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    if plan.cross_account:
        writes.append("s3:ObjectOwnerOverrideToBucketOwner")
    statements: list[dict[str, Any]] = [
        {"Sid": "SourceBucket", "Effect": "Allow", "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
         "Resource": source},
        {"Sid": "SourceObjects", "Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication",
                                                               "s3:GetObjectVersionAcl",
                                                               "s3:GetObjectVersionTagging"],
         "Resource": f"{source}/*"},
        {"Sid": "ReplicaObjects", "Effect": "Allow", "Action": writes, "Resource": f"{replica}/*"}]
    key = resource.config["kms_key"]
    if key and replica_key:
        # with an S3 Bucket Key the encryption context is the bucket's ARN, without it the object's
        statements += [
            {"Sid": "DecryptSource", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key["arn"],
             "Condition": {"StringLike": {"kms:ViaService": f"s3.{plan.source.region}.amazonaws.com",
                                          "kms:EncryptionContext:aws:s3:arn": [source, f"{source}/*"]}}},
            {"Sid": "EncryptReplica", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
             "Resource": replica_key,
             "Condition": {"StringLike": {"kms:ViaService": f"s3.{plan.recovery.region}.amazonaws.com",
                                          "kms:EncryptionContext:aws:s3:arn": [replica, f"{replica}/*"]}}}]
    return {"Version": "2012-10-17", "Statement": statements}


def _role(resource: Resource, ctx: ApplyContext, replica_key: str | None) -> tuple[str, list[str]]:
    assert ctx.source is not None
    arn, writes = ensure_service_role(
        ctx.source.client("iam"), role_name(ctx.plan, resource.source_id), path=ROLE_PATH, trust=TRUST,
        policy_name=ROLE_POLICY, policy=role_policy(resource, ctx, replica_key),
        description=f"drflow: S3 replication of {resource.source_id} to {resource.config['replica']}",
        tags=ctx.tag_list(resource), ours=lambda tags: copy_of(tags, resource, ctx),
        account=ctx.plan.source.account_id)
    return arn, [f"source:{w}" for w in writes]


def replication_config(resource: Resource, ctx: ApplyContext, role_arn: str, replica_key: str | None) -> dict[str, Any]:
    """CRR of every object and delete marker to the replica; re-encrypted with the recovery key; owned by
    the recovery account when it is another."""
    destination: dict[str, Any] = {"Bucket": bucket_arn(resource.config["replica"])}
    rule: dict[str, Any] = {"ID": rule_id(ctx.plan), "Priority": 0, "Status": "Enabled",
                            "Filter": {"Prefix": ""}, "DeleteMarkerReplication": {"Status": "Enabled"},
                            "Destination": destination}
    if replica_key:
        rule["SourceSelectionCriteria"] = {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
        destination["EncryptionConfiguration"] = {"ReplicaKmsKeyID": replica_key}
    if ctx.plan.cross_account:
        destination["Account"] = ctx.plan.recovery.account_id
        destination["AccessControlTranslation"] = {"Owner": "Destination"}
    return {"Role": role_arn, "Rules": [rule]}


# ---- failback: the replica replicates back to the source bucket -----------------------------------------

def failback_rule_id(plan: Plan) -> str:
    return f"drflow-{plan.name}-failback"


def reverse_replication(recovery: Any, resource: Resource, plan: Plan,
                        tags: list[dict[str, str]]) -> tuple[dict[str, Any], list[str]]:
    """After a failover, the replica is the bucket being written: replicate it back into the source bucket
    (every object and delete marker, re-encrypted with the source bucket's key), through a role of the
    recovery account. The source bucket's own replication rule stays: S3 never replicates a replica again, so
    the two rules form AWS's two-way replication. Returns (the configuration, the writes made)."""
    s3, iam = recovery.client("s3"), recovery.client("iam")
    source, replica = resource.source_id, resource.config["replica"]
    writes = _versioning(s3, replica)
    default = ((setting(s3.get_bucket_encryption, "ServerSideEncryptionConfiguration", Bucket=replica) or {})
               .get("Rules") or [{}])[0].get("ApplyServerSideEncryptionByDefault") or {}
    replica_key = default.get("KMSMasterKeyID") if default.get("SSEAlgorithm") == "aws:kms" else None
    source_key = (resource.config.get("kms_key") or {}).get("arn")
    name = role_name(plan, replica)
    policy = _reverse_policy(plan, replica, source, replica_key, source_key)
    role_arn, role_writes = _failback_role(iam, name, resource, plan, tags, policy)
    writes += role_writes
    destination: dict[str, Any] = {"Bucket": bucket_arn(source)}
    rule: dict[str, Any] = {"ID": failback_rule_id(plan), "Priority": 0, "Status": "Enabled",
                            "Filter": {"Prefix": ""}, "DeleteMarkerReplication": {"Status": "Enabled"},
                            "Destination": destination}
    if source_key:
        rule["SourceSelectionCriteria"] = {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
        destination["EncryptionConfiguration"] = {"ReplicaKmsKeyID": source_key}
    if plan.cross_account:
        destination["Account"] = plan.source.account_id
        destination["AccessControlTranslation"] = {"Owner": "Destination"}
    desired = {"Role": role_arn, "Rules": [rule]}
    if not _replication_matches(setting(s3.get_bucket_replication, "ReplicationConfiguration", Bucket=replica),
                                desired):
        s3.put_bucket_replication(Bucket=replica, ReplicationConfiguration=desired)
        writes.append("put_bucket_replication")
    return desired, writes


def _reverse_policy(plan: Plan, replica: str, source: str, replica_key: str | None,
                    source_key: str | None) -> dict[str, Any]:
    """role_policy's statements, the other way round: read the replica, replicate into the source bucket."""
    replica_arn, source_arn = bucket_arn(replica), bucket_arn(source)
    actions = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    if plan.cross_account:
        actions.append("s3:ObjectOwnerOverrideToBucketOwner")
    statements: list[dict[str, Any]] = [
        {"Sid": "ReplicaBucket", "Effect": "Allow", "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
         "Resource": replica_arn},
        {"Sid": "ReplicaObjects", "Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication",
                                                                "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
         "Resource": f"{replica_arn}/*"},
        {"Sid": "SourceObjects", "Effect": "Allow", "Action": actions, "Resource": f"{source_arn}/*"}]
    if replica_key and source_key:
        statements += [
            {"Sid": "DecryptReplica", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": replica_key,
             "Condition": {"StringLike": {"kms:ViaService": f"s3.{plan.recovery.region}.amazonaws.com"}}},
            {"Sid": "EncryptSource", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
             "Resource": source_key,
             "Condition": {"StringLike": {"kms:ViaService": f"s3.{plan.source.region}.amazonaws.com"}}}]
    return {"Version": "2012-10-17", "Statement": statements}


def _failback_role(iam: Any, name: str, resource: Resource, plan: Plan, tags: list[dict[str, str]],
                   policy: dict[str, Any]) -> tuple[str, list[str]]:
    """The reverse replication's role: created once (deterministic name), adopted when drflow's, else refused."""
    return ensure_service_role(
        iam, name, path=ROLE_PATH, trust=TRUST, policy_name=ROLE_POLICY, policy=policy,
        description=f"drflow: failback replication of {resource.config['replica']} to {resource.source_id}",
        tags=tags, ours=lambda have: have.get(TAG_PLAN) == plan.name and have.get(TAG_SOURCE_ID) == resource.source_id,
        account=plan.recovery.account_id, reconcile_trust=False)
