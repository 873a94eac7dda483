"""EFS replication for the sandbox's moto (moto 5.2.5 serves EFS but not its replication API).

Importing this module teaches moto's own EFS backend and response classes four operations, shaped like
botocore's EFS model: CreateReplicationConfiguration, DescribeReplicationConfigurations,
DeleteReplicationConfiguration and UpdateFileSystemProtection; and adds each file system's
`FileSystemProtection` to DescribeFileSystems. It patches the classes rather than replacing the backend, so
the one `efs_backends` moto already has (per account and region, emptied by moto's reset) holds the state,
in-process (`mock_aws`) and through the threaded sandbox server alike. Test and sandbox code only.

What it models (from the EFS user guide): a file system takes part in one replication at most; a new
destination is created in the destination region (and account) with its overwrite protection REPLICATING
(read-only); an existing destination must have its protection DISABLED first; deleting the configuration,
from either side, makes the destination writable with its protection ENABLED again. `ALL_CONFIGURATIONS`
removes both sides, `LOCAL_CONFIGURATION_ONLY` only the caller's (the other side then reports ERROR).
Replication copies no bytes (moto file systems hold none), but it is not instantaneous: a new configuration is
ENABLING, with no LastReplicatedTimestamp, until its first sync, FIRST_SYNC_SECONDS after its creation on this
module's CLOCK (which a test advances), or when a test calls `sync`. Across accounts the destination needs
`RoleArn`, a role of the source account that trusts EFS. A region the sandbox has made dark (`set_reachable`,
installed by drflow/sandbox/server.py from its faults) cannot be reached by the other side: no sync, and a
deletion of both sides from there fails with a 5xx (LOCAL_CONFIGURATION_ONLY still works).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.session import get_session
from moto.efs.exceptions import EFSError
from moto.efs.models import EFSBackend, FileSystem, efs_backends
from moto.efs import urls as efs_urls
from moto.efs.responses import EFSResponse
from moto.iam.models import iam_backends

_MODEL = get_session().get_service_model("efs")
_FS_MEMBERS = set(_MODEL.shape_for("FileSystemDescription").members)
_LOCK = threading.RLock()  # one replication spans two backends (regions, maybe accounts)
REPLICATING, ENABLED, DISABLED = "REPLICATING", "ENABLED", "DISABLED"
ENABLING = "ENABLING"
# EFS user guide, "Viewing replication details": a new replication is ENABLING until its initial sync has finished
# (how long depends on the data; the sandbox's file systems hold none), and only a finished sync sets the
# "last synced" time (botocore's Destination.LastReplicatedTimestamp: "the time when the most recent sync was
# successfully completed"). A failover before then would make a half-synced replica writable.
FIRST_SYNC_SECONDS = 300.0
EFS_PRINCIPAL = "elasticfilesystem.amazonaws.com"


class Clock:
    """The double's time: the wall clock plus an offset a test moves forward (`advance`), so that the first sync
    can be made to happen without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


CLOCK = Clock()
_reachable = [lambda account_id, region: True]  # replaced by the sandbox server: False for a dark region


def set_reachable(check: Any) -> None:
    """How the double learns that a region is dark (account id, region -> bool): the sandbox server installs
    its faults' view; in-process (mock_aws) every region answers."""
    _reachable[0] = check


def reachable(account_id: str, region: str) -> bool:
    return bool(_reachable[0](account_id, region))


class EfsReplicationError(EFSError):
    """An EFS error as the service sends it: `x-amzn-ErrorType` header, body {ErrorCode, Message}."""

    def __init__(self, code: str, status: int, message: str):
        super().__init__(code, message)
        self.code = status
        self.description = json.dumps({"ErrorCode": code, "Message": message})


def _error(code: str, message: str) -> EfsReplicationError:
    status = _MODEL.shape_for(code).metadata["error"]["httpStatusCode"]
    return EfsReplicationError(code, status, message)


