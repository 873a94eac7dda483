"""Where the sandbox's moto RDS differs from AWS in a way drflow meets, made to behave like AWS.

Installed by drflow.sandbox.server when it is imported (as the DRS double is registered), so it applies to
the sandbox only.

- DescribeOptionGroups without OptionGroupName (a plain listing, as discovery makes) fails in moto 5.2.5
  with a KeyError (HTTP 500), and a listing that matches nothing raises OptionGroupNotFoundFault; AWS
  returns every option group, or an empty list. NotFound stays for a name that does not exist.
- A snapshot shared with another account (its `restore` attribute names that account) is invisible there: a
  CopyDBSnapshot of its ARN from that account finds nothing. Here the ARN is looked up in the owner's account,
  and found when the snapshot is shared with the caller (or public), as AWS does.
- ResetDBParameterGroup and ResetDBClusterParameterGroup are not implemented (NotImplementedError, a 500);
  here they return the named parameters (or all of them) to the engine default, i.e. no longer user-set.
- An encrypted DB instance or cluster created (or restored) without KmsKeyId gets the account's default key,
  the AWS managed key alias/aws/rds of its region, made on first use (RDS API Reference, CreateDBInstance and
  CreateDBCluster, KmsKeyId: "If StorageEncrypted is enabled, and you do not specify a value for the KmsKeyId
  parameter, then Amazon RDS uses your default KMS key"; RDS User Guide, "AWS KMS key management": "By default,
  the RDS AWS managed key (aws/rds) is used for encryption"). moto records the string "default_kms_key_id",
  which names no key. A key given by alias or id is reported by its key ARN, as RDS reports it (DescribeDBInstances
  answers the key ARN, whatever form CreateDBInstance was given); moto echoes the alias.
- An AWS managed key of another account is refused (KMSKeyNotAccessibleFault), as AWS refuses it: its key policy
  lets only its own account use it (kms:CallerAccount, drflow/sandbox/moto_kms.py), and the RDS User Guide,
  "Sharing a DB snapshot": "You can't share a snapshot that has been encrypted using the default AWS KMS key of the
  AWS account that shared the snapshot". moto resolves a key ARN of any account.
- Sharing a DB (cluster) snapshot encrypted with the AWS managed key (ModifyDB[Cluster]SnapshotAttribute adding
  another account to `restore`) is refused, as AWS refuses it (see `_refuse_sharing_under_aws_managed_key`); moto
  shares it.
- CopyDBClusterSnapshot of an encrypted snapshot shared from another account, or from another Region, without
  KmsKeyId is refused; moto copies it under the source's key, which the copying account or Region cannot use.
  botocore's rds model (CopyDBClusterSnapshotMessage, KmsKeyId): "If you copy an encrypted DB cluster snapshot that
  is shared from another Amazon Web Services account, then you must specify a value for KmsKeyId", and "To copy an
  encrypted DB cluster snapshot to another Amazon Web Services Region, you must set KmsKeyId". (The code of that
  error is not documented; InvalidParameterCombination is RDS's for a call whose parameters do not fit together.)
  A copy across accounts AND Regions in one call is accepted, as AWS now accepts it: the same model's
  SourceDBClusterSnapshotIdentifier, "You can also specify an ARN of a snapshot that is in a different account and
  a different Amazon Web Services Region", and the Aurora User Guide, "DB cluster snapshot copying": "You can copy
  snapshots to another AWS Region or account in a single step".
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.kms.models import kms_backends
from moto.rds.exceptions import (DBClusterParameterGroupNotFoundError, DBParameterGroupNotFoundError,
                                 InvalidParameterCombination, InvalidParameterValue, KMSKeyNotAccessibleFault,
                                 OptionGroupNotFoundFaultError)
from moto.rds.models import RDSBackend, rds_backends
from moto.rds.responses import RDSResponse

from drflow.sandbox.moto_kms import aws_managed_key, is_aws_managed

DEFAULT_KEY_ALIAS = "alias/aws/rds"


def _describe_option_groups(self: RDSBackend, option_group_kwargs: dict[str, Any]) -> list[Any]:
    name = option_group_kwargs.get("option_group_name")
    engine = option_group_kwargs.get("engine_name")
    major = option_group_kwargs.get("major_engine_version")
    found = [g for g in self.option_groups.values()
             if (not name or g.name == name) and (not engine or g.engine_name == engine)
             and (not major or g.major_engine_version == major)]
    if name and not found:
        raise OptionGroupNotFoundFaultError(name)
    return found


def _reset(groups: Any, not_found: type[Exception], name_param: str) -> Any:
    def action(self: RDSResponse) -> ActionResult:
        name = self.params.get(name_param)
        group = getattr(self.backend, groups).get(name)
        if group is None:
            raise not_found(name)
        if self.params.get("ResetAllParameters"):
            group.parameters.clear()
        for parameter in self.params.get("Parameters", []):
            raw = parameter.original_dict() if hasattr(parameter, "original_dict") else parameter
            group.parameters.pop(raw["ParameterName"], None)
        return ActionResult({name_param: group.name})

    return action


_own_get_snapshot = RDSBackend.get_snapshot


def _get_snapshot(self: RDSBackend, identifier: str, resource_type: Any, not_found_exception: Any) -> Any:
    parts = identifier.split(":") if identifier.startswith("arn:") else []
    if len(parts) < 7 or parts[4] == self.account_id:
        return _own_get_snapshot(self, identifier, resource_type, not_found_exception)
    owner = rds_backends[parts[4]][parts[3]]
    snapshot = owner.resource_map[resource_type].get(parts[6])
    if snapshot is None or not ({self.account_id, "all"} & set(snapshot.attributes["restore"])):
        raise not_found_exception(identifier)
    return snapshot


_own_validate_kms_key = RDSBackend._validate_kms_key


def _validate_kms_key(self: RDSBackend, kms_key_id: str) -> str:
    try:
        arn = _own_validate_kms_key(self, kms_key_id)
    except (KeyError, AttributeError):  # moto's lookup of an alias that names no key
        raise KMSKeyNotAccessibleFault(kms_key_id) from None
    parts = arn.split(":")
    key = kms_backends[parts[4]][parts[3]].keys.get(arn.rsplit("/", 1)[-1])
    if key is not None and is_aws_managed(key) and parts[4] != self.account_id:
        raise KMSKeyNotAccessibleFault(kms_key_id)
    return arn


def _with_key_arn(self: RDSBackend, kwargs: dict[str, Any]) -> None:
    """KmsKeyId as RDS records it: the default key's ARN for an encrypted database given none, else the ARN."""
    given = kwargs.get("kms_key_id")
    if given in (None, "", "default_kms_key_id") and kwargs.get("storage_encrypted"):
        kwargs["kms_key_id"] = aws_managed_key(kms_backends[self.account_id][self.region_name], DEFAULT_KEY_ALIAS).arn
    elif given and given != "default_kms_key_id" and ":key/" not in given:
        kwargs["kms_key_id"] = self._validate_kms_key(given)


