"""IAM roles (`iam:role`): trust policy, inline and attached policies, permissions boundary, session length, tags.

Cross-account: the role is created in the recovery account with the same name and path, every document
translated (tasks/iam/common.py), and reconciled nightly only when the translated content changed.

Same account: the role exists and serves production, so replication and drills never change it. Its policies
name the source region's ARNs, though, and the source buckets and groups; what they would grant in the recovery
region is staged nightly as drflow-owned managed policies (path /drflow/, `drflow-<plan>-<role>[-n]`), holding
only the statements that translation changes. A real failover attaches them to the role; failing back detaches
them again. The role's own policies are never edited.
"""

from __future__ import annotations

from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from core.aws import Side, paginate
from core.capabilities import FailsBack, Preflight, RestoredHome
from core.failback import FailbackContext, FailbackPhase, Step
from core.handler import Applied, ApplyContext, Unrecoverable, tags_of
from core.models import Mode, Outcome, Phase, Resource, resource_key
from core.ownership import of_plan
from core.plan import Plan
from core.policy import Translation, references

from .common import (DRFLOW_PATH, POLICY, ROLE, authorization_details, claim, collision, collisions, default_document,
                     dump, get_or_none, is_original, new_version, protected_path, same, translated,
                     translation)

GRANT_LIMIT = 6144  # IAM's size limit of one managed policy document, in characters without whitespace


