"""The failback flow: after a failover, once the primary region is back, bring the workload home.

Only a plan that really failed over can fail back: the failover flow leaves a marker in the vault
(core/vault.py `record_failover`), and without it failback refuses before any write. Failback then works
from the recovery point that failover brought up, in four phases, each resource one Prefect task:

1. network and IAM, re-applied in the primary from the recovery point (the engine, in mode "failback",
   with the primary as the side it writes to: `Plan.homeward`, `AwsAccess.homeward`). What the primary
   still has under its own id or name is adopted as it is; what it lost is recreated (tagged as drflow's),
   and what depends on a recreated resource is re-applied so that it points at it again (a route table's
   association with a recreated subnet, a role's attachment of a recreated policy). Anything that cannot
   be restored stops the failback before data and servers, which need that network.
2. data: each database is snapshotted in the recovery region and the snapshot copied into the primary
   (tasks/rds/snapshots.py `copy_back`; the restore is the operator's call); each replica bucket gets a
   replication rule back to its source bucket, and what it holds that the source lacks is copied now
   (tasks/s3/replication.py `reverse_replication`, tasks/s3/sync.py `backfill`); each recovered EFS file
   system replicates into the original one (tasks/efs/failback.py).
3. servers: DRS reverse replication, then a launch in the primary (tasks/servers/failback.py); a server without
   the DRS agent is imaged in the recovery region, copied home and launched there (tasks/servers/failback_imaged.py).
4. IAM (same account): the grants the failover attached to production roles are detached
   (tasks/iam/roles.py `detach_grants`); they stay staged for the next failover.

Everything else the failover created in the recovery region is left running: tearing it down is a decision
for after the primary is confirmed healthy, not part of bringing it back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from core.artifacts import Progress, artifact_key
from core.aws import AwsAccess, error_code
from core.engine import TASK_RETRIES, RunSpec, handler_preflight, plan_writes, retry_transient_only, run_graph
from core.handler import Unrecoverable
from core.models import Mode, Outcome, RecoveryPoint, Resource, ResourceResult
from core.plan import Plan
from core.preflight import check_sides
from core.vault import Vault, VaultError
from flows.common import (FAILOVER_PARALLEL_TASKS, PlanRef, PreflightError, build_report, checked_plan, publish,
                          runbook_fields)
from tasks.efs.failback import CROSS_ACCOUNT, replicate_home
from tasks.iam.roles import detach_grants
from tasks.rds.snapshots import CLUSTER_SNAPSHOTS, INSTANCE_SNAPSHOTS, copy_back
from tasks.registry import default_registry
from tasks.s3.replication import reverse_replication
from tasks.s3.sync import backfill
from tasks.servers.failback import fail_back
from tasks.servers.failback_imaged import fail_back_image

NETWORK = ("ec2:dhcp-options", "ec2:vpc", "ec2:subnet", "ec2:internet-gateway", "ec2:egress-only-internet-gateway",
           "ec2:elastic-ip", "ec2:nat-gateway", "ec2:route-table", "ec2:vpc-endpoint", "ec2:interface-endpoint",
           "ec2:network-acl", "ec2:security-group", "ec2:security-group-rules")
HOME = (*NETWORK, "iam:policy", "iam:role", "iam:instance-profile")  # phase 1's types
PART_OF_ANOTHER = ("ec2:security-group-rules",)  # no identity of its own: re-applied with its group, when that is
Step = tuple[Outcome, "str | None", dict[str, Any]]  # a resource's outcome, its id now, details for the report
UNTOUCHED = "left as it is: the failover never changed the primary's copy"
COMPUTE_LEFT = ("the primary's own copy serves again as it is (a failover never changes it); the recovered copy in "
                "the recovery region keeps running until you remove it")
NOT_FAILED_BACK: dict[str, str] = {  # type -> why failback leaves it as it is (default: UNTOUCHED)
    kind: COMPUTE_LEFT for kind in ("lambda:function", "ecs:service", "autoscaling:group",
                                    "elasticbeanstalk:environment")}
CROSS_ACCOUNT_DRS = ("cross-account: DRS replicates this server in the recovery account, so its reverse replication "
                     "would launch it in that account; failing back into the source account needs DRS extended "
                     "source servers there (CreateExtendedSourceServer), which drflow does not automate yet: do it in "
                     "the source account's DRS console")
DATA, SERVERS, IAM = ("rds:db-instance", "rds:db-cluster", "s3:bucket", "efs:file-system"), ("ec2:instance",), \
    ("iam:role",)


@flow(name="drflow-failback", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=FAILOVER_PARALLEL_TASKS))
def failback(plan: PlanRef, dry_run: bool = False) -> Any:
    """Bring the plan's workload back to its primary region after a failover (see the module's docstring).

    (Google-style arguments: Prefect turns them into the descriptions of the UI's parameter form.)

    Args:
        plan: name of the drflow plan block to run (drflow plan save), or a whole plan (CLI, tests).
        dry_run: check everything and return what would be kept, the ordered writes of phase 1 and the step
            each data resource and server would take, making no write.
    """
    started, started_at = time.monotonic(), datetime.now(timezone.utc)
    registry = default_registry()
    plan = checked_plan(plan, registry)
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
    spec = RunSpec(plan=plan.homeward(), aws=aws.homeward(), registry=registry, mode=Mode.FAILBACK,
                   scope=f"failback:{point.id}:{marker['completed_at']}")
    home = [r for r in point.resources if r.type in HOME]
    present, affected = survey_home(home, spec)
    problems = handler_preflight(affected, spec)
    if dry_run:
        return _dry_run(plan, aws, point, marker, present, affected, spec, problems)
    if problems:
        raise PreflightError(problems)
    preflight_ended = datetime.now(timezone.utc)

    kept = {r.key: _kept(r, present[r.key]) for r in home if r.key in present and r not in affected}
    results = dict(kept)
    progress = Progress(artifact_key(plan.name, "failback", "progress"), total=len(point.resources), done=len(kept))
    results.update((row.key, row) for row in run_graph(affected, spec, known=_as_found(point.resources, kept),
                                                        progress=progress))
    blocked = sorted(key for key, row in results.items() if row.error)
    context = Failback(aws=aws, plan=plan, marker=marker,
                       home={key: row.recovered_id for key, row in results.items() if row.recovered_id})
    for phase in (DATA, SERVERS, IAM):
        # a role phase 1 re-applied has the recovery point's attachments again: no grant left to detach
        wanted = [r for r in point.resources if r.type in phase and (r.key not in results or r.key in kept)]
        if blocked:
            results.update((r.key, _not_started(r, blocked)) for r in wanted)
            continue
        futures = [(r, failback_resource.with_options(task_run_name=f"failback {r.type} {r.source_id}").submit(
                    resource=quote(r), context=quote(context))) for r in wanted]
        for r, f in futures:
            results[r.key] = _collect(r, f)
            progress.advance(failed=results[r.key].outcome == Outcome.FAILED)
    results.update((r.key, ResourceResult(key=r.key, type=r.type, source_id=r.source_id, name=r.name,
                                          outcome=Outcome.SKIPPED,
                                          details={"reason": NOT_FAILED_BACK.get(r.type, UNTOUCHED)}))
                   for r in point.resources if r.key not in results)
    progress.finish()
    rows = list(results.values())
    report = build_report("failback", plan, aws, rows, started, recovery_point=point.id,
                          failover={k: marker.get(k) for k in ("completed_at", "run_id")})
    report.update(runbook_fields(point, rows, started_at, preflight_ended, None))
    return publish(report)


@dataclass(frozen=True)
class Failback:
    """What every failback step gets: the plan, both sides, the failover's marker, and `home`: the id in the
    primary of each phase 1 resource (its own id, or the id of what failback recreated)."""

    aws: AwsAccess
    plan: Plan
    marker: dict[str, Any]
    home: dict[str, str]

    def home_id(self, key: str) -> str:
        return self.home.get(key) or key.split("/", 1)[1]


def survey_home(resources: list[Resource], spec: RunSpec) -> tuple[dict[str, str], list[Resource]]:
    """Read-only: which of the recovery point's network and IAM resources the primary still has (key -> id),
    and the ones phase 1 applies: those it lost, and those that depend on one it lost."""
    ctx = spec.context({})
    present: dict[str, str] = {}
    for resource in resources:
        if resource.type in PART_OF_ANOTHER:
            continue
        found = spec.registry[resource.type].find(resource, ctx)
        if found:
            present[resource.key] = found
    for resource in resources:  # rules stand or fall with their group
        group = next((d for d in resource.dependencies if d.startswith("ec2:security-group/")), None)
        if resource.type in PART_OF_ANOTHER and group in present:
            present[resource.key] = present[group]
    lost = {r.key for r in resources if r.key not in present}
    affected = [r for r in resources if r.key in lost or lost.intersection(r.dependencies)]
    return present, affected


def _kept(resource: Resource, found: str) -> ResourceResult:
    """No start or end: nothing ran for it (the report's phase times count work done)."""
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=Outcome.UNCHANGED, recovered_id=found,
                          details={"kept": "present in the primary: left as it is"})


def _as_found(resources: list[Resource], kept: dict[str, ResourceResult]) -> dict[str, ResourceResult]:
    """Dependencies phase 1 does not apply: what the primary kept, and everything else under its own id there
    (the data and keys a policy names are the originals, back with their region)."""
    out = dict(kept)
    for r in resources:
        if r.key not in out and r.type not in HOME:
            out[r.key] = ResourceResult(key=r.key, type=r.type, source_id=r.source_id, name=r.name,
                                        outcome=Outcome.UNCHANGED, recovered_id=r.arn or r.source_id)
    return out


def _not_started(resource: Resource, blocked: list[str]) -> ResourceResult:
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=Outcome.SKIPPED, error="not started: the primary's network or IAM could not be "
                          "restored (" + ", ".join(sorted(blocked)[:5]) + "); fix that and run failback again")


