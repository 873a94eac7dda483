"""The failback flow: after a failover, once the primary region is back, bring the workload home.

Only a plan that really failed over can fail back: the failover flow leaves a marker in the vault
(core/vault.py `record_failover`), and without it failback refuses before any write. Failback then works
from the recovery point that failover brought up, in four phases, each resource one Prefect task:

1. network (read-only, before any write): the primary's VPCs, subnets, security groups, route tables,
   NACLs and gateways that the recovery point names must still be there. The failover never touched them,
   so failback verifies rather than re-creates them; drift (something gone) is refused, listed, before any
   write: failback launches servers into those subnets.
2. data: each database is snapshotted in the recovery region and the snapshot copied into the primary
   (tasks/rds_snapshots.py `copy_back`; the restore is the operator's call); each replica bucket gets a
   replication rule back to its source bucket, and what it holds that the source lacks is copied now
   (tasks/s3_replication.py `reverse_replication`, tasks/s3_sync.py `backfill`); each recovered EFS file
   system replicates into the original one (tasks/efs_failback.py).
3. servers: DRS reverse replication, then a launch in the primary (tasks/drs_failback.py); a server without
   the DRS agent is imaged in the recovery region, copied home and launched there (tasks/image_failback.py).
4. IAM (same account): the grants the failover attached to production roles are detached
   (tasks/iam.py `detach_grants`); they stay staged for the next failover.

Everything else the failover created in the recovery region is left running: tearing it down is a decision
for after the primary is confirmed healthy, not part of bringing it back.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable

from botocore.exceptions import ClientError
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from core.aws import AwsAccess, error_code, is_transient
from core.handler import Unrecoverable
from core.models import Outcome, Resource, ResourceResult
from core.plan import Plan
from core.preflight import check_sides
from core.vault import Vault, VaultError
from flows.common import FAILOVER_PARALLEL_TASKS, PreflightError, build_report, checked_plan, publish
from tasks.drs_failback import fail_back
from tasks.efs_failback import CROSS_ACCOUNT, replicate_home
from tasks.iam import detach_grants
from tasks.image_failback import fail_back_image
from tasks.rds_snapshots import CLUSTER_SNAPSHOTS, INSTANCE_SNAPSHOTS, copy_back
from tasks.registry import default_registry
from tasks.s3_replication import reverse_replication
from tasks.s3_sync import backfill

# type -> (EC2 describe operation, its result key, its ids parameter, the id field): what phase 1 verifies
NETWORK = {"ec2:vpc": ("describe_vpcs", "Vpcs", "VpcIds", "VpcId"),
           "ec2:subnet": ("describe_subnets", "Subnets", "SubnetIds", "SubnetId"),
           "ec2:security-group": ("describe_security_groups", "SecurityGroups", "GroupIds", "GroupId"),
           "ec2:route-table": ("describe_route_tables", "RouteTables", "RouteTableIds", "RouteTableId"),
           "ec2:network-acl": ("describe_network_acls", "NetworkAcls", "NetworkAclIds", "NetworkAclId"),
           "ec2:internet-gateway": ("describe_internet_gateways", "InternetGateways", "InternetGatewayIds",
                                    "InternetGatewayId"),
           "ec2:nat-gateway": ("describe_nat_gateways", "NatGateways", "NatGatewayIds", "NatGatewayId")}
Step = tuple[Outcome, "str | None", dict[str, Any]]  # a resource's outcome, its id now, details for the report
UNTOUCHED = "left as it is: the failover never changed the primary's copy"
NOT_FAILED_BACK: dict[str, str] = {}  # type -> why failback leaves it as it is (default: UNTOUCHED)
DATA, SERVERS, IAM = ("rds:db-instance", "rds:db-cluster", "s3:bucket", "efs:file-system"), ("ec2:instance",), \
    ("iam:role",)


@flow(name="drflow-failback", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=FAILOVER_PARALLEL_TASKS))
def failback(plan: Plan) -> Any:
    """Bring the plan's workload back to its primary region after a failover (see the module's docstring)."""
    started = time.monotonic()
    plan = checked_plan(plan, default_registry())
    logger = get_run_logger()
    aws = AwsAccess(plan)
    problems = check_sides(aws, ("source", "recovery"))  # failback needs the primary back
    if problems:
        raise PreflightError(problems)
    vault = Vault(aws.vault, plan.vault_bucket, plan.name)
    marker = vault.last_failover()
    if marker is None:
        raise PreflightError([("plan", f"plan {plan.name} has never failed over (no failover marker at "
                                       f"s3://{vault.bucket}/{vault.failover_key}): there is nothing to fail back")])
    try:
        point = vault.load(marker["recovery_point"])
    except VaultError as exc:
        raise PreflightError([("recovery_point", f"the failover's recovery point: {exc}")]) from None
    logger.info("failing back plan %s: failover of %s from recovery point %s", plan.name, marker["completed_at"],
                point.id)
    network, problems = verify_network(aws, point.resources)
    if problems:
        raise PreflightError(problems)

    context = {"aws": aws, "plan": plan, "marker": marker}
    results = list(network)
    for phase in (DATA, SERVERS, IAM):
        futures = [(r, failback_resource.with_options(task_run_name=f"failback {r.type} {r.source_id}").submit(
                    resource=quote(r), context=quote(context))) for r in point.resources if r.type in phase]
        results += [_collect(r, f) for r, f in futures]
    handled = {*NETWORK, *DATA, *SERVERS, *IAM}
    now = datetime.now(timezone.utc)
    results += [ResourceResult(key=r.key, type=r.type, source_id=r.source_id, name=r.name, outcome=Outcome.SKIPPED,
                               details={"reason": NOT_FAILED_BACK.get(r.type, UNTOUCHED)}, started=now, ended=now)
                for r in point.resources if r.type not in handled]
    report = build_report("failback", plan, aws, results, started, recovery_point=point.id,
                          failover={k: marker.get(k) for k in ("completed_at", "run_id")})
    return publish(report)


def verify_network(aws: AwsAccess, resources: list[Resource]) -> tuple[list[ResourceResult], list[tuple[str, str]]]:
    """Phase 1, read-only: one describe per network type; what is gone is a problem, listed."""
    ec2, results, problems = aws.source.client("ec2"), [], []
    for type_, (operation, key, ids_param, id_field) in NETWORK.items():
        wanted = [r for r in resources if r.type == type_]
        if not wanted:
            continue
        started = datetime.now(timezone.utc)
        found = _present(ec2, operation, key, ids_param, id_field, [r.source_id for r in wanted])
        for r in wanted:
            if r.source_id not in found:
                problems.append((r.key, f"{r.name or r.source_id} is no longer in {aws.plan.source.region}: the "
                                        "primary's network has drifted from the recovery point; restore it first"))
            results.append(ResourceResult(key=r.key, type=r.type, source_id=r.source_id, name=r.name,
                                          outcome=Outcome.UNCHANGED, recovered_id=r.source_id,
                                          details={"verified": f"present in {aws.plan.source.region}"},
                                          started=started, ended=datetime.now(timezone.utc)))
    return results, problems


def _present(ec2: Any, operation: str, key: str, ids_param: str, id_field: str, ids: list[str]) -> set[str]:
    """The ids that still exist: one call for all of them; EC2 refuses the whole call when one is gone, and
    then each is asked alone (drift is rare: the usual answer costs one call per type)."""
    def described(chunk: list[str]) -> set[str]:
        pages = ec2.get_paginator(operation).paginate(**{ids_param: chunk})
        return {item[id_field] for page in pages for item in page[key]
                if item.get("State") not in ("deleting", "deleted")}  # a NAT gateway lingers as deleted

    try:
        return described(ids)
    except ClientError as exc:
        if "NotFound" not in error_code(exc) and "Malformed" not in error_code(exc):
            raise
    found: set[str] = set()
    for one in ids:
        try:
            found |= described([one])
        except ClientError as exc:
            if "NotFound" not in error_code(exc) and "Malformed" not in error_code(exc):
                raise
    return found


def _retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - only classified
        return is_transient(exc)
    return False


@task(retries=4, retry_delay_seconds=[1, 2, 4, 8], retry_jitter_factor=0.5, retry_condition_fn=_retry_transient,
      cache_policy=NO_CACHE)
def failback_resource(resource: Resource, context: dict[str, Any]) -> ResourceResult:
    """One resource's failback (phases 2 to 4); a re-run adopts what an earlier attempt made."""
    started = datetime.now(timezone.utc)
    step: Callable[..., Step] = STEPS[resource.type]
    outcome, recovered, details = step(resource, context["aws"], context["plan"], context["marker"])
    warnings = details.pop("warnings", [])
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=outcome, recovered_id=recovered, details=details, warnings=warnings,
                          started=started, ended=datetime.now(timezone.utc))