class RoleHandler(Preflight, RestoredHome, FailsBack):
    type: ClassVar[str] = ROLE
    phase: ClassVar[Phase] = Phase.IAM
    pilot_light: ClassVar[bool] = True  # IAM costs nothing: staged nightly
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1
    failback_phase: ClassVar[FailbackPhase] = FailbackPhase.IAM
    failback_plan: ClassVar[str] = "detach drflow's recovery grant (same account)"

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        details = authorization_details(source, "Role", "LocalManagedPolicy")
        documents = {p["Arn"]: default_document(p) for p in details["Policies"]}
        paths = {p["Arn"]: p["Path"] for p in details["Policies"]}
        # the authorization details leave out a role's description and session length: one listing adds them
        listed = {r["RoleName"]: r for r in paginate(source.client("iam"), "list_roles", "Roles")}
        out = []
        for role in details["RoleDetailList"]:
            if not protected_path(role["Path"]):
                continue
            attached = [p["PolicyArn"] for p in role.get("AttachedManagedPolicies", [])
                        if paths.get(p["PolicyArn"], "/") != DRFLOW_PATH]  # never drflow's own grants
            customer = [arn for arn in attached if arn in documents]
            boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
            inline = {p["PolicyName"]: p["PolicyDocument"] for p in role.get("RolePolicyList", [])}
            policy_keys = {resource_key(POLICY, arn.rsplit("/", 1)[-1])
                           for arn in [*customer, *([boundary] if boundary in documents else [])]}
            mentioned = [role["AssumeRolePolicyDocument"], *inline.values(), *(documents[a] for a in customer)]
            info = listed.get(role["RoleName"], {})
            out.append(Resource(
                type=ROLE, source_id=role["RoleName"], name=role["RoleName"], arn=role["Arn"], tags=tags_of(role),
                dependencies=sorted(policy_keys), refs=references(mentioned),
                config={"path": role["Path"], "description": info.get("Description") or "",
                        "max_session_duration": info.get("MaxSessionDuration", 3600),
                        "trust": role["AssumeRolePolicyDocument"], "inline": inline,
                        "managed": sorted(attached), "boundary": boundary,
                        # what the attached customer policies say, for the same-account grant
                        "managed_documents": {arn: documents[arn] for arn in customer}}))
        return out

    # -- lookups -----------------------------------------------------------------------------------------

    def _role(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        return get_or_none(ctx.recovery.client("iam").get_role, "Role", RoleName=resource.name)

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        if ctx.recreates_iam:
            return collisions(resources, ctx, "role", self._role)
        iam, problems = ctx.recovery.client("iam"), []
        for resource in resources:  # same account: the names of drflow's grant policies
            name = _grant_names(resource, ctx, count=1)[0]
            policy = get_or_none(iam.get_policy, "Policy", PolicyArn=_grant_arn(name, ctx))
            if policy and not of_plan(tags_of(policy), ctx):
                problems.append((f"{ROLE} {resource.name}", collision("managed policy", name, ctx)))
        return problems

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        if not ctx.recreates_iam:
            return resource.arn
        role = self._role(resource, ctx)
        return role["Arn"] if role else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if ctx.recreates_iam:
            return self._apply_copy(resource, ctx)
        return self._apply_grant(resource, ctx)

    # -- cross-account: the role itself, in the recovery account ------------------------------------------

    def _apply_copy(self, resource: Resource, ctx: ApplyContext) -> Applied:
        cfg, warnings = resource.config, []
        t = translation(resource, ctx)
        trust = translated(cfg["trust"], "trust policy", t, warnings)
        inline = {name: translated(doc, f"inline policy {name}", t, warnings) for name, doc in cfg["inline"].items()}
        managed = sorted(translated(cfg["managed"], "attached policies", t, warnings))
        boundary = translated(cfg["boundary"], "permissions boundary", t, warnings)
        warnings += _unknown_principals(trust, resource, ctx)
        role = self._role(resource, ctx)
        drill = claim("role", resource, role, ctx, warnings)
        if drill:
            return drill
        iam = ctx.recovery.client("iam")
        created = role is None
        writes = 0
        if created:
            kwargs: dict[str, Any] = {"RoleName": resource.name, "Path": cfg["path"],
                                      "AssumeRolePolicyDocument": dump(trust), "Description": cfg["description"],
                                      "MaxSessionDuration": cfg["max_session_duration"],
                                      "Tags": ctx.tag_list(resource)}
            if boundary:
                kwargs["PermissionsBoundary"] = boundary
            role = iam.create_role(**kwargs)["Role"]
        else:
            writes += self._reconcile_role(iam, role, resource, ctx, trust, boundary)
        writes += _reconcile_inline(iam, resource.name, inline)
        writes += _reconcile_attached(iam, resource.name, managed)
        return Applied(role["Arn"], created=created, changed=bool(writes) and not created, warnings=warnings,
                       details={"inline": len(inline), "attached": len(managed)})

    def _reconcile_role(self, iam: Any, role: dict[str, Any], resource: Resource, ctx: ApplyContext,
                        trust: Any, boundary: str | None) -> int:
        cfg, name, writes = resource.config, resource.name, 0
        if not same(role["AssumeRolePolicyDocument"], trust):
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=dump(trust))
            writes += 1
        if (role.get("Description") or "", role.get("MaxSessionDuration", 3600)) != \
                (cfg["description"], cfg["max_session_duration"]):
            iam.update_role(RoleName=name, Description=cfg["description"],
                            MaxSessionDuration=cfg["max_session_duration"])
            writes += 1
        current = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if current != boundary:
            if boundary:
                iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=boundary)
            else:
                iam.delete_role_permissions_boundary(RoleName=name)
            writes += 1
        if is_original(role, resource, ctx):
            return writes  # failback: a production role keeps its own tags, never drflow's markers
        desired, have = ctx.tags(resource), tags_of(role)
        if any(have.get(k) != v for k, v in desired.items()):
            iam.tag_role(RoleName=name, Tags=[{"Key": k, "Value": v} for k, v in sorted(desired.items())])
            writes += 1
        stale = sorted(set(have) - set(desired))
        if stale:
            iam.untag_role(RoleName=name, TagKeys=stale)
            writes += 1
        return writes

    # -- same account: drflow's grant of the recovery region's permissions ---------------------------------

    def _apply_grant(self, resource: Resource, ctx: ApplyContext) -> Applied:
        warnings: list[str] = []
        documents = grant_documents(resource, translation(resource, ctx), warnings)
        names = _grant_names(resource, ctx, count=len(documents))
        details = {"grant": [_grant_arn(n, ctx) for n in names], "attached": False}
        if ctx.mode == Mode.DRILL:  # a drill never touches a production role
            return Applied(resource.arn, details=details, warnings=warnings)
        iam = ctx.recovery.client("iam")
        writes = _stage_grants(iam, resource, ctx, dict(zip(names, documents)))
        if ctx.mode == Mode.RECOVER:
            try:
                writes += _attach(iam, resource.name, details["grant"])
                details["attached"] = True
            except (ClientError, BotoCoreError) as exc:
                # IAM's control plane lives in us-east-1: when that is the region in trouble, the role still
                # works (with its production permissions), so the servers waiting for it go on
                warnings.append(f"could not attach the recovery grant ({exc}); attach it by hand: "
                                + "; ".join(f"aws iam attach-role-policy --role-name {resource.name} --policy-arn {a}"
                                            for a in details["grant"]))
        return Applied(resource.arn, changed=bool(writes), details=details, warnings=warnings)

    def fail_back(self, resource: Resource, ctx: FailbackContext) -> Step:
        """Same account: detach the grants the failover attached to the production role (`detach_grants`)."""
        aws, plan = ctx.aws, ctx.plan
        if plan.cross_account:
            return Step(Outcome.SKIPPED, None, {"reason": "cross-account: the recovery account's copy of the role "
                                                          "stays, the production role was never changed"})
        detached = detach_grants(aws.source.client("iam"), plan, resource.name)
        return Step(Outcome.UPDATED if detached else Outcome.UNCHANGED, resource.arn, {"detached": detached})


