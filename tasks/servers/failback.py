"""Failback of a DRS-protected server: its recovery instance replicates back, then launches in the primary region.

Support for flows/failback.py (not a handler: failback is no engine run). AWS-to-AWS failback with DRS is
two steps (DRS user guide, "failback for EC2 instances"): `ReverseReplication` on the recovery instance, in the
recovery region, makes it a source server of DRS in the original region (replication direction FAILBACK); once
that has replicated, a recovery job of that *reversed* source server, started in the original region, launches
the failback instance there. (`StartFailbackLaunch` is the other path: the Failback Client, for machines outside
EC2.) Before the launch, the reversed server's launch template is pointed at the server's original subnet and
security groups, or at what failback's first phase recreated in their place.

Reverse replication copies the recovery instance's disks across Regions, "an operation that takes time", and
"once replication has reached a healthy state, failing back to the source region is possible" (DRS user guide,
"Performing a cross-Region failback", https://docs.aws.amazon.com/drs/latest/userguide/
failback-failover-region-region.html). So the launch waits until the reversed server's
`dataReplicationInfo.dataReplicationState` is CONTINUOUS, polling on the DRS jobs' schedule (launch.POLL), the state
and lag in the server's log and its result's details, for at most REVERSE_SYNC_TIMEOUT; then that server fails, named
with its last state, and the others go on. A re-run finds the reversed server and waits again. The reversed server
gets the forward path's launch settings (templates.LAUNCH_SETTINGS): no right-sizing over the template's type, no
copied IP or tags, started, and a new instance rather than one launched into the original.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable

from core.aws import Side, paginate
from core.handler import TAG_PLAN, TAG_SOURCE_ID, Unrecoverable
from core.models import Resource

from . import sources
from .launch import POLL, _task_logger
from .templates import settle_launch_configuration

TAG_FAILBACK = "drflow:failback"
DONE = ("LAUNCHED", "FAILED", "TERMINATED")
POLL_FIRST, POLL_CAP = 1.0, 15.0  # DRS has no waiter for jobs; a launch takes minutes
HEALTHY = "CONTINUOUS"  # botocore's DataReplicationState: the healthy state the failback guide waits for
# The longest a reversed server may take to become healthy: its initial sync copies every disk across Regions
# (hours for large disks); a server still syncing then fails, and a re-run of failback waits again
REVERSE_SYNC_TIMEOUT = 12 * 3600.0


def _failover_server(drs: Any, instance_id: str, region: str) -> dict[str, Any]:
    """The source server the failover launched the instance from (tasks/servers/sources.py chooses among several)."""
    candidates = sources.by_instance(paginate(drs, "describe_source_servers", "items", filters={})).get(instance_id, [])
    server = sources.choose(candidates, instance_id, region)
    if server is None:
        raise Unrecoverable(f"no DRS source server replicates {instance_id}: nothing to fail back")
    return server


def _live_recovery_instance(drs: Any, server_id: str) -> dict[str, Any] | None:
    items = paginate(drs, "describe_recovery_instances", "items", filters={"sourceServerIDs": [server_id]})
    live = [i for i in items if not i.get("isDrill") and i.get("ec2InstanceState") in ("RUNNING", "PENDING", "STOPPED")]
    return live[0] if live else None


def fail_back(resource: Resource, recovery: Side, source: Side, plan_name: str, failover_at: str,
              home_id: Callable[[str], str], timeout: float = 3600,
              sync_timeout: float | None = None) -> dict[str, Any]:
    """Reverse the replication of one server, wait until the reversed server is healthy (at most `sync_timeout`,
    REVERSE_SYNC_TIMEOUT unless given), and launch it back in the primary region; a re-run adopts the reversed
    source server and the failback instance it finds. `home_id` gives a dependency's id in the primary (its own, or
    what failback recreated there). Returns the details for the report, with `instance`: the failback instance's EC2
    id, and `replication`: the reversed server's states while failback waited."""
    rdrs, sdrs = recovery.client("drs"), source.client("drs")
    server = _failover_server(rdrs, resource.source_id, recovery.region)
    details: dict[str, Any] = {"source_server": server["sourceServerID"], "warnings": []}
    reversed_arn = server.get("reversedDirectionSourceServerArn")
    if not reversed_arn:
        instance = _live_recovery_instance(rdrs, server["sourceServerID"])
        if instance is None:
            raise Unrecoverable(f"server {resource.name}: no running recovery instance in {recovery.region} "
                                "(was it launched by the failover, or terminated since?)")
        details["recovery_instance"] = instance["recoveryInstanceID"]
        reversed_arn = rdrs.reverse_replication(recoveryInstanceID=instance["recoveryInstanceID"])[
            "reversedDirectionSourceServerArn"]
        details["reversed"] = True
    reversed_id = reversed_arn.rsplit("/", 1)[-1]
    details["reversed_source_server"] = reversed_id
    launched = _live_recovery_instance(sdrs, reversed_id)
    if launched is None:
        wait_healthy(sdrs, reversed_id, resource.name, details,
                     REVERSE_SYNC_TIMEOUT if sync_timeout is None else sync_timeout)
        settle_launch_configuration(sdrs, reversed_id)
        _point_template(sdrs, source.client("ec2"), reversed_id, resource, plan_name, home_id, details["warnings"])
        tags = {TAG_PLAN: plan_name, TAG_SOURCE_ID: resource.source_id, TAG_FAILBACK: failover_at}
        job = sdrs.start_recovery(sourceServers=[{"sourceServerID": reversed_id}], isDrill=False, tags=tags)["job"]
        details["job"] = job["jobID"]
        status = _wait_job(sdrs, job["jobID"], reversed_id, timeout)
        if status != "LAUNCHED":
            raise Unrecoverable(f"DRS failback launch of {resource.name} ended {status} (job {job['jobID']})")
        launched = _live_recovery_instance(sdrs, reversed_id)
        if launched is None:
            raise Unrecoverable(f"DRS job {job['jobID']} launched {resource.name} but no failback instance is listed")
    details["instance"] = launched["ec2InstanceID"]
    return details