_own_create_db_instance = RDSBackend.create_db_instance
_own_create_db_cluster = RDSBackend.create_db_cluster


def _create_db_instance(self: RDSBackend, db_kwargs: dict[str, Any]) -> Any:
    if db_kwargs.get("db_cluster_identifier") is None:  # an Aurora member is encrypted by its cluster's key
        _with_key_arn(self, db_kwargs)
    return _own_create_db_instance(self, db_kwargs)


def _create_db_cluster(self: RDSBackend, kwargs: dict[str, Any]) -> Any:
    _with_key_arn(self, kwargs)
    return _own_create_db_cluster(self, kwargs)


_own_copy_db_cluster_snapshot = RDSBackend.copy_db_cluster_snapshot


def _copy_db_cluster_snapshot(self: RDSBackend, source_db_cluster_snapshot_identifier: str,
                              target_db_cluster_snapshot_identifier: str, kms_key_id: str | None = None,
                              **kwargs: Any) -> Any:
    source = source_db_cluster_snapshot_identifier
    parts = source.split(":") if source.startswith("arn:") else []
    if not kms_key_id and len(parts) >= 7 and (parts[4] != self.account_id or parts[3] != self.region_name):
        snapshot = self.get_db_cluster_snapshot(source)  # NotFound first, as AWS: unshared is invisible
        if snapshot.storage_encrypted:
            raise InvalidParameterCombination(
                f"KmsKeyId is required to copy the encrypted DB cluster snapshot {source} from another account or "
                "Region")
    return _own_copy_db_cluster_snapshot(self, source, target_db_cluster_snapshot_identifier, kms_key_id=kms_key_id,
                                         **kwargs)


