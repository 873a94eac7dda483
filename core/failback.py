"""What failback hands a handler, and what a handler answers: the context of phases 2 to 5 (flows/failback.py).

A handler that fails its resources back claims `core.capabilities.FailsBack` (the phase it runs in, the dry
run's text, `fail_back`); one whose resources the engine re-applies in the primary in phase 1 claims
`RestoredHome`; one that failback leaves as it is for a reason of its own claims `NotFailedBack` (else the
reason is UNTOUCHED).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from core.aws import AwsAccess
from core.models import Outcome
from core.plan import Plan


class FailbackPhase(StrEnum):
    """The phases after phase 1 (network and IAM re-applied at home), in the order failback runs them."""

    DATA = "data"        # 2: database snapshots copied home, replication reversed
    SERVERS = "servers"  # 3: servers launched in the primary again
    TRAFFIC = "traffic"  # 4: DNS records and front doors (CloudFront origins) sent back to the primary's targets, now that they are home
    IAM = "iam"          # 5: drflow's grants on production roles detached


class Step(NamedTuple):
    """One resource's failback: its outcome, its id now, details for the report (a "warnings" list among
    them is reported as the row's warnings)."""

    outcome: Outcome
    recovered_id: str | None
    details: dict[str, Any]


UNTOUCHED = "left as it is: the failover never changed the primary's copy"
COMPUTE_LEFT = ("the primary's own copy serves again as it is (a failover never changes it); the recovered copy in "
                "the recovery region keeps running until you remove it")


@dataclass(frozen=True)
class FailbackContext:
    """What every failback step gets: the plan, both sides, the failover's marker, and `home`: the id in the
    primary of each phase 1 resource (its own id, or the id of what failback recreated)."""

    aws: AwsAccess
    plan: Plan
    marker: dict[str, Any]
    home: dict[str, str]

    def home_id(self, key: str) -> str:
        return self.home.get(key) or key.split("/", 1)[1]


def not_failed_back(handler: Any) -> str:
    """Why failback leaves a resource of this handler's type as it is (core.capabilities.NotFailedBack)."""
    from core.capabilities import NotFailedBack

    return handler.not_failed_back if isinstance(handler, NotFailedBack) else UNTOUCHED