def _database(resource: Resource, aws: AwsAccess, plan: Plan, marker: dict[str, Any]) -> Step:
    if resource.config.get("cluster"):
        return Outcome.SKIPPED, None, {"reason": "an Aurora member: its data is in its cluster's snapshot"}
    api = CLUSTER_SNAPSHOTS if resource.type == "rds:db-cluster" else INSTANCE_SNAPSHOTS
    details = copy_back(resource, plan, aws.recovery, aws.source, api, resource.source_id, marker["completed_at"])
    details["restore"] = "not done: restore from the copy (or keep the original database) is the operator's call"
    return (Outcome.CREATED if details["copied"] else Outcome.ADOPTED), details["copy"], details


def _bucket(resource: Resource, aws: AwsAccess, plan: Plan, marker: dict[str, Any]) -> Step:
    source, replica = resource.source_id, resource.config["replica"]
    tags = [{"Key": "drflow:plan", "Value": plan.name}, {"Key": "drflow:source-id", "Value": source}]
    config, writes = reverse_replication(aws.recovery, resource, plan, tags)
    details: dict[str, Any] = {"replication": f"{replica} -> {source}", "role": config["Role"], "writes": writes,
                               "warnings": []}
    if plan.cross_account:
        details["warnings"].append(f"cross-account: the bucket policy of {source} must let {config['Role']} "
                                   "replicate into it, and objects already in the replica are not copied back")
    else:  # replication covers new writes only: what the replica received during the outage is copied now
        copied = backfill(aws.recovery.client("s3"), aws.source.client("s3"), aws.source.client("s3"), replica, source)
        details["copied_back"] = copied.copied
    return (Outcome.UPDATED if writes or details.get("copied_back") else Outcome.UNCHANGED), source, details