@dataclass
class Replication:
    """One replication configuration, shared by the source's and the destination's backend."""

    source: FileSystem
    source_region: str
    destination: FileSystem
    destination_region: str
    role_arn: str | None = None
    created: float = field(default_factory=lambda: CLOCK.now())
    status: str = ENABLING
    status_message: str | None = None
    last_synced: float | None = None

    def catch_up(self) -> None:
        """The first sync, once FIRST_SYNC_SECONDS have passed on CLOCK, if the source can be reached (EFS reads
        the source to sync it). Later syncs are the test's (`sync`): the double never makes a replica fresher."""
        if self.status != ENABLING or self.last_synced is not None:
            return
        first = self.created + FIRST_SYNC_SECONDS
        if CLOCK.now() >= first and reachable(self.source.owner_id, self.source_region):
            self.status, self.last_synced = ENABLED, first

    def describe(self) -> dict[str, Any]:
        self.catch_up()
        destination: dict[str, Any] = {
            "Status": self.status, "FileSystemId": self.destination.file_system_id,
            "Region": self.destination_region, "OwnerId": self.destination.owner_id}
        if self.last_synced is not None:
            destination["LastReplicatedTimestamp"] = self.last_synced
        if self.status_message:
            destination["StatusMessage"] = self.status_message
        if self.role_arn:
            destination["RoleArn"] = self.role_arn
        return {"SourceFileSystemId": self.source.file_system_id, "SourceFileSystemRegion": self.source_region,
                "SourceFileSystemArn": self.source.file_system_arn,
                "OriginalSourceFileSystemArn": self.source.file_system_arn, "CreationTime": self.created,
                "Destinations": [destination], "SourceFileSystemOwnerId": self.source.owner_id}


def _replications(backend: EFSBackend) -> dict[str, Replication]:
    """This backend's side of every replication, by its own file system's id (source or destination)."""
    return backend.__dict__.setdefault("_drflow_replications", {})


def protection(fs: FileSystem) -> str:
    return fs.__dict__.get("_drflow_protection", ENABLED)


def _set_protection(fs: FileSystem, value: str) -> None:
    fs.__dict__["_drflow_protection"] = value


def _file_system(backend: EFSBackend, file_system_id: str) -> FileSystem:
    fs_id = file_system_id.rsplit("/", 1)[-1]
    if fs_id not in backend.file_systems_by_id:
        raise _error("FileSystemNotFound", f"File system '{fs_id}' does not exist.")
    return backend.file_systems_by_id[fs_id]


def _destination_backend(backend: EFSBackend, destination: dict[str, Any]) -> EFSBackend:
    """The backend a destination names: an ARN names region and account, a bare id lives in `Region`."""
    target = destination.get("FileSystemId") or ""
    if target.startswith("arn:"):
        parts = target.split(":")
        region, account = parts[3], parts[4]
        if destination.get("Region") not in (None, region):
            raise _error("ValidationException", f"Region {destination['Region']} does not match {target}")
    else:
        region, account = destination.get("Region") or backend.region_name, backend.account_id
    if account != backend.account_id and not destination.get("FileSystemId"):
        raise _error("ValidationException", "a destination in another account must name its FileSystemId")
    return efs_backends[account][region]


