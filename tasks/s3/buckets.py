"""S3 buckets: a replica bucket in the recovery region, fed by Cross-Region Replication, is the recovered bucket.

Nightly (stage), for each bucket in scope: the replica bucket (named by the plan's `buckets` rule) is created
and tagged as drflow's; the source bucket is made to replicate into it and the replica to match it (versioning
at both ends, drflow's replication role, the replication configuration, and the source's encryption, lifecycle
rules, public access block and translated policy on the replica: tasks/s3/replication.py). Objects written
before replication existed are copied once (tasks/s3/sync.py); the replica then carries a `drflow:backfilled-at`
tag, so that later runs do not list the buckets again. Every setting is read before it is written: an unchanged
one costs a read.

Failover reads nothing on the primary side: the replica is the recovered bucket, and the identity map gives
its name to what refers to the bucket. A drill uses the same live replica (it has no copy of its own).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.artifacts import console_host
from core.aws import Side, error_code
from core.capabilities import ClaimsArnKinds, ConsoleLink, FailsBack, Preflight
from core.failback import FailbackContext, FailbackPhase, Step
from core.handler import TAG_PLAN, TAG_SOURCE_ID, Applied, ApplyContext, ScopeError, Unrecoverable
from core.keys import KeyCatalog, created_key, key_links, key_problems, recovery_key, replica_key_problems
from core.models import Mode, Outcome, Phase, Resource
from core.ownership import copy_of, in_scope
from core.plan import Plan

from .replication import bucket_arn, configure_replication, mirror_settings, reverse_replication, rule_id, setting
from .sync import backfill


def bucket_endpoints(name: str, region: str) -> dict[str, str]:
    """How applications name a bucket (S3 User Guide, "Virtual hosting of buckets" and "Path-style requests"):
    global and regional virtual-hosted hosts, regional and global path-style prefixes, and the bare name inside a
    longer string (`s3://<name>/key`, a parameter holding it), so that a document naming the bucket depends on
    it. A name that could be an ordinary word (no dot or dash) is left to whole-value renames."""
    forms = {"virtual-host": f"{name}.s3.amazonaws.com", "virtual-host-regional": f"{name}.s3.{region}.amazonaws.com",
             "path-regional": f"s3.{region}.amazonaws.com/{name}", "path": f"s3.amazonaws.com/{name}"}
    if "-" in name or "." in name:
        forms["name"] = name
    return forms

BUCKET = "s3:bucket"
TAG_BACKFILLED = "drflow:backfilled-at"
NOT_FOUND = {"404", "NoSuchBucket", "NotFound"}
FORBIDDEN = {"403", "AccessDenied", "Forbidden"}


class BucketHandler(ClaimsArnKinds, Preflight, ConsoleLink, FailsBack):
    type: ClassVar[str] = BUCKET
    phase: ClassVar[Phase] = Phase.DATA
    arn_kinds: ClassVar[tuple[str, ...]] = ("s3",)
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    failback_phase: ClassVar[FailbackPhase] = FailbackPhase.DATA
    failback_plan: ClassVar[str] = ("replicate the replica back into the bucket; copy what the bucket lacks "
                                    "(same account)")

    def console_url(self, recovered_id: str, region: str) -> str:
        """S3's console is global in the commercial partition; GovCloud and China keep it under their own host."""
        if region.startswith(("us-gov-", "cn-")):
            return f"{console_host(region)}/s3/buckets/{recovered_id}?region={region}"
        return f"https://s3.console.aws.amazon.com/s3/buckets/{recovered_id}?region={region}"

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
            tags = {t["Key"]: t["Value"] for t in setting(s3.get_bucket_tagging, "TagSet", Bucket=name) or []}
            if not in_scope(tags, plan.scope.tags):
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
        sse = setting(s3.get_bucket_encryption, "ServerSideEncryptionConfiguration", Bucket=name)
        if sse and sse.get("Rules"):
            rule = sse["Rules"][0]
            default = rule["ApplyServerSideEncryptionByDefault"]
            encryption = {"algorithm": default["SSEAlgorithm"], "bucket_key": bool(rule.get("BucketKeyEnabled"))}
            if default["SSEAlgorithm"].startswith("aws:kms"):
                key = catalog.describe(default.get("KMSMasterKeyID") or "alias/aws/s3")
                problems += key_problems(plan, key, f"bucket {name}")
        policy = setting(s3.get_bucket_policy, "Policy", Bucket=name)
        replication = setting(s3.get_bucket_replication, "ReplicationConfiguration", Bucket=name) or {}
        foreign = [r.get("ID", "?") for r in replication.get("Rules", []) if r.get("ID") != rule_id(plan)]
        if foreign:
            problems.append((f"s3:bucket {name}", f"already replicates with rule(s) {', '.join(foreign)} (role "
                             f"{replication.get('Role')}); drflow would replace that configuration, so it refuses: "
                             "remove those rules or leave the bucket out of scope"))
        resource = Resource(
            type=BUCKET, source_id=name, name=name, arn=bucket_arn(name), tags=tags,
            config={"replica": plan.replica_bucket(name), "encryption": encryption, "kms_key": key,
                    "lifecycle": setting(s3.get_bucket_lifecycle_configuration, "Rules", Bucket=name) or [],
                    "public_access_block": setting(s3.get_public_access_block, "PublicAccessBlockConfiguration",
                                                    Bucket=name),
                    "policy": json.loads(policy) if policy else None},
            links=key_links(plan, key), endpoints=bucket_endpoints(name, plan.source.region))
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
            return {t["Key"]: t["Value"] for t in setting(s3.get_bucket_tagging, "TagSet", Bucket=replica) or []}
        except ClientError as exc:
            if error_code(exc) in FORBIDDEN:
                return {}
            raise


    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        tags = self._replica_tags(ctx.recovery.client("s3"), resource.config["replica"])
        return resource.config["replica"] if tags is not None and copy_of(tags, resource, ctx) else None

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Staging: a replica name taken by a bucket that is not this plan's copy of this bucket is a collision.
        Failover: every replica must be there. Reads only, recovery side only."""
        s3 = ctx.recovery.client("s3")
        problems = []
        for resource in resources:
            replica = resource.config["replica"]
            tags = self._replica_tags(s3, replica)
            if ctx.staging and tags is not None and not copy_of(tags, resource, ctx):
                problems.append((f"s3:bucket {resource.source_id}", f"replica name collision: a bucket named "
                                 f"{replica} already exists and is not drflow's copy of {resource.source_id} (no "
                                 f"{TAG_PLAN}={ctx.plan.name} / {TAG_SOURCE_ID}={resource.source_id} tags); choose "
                                 "another name with buckets.names or buckets.replica_name"))
            elif not ctx.staging and tags is None:
                problems.append((f"s3:bucket {resource.source_id}", f"its replica {replica} does not exist in "
                                 f"{ctx.recovery.region}: nightly replication never staged it"))
        if ctx.staging:  # cross-account: the source's replication role may write with the mapped recovery keys
            problems += replica_key_problems(ctx.plan, resources, ctx.recovery)
        return problems

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if ctx.staging:
            return self._stage(resource, ctx)
        replica = resource.config["replica"]
        if self._replica_tags(ctx.recovery.client("s3"), replica) is None:
            raise Unrecoverable(f"replica {replica} of bucket {resource.source_id} does not exist in "
                                f"{ctx.recovery.region}: nightly replication never staged it")
        warnings = []
        if ctx.mode == Mode.DRILL:
            warnings.append(f"the drill uses the live replica {replica}: drilled servers that write to it change "
                            "the data a real failover would recover")
        return Applied(replica, details={"replica": replica}, warnings=warnings,
                       endpoints=bucket_endpoints(replica, ctx.recovery.region))

    def _stage(self, resource: Resource, ctx: ApplyContext) -> Applied:
        assert ctx.source is not None, "buckets are staged during nightly replication only"
        replica, name = resource.config["replica"], resource.source_id
        s3 = ctx.recovery.client("s3")
        writes: list[str] = []
        tags = self._replica_tags(s3, replica)
        created = tags is None
        if created:
            self._create(s3, replica, ctx)
            writes.append("create_bucket")
            tags = {}
        elif not copy_of(tags, resource, ctx):
            raise Unrecoverable(f"replica name collision: {replica} exists and is not drflow's copy of {name}")
        wanted = {**ctx.tags(resource), **({TAG_BACKFILLED: tags[TAG_BACKFILLED]} if TAG_BACKFILLED in tags else {})}
        if tags != wanted:
            s3.put_bucket_tagging(Bucket=replica, Tagging={"TagSet": [{"Key": k, "Value": v}
                                                                      for k, v in sorted(wanted.items())]})
            writes.append("put_bucket_tagging")
        replica_key = self._replica_key(resource, ctx)
        mirrored, warnings = mirror_settings(s3, resource, ctx, replica_key)
        writes += mirrored
        source_s3 = ctx.source.client("s3")
        role_arn, replicated_before, source_writes = configure_replication(source_s3, resource, ctx, replica_key)
        writes += source_writes

        details: dict[str, Any] = {"replica": replica, "replication_role": role_arn, "writes": writes}
        # objects written while no replication was in place are not replicated: copy them (again) then
        if TAG_BACKFILLED in wanted and replicated_before:
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
                       warnings=warnings, endpoints=bucket_endpoints(replica, ctx.recovery.region))

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
        target = recovery_key(ctx.plan, key, created=created_key(ctx, key))
        if target.startswith("arn:"):
            return target
        kms = ctx.recovery.client("kms")
        return ctx.shared.once(f"s3:kms-arn:{target}", lambda: kms.describe_key(KeyId=target)["KeyMetadata"]["Arn"])

    def fail_back(self, resource: Resource, ctx: FailbackContext) -> Step:
        """A replication rule from the replica back to its source bucket (replication.py `reverse_replication`);
        same account, what the replica holds that the source lacks is copied now (sync.py `backfill`)."""
        aws, plan = ctx.aws, ctx.plan
        source, replica = resource.source_id, resource.config["replica"]
        tags = [{"Key": TAG_PLAN, "Value": plan.name}, {"Key": TAG_SOURCE_ID, "Value": source}]
        config, writes = reverse_replication(aws.recovery, resource, plan, tags)
        details: dict[str, Any] = {"replication": f"{replica} -> {source}", "role": config["Role"], "writes": writes,
                                   "warnings": []}
        if plan.cross_account:
            details["warnings"].append(f"cross-account: the bucket policy of {source} must let {config['Role']} "
                                       "replicate into it, and objects already in the replica are not copied back")
        else:  # replication covers new writes only: what the replica received during the outage is copied now
            copied = backfill(aws.recovery.client("s3"), aws.source.client("s3"), aws.source.client("s3"), replica,
                              source)
            details["copied_back"] = copied.copied
        return Step(Outcome.UPDATED if writes or details.get("copied_back") else Outcome.UNCHANGED, source, details)
