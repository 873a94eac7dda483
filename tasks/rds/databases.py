"""RDS and Aurora databases: DB instances and clusters come back from snapshot copies.

Two resource types, each named by its RDS identifier (so that a plan's `servers.x.depends_on:
["rds:orders"]` finds the database): `rds:db-cluster` (Aurora) and `rds:db-instance` (standalone, or an
Aurora member). Nightly, the snapshot chosen at discovery (tasks/rds/snapshots.py) is copied into the
recovery region and re-encrypted with the mapped KMS key; at failover the database is restored from the
copy its recovery point names, into the recovered subnet group and security groups, with the source's
engine, class, storage, Multi-AZ, groups and port. An Aurora member has nothing to stage (the cluster
snapshot holds its data); at failover it is created inside the restored cluster.

The groups a database uses (subnet, parameter, option groups) are their own resources, staged nightly by
tasks/rds/groups.py; a database refers to them by key. What both modules share is in tasks/rds/common.py.

A drill restores under the source identifier plus a short suffix, tagged with the drill id, so that it
never meets the production copies; a re-run adopts what it finds by identifier and drflow's tags.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from core.artifacts import console_host
from core.aws import Side, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, ConsoleLink, FailsBack, Preflight
from core.failback import FailbackContext, FailbackPhase, Step
from core.handler import Applied, ApplyContext, CleanupContext, ScopeError, Unrecoverable, delete_quietly, tags_of
from core.keys import KeyCatalog, created_key, key_links, key_problems, recovery_key, snapshot_key_problems
from core.models import Outcome, Phase, Resource, resource_key
from core.ownership import in_scope, owned, recovered_name
from core.plan import Plan

from .common import (CLUSTER, CLUSTER_PARAMETER_GROUP, INSTANCE, OPTION_GROUP, PARAMETER_GROUP, RDS_NAMING,
                     SUBNET_GROUP, describe_one, is_default, not_ours)
from .snapshots import (CLUSTER_SNAPSHOTS, INSTANCE_SNAPSHOTS, SnapshotApi, choose_snapshot, copy_back, copy_problem,
                        ready_copy, source_snapshots, stage_copy)

NOT_RDS = ("neptune", "docdb")  # engines describe_db_* also lists, which are other services
DB_WAIT = {"Delay": 30, "MaxAttempts": 180}  # a restore of a large database takes up to an hour or so
MAX_DB_ID = 63


def _in_scope(plan: Plan, type_: str, tags: dict[str, str]) -> bool:
    types = plan.scope.resource_types
    return (not types or type_ in types) and in_scope(tags, plan.scope.tags)


def _group_key(type_: str, name: str | None) -> str | None:
    """The group resource a database uses; None for AWS's default.* groups (the recovery region has its own)."""
    return None if is_default(name) else resource_key(type_, name)  # type: ignore[arg-type]


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
    failback_phase: ClassVar[FailbackPhase] = FailbackPhase.DATA
    failback_plan: ClassVar[str]

    def fail_back(self, resource: Resource, ctx: FailbackContext) -> Step:
        """Snapshot the recovered database and copy the snapshot into the primary (snapshots.py `copy_back`);
        the restore is the operator's call."""
        aws, plan, marker = ctx.aws, ctx.plan, ctx.marker
        if resource.config.get("cluster"):
            return Step(Outcome.SKIPPED, None, {"reason": "an Aurora member: its data is in its cluster's snapshot"})
        details = copy_back(resource, plan, aws.recovery, aws.source, self.api, resource.source_id,
                            marker["completed_at"])
        details["restore"] = "not done: restore from the copy (or keep the original database) is the operator's call"
        return Step(Outcome.CREATED if details["copied"] else Outcome.ADOPTED, details["copy"], details)

    def _describe(self, rds: Any, identifier: str) -> dict[str, Any] | None:
        return describe_one(rds, f"describe_{'db_instances' if self.noun == 'DBInstance' else 'db_clusters'}",
                             f"{self.noun}s", **{f"{self.noun}Identifier": identifier})

    def _recovered(self, resource: Resource, ctx: ApplyContext) -> tuple[str, dict[str, Any] | None]:
        """(recovered identifier, what drflow already restored under it); someone else's is refused."""
        rid = recovered_name(resource.source_id, ctx, MAX_DB_ID, **RDS_NAMING)
        item = self._describe(ctx.recovery.client("rds"), rid)
        if item is not None and not owned(item.get("TagList"), resource, ctx):
            raise not_ours(self.what, rid, ctx)
        return rid, item

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        if ctx.staging:
            snap = resource.data.get("snapshot")
            found = snap and self.api.describe(ctx.recovery.client("rds"), snap["copy"])
            return snap["copy"] if found else None
        rid, item = self._recovered(resource, ctx)
        return rid if item else None

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """Each database's key still has a mapping (and, cross-account, lets the recovery account copy the
        snapshots shared with it); at failover, the copy its recovery point names exists and
        no database that is not drflow's holds the identifier to restore under."""
        problems: list[tuple[str, str]] = []
        for resource in resources:
            what = f"{self.what} {resource.source_id}"
            problems += key_problems(ctx.plan, resource.config.get("kms_key"), what, shared=True)
            if ctx.staging:
                continue
            problem = copy_problem(resource, ctx, self.api)
            try:
                self._recovered(resource, ctx)
            except Unrecoverable as exc:
                problem = "; ".join(filter(None, [problem, str(exc)]))
            if problem:
                problems.append((resource.key, problem))
        if ctx.staging:  # before the nightly writes: the recovery account can copy the snapshots shared with it
            problems += snapshot_key_problems(ctx.plan, resources, ctx.source)
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
        rds = ctx.recovery.client("rds")
        rds.get_waiter(waiter).wait(**{f"{self.noun}Identifier": rid}, WaiterConfig=DB_WAIT)
        # what the recovered database answers to, read back: an application's connection string names it
        return Applied(rid, created=item is None, details=details, endpoints=endpoints(self._describe(rds, rid)))

    def _create(self, rid: str, resource: Resource, ctx: ApplyContext, details: dict[str, Any]) -> None:
        raise NotImplementedError

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' restored databases (by drflow's tags; a drill's identifier carries its suffix), deleted
        without a final snapshot (a drill's data is a copy of production's) and waited for: their network
        interfaces hold the drill's subnets, and the subnet group cannot go while they exist. Instances run
        before clusters, so an Aurora cluster has no members left when its turn comes."""
        rds = ctx.recovery.client("rds")
        plural = "DBInstances" if self.noun == "DBInstance" else "DBClusters"
        items = [i for i in paginate(rds, f"describe_{'db_instances' if self.noun == 'DBInstance' else 'db_clusters'}",
                                     plural) if ctx.matches(tags_of({"Tags": i.get("TagList")}))]
        ids = sorted(i[f"{self.noun}Identifier"] for i in items)
        delete = rds.delete_db_instance if self.noun == "DBInstance" else rds.delete_db_cluster
        extra = {"DeleteAutomatedBackups": True} if self.noun == "DBInstance" else {}
        gone = [rid for rid in ids if delete_quietly(delete, **{f"{self.noun}Identifier": rid},
                                                     SkipFinalSnapshot=True, **extra)]
        waiter = rds.get_waiter("db_instance_deleted" if self.noun == "DBInstance" else "db_cluster_deleted")
        for rid in ids:  # also those another run had begun to delete
            waiter.wait(**{f"{self.noun}Identifier": rid}, WaiterConfig=DB_WAIT)
        return gone

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
            problems += key_problems(plan, key, f"{self.what} {item[f'{self.noun}Identifier']}", shared=True)
        config = {"engine": item["Engine"], "engine_version": item.get("EngineVersion"),
                  "subnet_group": _group_key(SUBNET_GROUP, subnet_group) if subnet_group else None,
                  "security_groups": groups, "kms_key": key,
                  "iam_auth": bool(item.get("IAMDatabaseAuthenticationEnabled")),
                  "deletion_protection": bool(item.get("DeletionProtection")),
                  "copy_tags_to_snapshot": bool(item.get("CopyTagsToSnapshot"))}
        deps = groups + ([config["subnet_group"]] if config["subnet_group"] else [])
        return config, deps


def endpoints(item: dict[str, Any] | None) -> dict[str, str]:
    """A database's endpoints by name, as a connection string names them: an instance's address, a cluster's
    writer and reader endpoints (core/references.py rewrites them wherever a document holds them)."""
    if not item:
        return {}
    found = {"address": (item.get("Endpoint") or {}).get("Address") if isinstance(item.get("Endpoint"), dict)
             else None,
             "writer": item.get("Endpoint") if isinstance(item.get("Endpoint"), str) else None,
             "reader": item.get("ReaderEndpoint")}
    return {name: value for name, value in found.items() if value}


class DbClusterHandler(_Database, ClaimsArnKinds, Preflight, Cleaner, ConsoleLink, FailsBack):
    type: ClassVar[str] = CLUSTER
    phase: ClassVar[Phase] = Phase.DATA
    failback_plan: ClassVar[str] = "snapshot the recovered cluster, copy the snapshot into the primary"
    arn_kinds: ClassVar[tuple[str, ...]] = ("rds:cluster",)
    api: ClassVar[SnapshotApi] = CLUSTER_SNAPSHOTS
    what: ClassVar[str] = "DB cluster"
    noun: ClassVar[str] = "DBCluster"

    def console_url(self, recovered_id: str, region: str) -> str:
        return f"{console_host(region)}/rds/home?region={region}#database:id={recovered_id};is-cluster=true"

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
                tags=tags_of({"Tags": cluster.get("TagList")}), endpoints=endpoints(cluster),
                dependencies=sorted(set(deps + ([config["parameter_group"]] if config["parameter_group"] else []))),
                links=key_links(plan, config["kms_key"]),
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
        key = recovery_key(ctx.plan, cfg["kms_key"], created_key(ctx, cfg["kms_key"]))
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


class DbInstanceHandler(_Database, ClaimsArnKinds, Preflight, Cleaner, ConsoleLink, FailsBack):
    type: ClassVar[str] = INSTANCE
    phase: ClassVar[Phase] = Phase.DATA
    failback_plan: ClassVar[str] = "snapshot the recovered database, copy the snapshot into the primary"
    arn_kinds: ClassVar[tuple[str, ...]] = ("rds:db",)
    api: ClassVar[SnapshotApi] = INSTANCE_SNAPSHOTS
    what: ClassVar[str] = "DB instance"
    noun: ClassVar[str] = "DBInstance"

    def console_url(self, recovered_id: str, region: str) -> str:
        return f"{console_host(region)}/rds/home?region={region}#database:id={recovered_id};is-cluster=false"

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
                                tags=tags, dependencies=sorted(set(deps + groups)), data=data, endpoints=endpoints(db),
                                links=key_links(plan, config.get("kms_key"))))
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
