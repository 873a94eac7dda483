"""S3 buckets: a replica bucket in the recovery region, fed by Cross-Region Replication, is the recovered bucket.

Nightly (stage), for each bucket in scope: the replica bucket (named by the plan's `buckets` rule) is created
and tagged as drflow's; versioning is on at both ends (replication needs it); a replication role that drflow
owns is kept in the source account with exactly the permissions replication needs; the source bucket gets a
replication configuration to the replica (with KMS re-encryption, and ownership override when the recovery
account is another); the bucket's encryption, lifecycle rules, public access block and its policy (bucket and
account names translated) are mirrored on the replica. Objects written before replication existed are
copied once (tasks/s3_sync.py); the replica then carries a `drflow:backfilled-at` tag, so that later runs do
not list the buckets again. Every setting is read before it is written: an unchanged one costs a read.

Failover reads nothing on the primary side: the replica is the recovered bucket, and the identity map gives
its name to what refers to the bucket. A drill uses the same live replica (it has no copy of its own).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar

from botocore.exceptions import ClientError

from core.aws import Side, error_code
from core.handler import TAG_PLAN, TAG_SOURCE_ID, Applied, ApplyContext, ScopeError, Unrecoverable, tags_of
from core.keys import KeyCatalog, key_dependencies, key_problems, recovery_key
from core.models import Resource
from core.plan import Plan
from tasks.s3_sync import backfill

BUCKET = "s3:bucket"
TAG_BACKFILLED = "drflow:backfilled-at"
ROLE_PATH = "/drflow/"
ROLE_POLICY = "s3-replication"
NOT_FOUND = {"404", "NoSuchBucket", "NotFound"}
FORBIDDEN = {"403", "AccessDenied", "Forbidden"}
# what S3 answers for a setting a bucket does not have
ABSENT = {"NoSuchTagSet", "ServerSideEncryptionConfigurationNotFoundError", "NoSuchLifecycleConfiguration",
          "NoSuchPublicAccessBlockConfiguration", "NoSuchBucketPolicy", "ReplicationConfigurationNotFoundError"}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


def _setting(call: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> Any:
    """One bucket setting, or None when the bucket has none (S3 answers an unset setting with an error)."""
    try:
        return call(**kwargs)[key]
    except ClientError as exc:
        if error_code(exc) in ABSENT:
            return None
        raise


def _bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def rule_id(plan: Plan) -> str:
    return f"drflow-{plan.name}"


def role_name(plan: Plan, bucket: str) -> str:
    """Deterministic (a re-run adopts it), unique per plan and bucket, within IAM's 64 characters."""
    digest = hashlib.sha256(f"{plan.name}:{bucket}".encode()).hexdigest()[:12]
    return f"drflow-s3-{plan.name[:36]}-{digest}"


def translate_policy(policy: Any, bucket: str, replica: str, source_account: str, recovery_account: str) -> Any:
    """The source bucket's policy for the replica: the bucket's ARNs name the replica, the source account
    becomes the recovery account (when they differ)."""
    arn = re.compile(rf"arn:(aws[a-z-]*):s3:::{re.escape(bucket)}(?=$|/)")
    # the account field of an ARN (never digits inside a name: bucket names often contain the account id)
    account = re.compile(rf"^(arn:[^:]*:[^:]*:[^:]*:){source_account}(?=:)")

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            value = arn.sub(lambda m: f"arn:{m[1]}:s3:::{replica}", value)
            if value == source_account:
                return recovery_account
            return account.sub(lambda m: f"{m[1]}{recovery_account}", value)
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    return fix(policy)


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


