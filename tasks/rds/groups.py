"""RDS groups: the DB subnet, parameter and option groups that databases use, staged in the recovery region.

Support for the database handlers of tasks/rds/databases.py, split out of it to keep both short. Four resource types,
each named by its group name: `rds:db-subnet-group`, `rds:db-parameter-group`, `rds:db-cluster-parameter-group`,
`rds:option-group`. They are staged nightly (they cost nothing), so that a failover only restores databases;
each is compared with its source before any write, and only the difference is written. AWS's default.* groups
are never copied: a database that uses one gets the recovery region's default of its family.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.aws import Side, paginate
from core.capabilities import ClaimsArnKinds, Cleaner
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable, delete_quietly, tags_of
from core.models import Phase, Resource, resource_key
from core.ownership import owned, recovered_name
from core.plan import Plan

from .common import (CLUSTER_PARAMETER_GROUP, OPTION_GROUP, PARAMETER_GROUP, SUBNET_GROUP, describe_one, is_default,
                     RDS_NAMING, GROUP_NAME_LIMIT, not_ours)


def _sync_tags(rds: Any, arn: str, current: dict[str, str], wanted: dict[str, str]) -> bool:
    """Add drflow's and the source's tags that are missing; never remove someone else's. True: a write."""
    missing = [{"Key": k, "Value": v} for k, v in sorted(wanted.items()) if current.get(k) != v]
    if missing:
        rds.add_tags_to_resource(ResourceName=arn, Tags=missing)
    return bool(missing)


def _tags_of_arn(rds: Any, arn: str) -> dict[str, str]:
    return tags_of({"Tags": rds.list_tags_for_resource(ResourceName=arn)["TagList"]})


