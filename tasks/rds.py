"""RDS and Aurora: DB instances and clusters come back from snapshot copies, with the groups they use.

Six resource types, each named by its RDS identifier (so that a plan's `servers.x.depends_on:
["rds:orders"]` finds the database):

- `rds:db-subnet-group`, `rds:db-parameter-group`, `rds:db-cluster-parameter-group`, `rds:option-group`:
  staged nightly in the recovery region (cost-free), compared before any write. AWS's default.* groups
  are never copied: a database that uses one gets the recovery region's default of its family.
- `rds:db-cluster` (Aurora) and `rds:db-instance` (standalone, or an Aurora member): nightly, the
  snapshot chosen at discovery (tasks/rds_snapshots.py) is copied into the recovery region and
  re-encrypted with the mapped KMS key; at failover the database is restored from the copy its
  recovery point names, into the recovered subnet group and security groups, with the source's
  engine, class, storage, Multi-AZ, groups and port. An Aurora member has nothing to stage (the
  cluster snapshot holds its data); at failover it is created inside the restored cluster.

A drill restores under the source identifier plus a short suffix, tagged with the drill id, so that it
never meets the production copies; a re-run adopts what it finds by identifier and drflow's tags.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.aws import Side, error_code, paginate
from core.handler import (TAG_PLAN, TAG_SOURCE_ID, Applied, ApplyContext, ScopeError, Unrecoverable, tags_of)
from core.keys import KeyCatalog, key_dependencies, key_problems, recovery_key
from core.models import Resource, resource_key
from core.plan import Plan
from tasks.rds_snapshots import (CLUSTER_SNAPSHOTS, INSTANCE_SNAPSHOTS, SnapshotApi, choose_snapshot, copy_problem,
                                 created_key, ready_copy, source_snapshots, stage_copy)

SUBNET_GROUP = "rds:db-subnet-group"
PARAMETER_GROUP = "rds:db-parameter-group"
CLUSTER_PARAMETER_GROUP = "rds:db-cluster-parameter-group"
OPTION_GROUP = "rds:option-group"
CLUSTER = "rds:db-cluster"
INSTANCE = "rds:db-instance"
NOT_RDS = ("neptune", "docdb")  # engines describe_db_* also lists, which are other services
DB_WAIT = {"Delay": 30, "MaxAttempts": 180}  # a restore of a large database takes up to an hour or so
MAX_DB_ID = 63


def _is_default(name: str | None) -> bool:
    return not name or name.startswith(("default.", "default:"))


def recovered_name(ctx: ApplyContext, name: str, limit: int = 255) -> str:
    """The source name, plus in a drill a short suffix from the drill id (RDS identifiers: max 63 chars)."""
    if not ctx.drill_id:
        return name
    suffix = "-" + hashlib.sha256(ctx.drill_id.encode()).hexdigest()[:6]
    return name[:limit - len(suffix)].rstrip("-") + suffix


def _owned(ctx: ApplyContext, resource: Resource, tags: dict[str, str]) -> bool:
    return (tags.get(TAG_PLAN) == ctx.plan.name and tags.get(TAG_SOURCE_ID) == resource.source_id
            and ctx.owns([{"Key": k, "Value": v} for k, v in tags.items()]))


def _not_ours(what: str, name: str, ctx: ApplyContext) -> Unrecoverable:
    return Unrecoverable(f"{what} {name} already exists in {ctx.recovery.region} and is not drflow's (plan "
                         f"{ctx.plan.name}); rename or delete it")


def _describe_one(client: Any, operation: str, result_key: str, **kwargs: Any) -> dict[str, Any] | None:
    try:
        items = getattr(client, operation)(**kwargs)[result_key]
    except ClientError as exc:
        if "NotFound" in error_code(exc):
            return None
        raise
    return items[0] if items else None


def _sync_tags(rds: Any, arn: str, current: dict[str, str], wanted: dict[str, str]) -> bool:
    """Add drflow's and the source's tags that are missing; never remove someone else's. True: a write."""
    missing = [{"Key": k, "Value": v} for k, v in sorted(wanted.items()) if current.get(k) != v]
    if missing:
        rds.add_tags_to_resource(ResourceName=arn, Tags=missing)
    return bool(missing)


