"""The DRS double's records and how each renders as the DRS API shape of the same name."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drflow.sandbox.drs.util import duration, iso

DEFAULT_LAUNCH_CONFIGURATION = {"launchDisposition": "STARTED", "targetInstanceTypeRightSizingMethod": "BASIC",
                                "copyPrivateIp": False, "copyTags": False, "licensing": {"osByol": False},
                                "postLaunchEnabled": False}


@dataclass
class Snapshot:
    id: str
    source_server_id: str
    time: datetime  # when DRS expects it taken (expectedTimestamp); filters and order go by it
    taken: bool = True

    def to_api(self) -> dict[str, Any]:
        # botocore's RecoverySnapshot requires snapshotID, sourceServerID and expectedTimestamp only: `timestamp`,
        # "the actual timestamp that the snapshot was taken", is left out for one DRS has not taken yet
        item = {"snapshotID": self.id, "sourceServerID": self.source_server_id, "expectedTimestamp": iso(self.time),
                "ebsSnapshots": []}
        if self.taken:
            item["timestamp"] = iso(self.time)
        return item


@dataclass
class SourceServer:
    id: str
    arn: str
    instance_id: str  # the machine replicated: an EC2 instance of origin_region
    origin_account: str
    origin_region: str
    added: datetime
    machine: dict[str, Any]  # ec2view.machine(), refreshed while the agent is seen
    source_tags: dict[str, str]  # the machine's EC2 tags (copyTags)
    template_id: str
    image_id: str
    launch_configuration: dict[str, Any]
    direction: str = "FAILOVER"
    replication_state: str = "CONTINUOUS"
    last_seen: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    snapshots: list[Snapshot] = field(default_factory=list)
    recovery_instance_id: str | None = None
    last_launch: dict[str, Any] | None = None  # {"job", "time", "drill", "status"}
    reversed_arn: str | None = None
    disconnected: bool = False  # DisconnectSourceServer (or an agent reinstalled as a new source server)
    synced: datetime | None = None  # a reversed server: when its initial sync ends (CONTINUOUS from then on)

    def state(self, now: datetime) -> str:
        """dataReplicationInfo.dataReplicationState at `now`.

        A reversed (FAILBACK) server replicates its recovery instance's disks from scratch: "an operation that
        takes time" (DRS user guide, "Performing a cross-Region failback",
        https://docs.aws.amazon.com/drs/latest/userguide/failback-failover-region-region.html). Until `synced`
        it goes through the first states of botocore's DataReplicationState enum (drs 2020-02-26 model):
        INITIATING (replication server launched, agent paired: DataReplicationInitiationStepName), INITIAL_SYNC
        (the disks copied), CREATING_SNAPSHOT (its first recovery snapshot), then CONTINUOUS, the healthy state
        from which the guide says failing back is possible."""
        if self.disconnected:
            return "DISCONNECTED"
        if self.synced is None or now >= self.synced:
            return self.replication_state
        span = max((self.synced - self.added).total_seconds(), 1e-9)
        done = (now - self.added).total_seconds() / span
        return "INITIATING" if done < 0.1 else "INITIAL_SYNC" if done < 0.9 else "CREATING_SNAPSHOT"

    def initial_sync_done(self, now: datetime) -> bool:
        return self.synced is None or now >= self.synced

    def to_api(self, now: datetime) -> dict[str, Any]:
        m = self.machine
        disks = [{"deviceName": d["deviceName"], "bytes": d["bytes"]} for d in m["disks"]]
        seen = self.last_seen or self.added
        life: dict[str, Any] = {"addedToServiceDateTime": iso(self.added), "firstByteDateTime": iso(self.added),
                                "elapsedReplicationDuration": duration((now - self.added).total_seconds()),
                                "lastSeenByServiceDateTime": iso(seen)}
        result = "NOT_STARTED"
        if self.last_launch:
            launch = self.last_launch
            life["lastLaunch"] = {"initiated": {"apiCallDateTime": iso(launch["time"]), "jobID": launch["job"],
                                                "type": "DRILL" if launch["drill"] else "RECOVERY"},
                                  "status": launch["status"]}
            result = {"LAUNCHED": "SUCCEEDED", "FAILED": "FAILED", "TERMINATED": "SUCCEEDED"}.get(
                launch["status"], "PENDING")
        state = self.state(now)
        syncing = not self.initial_sync_done(now)
        # during the initial sync no point in time is consistent yet: the lag runs from the replication's start,
        # the disks fill up, and etaDateTime ("an estimate of when the data replication will be completed",
        # botocore's DataReplicationInfo) is when it ends
        part = min(1.0, (now - self.added).total_seconds() / max((self.synced - self.added).total_seconds(), 1e-9)) \
            if syncing else 1.0
        lag = ((now - self.added).total_seconds() if syncing
               else 0 if state == "CONTINUOUS" else (now - seen).total_seconds())
        replication: dict[str, Any] = {
            "dataReplicationState": state,
            "lagDuration": duration(lag),
            "replicatedDisks": [{"deviceName": d["deviceName"], "totalStorageBytes": d["bytes"],
                                 "replicatedStorageBytes": int(d["bytes"] * part), "rescannedStorageBytes": 0,
                                 "backloggedStorageBytes": 0, "volumeStatus": "REGULAR"} for d in disks]}
        if syncing:
            replication["etaDateTime"] = iso(self.synced)
            replication["dataReplicationInitiation"] = {"startDateTime": iso(self.added)}
        if self.disconnected:
            # DisconnectSourceServer (DRS API Reference): dataReplicationState DISCONNECTED, every replicated disk's
            # totalStorageBytes zero, lagDuration nullified; the server stays listed
            replication = {"dataReplicationState": "DISCONNECTED", "replicatedDisks": [
                dict(d, totalStorageBytes=0) for d in replication["replicatedDisks"]]}
        item: dict[str, Any] = {
            "sourceServerID": self.id, "arn": self.arn, "tags": dict(self.tags), "lastLaunchResult": result,
            "dataReplicationInfo": replication,
            "lifeCycle": life,
            "sourceProperties": {"lastUpdatedDateTime": iso(seen), "recommendedInstanceType": m["instanceType"],
                                 "identificationHints": dict(m["identificationHints"]),
                                 "networkInterfaces": [dict(n) for n in m["networkInterfaces"]], "disks": disks,
                                 "cpus": [dict(c) for c in m["cpus"]], "ramBytes": m["ramBytes"], "os": dict(m["os"]),
                                 "supportsNitroInstances": True, "architecture": m["architecture"]},
            "sourceCloudProperties": {"originAccountID": self.origin_account, "originRegion": self.origin_region,
                                      "originAvailabilityZone": m["availabilityZone"]},
            "stagingArea": {"status": "NOT_EXTENDED"},
            "replicationDirection": self.direction, "agentVersion": "4.4.1004",
        }
        if self.recovery_instance_id:
            item["recoveryInstanceId"] = self.recovery_instance_id
        if self.reversed_arn:
            item["reversedDirectionSourceServerArn"] = self.reversed_arn
        return item

    def launch_configuration_api(self) -> dict[str, Any]:
        return {"sourceServerID": self.id, "ec2LaunchTemplateID": self.template_id, **self.launch_configuration}


@dataclass
class RecoveryInstance:
    id: str  # the EC2 instance id, as in DRS
    arn: str
    source_server_id: str
    job_id: str
    is_drill: bool
    point_in_time: datetime
    origin_az: str
    launched: datetime
    tags: dict[str, str] = field(default_factory=dict)
    failback: dict[str, Any] | None = None


@dataclass
class Participant:
    source_server_id: str
    due: datetime
    snapshot_id: str | None = None
    recovery_instance_id: str | None = None
    status: str = "PENDING"

    def to_api(self) -> dict[str, Any]:
        item = {"sourceServerID": self.source_server_id, "launchStatus": self.status}
        if self.recovery_instance_id:
            item["recoveryInstanceID"] = self.recovery_instance_id
        return item


@dataclass
class Job:
    id: str
    arn: str
    type: str  # LAUNCH | TERMINATE
    initiated_by: str
    created: datetime
    participants: list[Participant]
    tags: dict[str, str] = field(default_factory=dict)
    is_drill: bool = False
    status: str = "PENDING"
    ended: datetime | None = None
    log: list[dict[str, Any]] = field(default_factory=list)

    def record(self, time: datetime, event: str, **data: Any) -> None:
        self.log.append({"logDateTime": iso(time), "event": event,
                         "eventData": {k: v for k, v in data.items() if v is not None}})

    def to_api(self) -> dict[str, Any]:
        item = {"jobID": self.id, "arn": self.arn, "type": self.type, "initiatedBy": self.initiated_by,
                "creationDateTime": iso(self.created), "status": self.status, "tags": dict(self.tags),
                "participatingServers": [p.to_api() for p in self.participants]}
        if self.ended:
            item["endDateTime"] = iso(self.ended)
        return item
