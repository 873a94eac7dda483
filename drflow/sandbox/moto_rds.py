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
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.rds.exceptions import (DBClusterParameterGroupNotFoundError, DBParameterGroupNotFoundError,
                                 OptionGroupNotFoundFaultError)
from moto.rds.models import RDSBackend, rds_backends
from moto.rds.responses import RDSResponse


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


def install() -> None:
    RDSBackend.get_snapshot = _get_snapshot
    RDSBackend.describe_option_groups = _describe_option_groups
    RDSResponse.reset_db_parameter_group = _reset("db_parameter_groups", DBParameterGroupNotFoundError,
                                                  "DBParameterGroupName")
    RDSResponse.reset_db_cluster_parameter_group = _reset(
        "db_cluster_parameter_groups", DBClusterParameterGroupNotFoundError, "DBClusterParameterGroupName")