def _tags_of_arn(rds: Any, arn: str) -> dict[str, str]:
    return tags_of({"Tags": rds.list_tags_for_resource(ResourceName=arn)["TagList"]})


def _in_scope(plan: Plan, type_: str, tags: dict[str, str]) -> bool:
    types = plan.scope.resource_types
    return (not types or type_ in types) and all(tags.get(k) == v for k, v in plan.scope.tags.items())


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
        return _describe_one(rds, f"describe_{self.word}s", self.list_key or f"{self.prefix}s",
                             **{f"{self.prefix}Name": name})

    def _existing(self, resource: Resource, ctx: ApplyContext) -> tuple[str, dict[str, Any] | None, dict[str, str]]:
        rds = ctx.recovery.client("rds")
        # AWS reserves "default" (the default VPC's subnet group): its counterpart needs a name of its own
        name = recovered_name(ctx, f"drflow-{ctx.plan.name}-default".lower() if resource.source_id == "default"
                              else resource.source_id)
        item = self._describe(rds, name)
        if item is None:
            return name, None, {}
        tags = _tags_of_arn(rds, item[f"{self.prefix}Arn"])
        if not _owned(ctx, resource, tags):
            raise _not_ours(self.what, name, ctx)
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

    def _discover_groups(self, source: Side) -> list[dict[str, Any]]:
        rds = source.client("rds")
        return [g for g in paginate(rds, f"describe_{self.word}s", self.list_key or f"{self.prefix}s")
                if not _is_default(g[f"{self.prefix}Name"])]

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


class SubnetGroupHandler(_Group):
    type: ClassVar[str] = SUBNET_GROUP
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


class ParameterGroupHandler(_ParameterGroup):
    type: ClassVar[str] = PARAMETER_GROUP
    what: ClassVar[str] = "DB parameter group"
    prefix: ClassVar[str] = "DBParameterGroup"
    word: ClassVar[str] = "db_parameter_group"
    parameters_op: ClassVar[str] = "describe_db_parameters"


class ClusterParameterGroupHandler(_ParameterGroup):
    type: ClassVar[str] = CLUSTER_PARAMETER_GROUP
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


class OptionGroupHandler(_Group):
    type: ClassVar[str] = OPTION_GROUP
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


def _group_key(type_: str, name: str | None) -> str | None:
    """The group resource a database uses; None for AWS's default.* groups (the recovery region has its own)."""
    return None if _is_default(name) else resource_key(type_, name)  # type: ignore[arg-type]


def _storage(db: dict[str, Any]) -> dict[str, Any]:
    """Storage as restore takes it. gp3 below its baseline threshold refuses explicit IOPS/throughput."""
    storage = {"storage_type": db.get("StorageType"), "allocated_storage": db.get("AllocatedStorage")}
    kind, size, engine = db.get("StorageType"), db.get("AllocatedStorage") or 0, db.get("Engine", "")
    gp3_custom = kind == "gp3" and size >= (200 if engine.startswith("oracle") else 20 if engine.startswith(
        "sqlserver") else 400)
    if kind in ("io1", "io2") or gp3_custom:
        storage["iops"] = db.get("Iops")
    if gp3_custom:
        storage["storage_throughput"] = db.get("StorageThroughput")
    return storage


