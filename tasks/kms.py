"""KMS keys that drflow makes in the recovery region, for source keys the plan maps to "create".

Copies of encrypted data (RDS snapshots, S3 objects, EFS replicas) must be re-encrypted with a key of the
recovery region. When `kms_key_map` maps a source key to "create", this handler stages that key nightly,
before any copy that needs it (those resources depend on it, see core.keys):

- a multi-Region source key in a same-account plan gets a replica (same key id and material in the
  recovery region, so anything it encrypted stays readable with the same id);
- any other key gets a new key with the same aliases, usage and spec, and the source's key policy with
  the source account translated to the recovery account. In a cross-account plan it also gets one statement
  of drflow's own (`DrflowSourceReplication`): S3 replication runs as a role of the SOURCE account (under
  /drflow/) and writes the replicas encrypted with this key, which the translated policy no longer lets the
  source account do. The grant is narrowed to those roles and to S3 in the recovery region. It is added to
  every key drflow makes in a cross-account plan (the key does not know which buckets will use it) and put
  back on an adopted key that lacks it.

A failover only finds the staged key: a key made at failover could not read the copies made before it.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.aws import Side, error_code, paginate
from core.capabilities import ClaimsArnKinds, Preflight
from core.handler import TAG_PLAN, TAG_SOURCE_ID, Applied, ApplyContext, ScopeError, Unrecoverable
from core.keys import DRFLOW_ROLE_PATH, REPLICA_WRITE_ACTIONS, KeyCatalog, denied_problem
from core.models import Phase, Resource
from core.plan import KMS_CREATE, Plan
from core.policy import Translated, Translation, translate


def _kms_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())]


def _tags_of(kms: Any, key_id: str) -> dict[str, str]:
    pages = kms.get_paginator("list_resource_tags").paginate(KeyId=key_id) \
        if kms.can_paginate("list_resource_tags") else [kms.list_resource_tags(KeyId=key_id)]
    return {t["TagKey"]: t["TagValue"] for page in pages for t in page.get("Tags", [])}


def _tagged_keys(ctx: ApplyContext) -> dict[str, str]:
    """Source key id -> ARN of the live recovery keys this plan made, by drflow's tags; listed once per run, and
    only when a key was not found by its aliases (a key's first night, or one left without them).

    KMS has no tag filter on ListKeys: each key's tags are one ListResourceTags call. Listed once per run (not
    per key) because the answer only matters for keys an earlier run made, which this run cannot change."""
    def listing() -> dict[str, str]:
        kms, found = ctx.recovery.client("kms"), {}
        for key in paginate(kms, "list_keys", "Keys"):
            tags = _tags_of(kms, key["KeyId"])
            if tags.get(TAG_PLAN) != ctx.plan.name or TAG_SOURCE_ID not in tags:
                continue
            meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            if meta.get("KeyState") not in ("PendingDeletion", "PendingReplicaDeletion"):
                found[tags[TAG_SOURCE_ID]] = meta["Arn"]
        return found
    return ctx.shared.once("kms-tagged-keys", listing)


def translate_policy(policy: str, plan: Plan) -> Translated:
    """The source key policy for the recovery key (core.policy: source account and region become the recovery
    ones), and what it keeps untranslated."""
    return translate(json.loads(policy), Translation(plan.source.account_id, plan.recovery.account_id,
                                                     plan.source.region, plan.recovery.region))


KEY = "kms:key"
SOURCE_REPLICATION_SID = "DrflowSourceReplication"


def source_replication_statement(plan: Plan) -> dict[str, Any]:
    """Lets the source account's drflow roles (S3 replication) encrypt replicas with a recovery key, through S3."""
    src = plan.source.account_id
    return {"Sid": SOURCE_REPLICATION_SID, "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{src}:root"},
            "Action": list(REPLICA_WRITE_ACTIONS), "Resource": "*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{src}:role{DRFLOW_ROLE_PATH}*"},
                          "StringEquals": {"kms:ViaService": f"s3.{plan.recovery.region}.amazonaws.com"}}}