def _refuse_sharing_under_aws_managed_key(self: RDSBackend, snapshot: Any, attribute_name: str,
                                         values_to_add: list[str] | None, what: str) -> None:
    """RDS User Guide, "Sharing a DB snapshot": "You can't share a snapshot that has been encrypted using the
    default AWS KMS key of the AWS account that shared the snapshot" (the same for DB cluster snapshots, Aurora
    User Guide, "Sharing a DB cluster snapshot"). moto shares it. The error's code is not documented for
    ModifyDBSnapshotAttribute; InvalidParameterValue is RDS's for a value the call cannot take."""
    others = [v for v in values_to_add or [] if v != self.account_id]
    key_arn = getattr(snapshot, "kms_key_id", None)
    if attribute_name != "restore" or not others or not key_arn or ":key/" not in str(key_arn):
        return
    parts = str(key_arn).split(":")
    key = kms_backends[parts[4]][parts[3]].keys.get(str(key_arn).rsplit("/", 1)[-1])
    if key is not None and is_aws_managed(key):
        raise InvalidParameterValue(f"The {what} is encrypted with the AWS managed key {key_arn}, which cannot be "
                                    f"shared with {', '.join(others)}: copy it with a customer managed key first")


_own_modify_db_snapshot_attribute = RDSBackend.modify_db_snapshot_attribute
_own_modify_db_cluster_snapshot_attribute = RDSBackend.modify_db_cluster_snapshot_attribute


def _modify_db_snapshot_attribute(self: RDSBackend, db_snapshot_identifier: str, attribute_name: str,
                                  values_to_add: list[str] | None = None,
                                  values_to_remove: list[str] | None = None) -> Any:
    [snapshot] = self.describe_db_snapshots(db_instance_identifier=None, db_snapshot_identifier=db_snapshot_identifier)
    _refuse_sharing_under_aws_managed_key(self, snapshot, attribute_name, values_to_add, "DB snapshot")
    return _own_modify_db_snapshot_attribute(self, db_snapshot_identifier, attribute_name, values_to_add,
                                             values_to_remove)


def _modify_db_cluster_snapshot_attribute(self: RDSBackend, db_cluster_snapshot_identifier: str,
                                          attribute_name: str, values_to_add: list[str] | None = None,
                                          values_to_remove: list[str] | None = None) -> Any:
    [snapshot] = self.describe_db_cluster_snapshots(db_cluster_identifier=None,
                                                    db_snapshot_identifier=db_cluster_snapshot_identifier)
    _refuse_sharing_under_aws_managed_key(self, snapshot, attribute_name, values_to_add, "DB cluster snapshot")
    return _own_modify_db_cluster_snapshot_attribute(self, db_cluster_snapshot_identifier, attribute_name,
                                                     values_to_add, values_to_remove)


def install() -> None:
    RDSBackend.modify_db_snapshot_attribute = _modify_db_snapshot_attribute
    RDSBackend.modify_db_cluster_snapshot_attribute = _modify_db_cluster_snapshot_attribute
    RDSBackend.copy_db_cluster_snapshot = _copy_db_cluster_snapshot
    RDSBackend._validate_kms_key = _validate_kms_key
    RDSBackend.create_db_instance = _create_db_instance
    RDSBackend.create_db_cluster = _create_db_cluster
    RDSBackend.get_snapshot = _get_snapshot
    RDSBackend.describe_option_groups = _describe_option_groups
    RDSResponse.reset_db_parameter_group = _reset("db_parameter_groups", DBParameterGroupNotFoundError,
                                                  "DBParameterGroupName")
    RDSResponse.reset_db_cluster_parameter_group = _reset(
        "db_cluster_parameter_groups", DBClusterParameterGroupNotFoundError, "DBClusterParameterGroupName")
