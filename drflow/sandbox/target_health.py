"""Where the sandbox's moto Elastic Load Balancing is kinder than AWS in a way drflow meets: target health.

moto 5.2.5 answers `healthy` for a registered target the moment it is registered, and also when no load balancer
sends its target group any traffic. AWS does not (ELB User Guide for Application Load Balancers, "Health checks
for Application Load Balancer target groups", Target health status): a newly registered target is `initial`
("Elb.RegistrationInProgress": the load balancer is sending the target the minimum number of health checks
required to determine its health status) until HealthyThresholdCount checks, HealthCheckIntervalSeconds apart,
have passed; a target whose checks fail is `unhealthy` ("Target.FailedHealthChecks"); a target group that no
listener or rule forwards to answers `unused` ("Target.NotInUse"). A failover that sends users to a load
balancer the moment it exists would, on AWS, send them to targets that are still `initial`: the traffic phase
waits, and here it has to wait too.

Time is compressed: the sandbox's health checks run TIME_SCALE times their configured period (a default target
group's 5 checks × 30 s = 150 s is 1.5 s here), so that a test or a demo sees every state without waiting minutes.
Nothing runs an application behind a sandbox target, so a test says which targets fail their checks:
`hold_unhealthy(target_id)` and `release(target_id)` (in-process, like the DRS double's controls).

Installed by drflow.sandbox.server (as the other shims are), so it applies to the sandbox only.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

TIME_SCALE = 0.01
_held: set[str] = set()
_registered: dict[tuple[str, str], float] = {}  # (target group ARN, target id) -> when it was registered
_lock = threading.Lock()


EVERY = "*"


def hold_unhealthy(target_id: str = EVERY) -> None:
    """From now on, this target (instance id or IP; EVERY: every target, those registered later too) fails its
    health checks in every target group."""
    with _lock:
        _held.add(target_id)


def release(target_id: str | None = None) -> None:
    """This target (every held one, when None) passes its health checks again."""
    with _lock:
        if target_id is None:
            _held.clear()
        else:
            _held.discard(target_id)


def _initial_seconds(group: FakeTargetGroup) -> float:
    return int(group.healthy_threshold_count) * int(group.health_check_interval_seconds) * TIME_SCALE


def install() -> None:
    if getattr(FakeTargetGroup, "_drflow_health", False):  # once per process: the sandbox may be started again
        return
    FakeTargetGroup._drflow_health = True  # type: ignore[attr-defined]
    register, health_for = FakeTargetGroup.register, FakeTargetGroup.health_for

    def _register(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
        register(self, targets)
        now = time.monotonic()
        with _lock:
            for target in targets:  # registering a registered target again does not restart its checks
                _registered.setdefault((self.arn, target["Id"]), now)

    def _health_for(self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
        status = health_for(self, target, ec2_backend)
        if status.status != "healthy":
            return status
        if not self.load_balancer_arns:
            return FakeHealthStatus(status.instance_id, status.port, self.health_check_port, "unused",
                                    "Target.NotInUse", "Target group is not configured to receive traffic from the "
                                    "load balancer")
        with _lock:
            since = _registered.get((self.arn, target["Id"]))
            held = target["Id"] in _held or EVERY in _held
        if since is not None and time.monotonic() - since < _initial_seconds(self):
            return FakeHealthStatus(status.instance_id, status.port, self.health_check_port, "initial",
                                    "Elb.RegistrationInProgress", "Target registration is in progress")
        if held:
            return FakeHealthStatus(status.instance_id, status.port, self.health_check_port, "unhealthy",
                                    "Target.FailedHealthChecks", "Health checks failed")
        return status

    FakeTargetGroup.register = _register  # type: ignore[method-assign]
    FakeTargetGroup.health_for = _health_for  # type: ignore[method-assign]