class _Group:
    """What the four group handlers share: name = identity, adopt by drflow's tags, compare before writing."""

    type: ClassVar[str]
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    what: ClassVar[str]
    prefix: ClassVar[str]   # DBSubnetGroup: the response's fields and the name parameter start with it
    word: ClassVar[str]     # db_subnet_group: operations are describe_<word>s, create_<word>, ...
    list_key: ClassVar[str | None] = None  # the listing's result key, when it is not <prefix>s

    def _describe(self, rds: Any, name: str) -> dict[str, Any] | None:
        return describe_one(rds, f"describe_{self.word}s", self.list_key or f"{self.prefix}s",
                             **{f"{self.prefix}Name": name})

    def _existing(self, resource: Resource, ctx: ApplyContext) -> tuple[str, dict[str, Any] | None, dict[str, str]]:
        rds = ctx.recovery.client("rds")
        # AWS reserves "default" (the default VPC's subnet group): its counterpart needs a name of its own
        name = recovered_name(f"drflow-{ctx.plan.name}-default".lower() if resource.source_id == "default"
                              else resource.source_id, ctx, GROUP_NAME_LIMIT, **RDS_NAMING)
        item = self._describe(rds, name)
        if item is None:
            return name, None, {}
        tags = _tags_of_arn(rds, item[f"{self.prefix}Arn"])
        if not owned(tags, resource, ctx):
            raise not_ours(self.what, name, ctx)
        return name, item, tags

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        name, item, _ = self._existing(resource, ctx)
        return name if item else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        name, item, tags = self._existing(resource, ctx)
        rds = ctx.recovery.client("rds")
        if item is None:
            self._create(rds, name, resource, ctx)
            self._reconcile(rds, name, resource, ctx, None)
            return Applied(name, created=True)
        changed = self._reconcile(rds, name, resource, ctx, item)
        changed |= _sync_tags(rds, item[f"{self.prefix}Arn"], tags, ctx.tags(resource))
        return Applied(name, changed=changed)

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' groups of this kind (the drill's name suffix, and drflow's tags, say whose they are); run
        after the databases that used them are deleted."""
        rds = ctx.recovery.client("rds")
        out = []
        for group in self._discover_groups(ctx.recovery):
            name = group[f"{self.prefix}Name"]
            if ctx.matches(_tags_of_arn(rds, group[f"{self.prefix}Arn"])) and delete_quietly(
                    getattr(rds, f"delete_{self.word}"), **{f"{self.prefix}Name": name}):
                out.append(name)
        return out

    def _discover_groups(self, source: Side) -> list[dict[str, Any]]:
        rds = source.client("rds")
        return [g for g in paginate(rds, f"describe_{self.word}s", self.list_key or f"{self.prefix}s")
                if not is_default(g[f"{self.prefix}Name"])]

    def _resource(self, source: Side, group: dict[str, Any], config: dict[str, Any],
                  dependencies: list[str] | None = None) -> Resource:
        name = group[f"{self.prefix}Name"]
        arn = group[f"{self.prefix}Arn"]
        return Resource(type=self.type, source_id=name, name=name, arn=arn, config=config,
                        tags=_tags_of_arn(source.client("rds"), arn), dependencies=sorted(dependencies or []))

    def _create(self, rds: Any, name: str, resource: Resource, ctx: ApplyContext) -> None:
        raise NotImplementedError

    def _reconcile(self, rds: Any, name: str, resource: Resource, ctx: ApplyContext,
                   item: dict[str, Any] | None) -> bool:
        return False


class SubnetGroupHandler(_Group, ClaimsArnKinds, Cleaner):
    type: ClassVar[str] = SUBNET_GROUP
    phase: ClassVar[Phase] = Phase.DATA
    arn_kinds: ClassVar[tuple[str, ...]] = ("rds:subgrp",)
    what: ClassVar[str] = "DB subnet group"
    prefix: ClassVar[str] = "DBSubnetGroup"
    word: ClassVar[str] = "db_subnet_group"

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for group in self._discover_groups(source):
            subnets = sorted(resource_key("ec2:subnet", s["SubnetIdentifier"]) for s in group.get("Subnets", []))
            out.append(self._resource(source, group, {
                "description": group.get("DBSubnetGroupDescription") or group["DBSubnetGroupName"],
                "vpc": resource_key("ec2:vpc", group.get("VpcId", "")), "subnets": subnets}, subnets))
        return out

    def _subnets(self, resource: Resource, ctx: ApplyContext) -> list[str]:
        ids = [ctx.ref(k) for k in resource.config["subnets"]]
        if not all(ids):
            raise Unrecoverable(f"subnet group {resource.source_id}: not all of its subnets were recovered")
        return sorted(ids)  # type: ignore[arg-type]

    def _create(self, rds: Any, name: str, resource: Resource, ctx: ApplyContext) -> None:
        rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription=resource.config["description"],
                                   SubnetIds=self._subnets(resource, ctx), Tags=ctx.tag_list(resource))

    def _reconcile(self, rds: Any, name: str, resource: Resource, ctx: ApplyContext,
                   item: dict[str, Any] | None) -> bool:
        if item is None:
            return False
        wanted = self._subnets(resource, ctx)
        current = sorted(s["SubnetIdentifier"] for s in item.get("Subnets", []))
        if current == wanted and item.get("DBSubnetGroupDescription") == resource.config["description"]:
            return False
        rds.modify_db_subnet_group(DBSubnetGroupName=name, SubnetIds=wanted,
                                   DBSubnetGroupDescription=resource.config["description"])
        return True


class _ParameterGroup(_Group):
    """DB and DB cluster parameter groups: the family, and the parameters set by the user."""

    parameters_op: ClassVar[str]

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        rds = source.client("rds")
        out = []
        for group in self._discover_groups(source):
            name = group[f"{self.prefix}Name"]
            out.append(self._resource(source, group, {
                "family": group["DBParameterGroupFamily"], "description": group.get("Description") or name,
                "parameters": self._parameters(rds, name)}))
        return out

    def _parameters(self, rds: Any, name: str) -> dict[str, dict[str, str]]:
        items = paginate(rds, self.parameters_op, "Parameters", **{f"{self.prefix}Name": name}, Source="user")
        return {p["ParameterName"]: {"value": p.get("ParameterValue", ""), "apply": p.get("ApplyMethod") or
                                     "pending-reboot"} for p in items if "ParameterValue" in p}

    def _create(self, rds: Any, name: str, resource: Resource, ctx: ApplyContext) -> None:
        getattr(rds, f"create_{self.word}")(**{f"{self.prefix}Name": name},
                                            DBParameterGroupFamily=resource.config["family"],
                                            Description=resource.config["description"], Tags=ctx.tag_list(resource))

    def _reconcile(self, rds: Any, name: str, resource: Resource, ctx: ApplyContext,
                   item: dict[str, Any] | None) -> bool:
        wanted: dict[str, dict[str, str]] = resource.config["parameters"]
        current = self._parameters(rds, name) if item else {}
        changes = [{"ParameterName": k, "ParameterValue": v["value"], "ApplyMethod": v["apply"]}
                   for k, v in sorted(wanted.items()) if current.get(k, {}).get("value") != v["value"]]
        extra = [{"ParameterName": k, "ApplyMethod": "pending-reboot"} for k in sorted(set(current) - set(wanted))]
        for i in range(0, len(changes), 20):  # the API takes at most 20 parameters per call
            getattr(rds, f"modify_{self.word}")(**{f"{self.prefix}Name": name}, Parameters=changes[i:i + 20])
        for i in range(0, len(extra), 20):
            getattr(rds, f"reset_{self.word}")(**{f"{self.prefix}Name": name}, Parameters=extra[i:i + 20])
        return bool(changes or extra)


class ParameterGroupHandler(_ParameterGroup, ClaimsArnKinds, Cleaner):
    type: ClassVar[str] = PARAMETER_GROUP
    phase: ClassVar[Phase] = Phase.DATA
    arn_kinds: ClassVar[tuple[str, ...]] = ("rds:pg",)
    what: ClassVar[str] = "DB parameter group"
    prefix: ClassVar[str] = "DBParameterGroup"
    word: ClassVar[str] = "db_parameter_group"
    parameters_op: ClassVar[str] = "describe_db_parameters"


class ClusterParameterGroupHandler(_ParameterGroup, ClaimsArnKinds, Cleaner):
    type: ClassVar[str] = CLUSTER_PARAMETER_GROUP
    phase: ClassVar[Phase] = Phase.DATA
    arn_kinds: ClassVar[tuple[str, ...]] = ("rds:cluster-pg",)
    what: ClassVar[str] = "DB cluster parameter group"
    prefix: ClassVar[str] = "DBClusterParameterGroup"
    word: ClassVar[str] = "db_cluster_parameter_group"
    parameters_op: ClassVar[str] = "describe_db_cluster_parameters"


def _options(group: dict[str, Any], sg_key: Any) -> list[dict[str, Any]]:
    """An option group's options, normalised for comparison; security groups through `sg_key`."""
    out = []
    for option in group.get("Options", []):
        entry: dict[str, Any] = {"OptionName": option["OptionName"]}
        if option.get("Port"):
            entry["Port"] = option["Port"]
        if option.get("OptionVersion"):
            entry["OptionVersion"] = option["OptionVersion"]
        settings = sorted((s["Name"], s["Value"]) for s in option.get("OptionSettings", []) if s.get("Value"))
        if settings:
            entry["OptionSettings"] = [{"Name": n, "Value": v} for n, v in settings]
        groups = sorted(sg_key(g["VpcSecurityGroupId"]) for g in option.get("VpcSecurityGroupMemberships", []))
        if groups:
            entry["VpcSecurityGroupMemberships"] = groups
        out.append(entry)
    return sorted(out, key=lambda o: o["OptionName"])


