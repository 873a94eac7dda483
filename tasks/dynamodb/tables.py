"""DynamoDB tables: the table an application reads and writes, in the recovery region with its schema, its indexes,
its settings and its rows.

Recovered: key schema, attribute definitions, global and local secondary indexes, billing mode and provisioned
throughput, encryption (the key mapped through the plan, core.keys), TTL, the stream, point-in-time recovery,
deletion protection, tags. How the rows get there is the plan's `tables` setting per table (core.plan.Tables):

- `replica` (same account): a global-table replica in the recovery region, made by nightly staging and adopted at
  failover, current to the second (replicas.py);
- `export` (the default of a cross-account plan): a nightly export into the vault, imported into a new table at
  failover (exports.py); the rows are those of the export's moment (RPO: a night).

The recovered id is the table's ARN; the table's stream ARN is its endpoint `stream`, so that a Lambda event source
mapping on the stream is recreated on the recovered table's stream. A drill's table is a suffixed copy (imported
from the export, or copied from the replica: never the replica itself), removed by `cleanup`.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from botocore.exceptions import ClientError

from core.artifacts import console_host
from core.aws import Side, error_code, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner, ConsoleLink, NotFailedBack, Preflight
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable
from core.keys import KeyCatalog, created_key, key_links, recovery_key
from core.models import Mode, Phase, Resource
from core.ownership import in_scope, owned, recovered_name
from core.plan import Plan

from . import exports, replicas
from .schema import NOT_FOUND, TABLE, active, capture, creation, describe, reconcile, tags

NAME_LIMIT = 255  # CreateTable: TableName, 3-255 characters
# what read_back leaves out: counters, states and times, and the replication topology (a replica lists the
# primary's region by design), none of them a document the recovered application reads
VOLATILE = ("ItemCount", "TableSizeBytes", "TableStatus", "CreationDateTime", "Replicas", "WarmThroughput",
            "ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "TableId")


class TableHandler(ClaimsArnKinds, Preflight, Cleaner, ConsoleLink, NotFailedBack, Audited):
    type: ClassVar[str] = TABLE
    phase: ClassVar[Phase] = Phase.DATA
    pilot_light: ClassVar[bool] = True  # a replica or an export costs storage only, nothing idle beyond it
    arn_kinds: ClassVar[tuple[str, ...]] = ("dynamodb:table",)
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    not_failed_back: ClassVar[str] = (
        "replica mode: the global table replicates what the recovery region wrote back to the primary's table once "
        "the primary region answers again; export mode: rows written to the recovered table during the outage are "
        "not copied back (export it and import it into the primary by hand)")

    # ---- discovery (read-only) -------------------------------------------------------------------------

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        if plan.scope.resource_types and TABLE not in plan.scope.resource_types:
            return []
        ddb = source.client("dynamodb")
        catalog: KeyCatalog | None = None
        out = []
        for name in paginate(ddb, "list_tables", "TableNames"):
            try:
                table = describe(ddb, name)
                if table is None:
                    continue
                found_tags = tags(ddb, table["TableArn"])
                if not in_scope(found_tags, plan.scope.tags):
                    continue
                ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
                backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND:  # deleted between the listing and now
                    continue
                raise
            config = capture(table, ttl, backups)
            config["mode"] = plan.tables.mode_for(name, plan.cross_account)
            key = None
            sse = table.get("SSEDescription") or {}
            if sse.get("SSEType") == "KMS" and sse.get("KMSMasterKeyArn"):
                catalog = catalog or KeyCatalog(source)
                key = catalog.describe(sse["KMSMasterKeyArn"])
            config["kms_key"] = key
            data = exports.recorded(exports.latest(ddb, table["TableArn"], plan, name)) if config["mode"] == "export" \
                and config["pitr"] else {}
            out.append(Resource(
                type=TABLE, source_id=table["TableArn"], arn=table["TableArn"], name=name, tags=found_tags,
                config=config, data=data, links=key_links(plan, key),
                endpoints={"stream": table["LatestStreamArn"]} if table.get("LatestStreamArn") else {}))
        return out

    # ---- pre-flight ------------------------------------------------------------------------------------

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        """What no run can do: import a table with local secondary indexes (ImportTable creates none, and a
        table's local indexes are made with it or never)."""
        return [(f"tables.data.{r.name}", f"table {r.name} has local secondary indexes "
                 f"({', '.join(i['IndexName'] for i in r.config['lsis'])}), which an import cannot create: use "
                 "replica mode (a same-account plan)") for r in resources if r.config["mode"] == "export"
                and r.config["lsis"]]

    # ---- the recovered table ---------------------------------------------------------------------------

    @staticmethod
    def _name(resource: Resource, ctx: ApplyContext | CleanupContext) -> str:
        return recovered_name(resource.name, ctx, NAME_LIMIT)

    def _existing(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        """drflow's table for this resource in this run's kind (or production's replica of the source table), or
        None; a table of that name that is neither is refused, never adopted."""
        if ctx.staging and resource.config["mode"] == "export":
            return None  # nightly: the export is in the vault, no table on the recovery side
        ddb, name = ctx.recovery.client("dynamodb"), self._name(resource, ctx)
        table = describe(ddb, name)
        if table is None:
            return None
        if owned(tags(ddb, table["TableArn"]), resource, ctx):
            return table
        if not ctx.drill_id and resource.config["mode"] == "replica" and replicas.is_replica_of(
                table, ctx.plan.source.region):
            return table
        if resource.config["mode"] == "export" and exports.imported_by_us(ddb, table["TableArn"], ctx.plan,
                                                                          resource.name):
            return table  # a killed run's import, not tagged yet
        raise Unrecoverable(f"table {name} already exists in {ctx.recovery.region} and is not drflow's copy for "
                            "this plan; rename or remove it")

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        table = self._existing(resource, ctx)
        return table["TableArn"] if table else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        if ctx.mode == Mode.FAILBACK:
            return Applied(None, skipped=self.not_failed_back)
        cfg = resource.config
        key = recovery_key(ctx.plan, cfg["kms_key"], created_key(ctx, cfg["kms_key"]))
        if cfg["mode"] == "export":
            return self._export(resource, ctx, key) if ctx.staging else self._import(resource, ctx, key)
        if ctx.drill_id:
            return self._drill_copy(resource, ctx, key)
        return self._replica(resource, ctx, key)

    # replica mode

    def _replica(self, resource: Resource, ctx: ApplyContext, key: str | None) -> Applied:
        rec, name, region = ctx.recovery.client("dynamodb"), resource.name, ctx.recovery.region
        found = self._existing(resource, ctx)
        writes: list[str] = []
        if ctx.staging:
            src = ctx.source.client("dynamodb") if ctx.source else None
            assert src is not None
            if found is None:
                replicas.create_replica(src, name, region, key)
                writes.append("update_table:replica")
            table = replicas.wait_replica(src, rec, name, region)
        elif found is None:
            raise Unrecoverable(f"table {name}: no replica of it in {region} (replica mode); a nightly staging makes "
                                "it, and none has since this table was protected")
        else:
            table = active(rec, name)
        # stream and TTL are the global table's, replicated to every replica: set on the source, never here
        writes += reconcile(rec, table, resource.config, ctx.tags(resource), stream=False, ttl=False)
        return Applied(table["TableArn"], created=found is None, changed=bool(writes) and found is not None,
                       endpoints=self._endpoints(rec, name), details={"mode": "replica", "writes": writes})

    def _drill_copy(self, resource: Resource, ctx: ApplyContext, key: str | None) -> Applied:
        rec, name = ctx.recovery.client("dynamodb"), self._name(resource, ctx)
        source = replicas.drill_source(ctx, resource.name)
        found = self._existing(resource, ctx)
        if found is None:
            self._create(rec, resource, ctx, name, key)
        table = active(rec, name)
        copied = replicas.copy_rows(rec, source, name)
        writes = reconcile(rec, table, resource.config, ctx.tags(resource), deletion_protection=False)
        return Applied(table["TableArn"], created=found is None, changed=found is not None,
                       endpoints=self._endpoints(rec, name),
                       details={"mode": "replica", "copied_from": source, "items": copied, "writes": writes})

    def _create(self, rec: Any, resource: Resource, ctx: ApplyContext, name: str, key: str | None) -> None:
        """CreateTable with everything it takes, tags included: one call, nothing half-made to find again."""
        cfg = resource.config
        params = creation(cfg, name, key)
        if cfg["lsis"]:
            params["LocalSecondaryIndexes"] = [{k: v for k, v in i.items() if k != "ProvisionedThroughput"}
                                               for i in cfg["lsis"]]
        if cfg["stream"]:
            params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": cfg["stream"]}
        if cfg["table_class"] != "STANDARD":
            params["TableClass"] = cfg["table_class"]
        rec.create_table(**params, Tags=ctx.tag_list(resource))

    # export mode

    def _export(self, resource: Resource, ctx: ApplyContext, key: str | None) -> Applied:
        if not resource.config["pitr"]:
            why = (f"table {resource.name}: point-in-time recovery is off, and a table export needs it: its rows are "
                   "not protected (turn on point-in-time recovery, or use replica mode in a same-account plan)")
            return Applied(None, skipped=why, warnings=[why])
        export, writes = exports.stage(resource, ctx)
        return Applied(None, changed=bool(writes), details={
            "mode": "export", "export": export["ExportArn"], "manifest": export.get("ExportManifest"),
            "items": export.get("ItemCount"), "writes": writes})

    def _import(self, resource: Resource, ctx: ApplyContext, key: str | None) -> Applied:
        rec, name, plan = ctx.recovery.client("dynamodb"), self._name(resource, ctx), ctx.plan
        found = self._existing(resource, ctx)
        warnings: list[str] = []
        details: dict[str, Any] = {"mode": "export"}
        if found is None:
            manifest = exports.manifest(ctx.recovery, plan, resource.name, ctx.point_in_time)
            if manifest is None:
                warnings.append(f"table {resource.name}: no export of it in the vault s3://{plan.vault_bucket}/"
                                f"{exports.prefix(plan, resource.name)}/: recreated EMPTY, its rows are not recovered")
                self._create(rec, resource, ctx, name, key)
            else:
                started = rec.import_table(
                    S3BucketSource={"S3Bucket": plan.vault_bucket, "S3KeyPrefix": manifest["data"]},
                    InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
                    TableCreationParameters=creation(resource.config, name, key))["ImportTableDescription"]
                done = exports.wait_import(rec, started["ImportArn"], name)
                details.update(export=manifest["exportArn"], export_time=manifest["exportTime"],
                               items=done.get("ImportedItemCount"))
        else:
            pending = exports.imported_by_us(rec, found["TableArn"], plan, resource.name)
            if pending and pending.get("ImportStatus") != "COMPLETED":  # a killed run's import, still loading
                exports.wait_import(rec, pending["ImportArn"], name)
        table = active(rec, name)
        details["writes"] = reconcile(rec, table, resource.config, ctx.tags(resource),
                                      deletion_protection=not ctx.drill_id)
        return Applied(table["TableArn"], created=found is None, changed=bool(details["writes"]) and found is not None,
                       warnings=warnings, endpoints=self._endpoints(rec, name), details=details)

    @staticmethod
    def _endpoints(rec: Any, name: str) -> dict[str, str]:
        table = describe(rec, name) or {}
        return {"stream": table["LatestStreamArn"]} if table.get("LatestStreamArn") else {}

    # ---- audit, drills, console ------------------------------------------------------------------------

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        ddb = ctx.recovery.client("dynamodb")
        table = describe(ddb, recovered_id.rsplit("/", 1)[-1])
        if table is None:
            return {}
        return {"Table": {k: v for k, v in table.items() if k not in VOLATILE},
                "TimeToLive": ddb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"],
                "Tags": tags(ddb, table["TableArn"])}

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' tables, by drflow's tags (never production's replica or import: no drill tag), waited for
        until gone."""
        ddb = ctx.recovery.client("dynamodb")
        gone = []
        for name in paginate(ddb, "list_tables", "TableNames"):
            table = describe(ddb, name)
            if table is None or not ctx.matches(tags(ddb, table["TableArn"])):
                continue
            try:
                if table.get("DeletionProtectionEnabled"):
                    ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
                ddb.delete_table(TableName=name)
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND:
                    continue
                raise
            gone.append(name)
        for name in gone:
            ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
        return sorted(gone)

    def console_url(self, recovered_id: str, region: str) -> str:
        name = recovered_id.rsplit("/", 1)[-1]
        return f"{console_host(region)}/dynamodbv2/home?region={region}#table?name={quote(name, safe='')}"
