"""ECR repositories: a replica repository in the recovery region (and account), holding every image, is the
recovered repository; its URI is what ECS task definitions and Lambda container functions are rewritten to
(core/images.py).

Nightly (stage), for each repository in scope: the replica (same name, in the recovery registry) is created, or
an existing one of that name adopted, and tagged as drflow's; its tag mutability, scan-on-push, lifecycle policy
and repository policy (translated: accounts, regions, renamed resources) follow the source's; the source
registry is made to replicate the repository there (merged into the registry's own rules:
tasks/ecr/replication.py); and every image the replica lacks is copied through the ECR API
(tasks/ecr/images.py), because registry replication never copies images pushed before it was configured.
The recovery point records the source's image digests, so a failover's pre-flight can check, on the recovery
side alone, that the replica holds every image of the recovery point.

Failover and drill read the recovery side only and write nothing: the replica is used as it is (a drill has no
copy of its own, so there is nothing for `cleanup` to remove).
"""

from __future__ import annotations

import json
import threading
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.aws import Side, error_code, paginate
from core.capabilities import ClaimsArnKinds, Preflight
from core.handler import TAG_PLAN, TAG_SOURCE_ID, Applied, ApplyContext, Unrecoverable
from core.keys import KeyCatalog, created_key, denied_problem, key_links, mapping
from core.models import Phase, Resource
from core.ownership import copy_of
from core.plan import KMS_CREATE, Plan
from core.policy import references, translate

from .images import images, sync
from .replication import destination, ensure_registry_policy, ensure_replication, policy_statement

REPOSITORY = "ecr:repository"
NOT_FOUND = {"RepositoryNotFoundException"}


def _document(call: Any, field: str, missing: str, **kwargs: Any) -> Any:
    """A policy document (parsed), None when the repository has none."""
    try:
        return json.loads(call(**kwargs)[field])
    except ClientError as exc:
        if error_code(exc) == missing:
            return None
        raise


def _tags(ecr: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=arn).get("tags", [])}