class _Database:
    """What DB instances and Aurora clusters share: the snapshot copy nightly, restore and adoption at failover."""

    type: ClassVar[str]
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    api: ClassVar[SnapshotApi]
    what: ClassVar[str]
    noun: ClassVar[str]  # DBInstance | DBCluster

    def _describe(self, rds: Any, identifier: str) -> dict[str, Any] | None:
        return _describe_one(rds, f"describe_{'db_instances' if self.noun == 'DBInstance' else 'db_clusters'}",
                             f"{self.noun}s", **{f"{self.noun}Identifier": identifier})

    def _recovered(self, resource: Resource, ctx: ApplyContext) -> tuple[str, dict[str, Any] | None]:
        """(recovered identifier, what drflow already restored under it); someone else's is refused."""
        rid = recovered_name(ctx, resource.source_id, MAX_DB_ID)
        item = self._describe(ctx.recovery.client("rds"), rid)
        if item is not None and not _owned(ctx, resource, tags_of({"Tags": item.get("TagList")})):
            raise _not_ours(self.what, rid, ctx)
        return rid, item

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        if ctx.staging:
            snap = resource.data.get("snapshot")
            found = snap and self.api.describe(ctx.recovery.client("rds"), snap["copy"])
            return snap["copy"] if found else None
        rid, item = self._recovered(resource, ctx)
        return rid if item else None

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Each database's key still has a mapping; at failover, the copy its recovery point names exists and
        no database that is not drflow's holds the identifier to restore under."""
        problems: list[tuple[str, str]] = []
        for resource in resources:
            what = f"{self.what} {resource.source_id}"
            problems += key_problems(ctx.plan, resource.config.get("kms_key"), what)
            if ctx.staging:
                continue
            problem = copy_problem(resource, ctx, self.api)
            try:
                self._recovered(resource, ctx)
            except Unrecoverable as exc:
                problem = "; ".join(filter(None, [problem, str(exc)]))
            if problem:
                problems.append((resource.key, problem))
        return problems

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if ctx.staging:
            written, details = stage_copy(resource, ctx, self.api)
            return Applied(None, created=details["copied"], changed=written, details=details)
        rid, item = self._recovered(resource, ctx)
        details: dict[str, Any] = {"adopted": item is not None}
        if item is None:
            self._create(rid, resource, ctx, details)
        waiter = "db_instance_available" if self.noun == "DBInstance" else "db_cluster_available"
        ctx.recovery.client("rds").get_waiter(waiter).wait(**{f"{self.noun}Identifier": rid}, WaiterConfig=DB_WAIT)
        return Applied(rid, created=item is None, details=details)

    def _create(self, rid: str, resource: Resource, ctx: ApplyContext, details: dict[str, Any]) -> None:
        raise NotImplementedError

    def _network(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any]:
        """The recovered subnet group and security groups, as restore calls name them."""
        cfg = resource.config
        kwargs: dict[str, Any] = {"VpcSecurityGroupIds": [ctx.ref(k) for k in cfg["security_groups"]]}
        if cfg.get("subnet_group"):
            kwargs["DBSubnetGroupName"] = ctx.ref(cfg["subnet_group"])
        return kwargs

    def _source_config(self, source: Side, plan: Plan, keys: KeyCatalog, item: dict[str, Any],
                       problems: list[tuple[str, str]]) -> tuple[dict[str, Any], list[str]]:
        """Network, key and common settings of a standalone instance or a cluster, with their dependencies."""
        subnet_group = item.get("DBSubnetGroup")
        subnet_group = subnet_group.get("DBSubnetGroupName") if isinstance(subnet_group, dict) else subnet_group
        groups = sorted(resource_key("ec2:security-group", g["VpcSecurityGroupId"])
                        for g in item.get("VpcSecurityGroups", []))
        key = keys.describe(item.get("KmsKeyId") or "alias/aws/rds") if item.get("StorageEncrypted") else None
        tags = tags_of({"Tags": item.get("TagList")})
        if _in_scope(plan, self.type, tags):
            problems += key_problems(plan, key, f"{self.what} {item[f'{self.noun}Identifier']}")
        config = {"engine": item["Engine"], "engine_version": item.get("EngineVersion"),
                  "subnet_group": _group_key(SUBNET_GROUP, subnet_group) if subnet_group else None,
                  "security_groups": groups, "kms_key": key,
                  "iam_auth": bool(item.get("IAMDatabaseAuthenticationEnabled")),
                  "deletion_protection": bool(item.get("DeletionProtection")),
                  "copy_tags_to_snapshot": bool(item.get("CopyTagsToSnapshot"))}
        deps = groups + ([config["subnet_group"]] if config["subnet_group"] else []) + key_dependencies(plan, key)
        return config, deps