def _check_role(source_account: str, role_arn: str | None) -> None:
    """Cross-account replication needs a role of the source account that EFS assumes (botocore's
    DestinationToCreate.RoleArn: "the IAM role in the source account that allows Amazon EFS to perform
    replication on its behalf. This is optional for same-account replication and required for cross-account
    replication"; EFS user guide, "Replicating EFS file systems across AWS accounts": created on the source
    account, with the elasticfilesystem.amazonaws.com trust policy). Without it AWS answers BadRequest "No RoleArn
    provided.  RoleArn is required for cross-account replication." (as reported in
    hashicorp/terraform-provider-aws#42814); the other refusals' wording is the double's."""
    if not role_arn:
        raise _error("BadRequest", "No RoleArn provided.  RoleArn is required for cross-account replication.")
    parts = role_arn.split(":")
    if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        raise _error("ValidationException", f"RoleArn {role_arn!r} is not an IAM role ARN")
    if parts[4] != source_account:
        raise _error("BadRequest", f"RoleArn {role_arn} is not in the source file system's account "
                                   f"{source_account}: cross-account replication uses a role of the source account")
    role = None
    if source_account in iam_backends:  # never create an account here
        try:
            role = iam_backends[source_account][parts[1]].get_role_by_arn(role_arn)
        except Exception:  # noqa: BLE001 - moto's NoSuchEntity
            role = None
    document = json.loads(role.assume_role_policy_document) if role is not None and isinstance(
        role.assume_role_policy_document, str) else (role.assume_role_policy_document if role is not None else {})
    trusted = any(s.get("Effect") == "Allow" and EFS_PRINCIPAL in _listed((s.get("Principal") or {}).get("Service"))
                  for s in _listed(document.get("Statement")))
    if not trusted:
        raise _error("BadRequest", f"Amazon EFS cannot assume {role_arn}: it does not exist, or its trust policy "
                                   f"does not allow {EFS_PRINCIPAL}")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else ([] if value is None else [value])


def sync(file_system_id: str, at: float | None = None) -> None:
    """Test control: a sync of the replication `file_system_id` takes part in (source or destination id) has
    completed, now on CLOCK or at `at` (a stale replica: a sync long ago). Finds it in any account and region."""
    with _LOCK:
        replication = _find(file_system_id)
        replication.status, replication.last_synced = ENABLED, CLOCK.now() if at is None else at


def _find(file_system_id: str) -> Replication:
    for _, backend in _all_backends():
        found = _replications(backend).get(file_system_id)
        if found is not None:
            return found
    raise KeyError(f"no replication with file system {file_system_id}")


def _all_backends() -> list[tuple[str, EFSBackend]]:
    return [(account, backend) for account in list(efs_backends) for backend in efs_backends[account].values()]


def sync_pending() -> None:
    """Test control: every replication still ENABLING finishes its first sync now (a night passes)."""
    with _LOCK:
        for _, backend in _all_backends():
            for replication in _replications(backend).values():
                if replication.last_synced is None and replication.status == ENABLING:
                    replication.status, replication.last_synced = ENABLED, CLOCK.now()


# -- backend operations (attached to moto's EFSBackend below) ---------------------------------------------

def create_replication_configuration(self: EFSBackend, source_file_system_id: str,
                                     destinations: list[dict[str, Any]]) -> Replication:
    with _LOCK:
        source = _file_system(self, source_file_system_id)
        if not isinstance(destinations, list) or len(destinations) != 1:
            raise _error("ValidationException", "Destinations must hold exactly one destination")
        wanted = destinations[0]
        if source.file_system_id in _replications(self):
            raise _error("ValidationException", f"File system '{source.file_system_id}' is already part of a "
                                                "replication configuration")
        target_backend = _destination_backend(self, wanted)
        if target_backend.account_id != self.account_id:
            _check_role(self.account_id, wanted.get("RoleArn"))
        if wanted.get("FileSystemId"):
            destination = _file_system(target_backend, wanted["FileSystemId"])
            if destination.file_system_id in _replications(target_backend) or protection(destination) == REPLICATING:
                raise _error("ValidationException", f"File system '{destination.file_system_id}' is already "
                                                    "part of a replication configuration")
            if protection(destination) != DISABLED:
                raise _error("ValidationException", f"The replication overwrite protection of file system "
                                                    f"'{destination.file_system_id}' is ENABLED; disable it to "
                                                    "use the file system as a destination")
            if source.encrypted and not destination.encrypted:
                raise _error("ConflictException", "the source file system is encrypted, the destination is not")
        else:
            destination = target_backend.create_file_system(
                creation_token=str(uuid.uuid4()), performance_mode=source.performance_mode, encrypted=True,
                kms_key_id=wanted.get("KmsKeyId"), throughput_mode=source.throughput_mode,
                provisioned_throughput_in_mibps=source.provisioned_throughput_in_mibps,
                availability_zone_name=wanted.get("AvailabilityZoneName"), backup=False, tags=[])
        _set_protection(destination, REPLICATING)
        replication = Replication(source, self.region_name, destination, target_backend.region_name,
                                  role_arn=wanted.get("RoleArn"))
        _replications(self)[source.file_system_id] = replication
        _replications(target_backend)[destination.file_system_id] = replication
        return replication


