"""SSM parameters: the configuration an application reads at start, put in the recovery region under the same
name (its hierarchy path kept), with its values translated to what the recovered workload answers at.

A parameter costs nothing idle (standard tier), so it is staged nightly (pilot light) and adopted at failover.
Kept: type, value, description, allowed pattern, data type, tier, tags; a SecureString is encrypted with the
mapped key (core.keys; the default `alias/aws/ssm` maps to the recovery region's own in a same-account plan).

Values: a String or StringList value is configuration, not a secret: it is captured in the recovery point and
translated (core.policy.translate) with the recovered endpoints of what it names (a queue URL, a bucket: the
parameter depends on them through core.scope.refer_endpoints, which reads the captured value). A SecureString
value is never captured: the nightly run copies it directly, source `GetParameter(WithDecryption)` to recovery
`PutParameter`, only when the recovery side's value differs; a failover (the primary dark) reads the value
staged on the recovery side and translates that. The value is dropped right after the write and never appears
in a detail, warning, log or exception of drflow's.

A drill's parameter is the same path under a drill prefix, `/drflow-drill-<5 hex of the drill id>/shop/config/x`:
a path (not a suffixed last segment) so that an application that reads its configuration by path
(GetParametersByPath) is pointed at the drill's tree as a whole; `cleanup` removes them by drflow's tags.
"""

from __future__ import annotations

from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.artifacts import console_host
from core.aws import Side, error_code, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable, delete_quietly
from core.keys import KeyCatalog, created_key, key_links, recovery_key
from core.models import Phase, Resource
from core.ownership import in_scope, owned, recovered_name, tag_dict
from core.plan import Plan
from core.policy import translate

PARAMETER = "ssm:parameter"
SECURE = "SecureString"
LIST = "StringList"
NOT_FOUND = {"ParameterNotFound"}
DRILL_PREFIX = "/drflow-drill"
# PutParameter's optional fields a recovered parameter keeps, as DescribeParameters names them (botocore's ssm
# model, ParameterMetadata); Policies (advanced tier only) are not carried
KEPT = ("Description", "AllowedPattern", "DataType")


def _arn(region: str, account: str, name: str) -> str:
    # an ARN names a parameter by its name without the leading slash (AWS: "Working with parameter hierarchies")
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def _name_of(arn: str) -> str:
    name = arn.split(":parameter/", 1)[1]
    return name if "/" not in name else "/" + name


