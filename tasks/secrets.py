"""Secrets Manager secrets: the credentials an application reads at start (a database's connection as JSON), kept
in the recovery region under the same name, with what they name translated to the recovered workload.

A secret costs little idle and nothing to create, so it is staged nightly (pilot light): the nightly run copies the
source's current value into drflow's own secret on the recovery side (same account or the recovery account), only
when the recovery side's value differs (compared by reading it there: no hash of a secret is stored anywhere),
encrypted with the mapped key (core.keys; the default `aws/secretsmanager` maps to the recovery region's own in a
same-account plan). A failover, with the primary dark, reads the staged copy on the recovery side and rewrites
it translated (core.policy.translate: a JSON value's `host`, the database's recovered address). Kept: description,
tags, resource policy (translated); at a failover, rotation is re-linked to the recovered rotation function.

The value is never in the recovery point, a detail, a warning, a log line or an exception of drflow's; it lives in
memory only between its read and its write (`del`). Translation warnings about a value name only its paths.

Which database a secret names: a secret's description and tags do not say, and the value is not captured. So the
discovery reads the value once and keeps only the AWS hostnames of the source region it names (a database's
address is no secret: RDS describes it to anyone who may read the database), as `config["names"]`; from those
core.scope.refer_endpoints makes the secret depend on the database, so a failover hands it the recovered address.

Not done (see the README): native replication (ReplicateSecretToRegions, promoted by StopReplicationToReplica at a
failover) would keep the copy current between nights, but a replica cannot be tagged or written to, so the copy
is drflow's own secret instead (the same path for a same-account and a cross-account plan).

A drill's secret is a suffixed standalone copy of the staged one, translated to the drill's resources, and
`cleanup` deletes it at once (ForceDeleteWithoutRecovery: a drill leaves no secret scheduled for deletion).
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar
from urllib.parse import quote

from botocore.exceptions import ClientError

from core.artifacts import console_host
from core.aws import Side, error_code, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable
from core.keys import KeyCatalog, created_key, key_links, recovery_key
from core.models import Mode, Phase, Resource
from core.ownership import in_scope, owned, recovered_name, tag_dict
from core.plan import Plan
from core.policy import translate

SECRET = "secretsmanager:secret"
NAME_LIMIT = 512  # CreateSecret: Name, 1-512 characters
NOT_FOUND = {"ResourceNotFoundException"}
DEFAULT_KEY = "alias/aws/secretsmanager"


def _hosts(region: str) -> re.Pattern[str]:
    return re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\." + re.escape(region)
                      + r"\.(?:[a-z0-9-]+\.)*amazonaws\.com(?:\.cn)?", re.IGNORECASE)


def _document(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value  # a plain-text secret is translated as one string


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _paths(warnings: list[str]) -> str:
    """Only where a warning points (a JSON path), never what it quotes from the secret."""
    return ", ".join(sorted({w.split(":", 1)[0] for w in warnings}))


class SecretHandler(ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack, Audited):
    type: ClassVar[str] = SECRET
    phase: ClassVar[Phase] = Phase.DATA
    pilot_light: ClassVar[bool] = True
    arn_kinds: ClassVar[tuple[str, ...]] = ("secretsmanager:secret",)
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    not_failed_back: ClassVar[str] = ("the primary's secret serves again as it was; a value rotated on the recovery "
                                      "side during the outage is not copied back")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        if plan.scope.resource_types and SECRET not in plan.scope.resource_types:
            return []
        sm = source.client("secretsmanager")
        catalog: KeyCatalog | None = None
        hosts = _hosts(source.region)
        out = []
        for listed in paginate(sm, "list_secrets", "SecretList"):
            tags = tag_dict(listed.get("Tags"))
            if not in_scope(tags, plan.scope.tags) or listed.get("DeletedDate") or listed.get("PrimaryRegion") \
                    not in (None, source.region):  # a replica here is another secret's copy
                continue
            arn = listed["ARN"]
            try:
                described = sm.describe_secret(SecretId=arn)
                policy = sm.get_resource_policy(SecretId=arn).get("ResourcePolicy")
                value = sm.get_secret_value(SecretId=arn).get("SecretString") or ""
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND:
                    continue
                raise
            names = sorted({h.lower() for h in hosts.findall(value)})  # addresses only, never the value
            del value
            catalog = catalog or KeyCatalog(source)
            key = catalog.describe(described.get("KmsKeyId") or DEFAULT_KEY)
            rotation = None
            if described.get("RotationEnabled") and described.get("RotationLambdaARN"):
                rotation = {"lambda": described["RotationLambdaARN"], "rules": described.get("RotationRules") or {}}
            out.append(Resource(
                type=SECRET, source_id=arn, name=described["Name"], arn=arn, tags=tags, links=key_links(plan, key),
                refs=[f"lambda:{rotation['lambda'].rsplit(':', 1)[-1]}"] if rotation else [],
                config={"description": described.get("Description"), "kms_key": key, "names": names,
                        "policy": json.loads(policy) if policy else None, "rotation": rotation}))
        return out

    # ---- the recovered secret --------------------------------------------------------------------------

    @staticmethod
    def _name(resource: Resource, ctx: ApplyContext | CleanupContext) -> str:
        return recovered_name(resource.name, ctx, NAME_LIMIT)

    @staticmethod
    def _describe(sm: Any, name: str) -> dict[str, Any] | None:
        try:
            return sm.describe_secret(SecretId=name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise

    def _existing(self, resource: Resource, ctx: ApplyContext, run: Any = None) -> dict[str, Any] | None:
        """drflow's secret for this resource (of this run's kind, or `run`'s), or None; a secret of that name
        that is not drflow's is refused, never overwritten."""
        run = run or ctx
        name = self._name(resource, run)
        found = self._describe(ctx.recovery.client("secretsmanager"), name)
        if found and not owned(found.get("Tags"), resource, run):
            raise Unrecoverable(f"secret {name} already exists in {ctx.recovery.region} and is not drflow's copy "
                                "for this plan; rename or remove it")
        return found

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._existing(resource, ctx)
        return found["ARN"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        sm, cfg = ctx.recovery.client("secretsmanager"), resource.config
        found = self._existing(resource, ctx)
        t = ctx.translation(resource)
        done = translate(_document(self._value(resource, ctx, found)), t)
        value = _text(done.document)
        warnings = [f"SecretString: {len(done.warnings)} reference(s) to the primary kept at {_paths(done.warnings)}"
                    " (the value is not shown)"] if done.warnings else []
        key = recovery_key(ctx.plan, cfg["kms_key"], created_key(ctx, cfg["kms_key"]))
        created = changed = False
        if found is None:  # one call with its tags and value: nothing half-made to find again
            found = sm.create_secret(Name=self._name(resource, ctx), SecretString=value, KmsKeyId=key,
                                     Tags=ctx.tag_list(resource), **_description(cfg))
            created = True
        else:
            if sm.get_secret_value(SecretId=found["ARN"]).get("SecretString") != value:
                sm.put_secret_value(SecretId=found["ARN"], SecretString=value)
                changed = True
            if found.get("Description") != cfg.get("description") or found.get("KmsKeyId", DEFAULT_KEY) != key:
                sm.update_secret(SecretId=found["ARN"], KmsKeyId=key, **_description(cfg))
                changed = True
        del value, done  # the value lives no longer than its copy
        arn = found["ARN"]
        changed |= self._policy(sm, arn, resource, t, warnings)
        if ctx.mode == Mode.RECOVER:
            changed |= self._rotation(sm, arn, resource, t, warnings)
        return Applied(arn, created=created, changed=changed, warnings=warnings,
                       details={"name": self._name(resource, ctx)})

    def _value(self, resource: Resource, ctx: ApplyContext, found: dict[str, Any] | None) -> str:
        """The value to copy: the source's, read now, on a nightly run; else (a failover or a drill, the primary
        dark) the copy on the recovery side: this run's own, or for a drill production's staged one."""
        if ctx.source is not None:
            return ctx.source.client("secretsmanager").get_secret_value(SecretId=resource.source_id)["SecretString"]
        staged = found or (self._existing(resource, ctx, _Production(ctx.plan)) if ctx.drill_id else None)
        if staged is None:
            raise Unrecoverable(f"secret {resource.name}: its value is never kept in the recovery point, and no "
                                f"nightly copy of it is in {ctx.recovery.region}; run a nightly staging first")
        return ctx.recovery.client("secretsmanager").get_secret_value(SecretId=staged["ARN"])["SecretString"]

    @staticmethod
    def _policy(sm: Any, arn: str, resource: Resource, t: Any, warnings: list[str]) -> bool:
        have = sm.get_resource_policy(SecretId=arn).get("ResourcePolicy")
        wanted = None
        if resource.config.get("policy"):
            done = translate(resource.config["policy"], t)
            warnings += [f"ResourcePolicy: {w}" for w in done.warnings]
            wanted = done.document
        if (json.loads(have) if have else None) == wanted:
            return False
        if wanted is None:
            sm.delete_resource_policy(SecretId=arn)
        else:
            sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(wanted, sort_keys=True))
        return True

    @staticmethod
    def _rotation(sm: Any, arn: str, resource: Resource, t: Any, warnings: list[str]) -> bool:
        """At a failover, rotation by the recovered rotation function, on the source's schedule (not at once:
        the recovered application reads the value it has first)."""
        rotation = resource.config.get("rotation")
        if not rotation:
            return False
        done = translate(rotation["lambda"], t)
        warnings += [f"RotationLambdaARN: {w}" for w in done.warnings]
        have = sm.describe_secret(SecretId=arn)
        if have.get("RotationEnabled") and have.get("RotationLambdaARN") == done.document:
            return False
        rules = {k: v for k, v in rotation["rules"].items() if k in ("AutomaticallyAfterDays", "Duration",
                                                                     "ScheduleExpression")}
        sm.rotate_secret(SecretId=arn, RotationLambdaARN=done.document, RotationRules=rules, RotateImmediately=False)
        return True

    # ---- audit, drills, console ------------------------------------------------------------------------

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        """The recovered value, parsed, and the resource policy: core.audit reports only a finding's path and
        matched token (the primary's region, account or endpoint), never the document it scanned."""
        sm = ctx.recovery.client("secretsmanager")
        try:
            value = sm.get_secret_value(SecretId=recovered_id).get("SecretString") or ""
            policy = sm.get_resource_policy(SecretId=recovered_id).get("ResourcePolicy")
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return {}
            raise
        return {"SecretString": _document(value), **({"ResourcePolicy": json.loads(policy)} if policy else {})}

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' secrets, by drflow's tags, deleted at once (no recovery window)."""
        sm = ctx.recovery.client("secretsmanager")
        gone = []
        for listed in paginate(sm, "list_secrets", "SecretList"):
            if ctx.matches(listed.get("Tags")):
                try:
                    sm.delete_secret(SecretId=listed["ARN"], ForceDeleteWithoutRecovery=True)
                except ClientError as exc:
                    if error_code(exc) in NOT_FOUND:
                        continue
                    raise
                gone.append(listed["Name"])
        return sorted(gone)

    def console_url(self, recovered_id: str, region: str) -> str:
        name = recovered_id.split(":secret:", 1)[-1].rsplit("-", 1)[0]
        return f"{console_host(region)}/secretsmanager/secret?name={quote(name, safe='')}&region={region}"


class _Production:
    """A run of production's kind for `owned`: a drill copies the secret production's nightly staged."""

    def __init__(self, plan: Plan) -> None:
        self.plan, self.drill_id = plan, None


def _description(cfg: dict[str, Any]) -> dict[str, str]:
    return {"Description": cfg["description"]} if cfg.get("description") else {}