class BucketHandler:
    type: ClassVar[str] = BUCKET
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        """The source region's buckets that carry the plan's scope tags, with the settings the replica mirrors.

        Buckets out of scope are not described (their keys and policies are none of the plan's business),
        but their names still count for replica name collisions."""
        if plan.scope.resource_types and BUCKET not in plan.scope.resource_types:
            return []
        s3 = source.client("s3")
        names = [b["Name"] for page in s3.get_paginator("list_buckets").paginate(BucketRegion=source.region)
                 for b in page.get("Buckets", [])]
        catalog = KeyCatalog(source)
        problems: list[tuple[str, str]] = []
        out: list[Resource] = []
        for name in sorted(names):
            tags = {t["Key"]: t["Value"] for t in _setting(s3.get_bucket_tagging, "TagSet", Bucket=name) or []}
            if any(tags.get(k) != v for k, v in plan.scope.tags.items()):
                continue
            resource, found = self._describe(s3, catalog, plan, name, tags)
            problems += found
            out.append(resource)
        problems += self._name_problems(plan, [r.source_id for r in out], set(names))
        if problems:
            raise ScopeError(problems)
        return out

    def _describe(self, s3: Any, catalog: KeyCatalog, plan: Plan, name: str,
                  tags: dict[str, str]) -> tuple[Resource, list[tuple[str, str]]]:
        problems: list[tuple[str, str]] = []
        encryption, key = None, None
        sse = _setting(s3.get_bucket_encryption, "ServerSideEncryptionConfiguration", Bucket=name)
        if sse and sse.get("Rules"):
            rule = sse["Rules"][0]
            default = rule["ApplyServerSideEncryptionByDefault"]
            encryption = {"algorithm": default["SSEAlgorithm"], "bucket_key": bool(rule.get("BucketKeyEnabled"))}
            if default["SSEAlgorithm"].startswith("aws:kms"):
                key = catalog.describe(default.get("KMSMasterKeyID") or "alias/aws/s3")
                problems += key_problems(plan, key, f"bucket {name}")
        policy = _setting(s3.get_bucket_policy, "Policy", Bucket=name)
        replication = _setting(s3.get_bucket_replication, "ReplicationConfiguration", Bucket=name) or {}
        foreign = [r.get("ID", "?") for r in replication.get("Rules", []) if r.get("ID") != rule_id(plan)]
        if foreign:
            problems.append((f"s3:bucket {name}", f"already replicates with rule(s) {', '.join(foreign)} (role "
                             f"{replication.get('Role')}); drflow would replace that configuration, so it refuses: "
                             "remove those rules or leave the bucket out of scope"))
        resource = Resource(
            type=BUCKET, source_id=name, name=name, arn=_bucket_arn(name), tags=tags,
            config={"replica": plan.replica_bucket(name), "encryption": encryption, "kms_key": key,
                    "lifecycle": _setting(s3.get_bucket_lifecycle_configuration, "Rules", Bucket=name) or [],
                    "public_access_block": _setting(s3.get_public_access_block, "PublicAccessBlockConfiguration",
                                                    Bucket=name),
                    "policy": json.loads(policy) if policy else None},
            dependencies=key_dependencies(plan, key))
        return resource, problems

    @staticmethod
    def _name_problems(plan: Plan, buckets: list[str], source_names: set[str]) -> list[tuple[str, str]]:
        """Two buckets sharing a replica, or a replica named like a source bucket: refused before any write."""
        problems = []
        seen: dict[str, str] = {}
        for name in buckets:
            replica = plan.replica_bucket(name)
            where = f"buckets.names.{name}" if name in plan.buckets.names else "buckets.replica_name"
            if replica in source_names:
                problems.append((where, f"the replica of bucket {name} would be {replica}, which is a bucket of "
                                        f"the source region {plan.source.region}"))
            if replica in seen:
                problems.append((where, f"buckets {seen[replica]} and {name} would both replicate into {replica}; "
                                        "give one of them its own name in buckets.names"))
            seen.setdefault(replica, name)
        return problems

    # ---- the replica on the recovery side --------------------------------------------------------------

    @staticmethod
    def _replica_tags(s3: Any, replica: str) -> dict[str, str] | None:
        """The replica's tags ({} when it has none, or belongs to someone else), None when it does not exist."""
        try:
            s3.head_bucket(Bucket=replica)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            if error_code(exc) in FORBIDDEN:
                return {}  # exists, in an account we cannot read: not drflow's
            raise
        try:
            return {t["Key"]: t["Value"] for t in _setting(s3.get_bucket_tagging, "TagSet", Bucket=replica) or []}
        except ClientError as exc:
            if error_code(exc) in FORBIDDEN:
                return {}
            raise

    @staticmethod
    def _ours(tags: dict[str, str], resource: Resource, ctx: ApplyContext) -> bool:
        return tags.get(TAG_PLAN) == ctx.plan.name and tags.get(TAG_SOURCE_ID) == resource.source_id

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        tags = self._replica_tags(ctx.recovery.client("s3"), resource.config["replica"])
        return resource.config["replica"] if tags is not None and self._ours(tags, resource, ctx) else None

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Staging: a replica name taken by a bucket that is not this plan's copy of this bucket is a collision.
        Failover: every replica must be there. Reads only, recovery side only."""
        s3 = ctx.recovery.client("s3")
        problems = []
        for resource in resources:
            replica = resource.config["replica"]
            tags = self._replica_tags(s3, replica)
            if ctx.staging and tags is not None and not self._ours(tags, resource, ctx):
                problems.append((f"s3:bucket {resource.source_id}", f"replica name collision: a bucket named "
                                 f"{replica} already exists and is not drflow's copy of {resource.source_id} (no "
                                 f"{TAG_PLAN}={ctx.plan.name} / {TAG_SOURCE_ID}={resource.source_id} tags); choose "
                                 "another name with buckets.names or buckets.replica_name"))
            elif not ctx.staging and tags is None:
                problems.append((f"s3:bucket {resource.source_id}", f"its replica {replica} does not exist in "
                                 f"{ctx.recovery.region}: nightly replication never staged it"))
        return problems

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if ctx.staging:
            return self._stage(resource, ctx)
        replica = resource.config["replica"]
        if self._replica_tags(ctx.recovery.client("s3"), replica) is None:
            raise Unrecoverable(f"replica {replica} of bucket {resource.source_id} does not exist in "
                                f"{ctx.recovery.region}: nightly replication never staged it")
        warnings = []
        if ctx.mode == "drill":
            warnings.append(f"the drill uses the live replica {replica}: drilled servers that write to it change "
                            "the data a real failover would recover")
        return Applied(replica, details={"replica": replica}, warnings=warnings)

    def _stage(self, resource: Resource, ctx: ApplyContext) -> Applied:
        assert ctx.source is not None, "buckets are staged during nightly replication only"
        cfg, replica, name = resource.config, resource.config["replica"], resource.source_id
        s3 = ctx.recovery.client("s3")
        writes: list[str] = []
        tags = self._replica_tags(s3, replica)
        created = tags is None
        if created:
            self._create(s3, replica, ctx)
            writes.append("create_bucket")
            tags = {}
        elif not self._ours(tags, resource, ctx):
            raise Unrecoverable(f"replica name collision: {replica} exists and is not drflow's copy of {name}")
        wanted = {**ctx.tags(resource), **({TAG_BACKFILLED: tags[TAG_BACKFILLED]} if TAG_BACKFILLED in tags else {})}
        if tags != wanted:
            s3.put_bucket_tagging(Bucket=replica, Tagging={"TagSet": [{"Key": k, "Value": v}
                                                                      for k, v in sorted(wanted.items())]})
            writes.append("put_bucket_tagging")
        replica_key = self._replica_key(resource, ctx)
        writes += self._versioning(s3, replica)
        writes += self._encryption(s3, replica, cfg["encryption"], replica_key)
        writes += self._lifecycle(s3, replica, cfg["lifecycle"])
        writes += self._public_access_block(s3, replica, cfg["public_access_block"])
        writes += self._policy(s3, replica, self._replica_policy(resource, ctx))

        source_s3 = ctx.source.client("s3")
        writes += [f"source:{w}" for w in self._versioning(source_s3, name)]
        role_arn, role_writes = self._role(resource, ctx, replica_key)
        writes += role_writes
        desired = self._replication(resource, ctx, role_arn, replica_key)
        current = _setting(source_s3.get_bucket_replication, "ReplicationConfiguration", Bucket=name)
        if not _replication_matches(current, desired):
            source_s3.put_bucket_replication(Bucket=name, ReplicationConfiguration=desired)
            writes.append("source:put_bucket_replication")

        details: dict[str, Any] = {"replica": replica, "replication_role": role_arn, "writes": writes}
        warnings: list[str] = []
        # objects written while no replication was in place are not replicated: copy them (again) then
        if TAG_BACKFILLED in wanted and current is not None:
            details["backfill"] = {"done_at": wanted[TAG_BACKFILLED], "copied": 0, "bytes": 0}
        else:
            synced = backfill(source_s3, ctx.source.client("s3", ctx.recovery.region), s3, name, replica)
            wanted[TAG_BACKFILLED] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            s3.put_bucket_tagging(Bucket=replica, Tagging={"TagSet": [{"Key": k, "Value": v}
                                                                      for k, v in sorted(wanted.items())]})
            writes.append("put_bucket_tagging")
            details["backfill"] = synced.details()
            if synced.archived:
                warnings.append(f"{synced.archived} archived object(s) not copied (restore them first), e.g. "
                                + ", ".join(synced.archived_keys))
        return Applied(replica, created=created, changed=bool(writes) and not created, details=details,
                       warnings=warnings)

    @staticmethod
    def _create(s3: Any, replica: str, ctx: ApplyContext) -> None:
        kwargs: dict[str, Any] = {"Bucket": replica, "ObjectOwnership": "BucketOwnerEnforced"}
        if ctx.recovery.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.recovery.region}
        try:
            s3.create_bucket(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "BucketAlreadyExists":
                raise Unrecoverable(f"replica name collision: {replica} belongs to another account") from exc
            if error_code(exc) != "BucketAlreadyOwnedByYou":  # a retried task: its first attempt made it
                raise

    def _replica_key(self, resource: Resource, ctx: ApplyContext) -> str | None:
        """The ARN of the recovery key that encrypts the replica (replication and IAM want ARNs)."""
        key = resource.config["kms_key"]
        if key is None:
            return None
        deps = key_dependencies(ctx.plan, key)
        target = recovery_key(ctx.plan, key, created=ctx.ref(deps[0]) if deps else None)
        if target.startswith("arn:"):
            return target
        kms = ctx.recovery.client("kms")
        return ctx.shared.once(f"s3:kms-arn:{target}", lambda: kms.describe_key(KeyId=target)["KeyMetadata"]["Arn"])

    @staticmethod
    def _versioning(s3: Any, bucket: str) -> list[str]:
        if s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled":
            return []
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        return ["put_bucket_versioning"]

    @staticmethod
    def _encryption(s3: Any, replica: str, encryption: dict[str, Any] | None, key_arn: str | None) -> list[str]:
        if encryption is None:  # nothing to mirror; S3's own default stays
            return []
        default: dict[str, Any] = {"SSEAlgorithm": encryption["algorithm"]}
        if key_arn:
            default["KMSMasterKeyID"] = key_arn
        wanted = {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": encryption["bucket_key"]}
        current = _setting(s3.get_bucket_encryption, "ServerSideEncryptionConfiguration", Bucket=replica) or {}
        rule = (current.get("Rules") or [{}])[0]
        if rule.get("ApplyServerSideEncryptionByDefault") == default and \
                bool(rule.get("BucketKeyEnabled")) == encryption["bucket_key"]:
            return []
        s3.put_bucket_encryption(Bucket=replica, ServerSideEncryptionConfiguration={"Rules": [wanted]})
        return ["put_bucket_encryption"]

    @staticmethod
    def _lifecycle(s3: Any, replica: str, rules: list[dict[str, Any]]) -> list[str]:
        current = _setting(s3.get_bucket_lifecycle_configuration, "Rules", Bucket=replica) or []
        if current == rules:
            return []
        if not rules:
            s3.delete_bucket_lifecycle(Bucket=replica)
            return ["delete_bucket_lifecycle"]
        s3.put_bucket_lifecycle_configuration(Bucket=replica, LifecycleConfiguration={"Rules": rules})
        return ["put_bucket_lifecycle_configuration"]

    @staticmethod
    def _public_access_block(s3: Any, replica: str, block: dict[str, Any] | None) -> list[str]:
        """Set before the policy: a new bucket is born blocking public policies, which a public source policy
        (a website bucket) would hit."""
        if _setting(s3.get_public_access_block, "PublicAccessBlockConfiguration", Bucket=replica) == block:
            return []
        if block is None:
            s3.delete_public_access_block(Bucket=replica)
            return ["delete_public_access_block"]
        s3.put_public_access_block(Bucket=replica, PublicAccessBlockConfiguration=block)
        return ["put_public_access_block"]

    @staticmethod
    def _policy(s3: Any, replica: str, policy: dict[str, Any] | None) -> list[str]:
        current = _setting(s3.get_bucket_policy, "Policy", Bucket=replica)
        if (json.loads(current) if current else None) == policy:
            return []
        if policy is None:
            s3.delete_bucket_policy(Bucket=replica)
            return ["delete_bucket_policy"]
        s3.put_bucket_policy(Bucket=replica, Policy=json.dumps(policy))
        return ["put_bucket_policy"]

    def _replica_policy(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        """The source policy translated; across accounts, plus what lets the source account's replication role
        replicate into the replica and drflow's one-time copy (made with source credentials) write to it."""
        plan, replica = ctx.plan, resource.config["replica"]
        policy = resource.config["policy"]
        if policy is not None:
            policy = translate_policy(policy, resource.source_id, replica, plan.source.account_id,
                                      plan.recovery.account_id)
        if not plan.cross_account:
            return policy
        policy = dict(policy or {"Version": "2012-10-17", "Statement": []})
        role = f"arn:aws:iam::{plan.source.account_id}:role{ROLE_PATH}{role_name(plan, resource.source_id)}"
        objects = f"{_bucket_arn(replica)}/*"
        policy["Statement"] = list(policy.get("Statement", [])) + [
            {"Sid": "DrflowReplication", "Effect": "Allow", "Principal": {"AWS": role},
             "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags",
                        "s3:ObjectOwnerOverrideToBucketOwner"], "Resource": objects},
            {"Sid": "DrflowReplicationBucket", "Effect": "Allow", "Principal": {"AWS": role},
             "Action": ["s3:GetBucketVersioning", "s3:PutBucketVersioning"], "Resource": _bucket_arn(replica)},
            {"Sid": "DrflowBackfill", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{plan.source.account_id}:root"},
             "Action": ["s3:PutObject", "s3:AbortMultipartUpload"], "Resource": objects}]
        return policy

    # ---- the primary side: replication role and configuration (staging only) ---------------------------

    @staticmethod
    def _role_policy(resource: Resource, ctx: ApplyContext, replica_key: str | None) -> dict[str, Any]:
        """Exactly what S3 replication of this bucket needs: read the source's objects, replicate into the
        replica, and (SSE-KMS) decrypt with the source key and encrypt with the replica key through S3 only."""
        plan, source, replica = ctx.plan, _bucket_arn(resource.source_id), _bucket_arn(resource.config["replica"])
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

    def _role(self, resource: Resource, ctx: ApplyContext, replica_key: str | None) -> tuple[str, list[str]]:
        assert ctx.source is not None
        iam = ctx.source.client("iam")
        name, writes = role_name(ctx.plan, resource.source_id), []
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            role = iam.create_role(RoleName=name, Path=ROLE_PATH, AssumeRolePolicyDocument=json.dumps(TRUST),
                                   Description=f"drflow: S3 replication of {resource.source_id} to "
                                               f"{resource.config['replica']}", Tags=ctx.tag_list(resource))["Role"]
            iam.get_waiter("role_exists").wait(RoleName=name)
            writes.append("source:create_role")
        else:
            if not self._ours(tags_of(role) or self._role_tags(iam, name), resource, ctx):
                raise Unrecoverable(f"IAM role {name} exists in account {ctx.plan.source.account_id} and is not drflow's")
            if role["AssumeRolePolicyDocument"] != TRUST:
                iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(TRUST))
                writes.append("source:update_assume_role_policy")
        wanted = self._role_policy(resource, ctx, replica_key)
        try:
            current = iam.get_role_policy(RoleName=name, PolicyName=ROLE_POLICY)["PolicyDocument"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            current = None
        if current != wanted:
            iam.put_role_policy(RoleName=name, PolicyName=ROLE_POLICY, PolicyDocument=json.dumps(wanted))
            writes.append("source:put_role_policy")
        return role["Arn"], writes

    @staticmethod
    def _role_tags(iam: Any, name: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for page in iam.get_paginator("list_role_tags").paginate(RoleName=name)
                for t in page["Tags"]}

    @staticmethod
    def _replication(resource: Resource, ctx: ApplyContext, role_arn: str, replica_key: str | None) -> dict[str, Any]:
        """CRR of every object and delete marker to the replica; re-encrypted with the recovery key; owned by
        the recovery account when it is another."""
        destination: dict[str, Any] = {"Bucket": _bucket_arn(resource.config["replica"])}
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