def _dry_run(plan: Plan, aws: AwsAccess, point: RecoveryPoint, marker: dict[str, Any], present: dict[str, str],
             affected: list[Resource], spec: RunSpec, problems: list[tuple[str, str]]) -> dict[str, Any]:
    """What a failback would do, making no write: the pre-flight's problems, phase 1's ordered writes, and the
    step each data resource and server would take."""
    writes = plan_writes(affected, spec, known={r.key for r in point.resources} - {r.key for r in affected})
    steps = [{"key": r.key, "name": r.name, "action": PLANNED[r.type]} for r in point.resources if r.type in PLANNED]
    return {"flow": "failback", "dry_run": True, "plan": plan.name, "recovery_point": point.id,
            "failover": {k: marker.get(k) for k in ("completed_at", "run_id")},
            "problems": [{"field": f, "problem": m} for f, m in problems],
            "kept": sorted(present), "writes": writes, "then": steps, "api_calls": aws.stats.summary()}


@task(retries=TASK_RETRIES, retry_delay_seconds=[1, 2, 4, 8], retry_jitter_factor=0.5,
      retry_condition_fn=retry_transient_only, cache_policy=NO_CACHE)
def failback_resource(resource: Resource, context: Failback) -> ResourceResult:
    """One resource's failback (phases 2 to 4); a re-run adopts what an earlier attempt made."""
    started = datetime.now(timezone.utc)
    step: Callable[[Resource, Failback], Step] = STEPS[resource.type]
    outcome, recovered, details = step(resource, context)
    warnings = details.pop("warnings", [])
    return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                          outcome=outcome, recovered_id=recovered, details=details, warnings=warnings,
                          started=started, ended=datetime.now(timezone.utc))