def _file_system(resource: Resource, aws: AwsAccess, plan: Plan, marker: dict[str, Any]) -> Step:
    if plan.cross_account:
        return Outcome.SKIPPED, None, {"reason": CROSS_ACCOUNT}
    details = replicate_home(resource, aws.recovery, aws.source, plan.name)
    return (Outcome.CREATED if details.pop("created") else Outcome.ADOPTED), resource.source_id, details


def _server(resource: Resource, aws: AwsAccess, plan: Plan, marker: dict[str, Any]) -> Step:
    if resource.config.get("method") == "image":
        details = fail_back_image(resource, aws.recovery, aws.source, plan.name, marker["completed_at"],
                                  share_with=plan.source.account_id if plan.cross_account else None)
        return (Outcome.CREATED if details.pop("launched") else Outcome.ADOPTED), details["instance"], details
    details = fail_back(resource, aws.recovery, aws.source, plan.name, marker["completed_at"])
    return (Outcome.CREATED if details.get("job") else Outcome.ADOPTED), details["instance"], details


def _role(resource: Resource, aws: AwsAccess, plan: Plan, marker: dict[str, Any]) -> Step:
    if plan.cross_account:
        return Outcome.SKIPPED, None, {"reason": "cross-account: the recovery account's copy of the role stays, "
                                                 "the production role was never changed"}
    detached = detach_grants(aws.source.client("iam"), plan, resource.name)
    return (Outcome.UPDATED if detached else Outcome.UNCHANGED), resource.arn, {"detached": detached}


STEPS = {"rds:db-instance": _database, "rds:db-cluster": _database, "s3:bucket": _bucket, "ec2:instance": _server,
         "iam:role": _role, "efs:file-system": _file_system}


def _collect(resource: Resource, future: Any) -> ResourceResult:
    """The task's result, or a failed row naming the error: every resource is reported, none raises."""
    try:
        return future.result()
    except Unrecoverable as exc:
        error = f"unrecoverable: {exc}"
    except Exception as exc:  # noqa: BLE001 - reported per resource, never swallowed
        code = error_code(exc)
        error = f"{code + ': ' if code else ''}{exc}"
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=Outcome.FAILED, error=error)