def _unknown_principals(trust: Any, resource: Resource, ctx: ApplyContext) -> list[str]:
    """Roles of the recovery account that the trust policy names but drflow does not recreate: IAM refuses a trust
    policy naming a role that does not exist, so the report says which to create first."""
    protected = {ctx.deps[k].name for k in resource.dependencies if k.startswith(f"{ROLE}/") and k in ctx.deps}
    prefix = f"arn:aws:iam::{ctx.plan.recovery.account_id}:role/"
    named = set()
    for statement in trust.get("Statement", []):
        principal = statement.get("Principal")
        values = principal.get("AWS", []) if isinstance(principal, dict) else []
        named |= {v for v in ([values] if isinstance(values, str) else values) if v.startswith(prefix)}
    return [f"trust policy names {arn}, a role drflow does not protect: it must exist in account "
            f"{ctx.plan.recovery.account_id} before this one (protect it, or create it there)"
            for arn in sorted(named) if arn.rsplit("/", 1)[-1] not in protected]


def grant_documents(resource: Resource, t: Translation, warnings: list[str]) -> list[dict[str, Any]]:
    """The statements of the role's policies that say something else in the recovery region, translated, in as
    few documents as IAM's size limit allows (none when every statement already holds there)."""
    cfg = resource.config
    sources = [(f"inline policy {n}", d) for n, d in sorted(cfg["inline"].items())]
    sources += [(f"policy {a}", d) for a, d in sorted(cfg["managed_documents"].items())]
    statements: list[Any] = []
    for where, document in sources:
        listed = document.get("Statement", [])
        for statement in [listed] if isinstance(listed, dict) else listed:
            out = translated(statement, where, t, warnings)
            if same(out, statement):
                continue
            out = {k: v for k, v in out.items() if k != "Sid"}  # Sids of different policies may clash
            if out not in statements:
                statements.append(out)
    documents: list[dict[str, Any]] = []
    for statement in statements:
        if documents and len(dump({**documents[-1], "Statement": [*documents[-1]["Statement"], statement]})) \
                <= GRANT_LIMIT:
            documents[-1]["Statement"].append(statement)
        else:
            documents.append({"Version": "2012-10-17", "Statement": [statement]})
    return documents