class OptionGroupHandler(_Group, ClaimsArnKinds, Cleaner):
    type: ClassVar[str] = OPTION_GROUP
    phase: ClassVar[Phase] = Phase.DATA
    arn_kinds: ClassVar[tuple[str, ...]] = ("rds:og",)
    what: ClassVar[str] = "option group"
    prefix: ClassVar[str] = "OptionGroup"
    word: ClassVar[str] = "option_group"
    list_key: ClassVar[str | None] = "OptionGroupsList"

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for group in self._discover_groups(source):
            options = _options(group, lambda g: resource_key("ec2:security-group", g))
            deps = {k for o in options for k in o.get("VpcSecurityGroupMemberships", [])}
            out.append(self._resource(source, group, {
                "engine": group["EngineName"], "major_version": group["MajorEngineVersion"],
                "description": group.get("OptionGroupDescription") or group["OptionGroupName"],
                "options": options}, sorted(deps)))
        return out

    def _create(self, rds: Any, name: str, resource: Resource, ctx: ApplyContext) -> None:
        cfg = resource.config
        rds.create_option_group(OptionGroupName=name, EngineName=cfg["engine"], MajorEngineVersion=cfg["major_version"],
                                OptionGroupDescription=cfg["description"], Tags=ctx.tag_list(resource))

    def _reconcile(self, rds: Any, name: str, resource: Resource, ctx: ApplyContext,
                   item: dict[str, Any] | None) -> bool:
        wanted = [{**o, **({"VpcSecurityGroupMemberships": sorted(ctx.ref(k) for k in o["VpcSecurityGroupMemberships"])}
                           if "VpcSecurityGroupMemberships" in o else {})} for o in resource.config["options"]]
        current = _options(item or {}, lambda g: g)
        if wanted == current:
            return False
        remove = sorted({o["OptionName"] for o in current} - {o["OptionName"] for o in wanted})
        kwargs: dict[str, Any] = {"OptionGroupName": name, "ApplyImmediately": True}
        if wanted:
            kwargs["OptionsToInclude"] = wanted
        if remove:
            kwargs["OptionsToRemove"] = remove
        rds.modify_option_group(**kwargs)
        return True
