"""Instance profiles (`iam:instance-profile`): the name a server launches with, and the role inside it.

Cross-account: created in the recovery account with the same name and path, holding the recovered role. Same
account: the profile exists and is left alone. A server depends on its profile (tasks/servers/instances.py links it), so
no server is launched before the profile it names is there.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.aws import Side, paginate
from core.capabilities import Preflight, RestoredHome
from core.handler import Applied, ApplyContext, tags_of
from core.models import Phase, Resource, resource_key
from core.plan import Plan

from .common import PROFILE, ROLE, claim, collisions, get_or_none, protected_path


class InstanceProfileHandler(Preflight, RestoredHome):
    type: ClassVar[str] = PROFILE
    phase: ClassVar[Phase] = Phase.IAM
    pilot_light: ClassVar[bool] = True  # IAM costs nothing: staged nightly
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for profile in paginate(source.client("iam"), "list_instance_profiles", "InstanceProfiles"):
            if not protected_path(profile["Path"]):
                continue
            roles = [r["RoleName"] for r in profile.get("Roles", []) if protected_path(r["Path"])]
            role = resource_key(ROLE, roles[0]) if roles else None
            out.append(Resource(type=PROFILE, source_id=profile["InstanceProfileName"],
                                name=profile["InstanceProfileName"], arn=profile["Arn"], tags=tags_of(profile),
                                config={"path": profile["Path"], "role": role},
                                dependencies=[role] if role else []))
        return out

    def _profile(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        return get_or_none(ctx.recovery.client("iam").get_instance_profile, "InstanceProfile",
                           InstanceProfileName=resource.name)

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        return collisions(resources, ctx, "instance profile", self._profile)

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        if not ctx.recreates_iam:
            return resource.arn
        profile = self._profile(resource, ctx)
        return profile["Arn"] if profile else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if not ctx.recreates_iam:
            return Applied(resource.arn, details={"same_account": True})
        profile = self._profile(resource, ctx)
        drill = claim("instance profile", resource, profile, ctx, [])
        if drill:
            return drill
        iam = ctx.recovery.client("iam")
        created = profile is None
        if created:
            profile = iam.create_instance_profile(InstanceProfileName=resource.name, Path=resource.config["path"],
                                                  Tags=ctx.tag_list(resource))["InstanceProfile"]
        wanted = resource.config["role"] and resource.config["role"].split("/", 1)[1]
        have = [r["RoleName"] for r in profile.get("Roles", [])]
        writes = 0
        for name in have:
            if name != wanted:
                iam.remove_role_from_instance_profile(InstanceProfileName=resource.name, RoleName=name)
                writes += 1
        if wanted and wanted not in have:
            iam.add_role_to_instance_profile(InstanceProfileName=resource.name, RoleName=wanted)
            writes += 1
        return Applied(profile["Arn"], created=created, changed=bool(writes) and not created)