def wait_healthy(drs: Any, server_id: str, name: str, details: dict[str, Any], timeout: float) -> None:
    """Poll the reversed source server until its data replication is CONTINUOUS. Each state it passes through goes
    into the task's log and `details["replication"]` (with its lag and DRS's estimate of the end); Unrecoverable,
    naming the server and its last state, once `timeout` has passed, or at once where replication has stopped
    (DISCONNECTED, STOPPED: DRS does not resume it by itself)."""
    logger = _task_logger() or logging.getLogger(__name__)
    delays, started = POLL.delays(), time.monotonic()
    seen: list[dict[str, Any]] = []
    details["replication"] = seen
    while True:
        info = drs.describe_source_servers(filters={"sourceServerIDs": [server_id]})["items"][0].get(
            "dataReplicationInfo") or {}
        state, lag = info.get("dataReplicationState", "UNKNOWN"), info.get("lagDuration")
        if not seen or seen[-1]["state"] != state:
            seen.append({"state": state, "lag": lag, "eta": info.get("etaDateTime"),
                         "seen_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
            logger.info("server %s: reverse replication of %s is %s (lag %s%s)", name, server_id, state, lag or "?",
                        f", expected done {info['etaDateTime']}" if info.get("etaDateTime") else "")
        else:
            seen[-1].update(lag=lag, eta=info.get("etaDateTime"))
        if state == HEALTHY:
            return
        waited = time.monotonic() - started
        if state in sources.NOT_REPLICATING:
            raise Unrecoverable(f"server {name}: reverse replication of {server_id} is {state} (lag {lag}): "
                                "restart it in the primary's DRS console, then run failback again")
        if waited > timeout:
            raise Unrecoverable(f"server {name}: reverse replication of {server_id} not healthy after {timeout:.0f} s: "
                                f"last state {state}, lag {lag}; run failback again once it is {HEALTHY}")
        time.sleep(min(next(delays), max(0.0, timeout - waited) + 0.001))


def _point_template(drs: Any, ec2: Any, server_id: str, resource: Resource, plan_name: str,
                    home_id: Callable[[str], str], warnings: list[str]) -> None:
    """The reversed server's launch template: the original subnet and security groups, the original private IP
    unless something in the primary holds it now (the original instance, back with its region)."""
    cfg = resource.config
    template_id = drs.get_launch_configuration(sourceServerID=server_id)["ec2LaunchTemplateID"]
    subnet = home_id(cfg["subnet"])
    interface: dict[str, Any] = {"DeviceIndex": 0, "SubnetId": subnet, "DeleteOnTermination": True,
                                 "Groups": sorted(home_id(g) for g in cfg["security_groups"])}
    if home_ip_free(ec2, subnet, cfg["private_ip"], warnings):
        interface["PrivateIpAddress"] = cfg["private_ip"]
    tags = [{"Key": TAG_PLAN, "Value": plan_name}, {"Key": TAG_SOURCE_ID, "Value": resource.source_id},
            {"Key": "Name", "Value": resource.name}]
    data = {"InstanceType": cfg["instance_type"], "NetworkInterfaces": [interface],
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}]}
    if cfg.get("instance_profile"):
        data["IamInstanceProfile"] = {"Name": cfg["instance_profile"]}
    version = ec2.create_launch_template_version(LaunchTemplateId=template_id, VersionDescription="drflow: failback",
                                                 LaunchTemplateData=data)["LaunchTemplateVersion"]
    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version["VersionNumber"]))


def home_ip_free(ec2: Any, subnet: str, ip: str, warnings: list[str]) -> bool:
    """Whether a failback instance may take the server's original private IP in `subnet`: not when something
    holds it now (the original instance, back with its region), which is then said in `warnings`. Both failback
    paths (DRS, and imaged servers in tasks/servers/failback_imaged.py) choose the address this way."""
    held = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]},
                                                    {"Name": "private-ip-address", "Values": [ip]}])
    if held["NetworkInterfaces"]:
        warnings.append(f"private IP {ip} is in use in {subnet} (the original instance?): the failback instance "
                        "gets another address; move it once the original is retired")
        return False
    return True


def _wait_job(drs: Any, job_id: str, server_id: str, timeout: float) -> str:
    """Poll with backoff until the server's launch is decided (DRS offers no waiter)."""
    deadline, delay = time.monotonic() + timeout, POLL_FIRST
    while True:
        job = drs.describe_jobs(filters={"jobIDs": [job_id]})["items"][0]
        mine = next((p for p in job.get("participatingServers", []) if p["sourceServerID"] == server_id), {})
        if mine.get("launchStatus") in DONE:
            return mine["launchStatus"]
        if job["status"] == "COMPLETED":
            return mine.get("launchStatus", "FAILED")
        if time.monotonic() > deadline:
            raise TimeoutError(f"DRS job {job_id} not done after {timeout} s")
        time.sleep(delay)
        delay = min(POLL_CAP, delay * 2)