class ClusterHandler(_Database):
    type: ClassVar[str] = CLUSTER
    api: ClassVar[SnapshotApi] = CLUSTER_SNAPSHOTS
    what: ClassVar[str] = "DB cluster"
    noun: ClassVar[str] = "DBCluster"

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        rds = source.client("rds")
        keys, problems, out = KeyCatalog(source), [], []
        snapshots, now = source_snapshots(source, CLUSTER_SNAPSHOTS), datetime.now(timezone.utc)
        for cluster in paginate(rds, "describe_db_clusters", "DBClusters"):
            if cluster["Engine"] in NOT_RDS or cluster.get("Status") == "deleting":
                continue
            cid = cluster["DBClusterIdentifier"]
            config, deps = self._source_config(source, plan, keys, cluster, problems)
            config.update(engine_mode=cluster.get("EngineMode") or "provisioned", port=cluster.get("Port"),
                          parameter_group=_group_key(CLUSTER_PARAMETER_GROUP, cluster.get("DBClusterParameterGroup")),
                          serverless_v2=cluster.get("ServerlessV2ScalingConfiguration"),
                          instance_class=cluster.get("DBClusterInstanceClass"),  # Multi-AZ DB clusters only
                          members=sorted(m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])))
            if config["instance_class"]:
                config.update(_storage(cluster))
            out.append(Resource(
                type=CLUSTER, source_id=cid, name=cid, arn=cluster["DBClusterArn"], config=config,
                tags=tags_of({"Tags": cluster.get("TagList")}),
                dependencies=sorted(set(deps + ([config["parameter_group"]] if config["parameter_group"] else []))),
                data={"snapshot": choose_snapshot(plan, CLUSTER_SNAPSHOTS, cid, cluster["DBClusterArn"],
                                                  snapshots.get(cid, []), now)}))
        if problems:
            raise ScopeError(problems)
        return out

    def _create(self, rid: str, resource: Resource, ctx: ApplyContext, details: dict[str, Any]) -> None:
        """restore_db_cluster_from_snapshot; the members are created by their own resources, after."""
        cfg = resource.config
        details["snapshot_copy"] = ready_copy(resource, ctx, self.api)
        kwargs: dict[str, Any] = {
            "DBClusterIdentifier": rid, "SnapshotIdentifier": details["snapshot_copy"], "Engine": cfg["engine"],
            "EngineVersion": cfg["engine_version"], "Port": cfg["port"], "Tags": ctx.tag_list(resource),
            "EnableIAMDatabaseAuthentication": cfg["iam_auth"], "CopyTagsToSnapshot": cfg["copy_tags_to_snapshot"],
            "DeletionProtection": cfg["deletion_protection"] and not ctx.drill_id, **self._network(resource, ctx)}
        key = recovery_key(ctx.plan, cfg["kms_key"], created_key(resource, ctx))
        if key:
            kwargs["KmsKeyId"] = key
        if cfg["parameter_group"]:
            kwargs["DBClusterParameterGroupName"] = ctx.ref(cfg["parameter_group"])
        if cfg["engine_mode"] != "provisioned":
            kwargs["EngineMode"] = cfg["engine_mode"]
        if cfg["serverless_v2"]:
            kwargs["ServerlessV2ScalingConfiguration"] = cfg["serverless_v2"]
        if cfg["instance_class"]:
            kwargs.update(**_storage_kwargs(cfg), DBClusterInstanceClass=cfg["instance_class"])
        ctx.recovery.client("rds").restore_db_cluster_from_snapshot(**kwargs)


def _storage_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    names = {"storage_type": "StorageType", "allocated_storage": "AllocatedStorage", "iops": "Iops",
             "storage_throughput": "StorageThroughput"}
    return {api: cfg[k] for k, api in names.items() if cfg.get(k)}


