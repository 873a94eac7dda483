"""What the IAM handlers share: discovery of the account's IAM, translation of documents, ownership.

IAM is global to an account, so what "recovering" a role means depends on the plan:

- cross-account: the role, its instance profiles and its customer managed policies do not exist in the
  recovery account; drflow creates them there every night (same names and paths, documents translated) and
  reconciles them only when the translated content changed. A failover finds them ready.
- same account: they already exist and serve production; drflow never changes them during replication or a
  drill. The permissions a role needs in the recovery region (its policies with the recovery region's ARNs,
  replica buckets, recovered ids) are staged nightly as drflow-owned managed policies, attached to the role only
  by a real failover (see tasks/iam/roles.py).
"""

from __future__ import annotations

import json
from typing import Any, Callable

from botocore.exceptions import ClientError

from core.aws import Side, error_code
from core.handler import TAG_PLAN, Applied, ApplyContext, Unrecoverable, tags_of
from core.models import Mode, Resource
from core.ownership import of_plan
from core.policy import Translation, translate

ROLE = "iam:role"
POLICY = "iam:policy"
PROFILE = "iam:instance-profile"
# Made by AWS (service-linked roles, IAM Identity Center) or by drflow itself: never captured
SKIPPED_PATHS = ("/aws-service-role/", "/aws-reserved/", "/drflow/")
DRFLOW_PATH = "/drflow/"
MAX_VERSIONS = 5  # IAM's limit of versions per managed policy


def protected_path(path: str) -> bool:
    return not path.startswith(SKIPPED_PATHS)


def authorization_details(source: Side, *kinds: str) -> dict[str, list[dict[str, Any]]]:
    """The account's roles and/or customer managed policies, documents included, in one paginated read
    (instead of one GetRole/ListRolePolicies/GetRolePolicy/... round per role)."""
    out: dict[str, list[dict[str, Any]]] = {"RoleDetailList": [], "Policies": []}
    pages = source.client("iam").get_paginator("get_account_authorization_details").paginate(Filter=list(kinds))
    for page in pages:
        for key in out:
            out[key].extend(page.get(key, []))
    return out


def default_document(policy: dict[str, Any]) -> dict[str, Any]:
    """The default version's document of a managed policy from the authorization details."""
    return next(v["Document"] for v in policy["PolicyVersionList"] if v["IsDefaultVersion"])


def translation(resource: Resource, ctx: ApplyContext) -> Translation:
    """IAM's documents name roles by their own (kept) names: only non-IAM dependencies are renamed."""
    return ctx.translation(resource, skip_type="iam:")


def translated(document: Any, where: str, t: Translation, warnings: list[str]) -> Any:
    """The document for the recovery side; what it keeps untranslated is added to `warnings`, named."""
    out = translate(document, t)
    warnings.extend(f"{where} {w}" for w in out.warnings)
    return out.document


def same(a: Any, b: Any) -> bool:
    """Two policy documents are equal (IAM returns them decoded, keys in any order)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def dump(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))


def get_or_none(call: Any, key: str, **kwargs: Any) -> dict[str, Any] | None:
    """A Get* call's item, or None when IAM says there is no such entity."""
    try:
        return call(**kwargs)[key]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise


def is_original(item: dict[str, Any], resource: Resource, ctx: ApplyContext) -> bool:
    """At failback, in the primary: the production resource the recovery point was captured from."""
    return ctx.mode == Mode.FAILBACK and item.get("Arn") == resource.arn


def collision(kind: str, name: str, ctx: ApplyContext) -> str:
    return (f"a {kind} named {name} already exists in account {ctx.plan.recovery.account_id} and is not drflow's "
            f"(no tag {TAG_PLAN}={ctx.plan.name}); drflow does not take over what it did not make: rename or remove "
            f"it, or tag it {TAG_PLAN}={ctx.plan.name} to hand it to drflow")


def collisions(resources: list[Resource], ctx: ApplyContext, kind: str,
               lookup: Callable[[Resource, ApplyContext], dict[str, Any] | None]) -> list[tuple[str, str]]:
    """Pre-flight of a cross-account plan: each name already taken in the recovery account by something that
    is not drflow's."""
    if not ctx.recreates_iam:
        return []
    problems = []
    for resource in resources:
        existing = lookup(resource, ctx)
        if existing and not of_plan(tags_of(existing), ctx) and not is_original(existing, resource, ctx):
            problems.append((f"{resource.type} {resource.name}", collision(kind, resource.name, ctx)))
    return problems


def claim(kind: str, resource: Resource, existing: dict[str, Any] | None, ctx: ApplyContext,
          warnings: list[str]) -> Applied | None:
    """What apply does before any write in the recovery account: refuse a name taken by something not drflow's;
    in a drill, only use what the nightly run staged. None: go on and create or reconcile."""
    if existing and not of_plan(tags_of(existing), ctx) and not is_original(existing, resource, ctx):
        raise Unrecoverable(collision(kind, resource.name, ctx))
    if ctx.mode != Mode.DRILL:
        return None
    if not existing:
        raise Unrecoverable(staged_missing(kind, resource.name, ctx))
    return Applied(existing["Arn"], warnings=warnings)


def staged_missing(kind: str, name: str, ctx: ApplyContext) -> str:
    return (f"{kind} {name} was not staged in account {ctx.plan.recovery.account_id}; a drill uses the staged IAM "
            "as it is: run the replication first")


def new_version(iam: Any, arn: str, document: Any) -> None:
    """Make `document` the policy's default version, deleting the oldest non-default one when IAM's five are used."""
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    if len(versions) >= MAX_VERSIONS:
        oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=dump(document), SetAsDefault=True)