def describe_replication_configurations(self: EFSBackend, file_system_id: str | None) -> list[Replication]:
    with _LOCK:
        if file_system_id:
            fs = _file_system(self, file_system_id)
            if fs.file_system_id not in _replications(self):
                raise _error("ReplicationNotFound", f"No replication configuration found for '{fs.file_system_id}'.")
            return [_replications(self)[fs.file_system_id]]
        unique = {id(r): r for r in _replications(self).values()}
        return sorted(unique.values(), key=lambda r: r.created)


def delete_replication_configuration(self: EFSBackend, source_file_system_id: str, deletion_mode: str) -> None:
    """From either side: `source_file_system_id` may name the source or the destination (EFS user guide)."""
    with _LOCK:
        fs = _file_system(self, source_file_system_id)
        replication = _replications(self).get(fs.file_system_id)
        if replication is None:
            raise _error("ReplicationNotFound", f"No replication configuration found for '{fs.file_system_id}'.")
        mode = deletion_mode or "ALL_CONFIGURATIONS"
        if mode not in ("ALL_CONFIGURATIONS", "LOCAL_CONFIGURATION_ONLY"):
            raise _error("BadRequest", f"invalid deletionMode {mode!r}")
        source_backend = efs_backends[replication.source.owner_id][replication.source_region]
        destination_backend = efs_backends[replication.destination.owner_id][replication.destination_region]
        other = destination_backend if self is source_backend else source_backend
        if mode == "ALL_CONFIGURATIONS" and other is not self and not reachable(other.account_id, other.region_name):
            # botocore's DeleteReplicationConfigurationRequest.DeletionMode: ALL_CONFIGURATIONS deletes both sides;
            # when EFS cannot delete the other side, LOCAL_CONFIGURATION_ONLY deletes the caller's only. The other
            # side's region is dark: nothing is deleted, and the caller gets InternalServerError (a 5xx in the
            # operation's errors), which botocore retries; the double never reaches into a dark region in-process.
            raise _error("InternalServerError", f"Amazon EFS could not delete the replication configuration in "
                                                f"{other.region_name}; try again, or use LOCAL_CONFIGURATION_ONLY")
        if mode == "LOCAL_CONFIGURATION_ONLY":
            if source_backend is destination_backend:
                raise _error("BadRequest", "LOCAL_CONFIGURATION_ONLY is for cross-region or cross-account replication")
            del _replications(self)[fs.file_system_id]
            replication.status = "ERROR"
            replication.status_message = "the replication configuration was deleted on the other side"
        else:
            _replications(source_backend).pop(replication.source.file_system_id, None)
            _replications(destination_backend).pop(replication.destination.file_system_id, None)
        if mode == "ALL_CONFIGURATIONS" or self is destination_backend:
            _set_protection(replication.destination, ENABLED)  # writable again


def update_file_system_protection(self: EFSBackend, file_system_id: str, value: str | None) -> str:
    with _LOCK:
        fs = _file_system(self, file_system_id)
        if protection(fs) == REPLICATING or fs.file_system_id in _replications(self):
            raise _error("ReplicationAlreadyExists", f"File system '{fs.file_system_id}' is already part of a "
                                                     "replication configuration")
        if value is not None:
            if value not in (ENABLED, DISABLED):
                raise _error("BadRequest", f"ReplicationOverwriteProtection must be ENABLED or DISABLED, not {value!r}")
            _set_protection(fs, value)
        return protection(fs)