class ParameterHandler(ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack, Audited):
    type: ClassVar[str] = PARAMETER
    phase: ClassVar[Phase] = Phase.DATA
    pilot_light: ClassVar[bool] = True  # a standard parameter costs nothing
    arn_kinds: ClassVar[tuple[str, ...]] = ("ssm:parameter",)
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    not_failed_back: ClassVar[str] = ("the primary's parameters serve again as they were; a value changed on the "
                                      "recovery side during the outage is not copied back")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        """The parameters that carry the plan's scope tags (nothing links to a parameter, so no other is read).
        A SecureString's value is not read here: only the nightly copy reads it."""
        if plan.scope.resource_types and PARAMETER not in plan.scope.resource_types:
            return []
        ssm = source.client("ssm")
        catalog: KeyCatalog | None = None
        out = []
        for meta in paginate(ssm, "describe_parameters", "Parameters"):
            name = meta["Name"]
            try:
                tags = tag_dict(ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name).get("TagList"))
                if not in_scope(tags, plan.scope.tags):
                    continue
                value = None if meta["Type"] == SECURE else ssm.get_parameter(Name=name)["Parameter"]["Value"]
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND | {"InvalidResourceId"}:  # deleted between the listing and now
                    continue
                raise
            key = None
            if meta["Type"] == SECURE:
                catalog = catalog or KeyCatalog(source)
                key = catalog.describe(meta.get("KeyId") or "alias/aws/ssm")
            arn = _arn(source.region, plan.source.account_id, name)
            out.append(Resource(
                type=PARAMETER, source_id=arn, name=name, arn=arn, tags=tags, links=key_links(plan, key),
                config={"type": meta["Type"], "tier": meta.get("Tier", "Standard"), "value": value, "kms_key": key,
                        **{k: meta[k] for k in KEPT if meta.get(k)}}))
        return out

    # ---- the recovered parameter -----------------------------------------------------------------------

    @staticmethod
    def _name(resource: Resource, ctx: ApplyContext | CleanupContext) -> str:
        if not ctx.drill_id:
            return resource.name
        return DRILL_PREFIX + recovered_name("", ctx) + "/" + resource.name.lstrip("/")

    @staticmethod
    def _read(ssm: Any, name: str) -> dict[str, Any] | None:
        """The recovery side's parameter (its value decrypted), or None."""
        try:
            return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise

    def _existing(self, resource: Resource, ctx: ApplyContext) -> tuple[str, dict[str, Any] | None]:
        """(the recovered parameter's name, the parameter when drflow made it); one of that name that is not
        drflow's is refused, never overwritten."""
        ssm, name = ctx.recovery.client("ssm"), self._name(resource, ctx)
        found = self._read(ssm, name)
        if found and not owned(ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name).get("TagList"),
                               resource, ctx):
            raise Unrecoverable(f"parameter {name} already exists in {ctx.recovery.region} and is not drflow's copy "
                                "for this plan; rename or remove it")
        return name, found

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        name, found = self._existing(resource, ctx)
        return _arn(ctx.recovery.region, ctx.plan.recovery.account_id, name) if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ssm, cfg = ctx.recovery.client("ssm"), resource.config
        name, found = self._existing(resource, ctx)
        secure = cfg["type"] == SECURE
        value = cfg["value"] if not secure else self._secure_value(resource, ctx, found)
        warnings: list[str] = []
        done = translate(value, ctx.translation(resource))
        value = done.document
        # a SecureString's warnings would quote its value: only how many fields still name the primary is said
        warnings += ([f"Value: {len(done.warnings)} reference(s) to the primary kept (a SecureString value is not "
                      "shown)"] if secure and done.warnings else [f"Value: {w}" for w in done.warnings])
        wanted: dict[str, Any] = {"Type": cfg["type"], **{k: cfg[k] for k in KEPT if cfg.get(k)}}
        if cfg.get("tier") == "Advanced":
            wanted["Tier"] = "Advanced"  # Standard is the default; an Advanced parameter cannot go back to it
        if secure:
            wanted["KeyId"] = recovery_key(ctx.plan, cfg["kms_key"], created_key(ctx, cfg["kms_key"]))
        created = changed = False
        if found is None:  # one call with its tags: nothing half-made to find again
            ssm.put_parameter(Name=name, Value=value, Tags=ctx.tag_list(resource), **wanted)
            created = True
        elif found["Value"] != value or self._drift(ssm, name, wanted):
            ssm.put_parameter(Name=name, Value=value, Overwrite=True, **wanted)
            changed = True
        del value, found, done  # a SecureString value lives no longer than its copy
        return Applied(_arn(ctx.recovery.region, ctx.plan.recovery.account_id, name), created=created,
                       changed=changed, warnings=warnings, details={"name": name, "type": cfg["type"]})

    @staticmethod
    def _drift(ssm: Any, name: str, wanted: dict[str, Any]) -> bool:
        have = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
        have = have[0] if have else {}
        return any(have.get(k, "Standard" if k == "Tier" else None) != v for k, v in wanted.items())

    def _secure_value(self, resource: Resource, ctx: ApplyContext, found: dict[str, Any] | None) -> str:
        """A SecureString's value: the source's, read now, on a nightly run; else (a failover or drill, the
        primary dark) the copy the nightly runs staged on the recovery side."""
        if ctx.source is not None:
            return ctx.source.client("ssm").get_parameter(Name=resource.name, WithDecryption=True)["Parameter"]["Value"]
        if found is not None:
            return found["Value"]
        staged = self._read(ctx.recovery.client("ssm"), resource.name) if ctx.drill_id else None
        if staged is None or not owned(ctx.recovery.client("ssm").list_tags_for_resource(
                ResourceType="Parameter", ResourceId=resource.name).get("TagList"), resource,
                _Production(ctx.plan)):
            raise Unrecoverable(f"SecureString {resource.name}: its value is never kept in the recovery point, and "
                                f"no nightly copy of it is in {ctx.recovery.region}; run a nightly staging first")
        return staged["Value"]

    # ---- audit, drills, console ------------------------------------------------------------------------

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        """The recovered value, decrypted: core.audit reports only a finding's path and matched token (the
        primary's region, account or endpoint), never the document it scanned."""
        found = self._read(ctx.recovery.client("ssm"), _name_of(recovered_id))
        return {"Value": found["Value"]} if found else {}

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' parameters, by drflow's tags."""
        ssm = ctx.recovery.client("ssm")
        gone = []
        for meta in paginate(ssm, "describe_parameters", "Parameters"):
            try:
                tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=meta["Name"]).get("TagList")
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND | {"InvalidResourceId"}:
                    continue
                raise
            if ctx.matches(tags) and _delete(ssm, meta["Name"]):
                gone.append(meta["Name"])
        return sorted(gone)

    def console_url(self, recovered_id: str, region: str) -> str:
        return (f"{console_host(region)}/systems-manager/parameters/{_name_of(recovered_id).lstrip('/')}"
                f"/description?region={region}")


class _Production:
    """A run of production's kind for `owned`: a drill reads the SecureString production's nightly staged."""

    def __init__(self, plan: Plan) -> None:
        self.plan, self.drill_id = plan, None


def _delete(ssm: Any, name: str) -> bool:
    try:
        return delete_quietly(ssm.delete_parameter, Name=name)
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return False
        raise