def _database(resource: Resource, fb: Failback) -> Step:
    aws, plan, marker = fb.aws, fb.plan, fb.marker
    if resource.config.get("cluster"):
        return Outcome.SKIPPED, None, {"reason": "an Aurora member: its data is in its cluster's snapshot"}
    api = CLUSTER_SNAPSHOTS if resource.type == "rds:db-cluster" else INSTANCE_SNAPSHOTS
    details = copy_back(resource, plan, aws.recovery, aws.source, api, resource.source_id, marker["completed_at"])
    details["restore"] = "not done: restore from the copy (or keep the original database) is the operator's call"
    return (Outcome.CREATED if details["copied"] else Outcome.ADOPTED), details["copy"], details


def _bucket(resource: Resource, fb: Failback) -> Step:
    aws, plan = fb.aws, fb.plan
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


def _file_system(resource: Resource, fb: Failback) -> Step:
    if fb.plan.cross_account:
        return Outcome.SKIPPED, None, {"reason": CROSS_ACCOUNT}
    details = replicate_home(resource, fb.aws.recovery, fb.aws.source, fb.plan.name)
    return (Outcome.CREATED if details.pop("created") else Outcome.ADOPTED), resource.source_id, details


def _server(resource: Resource, fb: Failback) -> Step:
    aws, plan, marker = fb.aws, fb.plan, fb.marker
    if resource.config.get("method") == "image":
        details = fail_back_image(resource, aws.recovery, aws.source, plan.name, marker["completed_at"], fb.home_id,
                                  share_with=plan.source.account_id if plan.cross_account else None)
        return (Outcome.CREATED if details.pop("launched") else Outcome.ADOPTED), details["instance"], details
    if plan.cross_account:
        return Outcome.SKIPPED, None, {"reason": CROSS_ACCOUNT_DRS}
    details = fail_back(resource, aws.recovery, aws.source, plan.name, marker["completed_at"], fb.home_id)
    return (Outcome.CREATED if details.get("job") else Outcome.ADOPTED), details["instance"], details


def _role(resource: Resource, fb: Failback) -> Step:
    aws, plan = fb.aws, fb.plan
    if plan.cross_account:
        return Outcome.SKIPPED, None, {"reason": "cross-account: the recovery account's copy of the role stays, "
                                                 "the production role was never changed"}
    detached = detach_grants(aws.source.client("iam"), plan, resource.name)
    return (Outcome.UPDATED if detached else Outcome.UNCHANGED), resource.arn, {"detached": detached}


PLANNED = {"rds:db-instance": "snapshot the recovered database, copy the snapshot into the primary",
           "rds:db-cluster": "snapshot the recovered cluster, copy the snapshot into the primary",
           "s3:bucket": "replicate the replica back into the bucket; copy what the bucket lacks (same account)",
           "efs:file-system": "replicate the recovered file system into the original one (same account)",
           "ec2:instance": "DRS reverse replication then a launch in the primary; imaged: AMI, copy home, launch",
           "iam:role": "detach drflow's recovery grant (same account)"}
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