def _attach(iam: Any, role: str, arns: list[str]) -> int:
    attached = {p["PolicyArn"] for p in paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role)}
    for arn in arns:
        if arn not in attached:
            iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    return len(set(arns) - attached)


def _grant_names(resource: Resource, ctx: ApplyContext, count: int) -> list[str]:
    base = _grant_base(ctx.plan, resource.name)
    return [base if i == 0 else f"{base}-{i + 1}" for i in range(count)]


def _grant_base(plan: Plan, role: str) -> str:
    return f"drflow-{plan.name}-{role}"[:120]


def detach_grants(iam: Any, plan: Plan, role: str) -> list[str]:
    """Failback: detach from a same-account role the grant policies a failover attached (drflow-<plan>-<role>[-n]
    under /drflow/); the policies stay, staged for the next failover. Returns the ARNs detached (none on a re-run)."""
    base = f"arn:aws:iam::{plan.recovery.account_id}:policy{DRFLOW_PATH}{_grant_base(plan, role)}"
    attached = paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role)
    ours = [arn for arn in (p["PolicyArn"] for p in attached)
            if arn == base or (arn.startswith(f"{base}-") and arn[len(base) + 1:].isdigit())]
    for arn in ours:
        iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    return ours


def _grant_arn(name: str, ctx: ApplyContext) -> str:
    return f"arn:aws:iam::{ctx.plan.recovery.account_id}:policy{DRFLOW_PATH}{name}"


def _stage_grants(iam: Any, resource: Resource, ctx: ApplyContext, wanted: dict[str, Any]) -> int:
    """Create or update the grant policies; drop the ones a shrunken grant no longer needs."""
    writes = 0
    for name, document in wanted.items():
        existing = get_or_none(iam.get_policy, "Policy", PolicyArn=_grant_arn(name, ctx))
        if existing is None:
            iam.create_policy(PolicyName=name, Path=DRFLOW_PATH, PolicyDocument=dump(document),
                              Description=f"drflow: what role {resource.name} may do in {ctx.plan.recovery.region} "
                                          "after a failover (attached by failover, detached by failback)",
                              Tags=ctx.tag_list(resource))
            writes += 1
        elif not of_plan(tags_of(existing), ctx):
            raise Unrecoverable(collision("managed policy", name, ctx))
        else:
            current = iam.get_policy_version(PolicyArn=existing["Arn"],
                                             VersionId=existing["DefaultVersionId"])["PolicyVersion"]["Document"]
            if not same(current, document):
                new_version(iam, existing["Arn"], document)
                writes += 1
    for name in _grant_names(resource, ctx, count=len(wanted) + 4)[len(wanted):]:
        arn = _grant_arn(name, ctx)
        existing = get_or_none(iam.get_policy, "Policy", PolicyArn=arn)
        if existing is None:
            break
        if of_plan(tags_of(existing), ctx) and not existing.get("AttachmentCount"):
            for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
                if not version["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
            iam.delete_policy(PolicyArn=arn)
            writes += 1
    return writes


def _reconcile_inline(iam: Any, role: str, inline: dict[str, Any]) -> int:
    writes = 0
    present = set(paginate(iam, "list_role_policies", "PolicyNames", RoleName=role))
    for name, document in sorted(inline.items()):
        if name in present and same(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"], document):
            continue
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=dump(document))
        writes += 1
    for name in sorted(present - set(inline)):
        iam.delete_role_policy(RoleName=role, PolicyName=name)
        writes += 1
    return writes


def _reconcile_attached(iam: Any, role: str, managed: list[str]) -> int:
    writes = 0
    present = {p["PolicyArn"] for p in paginate(iam, "list_attached_role_policies", "AttachedPolicies",
                                                RoleName=role)}
    for arn in sorted(set(managed) - present):
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        writes += 1
    for arn in sorted(present - set(managed)):
        iam.detach_role_policy(RoleName=role, PolicyArn=arn)
        writes += 1
    return writes
