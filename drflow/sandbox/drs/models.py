"""The DRS double's backend: one per account and recovery region (moto BackendDict), reset with moto.

State is synced lazily from moto's EC2 backends on every call (no threads): an agent-tagged instance
in another region becomes a source server here, with its launch template, AMI and first snapshot.
Jobs live in `jobs.JobsMixin`. Test controls: `now` (clock), `set_latency`, `set_initial_sync`, `due_now`,
`fail_next_launches`, `add_snapshot`, `reinstall_agent`, `limits`, and `launch_log` (time, sourceServerID, event) in
launch order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

from moto.core.base_backend import BackendDict, BaseBackend

from drflow.sandbox.drs import ec2view, launcher
from drflow.sandbox.drs.errors import ResourceNotFoundException, ValidationException
from drflow.sandbox.drs.jobs import DONE, JobsMixin
from drflow.sandbox.drs.records import DEFAULT_LAUNCH_CONFIGURATION, Snapshot, SourceServer
from drflow.sandbox.drs.util import LOCK, Clock, parse_iso, paginate, random_id, required, stable_id, utcnow, with_token

# Seconds of the double's clock a reversed source server takes from ReverseReplication to CONTINUOUS (records.py
# SourceServer.state): hours on AWS for real disks; short by default so that the demo and the flow tests, on the real
# clock, wait a poll or two; tests of the wait set their own with `set_initial_sync`
INITIAL_SYNC_SECONDS = 0.5
DEFAULT_LIMITS = {"servers_per_request": 100, "concurrent_jobs": 20, "servers_in_jobs": 500}
LAUNCH_CONFIGURATION_FIELDS = ("name", "launchDisposition", "targetInstanceTypeRightSizingMethod", "copyPrivateIp",
                               "copyTags", "licensing", "postLaunchEnabled", "launchIntoInstanceProperties",
                               "recoveryMode")


class DrsBackend(JobsMixin, BaseBackend):
    """Elastic Disaster Recovery in one account and (recovery) region."""

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.now: Clock = utcnow
        self.latency: Callable[[str], float] = lambda _source_server_id: 0.0
        self.initial_sync: Callable[[str], float] = lambda _source_server_id: INITIAL_SYNC_SECONDS
        # the "Launch into source instance" default DRS launch setting (DRS user guide,
        # https://docs.aws.amazon.com/drs/latest/userguide/default-drs-launch-into-source-instance.html): a server
        # ReverseReplication makes in this region gets launchIntoEC2InstanceID = the instance first launched from
        self.launch_into_source_instance = False
        self.failures: dict[str, int] = {}
        self.limits = dict(DEFAULT_LIMITS)
        self.launch_log: list[tuple[datetime, str, str]] = []
        self.servers: dict[str, SourceServer] = {}
        # EC2 instance id -> the source servers its agent(s) report as (none listed: one, its stable id)
        self.registrations: dict[str, list[str]] = {}
        self.init_jobs()

    @property
    def _url_module(self) -> Any:  # moto derives it from the module name; say it outright
        from drflow.sandbox.drs import urls
        return urls

    # -- controls for tests (Python only) ---------------------------------------------------------

    def set_clock(self, clock: Clock) -> None:
        self.now = clock

    def set_latency(self, latency: float | Callable[[str], float]) -> None:
        """Seconds from a job's start to each server's launch: a number, or source_server_id -> seconds."""
        self.latency = latency if callable(latency) else (lambda _id, s=float(latency): s)

    def set_initial_sync(self, seconds: float | Callable[[str], float]) -> None:
        """Seconds (of this backend's clock) a source server that ReverseReplication makes in this region takes to
        reach CONTINUOUS: a number, or source_server_id -> seconds (the reversed server's id: stable_id("s-",
        "failback:" + recovery instance id)). `float("inf")`: never healthy."""
        self.initial_sync = seconds if callable(seconds) else (lambda _id, s=float(seconds): s)

    def due_now(self, job_id: str) -> None:
        """Every server of the job not yet decided launches at the next API call (a launch held back with a long
        latency, released once the test has seen what it waited for)."""
        with LOCK:
            now = self.now()
            for participant in self.jobs[job_id].participants:
                if participant.status not in DONE:
                    participant.due = min(participant.due, now)

    def fail_next_launches(self, source_server_id: str, count: int = 1) -> None:
        """The next `count` launches of this server fail (LAUNCH_FAILED, no instance); the job still ends."""
        self.failures[source_server_id] = self.failures.get(source_server_id, 0) + count

    def add_snapshot(self, source_server_id: str, at: datetime, taken: bool = True) -> str:
        """A point-in-time snapshot of the server taken at `at` (`taken=False`: expected then, not taken yet, so
        listed without `timestamp`); returns its id (pit-...)."""
        with LOCK:
            self.sync()
            server = self.server(source_server_id)
            snapshot = Snapshot(random_id("pit-"), server.id, at, taken)
            server.snapshots.append(snapshot)
            server.snapshots.sort(key=lambda s: s.time)
            return snapshot.id

    def reinstall_agent(self, instance_id: str, disconnect_old: bool = True, new_id: str | None = None) -> str:
        """The agent installed again on the instance registers a new source server (a new id) for the same
        awsInstanceID; returns its id. The old one stays listed: disconnected (what DisconnectSourceServer leaves,
        its last-seen time frozen), or, with `disconnect_old=False`, still replicating too (two live servers for
        one machine: ambiguous to anyone who picks by instance). `new_id`: the new server's id (where it lists)."""
        with LOCK:
            self.sync()
            old = self.source_server_id_for(instance_id)
            new = new_id or random_id("s-")
            if disconnect_old:
                self.servers[old].disconnected = True
                self.servers[old].replication_state = "DISCONNECTED"
                self.registrations[instance_id] = [new]
            else:
                self.registrations[instance_id] = [old, new]
            self.sync()
            return new

    def source_server_id_for(self, instance_id: str) -> str:
        """The instance's newest source server: its stable id, unless its agent was reinstalled."""
        return self.registrations.get(instance_id, [stable_id("s-", instance_id)])[-1]

    # -- sync from EC2 ------------------------------------------------------------------------------

    def sync(self) -> None:
        """Adopt new agent-tagged instances, refresh known ones, mark vanished ones DISCONNECTED."""
        now, seen = self.now(), set()
        for account, region, instance, tags in ec2view.agent_instances(self.account_id, self.region_name):
            if instance.state != "running":
                continue
            machine = ec2view.machine(ec2view.ec2(account, region), instance)
            for server_id in self.registrations.get(instance.id, [stable_id("s-", instance.id)]):
                server = self.servers.get(server_id)
                if server is None:
                    server = self._adopt(server_id, instance.id, region, machine, now, origin_account=account)
                server.machine, server.source_tags, server.last_seen = machine, tags, now
                server.replication_state = "CONTINUOUS"
                seen.add(server_id)
        for server in self.servers.values():
            if server.direction == "FAILOVER" and server.id not in seen:
                server.replication_state = "DISCONNECTED"
            if server.synced is not None and not server.snapshots and server.initial_sync_done(now):
                # a reversed server's first recovery snapshot is the one its initial sync ends with
                server.snapshots.append(Snapshot(random_id("pit-"), server.id, server.synced))

    def _adopt(self, server_id: str, instance_id: str, region: str, machine: dict[str, Any], now: datetime,
               direction: str = "FAILOVER", origin_account: str | None = None,
               synced: datetime | None = None) -> SourceServer:
        server = SourceServer(
            id=server_id, arn=self.arn("source-server", server_id), instance_id=instance_id,
            origin_account=origin_account or self.account_id, origin_region=region, added=now, machine=machine, source_tags={},
            template_id=launcher.create_template(self.account_id, self.region_name, server_id, machine["instanceType"]),
            image_id=launcher.register_image(self.account_id, self.region_name, server_id),
            launch_configuration={"name": machine["identificationHints"]["hostname"], **DEFAULT_LAUNCH_CONFIGURATION},
            direction=direction, last_seen=now)
        if synced is not None:
            server.synced = synced  # no snapshot until the initial sync ends (sync())
        else:
            server.snapshots.append(Snapshot(random_id("pit-"), server_id, now))
        self.servers[server_id] = server
        return server

    # -- helpers ----------------------------------------------------------------------------------

    def arn(self, kind: str, resource_id: str) -> str:
        return f"arn:{self.partition}:drs:{self.region_name}:{self.account_id}:{kind}/{resource_id}"

    def server(self, server_id: str) -> SourceServer:
        if server_id not in self.servers:
            raise ResourceNotFoundException("SOURCE_SERVER", server_id)
        return self.servers[server_id]

    def begin(self) -> None:
        """Every API call starts here: catch up with EC2 and with the clock."""
        self.sync()
        self.advance()

    # -- the API (each takes the request's JSON and returns the response's) --------------------------

    def initialize_service(self, request: dict[str, Any]) -> dict[str, Any]:
        return {}

    def describe_source_servers(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            wanted = (request.get("filters") or {}).get("sourceServerIDs")
            # DRS documents no order for this listing: by id here, not by registration, so a caller cannot lean on
            # the newest of two source servers of one machine coming last
            servers = sorted((s for s in self.servers.values() if not wanted or s.id in wanted), key=lambda s: s.id)
            page, token = paginate(servers, request)
            now = self.now()
            return with_token({"items": [s.to_api(now) for s in page]}, token)

    def get_launch_configuration(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            return self.server(required(request, "sourceServerID")).launch_configuration_api()

    def update_launch_configuration(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            server = self.server(required(request, "sourceServerID"))
            self.ensure_idle([server.id])
            server.launch_configuration.update({k: request[k] for k in LAUNCH_CONFIGURATION_FIELDS if k in request})
            return server.launch_configuration_api()

    def describe_recovery_snapshots(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            server = self.server(required(request, "sourceServerID"))
            filters = request.get("filters") or {}
            start = parse_iso(filters["fromDateTime"], "fromDateTime") if filters.get("fromDateTime") else None
            end = parse_iso(filters["toDateTime"], "toDateTime") if filters.get("toDateTime") else None
            snapshots = [s for s in server.snapshots
                         if (start is None or s.time >= start) and (end is None or s.time <= end)]
            snapshots.sort(key=lambda s: s.time, reverse=request.get("order") == "DESC")
            page, token = paginate(snapshots, request)
            return with_token({"items": [s.to_api() for s in page]}, token)

    def reverse_replication(self, request: dict[str, Any]) -> dict[str, Any]:
        """The recovery instance becomes a FAILBACK source server of DRS in the original region."""
        with LOCK:
            self.begin()
            recovery = self.recovery_instance(required(request, "recoveryInstanceID"))
            server = self.server(recovery.source_server_id)
            instance = ec2view.find_instance(ec2view.ec2(self.account_id, self.region_name), recovery.id)
            if instance is None or instance.state == "terminated":
                raise ValidationException(f"recovery instance {recovery.id} is not running")
            origin = drs_backends[self.account_id][server.origin_region]
            reversed_id = stable_id("s-", f"failback:{recovery.id}")
            # not ready at once: the reversed server's initial sync takes time (records.py SourceServer.state)
            start = origin.now()
            reversed_server = origin.servers.get(reversed_id) or origin._adopt(
                reversed_id, recovery.id, self.region_name,
                ec2view.machine(ec2view.ec2(self.account_id, self.region_name), instance), start, "FAILBACK",
                synced=_after(start, origin.initial_sync(reversed_id)))
            if origin.launch_into_source_instance and reversed_server.last_launch is None:
                reversed_server.launch_configuration["launchIntoInstanceProperties"] = {
                    "launchIntoEC2InstanceID": server.instance_id}
            reversed_server.reversed_arn = server.arn
            server.reversed_arn = reversed_server.arn
            return {"reversedDirectionSourceServerArn": reversed_server.arn}

    def list_tags_for_resource(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            return {"tags": dict(self.taggable(request["resourceArn"]).tags)}

    def tag_resource(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            self.taggable(request["resourceArn"]).tags.update(request.get("tags") or {})
            return {}

    def untag_resource(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            tags = self.taggable(request["resourceArn"]).tags
            for key in request.get("tagKeys") or []:
                tags.pop(key, None)
            return {}

    def taggable(self, arn: str) -> Any:
        prefix = f"arn:{self.partition}:drs:{self.region_name}:{self.account_id}:"
        kind, _, resource_id = arn[len(prefix):].partition("/") if arn.startswith(prefix) else ("", "", arn)
        found = {"source-server": self.servers, "job": self.jobs,
                 "recovery-instance": self.recovery_instances}.get(kind, {}).get(resource_id)
        if found is None:
            raise ResourceNotFoundException("RESOURCE", arn)
        return found


def _after(start: datetime, seconds: float) -> datetime:
    """`seconds` after `start`; datetime.max for never (inf, or past the calendar)."""
    try:
        return start + timedelta(seconds=seconds)
    except OverflowError:
        return datetime.max.replace(tzinfo=start.tzinfo)


drs_backends = BackendDict(DrsBackend, "drs")
