"""What the RDS handlers share: the resource types, and how a recovered RDS resource is named and adopted.

Support for tasks/rds/databases.py (DB instances and Aurora clusters) and tasks/rds/groups.py (the subnet, parameter
and option groups they use), kept apart so that both depend on this module and neither on the other. Every
RDS resource drflow recovers is named by its source identifier (plus a short suffix in a drill), and a
resource found under that name is adopted only when drflow's tags say it is this plan's copy of it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from core.aws import error_code
from core.handler import ApplyContext, Unrecoverable

SUBNET_GROUP = "rds:db-subnet-group"
PARAMETER_GROUP = "rds:db-parameter-group"
CLUSTER_PARAMETER_GROUP = "rds:db-cluster-parameter-group"
OPTION_GROUP = "rds:option-group"
CLUSTER = "rds:db-cluster"
INSTANCE = "rds:db-instance"


def is_default(name: str | None) -> bool:
    """AWS's default.* groups: never copied, the recovery region has its own."""
    return not name or name.startswith(("default.", "default:"))


# RDS identifiers may not hold two hyphens in a row (RDS User Guide, "Naming constraints"): a name cut to make
# room for a drill's suffix loses its trailing hyphens; the 6-hex suffix is the one RDS names always had.
RDS_NAMING = {"suffix_length": 6, "no_double_dash": True}
GROUP_NAME_LIMIT = 255


def not_ours(what: str, name: str, ctx: ApplyContext) -> Unrecoverable:
    return Unrecoverable(f"{what} {name} already exists in {ctx.recovery.region} and is not drflow's (plan "
                         f"{ctx.plan.name}); rename or delete it")


def describe_one(client: Any, operation: str, result_key: str, **kwargs: Any) -> dict[str, Any] | None:
    try:
        items = getattr(client, operation)(**kwargs)[result_key]
    except ClientError as exc:
        if "NotFound" in error_code(exc):
            return None
        raise
    return items[0] if items else None
