"""ECS services in the sandbox's moto, where drflow's failover needs them to behave like AWS.

moto 5.2.5 runs no tasks: a new service reports `runningCount` 0 and all its tasks pending for ever (unless the
process-wide MOTO_ECS_SERVICE_RUNNING says otherwise, for every service alike), so botocore's `services_stable`
waiter could never succeed. And it accepts a service behind a target group that no load balancer forwards to,
which AWS refuses ("The target group ... does not have an associated load balancer"). This test double:

- starts a new service's tasks at once: running count = desired count, nothing pending, the deployment
  COMPLETED (a Fargate service whose image can be pulled and whose health checks pass; moto's own update_service
  already does the same when the desired count changes);
- refuses CreateService with InvalidParameterException when a target group it names is not attached to a load
  balancer (by a listener's default action or rule) in that account and region, as AWS does.

Installed by drflow.sandbox.server (sandbox and tests only).
"""

from __future__ import annotations

from typing import Any

from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Service
from moto.elbv2.models import elbv2_backends

_own_init = Service.__init__
_own_create = EC2ContainerServiceBackend.create_service


def _init(self: Service, *args: Any, **kwargs: Any) -> None:
    _own_init(self, *args, **kwargs)
    self.running_count, self.pending_count = self.desired_count, 0
    for deployment in self.deployments:
        deployment.update(runningCount=self.desired_count, pendingCount=0, rolloutState="COMPLETED",
                          rolloutStateReason=f"ECS deployment {deployment['id']} completed.")


def _create_service(self: EC2ContainerServiceBackend, cluster_str: str, service_name: str, desired_count: int,
                    task_definition_str: str | None = None, load_balancers: list[dict[str, Any]] | None = None,
                    *args: Any, **kwargs: Any) -> Service:
    groups = elbv2_backends[self.account_id][self.region_name].target_groups
    for lb in load_balancers or []:
        arn = lb.get("targetGroupArn")
        if arn and (arn not in groups or not groups[arn].load_balancer_arns):
            raise InvalidParameterException(f"The target group with targetGroupArn {arn} does not have an "
                                            "associated load balancer.")
    return _own_create(self, cluster_str, service_name, desired_count, task_definition_str, load_balancers,
                       *args, **kwargs)


def install() -> None:
    Service.__init__ = _init
    EC2ContainerServiceBackend.create_service = _create_service
