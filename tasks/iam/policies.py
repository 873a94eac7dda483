"""Customer managed IAM policies (`iam:policy`): captured with their default version's document.

Cross-account: created in the recovery account with the same name and path and the translated document; a
changed document becomes a new default version (IAM keeps five: the oldest non-default one is deleted first).
Same account: the policy already exists and is left alone (a role's recovery-region permissions are granted by
tasks/iam/roles.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.aws import Side
from core.capabilities import Preflight, RestoredHome
from core.handler import Applied, ApplyContext
from core.models import Phase, Resource
from core.plan import Plan
from core.policy import references

from .common import (POLICY, authorization_details, claim, collisions, default_document, dump, get_or_none, new_version,
                     protected_path, same, translated, translation)


def recovery_arn(resource: Resource, plan: Plan) -> str:
    return f"arn:aws:iam::{plan.recovery.account_id}:policy{resource.config['path']}{resource.name}"


class PolicyHandler(Preflight, RestoredHome):
    type: ClassVar[str] = POLICY
    phase: ClassVar[Phase] = Phase.IAM
    pilot_light: ClassVar[bool] = True  # IAM costs nothing: staged nightly
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for policy in authorization_details(source, "LocalManagedPolicy")["Policies"]:
            if not protected_path(policy["Path"]):
                continue
            document = default_document(policy)
            name = policy["Arn"].rsplit("/", 1)[-1]  # moto leaves PolicyName out; the ARN always ends with it
            out.append(Resource(type=POLICY, source_id=name, name=name,
                                arn=policy["Arn"], refs=references(document),
                                config={"path": policy["Path"], "description": policy.get("Description") or "",
                                        "document": document}))
        return out

    def _existing(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        iam = ctx.recovery.client("iam")
        return get_or_none(iam.get_policy, "Policy", PolicyArn=recovery_arn(resource, ctx.plan))

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        return collisions(resources, ctx, "managed policy", self._existing)

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        if not ctx.recreates_iam:
            return resource.arn
        existing = self._existing(resource, ctx)
        return existing["Arn"] if existing else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if not ctx.recreates_iam:
            return Applied(resource.arn, details={"same_account": True})
        warnings: list[str] = []
        document = translated(resource.config["document"], "document", translation(resource, ctx), warnings)
        existing = self._existing(resource, ctx)
        drill = claim("managed policy", resource, existing, ctx, warnings)
        if drill:
            return drill
        iam = ctx.recovery.client("iam")
        if existing is None:
            arn = iam.create_policy(PolicyName=resource.name, Path=resource.config["path"], PolicyDocument=dump(document),
                                    Description=resource.config["description"],
                                    Tags=ctx.tag_list(resource))["Policy"]["Arn"]
            return Applied(arn, created=True, warnings=warnings)
        current = iam.get_policy_version(PolicyArn=existing["Arn"],
                                         VersionId=existing["DefaultVersionId"])["PolicyVersion"]["Document"]
        if same(current, document):
            return Applied(existing["Arn"], warnings=warnings)
        new_version(iam, existing["Arn"], document)
        return Applied(existing["Arn"], changed=True, warnings=warnings)