_moto_delete_file_system = EFSBackend.delete_file_system
_moto_info_json = FileSystem.info_json


def delete_file_system(self: EFSBackend, file_system_id: str) -> None:
    with _LOCK:
        if file_system_id in _replications(self):
            raise _error("BadRequest", f"File system '{file_system_id}' is part of a replication configuration; "
                                       "delete the replication configuration first")
        _moto_delete_file_system(self, file_system_id)


def file_system_info(self: FileSystem) -> dict[str, Any]:
    """moto's description, cut to the model's members (moto adds LifecyclePolicies, FileSystemPolicy and
    None values), with the protection the model describes."""
    info = {k: v for k, v in _moto_info_json(self).items() if k in _FS_MEMBERS and v is not None}
    if info.get("ThroughputMode") != "provisioned":
        info.pop("ProvisionedThroughputInMibps", None)
    info["FileSystemProtection"] = {"ReplicationOverwriteProtection": protection(self)}
    return info


# -- HTTP face (attached to moto's EFSResponse below) --------------------------------------------------------

def _json(result: Any, status: int = 200) -> tuple[str, dict[str, Any]]:
    return ("" if status == 204 else json.dumps(result)), {"status": status, "Content-Type": "application/json"}


def _body(response: EFSResponse) -> dict[str, Any]:
    try:
        parsed = json.loads(response.body or "{}")
    except ValueError:
        raise _error("BadRequest", "request body is not JSON") from None
    return parsed if isinstance(parsed, dict) else {}


def http_create_replication_configuration(self: EFSResponse) -> Any:
    replication = self.efs_backend.create_replication_configuration(
        self._get_param("SourceFileSystemId"), _body(self).get("Destinations"))
    return _json(replication.describe())


def http_describe_replication_configurations(self: EFSResponse) -> Any:
    items = self.efs_backend.describe_replication_configurations(self._get_param("FileSystemId"))
    token, size = self._get_param("NextToken") or "0", self._get_int_param("MaxResults", 100)
    if not token.isdigit() or size < 1:
        raise _error("BadRequest", "invalid NextToken or MaxResults")
    start = int(token)
    result: dict[str, Any] = {"Replications": [r.describe() for r in items[start:start + size]]}
    if start + size < len(items):
        result["NextToken"] = str(start + size)
    return _json(result)


def http_delete_replication_configuration(self: EFSResponse) -> Any:
    self.efs_backend.delete_replication_configuration(self._get_param("SourceFileSystemId"),
                                                      self._get_param("deletionMode"))
    return _json(None, 204)


def http_update_file_system_protection(self: EFSResponse) -> Any:
    value = self.efs_backend.update_file_system_protection(
        self._get_param("FileSystemId"), _body(self).get("ReplicationOverwriteProtection"))
    return _json({"ReplicationOverwriteProtection": value})


# the server routes paths with werkzeug rules built from moto's urls module (the in-process stubber needs none)
URL_PATHS = ("/2015-02-01/file-systems/replication-configurations",
             "/2015-02-01/file-systems/<file_system_id>/replication-configuration",
             "/2015-02-01/file-systems/<file_system_id>/protection")


def register() -> None:
    """Attach the operations to moto's EFS classes and routes (idempotent)."""
    for path in URL_PATHS:
        efs_urls.url_paths.setdefault(path, efs_urls.response.dispatch)
    EFSBackend.create_replication_configuration = create_replication_configuration
    EFSBackend.describe_replication_configurations = describe_replication_configurations
    EFSBackend.delete_replication_configuration = delete_replication_configuration
    EFSBackend.update_file_system_protection = update_file_system_protection
    EFSBackend.delete_file_system = delete_file_system
    FileSystem.info_json = file_system_info
    EFSResponse.create_replication_configuration = http_create_replication_configuration
    EFSResponse.describe_replication_configurations = http_describe_replication_configurations
    EFSResponse.delete_replication_configuration = http_delete_replication_configuration
    EFSResponse.update_file_system_protection = http_update_file_system_protection


register()