def with_source_replication(policy: dict[str, Any], plan: Plan) -> tuple[dict[str, Any], bool]:
    """The policy with drflow's statement for the source account's replication (cross-account only), and
    whether that changed it."""
    statements = policy.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    if not plan.cross_account or any(s.get("Sid") == SOURCE_REPLICATION_SID for s in statements):
        return policy, False
    return {**policy, "Statement": [*statements, source_replication_statement(plan)]}, True


class KeyHandler(ClaimsArnKinds, Preflight):
    type: ClassVar[str] = KEY
    phase: ClassVar[Phase] = Phase.DATA
    arn_kinds: ClassVar[tuple[str, ...]] = ("kms:key", "kms:alias")
    pilot_light: ClassVar[bool] = True  # copies made nightly need it; a failover can only find it
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 2  # 2: cross-account keys let the source account's S3 replication encrypt

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        wanted = [src for src, dst in sorted(plan.kms_key_map.items()) if dst == KMS_CREATE]
        if not wanted:
            return []
        kms, catalog = source.client("kms"), KeyCatalog(source)
        problems: list[tuple[str, str]] = []
        out: dict[str, Resource] = {}
        for ref in wanted:
            try:
                key = catalog.describe(ref)
            except ClientError as exc:
                if error_code(exc) not in ("NotFoundException", "InvalidArnException"):
                    raise
                problems.append((f"kms_key_map.{ref}", f"no key {ref} in {plan.source.region} to create a "
                                                       f"counterpart of"))
                continue
            if key.get("denied"):  # the key's policy and aliases are what its counterpart is made of
                problems.append((f"kms_key_map.{ref}", f"{ref} is mapped to create, but {denied_problem(key)}"))
                continue
            if key["aws_managed"]:
                problems.append((f"kms_key_map.{ref}", f"{ref} is an AWS managed key: its counterpart is the "
                                                       "recovery region's own; remove the mapping"))
                continue
            key_id, aliases, meta = key["id"], key["aliases"], catalog.metadata(ref)
            out[key_id] = Resource(
                type=KEY, source_id=key_id, arn=meta["Arn"], name=aliases[0] if aliases else key_id,
                tags=_tags_of(kms, key_id),
                config={"description": meta.get("Description", ""), "aliases": aliases,
                        "key_usage": meta.get("KeyUsage", "ENCRYPT_DECRYPT"),
                        "key_spec": meta.get("KeySpec", "SYMMETRIC_DEFAULT"),
                        "multi_region": key["multi_region"],
                        "policy": kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]})
        if problems:
            raise ScopeError(problems)
        return list(out.values())

    # -- finding what was made before -----------------------------------------------------------------

    def _replicated(self, resource: Resource, ctx: ApplyContext) -> bool:
        return resource.config["multi_region"] and not ctx.plan.cross_account

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        """The recovery key made for this source key: by its aliases, or by drflow's tags when it has none yet (a
        run that died between `create_key` and `create_alias` left it so; `apply` gives it its aliases)."""
        kms = ctx.recovery.client("kms")
        candidates = [resource.source_id] if self._replicated(resource, ctx) else resource.config["aliases"]
        found = self._by_alias(kms, resource, ctx, candidates)
        if found or self._replicated(resource, ctx):
            return found
        return _tagged_keys(ctx).get(resource.source_id)

    def _by_alias(self, kms: Any, resource: Resource, ctx: ApplyContext, candidates: list[str]) -> str | None:
        for ref in candidates:
            try:
                meta = kms.describe_key(KeyId=ref)["KeyMetadata"]
            except ClientError as exc:
                if error_code(exc) == "NotFoundException":
                    continue
                raise
            if meta.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion"):
                continue
            if self._replicated(resource, ctx) or _tags_of(kms, meta["KeyId"]).get(TAG_SOURCE_ID) == resource.source_id:
                return meta["Arn"]
        return None

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Staging: an alias the new key needs is held by a key that is not drflow's. Failover: the key was staged."""
        kms = ctx.recovery.client("kms")
        problems = []
        for resource in resources:
            if not ctx.staging:
                if self.find(resource, ctx) is None:
                    problems.append((f"kms_key_map.{resource.name}", f"the recovery key for {resource.arn} was never "
                                     f"created in {ctx.plan.recovery.region}: run replicate first"))
                continue
            if self._replicated(resource, ctx):
                continue
            for alias in resource.config["aliases"]:
                try:
                    meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
                except ClientError as exc:
                    if error_code(exc) == "NotFoundException":
                        continue
                    raise
                if _tags_of(kms, meta["KeyId"]).get(TAG_SOURCE_ID) != resource.source_id:
                    problems.append((f"kms_key_map.{resource.name}", f"{alias} already names key {meta['KeyId']} in "
                                     f"{ctx.plan.recovery.region}, which drflow did not create; map the source key "
                                     "to that key instead of \"create\", or free the alias"))
        return problems

    # -- staging --------------------------------------------------------------------------------------

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        existing = self.find(resource, ctx)
        if existing:
            return Applied(existing, changed=self._reconcile(resource, ctx, existing))
        if not ctx.staging:
            raise Unrecoverable(f"no recovery key for {resource.arn} in {ctx.plan.recovery.region}: it is made by the "
                                "nightly replication, and a key made now could not read the copies")
        tags = {k: v for k, v in resource.tags.items() if not k.startswith("aws:")}
        tags.update({TAG_PLAN: ctx.plan.name, TAG_SOURCE_ID: resource.source_id})
        kms = ctx.recovery.client("kms")
        translated = translate_policy(resource.config["policy"], ctx.plan)
        policy = json.dumps(with_source_replication(translated.document, ctx.plan)[0])
        if self._replicated(resource, ctx):
            assert ctx.source is not None, "keys are staged nightly only"
            meta = ctx.source.client("kms").replicate_key(
                KeyId=resource.source_id, ReplicaRegion=ctx.plan.recovery.region, Policy=policy,
                Tags=_kms_tags(tags))["ReplicaKeyMetadata"]
        else:
            try:
                meta = kms.create_key(Policy=policy, Description=resource.config["description"],
                                      KeyUsage=resource.config["key_usage"], KeySpec=resource.config["key_spec"],
                                      Tags=_kms_tags(tags))["KeyMetadata"]
            except ClientError as exc:
                if error_code(exc) == "MalformedPolicyDocumentException":
                    raise Unrecoverable(f"the translated key policy of {resource.arn} was refused in "
                                        f"{ctx.plan.recovery.region}: {exc}") from exc
                raise
            # into the run's listing (which `find` made before this key existed): a retry of this task in the same
            # run, after a failed alias, finds this key instead of making a second one
            _tagged_keys(ctx)[resource.source_id] = meta["Arn"]
        if _tags_of(kms, meta["KeyId"]).get(TAG_SOURCE_ID) != resource.source_id:
            kms.tag_resource(KeyId=meta["KeyId"], Tags=_kms_tags(tags))  # not every API applies create-time tags
        self._aliases(resource, ctx, meta["KeyId"])
        return Applied(meta["Arn"], created=True, details={"replica": self._replicated(resource, ctx)},
                       warnings=[f"key policy {w}" for w in translated.warnings])

    def _aliases(self, resource: Resource, ctx: ApplyContext, key_id: str) -> bool:
        kms = ctx.recovery.client("kms")
        held = {a["AliasName"]: a.get("TargetKeyId") for page in kms.get_paginator("list_aliases").paginate(KeyId=key_id)
                for a in page["Aliases"]}
        changed = False
        for alias in resource.config["aliases"]:
            if alias in held:
                continue
            try:
                kms.create_alias(AliasName=alias, TargetKeyId=key_id)
            except ClientError as exc:
                if error_code(exc) != "AlreadyExistsException":
                    raise
                raise Unrecoverable(f"{alias} already names another key in {ctx.plan.recovery.region}") from exc
            changed = True
        return changed

    def _reconcile(self, resource: Resource, ctx: ApplyContext, arn: str) -> bool:
        """An adopted key gets back its aliases (a re-run after a failure between create and alias), and in a
        cross-account plan drflow's statement for the source account's replication (a key made before it)."""
        if not ctx.staging:
            return False
        key_id = arn.rsplit("/", 1)[-1]
        changed = self._aliases(resource, ctx, key_id)
        if ctx.plan.cross_account and not self._replicated(resource, ctx):
            kms = ctx.recovery.client("kms")
            current = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
            policy, added = with_source_replication(current, ctx.plan)
            if added:
                kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))
                changed = True
        return changed
