"""The traffic phase's gate: wait until what users will be sent to is healthy, or say why not in time.

A record set (or a CloudFront origin, an API mapping) names resources of other services, whose handlers alone
know what healthy means for them (core.capabilities.ReportsHealth). The engine hands every ApplyContext a
`health_of(key)` that asks the dependency's handler; this module polls the named dependencies together under
one deadline (the plan's `traffic.health_timeout_seconds`).

Why a loop of our own: botocore's waiters (elbv2 `target_in_service`, ecs `services_stable`) each wait for one
resource of one service with their own fixed delay and attempt count; a record that fronts a load balancer and
an API needs one deadline over several checks of different services, with the reasons of those still unhealthy
at the end for the report. Each check itself is a single read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class HealthWait:
    """The outcome of one wait: `unhealthy` maps each dependency still unhealthy at the deadline to its reason
    (empty: every one healthy); `seconds` is how long it took; `looks` how many rounds of checks it made."""

    unhealthy: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    looks: int = 0

    @property
    def healthy(self) -> bool:
        return not self.unhealthy


def wait_healthy(keys: list[str], health_of: Callable[[str], str | None], timeout: float, poll: float,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> HealthWait:
    """Look at every key's health until all are healthy or `timeout` seconds have passed (at least one look:
    a timeout of 0 is a single check); a key found healthy is not asked again. The looks start a second apart and
    double up to `poll` seconds: a target that turns healthy in moments is seen in moments, one that takes
    minutes (a default target group's 5 checks x 30 s) costs a read every `poll` seconds."""
    start = clock()
    pending = sorted(set(keys))
    reasons: dict[str, str] = {}
    looks = 0
    while True:
        looks += 1
        reasons = {}
        for key in pending:
            why = health_of(key)
            if why:
                reasons[key] = why
        pending = sorted(reasons)
        elapsed = clock() - start
        if not pending or elapsed >= timeout:
            return HealthWait(reasons, round(elapsed, 3), looks)
        sleep(min(poll, 2.0 ** (looks - 1), max(timeout - elapsed, 0.0)))
