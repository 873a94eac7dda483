"""DRS jobs without threads: each participating server has a due time (job start + latency), and every
API call first `advance()`s, running what has come due, in due order, with the clock's time.

Log items and `launch_log` carry the due time, not the moment the double noticed, so ordering is
deterministic whatever the polling. A LAUNCH job launches a real moto EC2 instance per server.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from drflow.sandbox.drs import ec2view, launcher
from drflow.sandbox.drs.errors import (ConflictException, ResourceNotFoundException, ServiceQuotaExceededException,
                                       ValidationException)
from drflow.sandbox.drs.records import Job, Participant, RecoveryInstance, Snapshot
from drflow.sandbox.drs.util import LOCK, iso, paginate, parse_iso, random_id, required, with_token

DONE = ("LAUNCHED", "FAILED", "TERMINATED")


class JobsMixin:
    """Jobs, recovery instances and their API; mixed into DrsBackend (which owns servers, clock, limits)."""

    def init_jobs(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.recovery_instances: dict[str, RecoveryInstance] = {}

    # -- admission --------------------------------------------------------------------------------

    def running_jobs(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.status != "COMPLETED"]

    def ensure_idle(self, server_ids: list[str]) -> None:
        for job in self.running_jobs():
            for p in job.participants:
                if p.source_server_id in server_ids:
                    raise ConflictException(f"Source server {p.source_server_id} is already participating in "
                                            f"job {job.id}", "SOURCE_SERVER", p.source_server_id)

    def admit(self, server_ids: list[str]) -> None:
        """DRS's limits: servers per request, concurrent jobs, servers across running jobs, one job per server."""
        if len(server_ids) > self.limits["servers_per_request"]:
            raise ValidationException(f"A job may include at most {self.limits['servers_per_request']} source "
                                      f"servers; {len(server_ids)} were given", "fieldValidationFailed",
                                      [("sourceServers", "too many items")])
        if len(set(server_ids)) != len(server_ids):
            raise ValidationException("A source server appears twice in the request", "fieldValidationFailed",
                                      [("sourceServers", "duplicate source server")])
        running = self.running_jobs()
        if len(running) >= self.limits["concurrent_jobs"]:
            raise ServiceQuotaExceededException(
                f"Cannot start a job: {len(running)} jobs are already in progress (limit "
                f"{self.limits['concurrent_jobs']})", "concurrent-jobs-in-progress", "JOB")
        in_jobs = sum(len(j.participants) for j in running)
        if in_jobs + len(server_ids) > self.limits["servers_in_jobs"]:
            raise ServiceQuotaExceededException(
                f"Cannot start a job: {in_jobs} source servers are already in active jobs (limit "
                f"{self.limits['servers_in_jobs']})", "source-servers-in-all-active-jobs", "SOURCE_SERVER")
        self.ensure_idle(server_ids)

    def new_job(self, job_type: str, initiated_by: str, created: datetime, participants: list[Participant],
                tags: dict[str, str] | None, is_drill: bool = False) -> Job:
        job_id = random_id("drsjob-")
        job = Job(job_id, self.arn("job", job_id), job_type, initiated_by, created, participants,
                  dict(tags or {}), is_drill)
        self.jobs[job_id] = job
        for p in participants:
            self.launch_log.append((job.created, p.source_server_id, f"{job_type}_REQUESTED"))
        return job

    def due(self, start: datetime, server_id: str) -> datetime:
        return start + timedelta(seconds=float(self.latency(server_id)))

    # -- API ----------------------------------------------------------------------------------------

    def start_recovery(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            wanted = required(request, "sourceServers")
            self.admit([w["sourceServerID"] for w in wanted])
            for w in wanted:
                server = self.server(w["sourceServerID"])
                if not server.initial_sync_done(self.now()):
                    # A source server still in its initial sync has no recovery snapshot to launch from; for a
                    # reversed server the cross-Region failback guide says failing back is possible once its
                    # replication is healthy (https://docs.aws.amazon.com/drs/latest/userguide/
                    # failback-failover-region-region.html). The guide names no error for trying earlier, and
                    # StartRecovery's model (drs 2020-02-26) lists no ValidationException: ConflictException (409,
                    # "a conflict with the current state of the target resource") is the one it lists that fits,
                    # so the double refuses the whole request with it, before any job exists.
                    raise ConflictException(
                        f"Source server {server.id} is not ready for recovery: data replication is "
                        f"{server.state(self.now())} (initial sync not complete)", "SOURCE_SERVER", server.id)
                if w.get("recoverySnapshotID") and not any(s.id == w["recoverySnapshotID"] for s in server.snapshots):
                    raise ResourceNotFoundException("RECOVERY_SNAPSHOT", w["recoverySnapshotID"])
            drill, now = bool(request.get("isDrill")), self.now()
            job = self.new_job("LAUNCH", "START_DRILL" if drill else "START_RECOVERY", now,
                               [Participant(w["sourceServerID"], self.due(now, w["sourceServerID"]),
                                            w.get("recoverySnapshotID")) for w in wanted],
                               request.get("tags"), drill)
            for p in job.participants:
                self.servers[p.source_server_id].last_launch = {"job": job.id, "time": now, "drill": drill,
                                                                "status": "PENDING"}
            return {"job": job.to_api()}

    def terminate_recovery_instances(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            instances = [self.recovery_instance(i) for i in required(request, "recoveryInstanceIDs")]
            self.admit([r.source_server_id for r in instances])
            now = self.now()
            job = self.new_job("TERMINATE", "TERMINATE_RECOVERY_INSTANCES", now,
                               [Participant(r.source_server_id, now, recovery_instance_id=r.id)
                                for r in instances], None)
            return {"job": job.to_api()}

    def start_failback_launch(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            instances = [self.recovery_instance(i) for i in required(request, "recoveryInstanceIDs")]
            self.admit([r.source_server_id for r in instances])
            now = self.now()
            job = self.new_job("LAUNCH", "FAILBACK", now,
                               [Participant(r.source_server_id, self.due(now, r.source_server_id),
                                            recovery_instance_id=r.id) for r in instances], request.get("tags"))
            for r in instances:
                r.failback = {"failbackJobID": job.id, "failbackInitiationTime": iso(now),
                              "state": "FAILBACK_IN_PROGRESS", "failbackLaunchType": "RECOVERY",
                              "failbackToOriginalServer": True}
            return {"job": job.to_api()}

    def describe_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            filters = request.get("filters") or {}
            ids = filters.get("jobIDs")
            start = parse_iso(filters["fromDate"], "fromDate") if filters.get("fromDate") else None
            end = parse_iso(filters["toDate"], "toDate") if filters.get("toDate") else None
            jobs = [j for j in self.jobs.values() if (not ids or j.id in ids)
                    and (start is None or j.created >= start) and (end is None or j.created <= end)]
            page, token = paginate(jobs, request)
            return with_token({"items": [j.to_api() for j in page]}, token)

    def describe_job_log_items(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            job_id = required(request, "jobID")
            if job_id not in self.jobs:
                raise ResourceNotFoundException("JOB", job_id)
            page, token = paginate(self.jobs[job_id].log, request)
            return with_token({"items": [dict(item, eventData=dict(item["eventData"])) for item in page]}, token)

    def describe_recovery_instances(self, request: dict[str, Any]) -> dict[str, Any]:
        with LOCK:
            self.begin()
            filters = request.get("filters") or {}
            ids, servers = filters.get("recoveryInstanceIDs"), filters.get("sourceServerIDs")
            found = [r for r in self.recovery_instances.values()
                     if (not ids or r.id in ids) and (not servers or r.source_server_id in servers)]
            page, token = paginate(found, request)
            return with_token({"items": [self.recovery_instance_api(r) for r in page]}, token)

    # -- recovery instances -----------------------------------------------------------------------------

    def recovery_instance(self, instance_id: str) -> RecoveryInstance:
        if instance_id not in self.recovery_instances:
            raise ResourceNotFoundException("RECOVERY_INSTANCE", instance_id)
        return self.recovery_instances[instance_id]

    def recovery_instance_api(self, r: RecoveryInstance) -> dict[str, Any]:
        backend = ec2view.ec2(self.account_id, self.region_name)
        instance = ec2view.find_instance(backend, r.id)
        item: dict[str, Any] = {
            "recoveryInstanceID": r.id, "ec2InstanceID": r.id, "arn": r.arn, "jobID": r.job_id,
            "sourceServerID": r.source_server_id, "tags": dict(r.tags), "isDrill": r.is_drill,
            "ec2InstanceState": instance.state.upper() if instance is not None else "NOT_FOUND",
            "pointInTimeSnapshotDateTime": iso(r.point_in_time), "originEnvironment": "AWS",
            "originAvailabilityZone": r.origin_az}
        if instance is not None:
            m = ec2view.machine(backend, instance)
            item["recoveryInstanceProperties"] = {
                "lastUpdatedDateTime": iso(self.now()), "identificationHints": m["identificationHints"],
                "networkInterfaces": m["networkInterfaces"], "cpus": m["cpus"], "ramBytes": m["ramBytes"],
                "os": m["os"], "disks": [{"internalDeviceName": d["deviceName"], "bytes": d["bytes"],
                                          "ebsVolumeID": d["volumeId"]} for d in m["disks"]]}
        if r.failback:
            item["failback"] = dict(r.failback)
        return item

    # -- progression ----------------------------------------------------------------------------------

    def advance(self) -> None:
        """Run every participant that has come due, in due order; start and end jobs accordingly."""
        now, ready = self.now(), []
        for order, job in enumerate(self.jobs.values()):
            if job.status == "PENDING":
                job.status = "STARTED"
                job.record(job.created, "JOB_START")
                for p in job.participants:
                    p.status = "IN_PROGRESS"
            for index, p in enumerate(job.participants):
                if p.status not in DONE and p.due <= now:
                    ready.append((p.due, order, index, job, p))
        for _due, _order, _index, job, p in sorted(ready, key=lambda r: r[:3]):
            if job.type == "TERMINATE":
                self._terminate(job, p)
            elif job.initiated_by == "FAILBACK":
                self._failback(job, p)
            else:
                self._launch(job, p)
        for job in self.jobs.values():
            if job.status == "STARTED" and all(p.status in DONE for p in job.participants):
                job.status, job.ended = "COMPLETED", max([job.created] + [p.due for p in job.participants])
                job.record(job.ended, "JOB_END")

    def _launch(self, job: Job, p: Participant) -> None:
        server, at, sid = self.servers[p.source_server_id], p.due, p.source_server_id
        snapshot = next((s for s in server.snapshots if s.id == p.snapshot_id), None)
        if snapshot is None and server.replication_state != "CONTINUOUS" and server.snapshots:
            # the agent is gone, so no new snapshot: DRS launches from the latest point in time it has
            snapshot = max(server.snapshots, key=lambda s: s.time)
        if snapshot is not None:
            job.record(at, "USING_PREVIOUS_SNAPSHOT", sourceServerID=sid)
        else:
            job.record(at, "SNAPSHOT_START", sourceServerID=sid)
            snapshot = Snapshot(random_id("pit-"), sid, at)
            server.snapshots.append(snapshot)
            job.record(at, "SNAPSHOT_END", sourceServerID=sid)
        job.record(at, "CONVERSION_START", sourceServerID=sid)
        job.record(at, "CONVERSION_END", sourceServerID=sid)
        instance, error = None, None
        if self.failures.get(sid, 0) > 0:
            self.failures[sid] -= 1
            error = "sandbox: launch failure injected by fail_next_launches"
        else:
            if server.recovery_instance_id:  # DRS replaces a server's previous recovery instance
                self._drop_recovery_instance(server.recovery_instance_id)
                self.launch_log.append((at, sid, "REPLACED"))
            try:
                instance = launcher.launch(self.account_id, self.region_name, template_id=server.template_id,
                                           image_id=server.image_id, config=server.launch_configuration,
                                           source=server.machine, source_tags=server.source_tags,
                                           source_server_id=sid)
            except launcher.LaunchError as exc:
                error = str(exc)
        job.record(at, "LAUNCH_START", sourceServerID=sid, targetInstanceID=instance.id if instance else None)
        if instance is None:
            job.record(at, "LAUNCH_FAILED", sourceServerID=sid, rawError=error)
            p.status = "FAILED"
        else:
            recovery = RecoveryInstance(instance.id, self.arn("recovery-instance", instance.id), sid, job.id,
                                        job.is_drill, snapshot.time, server.machine["availabilityZone"], at)
            self.recovery_instances[recovery.id] = recovery
            server.recovery_instance_id = p.recovery_instance_id = recovery.id
            p.status = "LAUNCHED"
        self.launch_log.append((at, sid, p.status))
        if server.last_launch and server.last_launch["job"] == job.id:
            server.last_launch["status"] = p.status

    def _terminate(self, job: Job, p: Participant) -> None:
        sid = p.source_server_id
        job.record(p.due, "CLEANUP_START", sourceServerID=sid, targetInstanceID=p.recovery_instance_id)
        self._drop_recovery_instance(p.recovery_instance_id)
        server = self.servers.get(sid)
        if server and server.last_launch:
            server.last_launch["status"] = "TERMINATED"
        p.status = "TERMINATED"
        job.record(p.due, "CLEANUP_END", sourceServerID=sid, targetInstanceID=p.recovery_instance_id)
        self.launch_log.append((p.due, sid, "TERMINATED"))

    def _failback(self, job: Job, p: Participant) -> None:
        job.record(p.due, "LAUNCH_START", sourceServerID=p.source_server_id, targetInstanceID=p.recovery_instance_id)
        recovery = self.recovery_instances.get(p.recovery_instance_id)
        if recovery and recovery.failback:
            recovery.failback["state"] = "FAILBACK_COMPLETED"
        p.status = "LAUNCHED"
        self.launch_log.append((p.due, p.source_server_id, "FAILBACK"))

    def _drop_recovery_instance(self, instance_id: str) -> None:
        launcher.terminate(self.account_id, self.region_name, instance_id)
        recovery = self.recovery_instances.pop(instance_id, None)
        server = self.servers.get(recovery.source_server_id) if recovery else None
        if server and server.recovery_instance_id == instance_id:
            server.recovery_instance_id = None