class RepositoryHandler(ClaimsArnKinds, Preflight):
    type: ClassVar[str] = REPOSITORY
    phase: ClassVar[Phase] = Phase.DATA
    pilot_light: ClassVar[bool] = True  # a repository costs its storage only: staged (and filled) nightly
    arn_kinds: ClassVar[tuple[str, ...]] = ("ecr:repository",)
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        ecr = source.client("ecr")
        catalog: KeyCatalog | None = None
        out = []
        for repo in paginate(ecr, "describe_repositories", "repositories"):
            name = repo["repositoryName"]
            encryption = repo.get("encryptionConfiguration") or {"encryptionType": "AES256"}
            key = None
            if encryption.get("kmsKey"):
                catalog = catalog or KeyCatalog(source)
                key = catalog.describe(encryption["kmsKey"])
            policy = _document(ecr.get_repository_policy, "policyText", "RepositoryPolicyNotFoundException",
                               repositoryName=name)
            out.append(Resource(
                type=REPOSITORY, source_id=name, name=name, arn=repo["repositoryArn"],
                tags=_tags(ecr, repo["repositoryArn"]),
                config={"uri": repo["repositoryUri"], "tag_mutability": repo.get("imageTagMutability", "MUTABLE"),
                        "scan_on_push": bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush")),
                        "encryption": encryption["encryptionType"], "kms_key": key, "policy": policy,
                        "lifecycle": _document(ecr.get_lifecycle_policy, "lifecyclePolicyText",
                                               "LifecyclePolicyNotFoundException", repositoryName=name)},
                data={"images": images(ecr, name)},  # what the failover's pre-flight expects in the replica
                links=key_links(plan, key), refs=references(policy) if policy else []))
        return out

    # ---- the replica -----------------------------------------------------------------------------------

    @staticmethod
    def _replica(ecr: Any, name: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        try:
            repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise
        return repo, _tags(ecr, repo["repositoryArn"])

    @staticmethod
    def _collision(tags: dict[str, str], resource: Resource, ctx: ApplyContext) -> str | None:
        """A replica name held by another plan's (or another source's) copy is never taken over; one without
        drflow's tags (made by the customer's own replication, say) is adopted."""
        if TAG_PLAN in tags and not copy_of(tags, resource, ctx):
            return (f"repository {resource.source_id} already exists in {ctx.recovery.region} as drflow's copy for "
                    f"plan {tags.get(TAG_PLAN)} / source {tags.get(TAG_SOURCE_ID)}; it is not this plan's")
        return None

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._replica(ctx.recovery.client("ecr"), resource.source_id)
        return found[0]["repositoryUri"] if found and copy_of(found[1], resource, ctx) else None

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Staging: no other plan's copy under the replica's name. Failover: each replica exists, is this plan's,
        and holds every image of the recovery point. Reads only, recovery side only."""
        ecr = ctx.recovery.client("ecr")
        problems = []
        for resource in resources:
            where = f"{REPOSITORY} {resource.source_id}"
            found = self._replica(ecr, resource.source_id)
            collision = self._collision(found[1], resource, ctx) if found else None
            if collision:
                problems.append((where, collision))
            elif ctx.staging:
                continue
            elif found is None or not copy_of(found[1], resource, ctx):
                problems.append((where, f"its replica does not exist in {ctx.recovery.region}: nightly replication "
                                 "never staged it"))
            else:
                missing = self._missing(ecr, resource)
                if missing:
                    problems.append((where, f"{len(missing)} image(s) of the recovery point are not in the replica "
                                     f"(e.g. {missing[0]}): the nightly copy did not finish"))
        return problems

    @staticmethod
    def _missing(ecr: Any, resource: Resource) -> list[str]:
        held = images(ecr, resource.source_id)
        return sorted(d for d in resource.data.get("images", {}) if d not in held)

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if ctx.staging:
            return self._stage(resource, ctx)
        ecr = ctx.recovery.client("ecr")
        found = self._replica(ecr, resource.source_id)
        if found is None or not copy_of(found[1], resource, ctx):
            raise Unrecoverable(f"the replica of repository {resource.source_id} does not exist in "
                                f"{ctx.recovery.region}: nightly replication never staged it")
        warnings = []
        missing = self._missing(ecr, resource)
        if missing:
            warnings.append(f"{len(missing)} image(s) of the recovery point are not in the replica, e.g. {missing[0]}")
        uri = found[0]["repositoryUri"]
        return Applied(uri, details={"replica": uri, "images": len(resource.data.get("images", {}))},
                       warnings=warnings)

    def _stage(self, resource: Resource, ctx: ApplyContext) -> Applied:
        assert ctx.source is not None, "repositories are staged during nightly replication only"
        ecr, name = ctx.recovery.client("ecr"), resource.source_id
        writes: list[str] = []
        warnings: list[str] = []
        found = self._replica(ecr, name)
        created = found is None
        if found is None:
            repo = self._create(ecr, resource, ctx, warnings)
            writes.append("create_repository")
        else:
            repo, tags = found
            collision = self._collision(tags, resource, ctx)
            if collision:
                raise Unrecoverable(collision)
            if not copy_of(tags, resource, ctx):
                warnings.append(f"adopted the existing repository {name} in {ctx.recovery.region} as the replica")
            writes += self._reconcile(ecr, repo, tags, resource, ctx, warnings)
        writes += self._policies(ecr, resource, ctx, warnings)
        source_ecr = ctx.source.client("ecr")
        lock = ctx.shared.once("ecr:registry-lock", threading.Lock)  # registry-wide read-merge-writes
        with lock:  # the recovery registry lets the source in before the source starts replicating
            if ctx.plan.cross_account and ensure_registry_policy(ecr, policy_statement(
                    ctx.plan.source.account_id, ctx.plan.recovery.account_id, ctx.recovery.region)):
                writes.append("put_registry_policy")
            if ensure_replication(source_ecr, name, destination(ctx.plan.recovery.account_id, ctx.recovery.region)):
                writes.append("put_replication_configuration")
        copied = sync(source_ecr, ecr, name)
        warnings += copied.warnings
        if copied.images or copied.tags:
            writes.append("put_image")
        uri = repo["repositoryUri"]
        return Applied(uri, created=created, changed=bool(writes) and not created, warnings=warnings,
                       details={"replica": uri, "writes": writes, "copied": copied.details()})

    def _create(self, ecr: Any, resource: Resource, ctx: ApplyContext, warnings: list[str]) -> dict[str, Any]:
        cfg = resource.config
        encryption: dict[str, str] = {"encryptionType": cfg["encryption"]}
        if cfg["kms_key"]:
            if denied_problem(cfg["kms_key"]):
                raise Unrecoverable(denied_problem(cfg["kms_key"]))
            target = mapping(ctx.plan, cfg["kms_key"])
            if target == KMS_CREATE:
                target = created_key(ctx, cfg["kms_key"])
            if target:
                encryption["kmsKey"] = target
            elif not cfg["kms_key"]["aws_managed"]:
                warnings.append(f"key {cfg['kms_key']['arn']} has no mapping in kms_key_map: the replica is encrypted "
                                f"with the AWS managed ECR key of {ctx.recovery.region}")
        return ecr.create_repository(
            repositoryName=resource.source_id, tags=ctx.tag_list(resource), imageTagMutability=cfg["tag_mutability"],
            imageScanningConfiguration={"scanOnPush": cfg["scan_on_push"]},
            encryptionConfiguration=encryption)["repository"]

    @staticmethod
    def _reconcile(ecr: Any, repo: dict[str, Any], tags: dict[str, str], resource: Resource, ctx: ApplyContext,
                   warnings: list[str]) -> list[str]:
        cfg, name, writes = resource.config, resource.source_id, []
        wanted = ctx.tags(resource)
        if any(tags.get(k) != v for k, v in wanted.items()):
            ecr.tag_resource(resourceArn=repo["repositoryArn"], tags=ctx.tag_list(resource))
            writes.append("tag_resource")
        if repo.get("imageTagMutability", "MUTABLE") != cfg["tag_mutability"]:
            ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability=cfg["tag_mutability"])
            writes.append("put_image_tag_mutability")
        if bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush")) != cfg["scan_on_push"]:
            ecr.put_image_scanning_configuration(repositoryName=name,
                                                 imageScanningConfiguration={"scanOnPush": cfg["scan_on_push"]})
            writes.append("put_image_scanning_configuration")
        have = (repo.get("encryptionConfiguration") or {}).get("encryptionType", "AES256")
        if have != cfg["encryption"]:
            warnings.append(f"the replica is encrypted with {have}, the source with {cfg['encryption']}: ECR cannot "
                            "change a repository's encryption (recreate the replica to change it)")
        return writes

    @staticmethod
    def _policies(ecr: Any, resource: Resource, ctx: ApplyContext, warnings: list[str]) -> list[str]:
        """The lifecycle and repository policies, translated, mirrored onto the replica (read before written)."""
        name, writes = resource.source_id, []
        t = ctx.translation(resource)
        for field, get, put, delete, text, missing in (
                ("lifecycle", ecr.get_lifecycle_policy, ecr.put_lifecycle_policy, ecr.delete_lifecycle_policy,
                 "lifecyclePolicyText", "LifecyclePolicyNotFoundException"),
                ("policy", ecr.get_repository_policy, ecr.set_repository_policy, ecr.delete_repository_policy,
                 "policyText", "RepositoryPolicyNotFoundException")):
            wanted = None
            if resource.config[field] is not None:
                translated = translate(resource.config[field], t)
                wanted = translated.document
                warnings += [f"{field}: {w}" for w in translated.warnings]
            current = _document(get, text, missing, repositoryName=name)
            if current == wanted:
                continue
            if wanted is None:
                delete(repositoryName=name)
                writes.append(delete.__name__)
            else:
                put(repositoryName=name, **{text: json.dumps(wanted)})
                writes.append(put.__name__)
        return writes