class InstanceHandler(_Database):
    type: ClassVar[str] = INSTANCE
    api: ClassVar[SnapshotApi] = INSTANCE_SNAPSHOTS
    what: ClassVar[str] = "DB instance"
    noun: ClassVar[str] = "DBInstance"

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        rds = source.client("rds")
        keys, problems, out = KeyCatalog(source), [], []
        snapshots, now = source_snapshots(source, INSTANCE_SNAPSHOTS), datetime.now(timezone.utc)
        clusters: dict[str, dict[str, Any]] | None = None
        for db in paginate(rds, "describe_db_instances", "DBInstances"):
            if (db["Engine"] in NOT_RDS or db.get("DBInstanceStatus") == "deleting"
                    or db.get("ReadReplicaSourceDBInstanceIdentifier")):  # a replica is rebuilt from its source
                continue
            db_id = db["DBInstanceIdentifier"]
            parameter_group = next((g["DBParameterGroupName"] for g in db.get("DBParameterGroups", [])), None)
            option_group = next((g["OptionGroupName"] for g in db.get("OptionGroupMemberships", [])), None)
            config: dict[str, Any] = {
                "engine": db["Engine"], "engine_version": db.get("EngineVersion"),
                "instance_class": db["DBInstanceClass"], "publicly_accessible": bool(db.get("PubliclyAccessible")),
                "auto_minor_version_upgrade": bool(db.get("AutoMinorVersionUpgrade", True)),
                "parameter_group": _group_key(PARAMETER_GROUP, parameter_group),
                "option_group": _group_key(OPTION_GROUP, option_group)}
            tags = tags_of({"Tags": db.get("TagList")})
            groups = [g for g in (config["parameter_group"], config["option_group"]) if g]
            data: dict[str, Any] = {}
            if db.get("DBClusterIdentifier"):
                if clusters is None:
                    clusters = {c["DBClusterIdentifier"]: c
                                for c in paginate(rds, "describe_db_clusters", "DBClusters")}
                cluster = clusters.get(db["DBClusterIdentifier"], {})
                # an Aurora member is in scope with its cluster: AWS does not copy a cluster's tags to its members
                tags = {**tags_of({"Tags": cluster.get("TagList")}), **tags}
                config.update(cluster=resource_key(CLUSTER, db["DBClusterIdentifier"]),
                              promotion_tier=db.get("PromotionTier"))
                deps = [config["cluster"]]
            else:
                common, deps = self._source_config(source, plan, keys, db, problems)
                config.update(**common, multi_az=bool(db.get("MultiAZ")), license_model=db.get("LicenseModel"),
                              port=(db.get("Endpoint") or {}).get("Port") or db.get("DbInstancePort"), **_storage(db))
                data = {"snapshot": choose_snapshot(plan, INSTANCE_SNAPSHOTS, db_id, db["DBInstanceArn"],
                                                    snapshots.get(db_id, []), now)}
            out.append(Resource(type=INSTANCE, source_id=db_id, name=db_id, arn=db["DBInstanceArn"], config=config,
                                tags=tags, dependencies=sorted(set(deps + groups)), data=data))
        if problems:
            raise ScopeError(problems)
        return out

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if ctx.staging and "cluster" in resource.config:
            return Applied(None, skipped="Aurora member: its data travels in the cluster's snapshot")
        return super().apply(resource, ctx)

    def _create(self, rid: str, resource: Resource, ctx: ApplyContext, details: dict[str, Any]) -> None:
        """An Aurora member joins its restored cluster; a standalone instance is restored from its copy."""
        cfg, rds = resource.config, ctx.recovery.client("rds")
        kwargs = self._common(resource, ctx)
        if "cluster" in cfg:
            cluster = ctx.ref(cfg["cluster"])
            if not cluster:
                raise Unrecoverable(f"Aurora member {resource.source_id}: its cluster was not recovered")
            if cfg.get("promotion_tier") is not None:
                kwargs["PromotionTier"] = cfg["promotion_tier"]
            rds.create_db_instance(DBInstanceIdentifier=rid, DBClusterIdentifier=cluster, Engine=cfg["engine"],
                                   **kwargs)
            details["cluster"] = cluster
            return
        details["snapshot_copy"] = ready_copy(resource, ctx, self.api)
        kwargs.update(**self._network(resource, ctx), **_storage_kwargs(cfg), Port=cfg["port"], MultiAZ=cfg["multi_az"],
                      EnableIAMDatabaseAuthentication=cfg["iam_auth"], CopyTagsToSnapshot=cfg["copy_tags_to_snapshot"],
                      DeletionProtection=cfg["deletion_protection"] and not ctx.drill_id)
        if cfg.get("license_model"):
            kwargs["LicenseModel"] = cfg["license_model"]
        rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier=rid,
                                                 DBSnapshotIdentifier=details["snapshot_copy"], **kwargs)

    def _common(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any]:
        cfg = resource.config
        kwargs: dict[str, Any] = {
            "DBInstanceClass": cfg["instance_class"], "Tags": ctx.tag_list(resource),
            "PubliclyAccessible": cfg["publicly_accessible"] and not ctx.drill_id,  # a drill stays isolated
            "AutoMinorVersionUpgrade": cfg["auto_minor_version_upgrade"]}
        if cfg["parameter_group"]:
            kwargs["DBParameterGroupName"] = ctx.ref(cfg["parameter_group"])
        if cfg["option_group"]:
            kwargs["OptionGroupName"] = ctx.ref(cfg["option_group"])
        return kwargs
