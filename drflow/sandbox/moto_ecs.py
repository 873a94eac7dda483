"""ECS services in the sandbox's moto, where drflow's failover needs them to behave like AWS.

moto 5.2.5 runs no tasks: a new service reports `runningCount` 0 and all its tasks pending for ever (unless the
process-wide MOTO_ECS_SERVICE_RUNNING says otherwise, for every service alike), so botocore's `services_stable`
waiter could never succeed. And it accepts a service behind a target group that no load balancer forwards to,
which AWS refuses ("The target group ... does not have an associated load balancer"). This test double:

- starts a new service's tasks at once: running count = desired count, nothing pending, the deployment
  COMPLETED (a Fargate service whose image can be pulled and whose health checks pass; moto's own update_service
  already does the same when the desired count changes);
- refuses CreateService with InvalidParameterException when a target group it names is not attached to a load
  balancer (by a listener's default action or rule) in that account and region, as AWS does;
- gives each task of an awsvpc service behind a target group what AWS gives it: a network interface in one of the
  service's subnets, described by the task attachment's ARN ("arn:aws:ecs:<region>:<account>:attachment/<id>",
  as ECS's task ENIs are), whose private IP ECS registers with the service's target groups on the container's
  port (ECS Developer Guide, "Use load balancing to distribute Amazon ECS service traffic"); DeleteService
  deregisters them and removes the interfaces. moto registers nothing, so a recovered load balancer's /orders/*
  group would stay empty and its health could never be judged.

Installed by drflow.sandbox.server (sandbox and tests only).
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.ec2.models import ec2_backends
from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Service
from moto.elbv2.models import elbv2_backends

_own_init = Service.__init__
_own_create = EC2ContainerServiceBackend.create_service
_own_delete = EC2ContainerServiceBackend.delete_service
_tasks: dict[str, list[str]] = {}  # service ARN -> its tasks' network interfaces


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
    service = _own_create(self, cluster_str, service_name, desired_count, task_definition_str, load_balancers,
                          *args, **kwargs)
    _start_tasks(self, service)
    return service


def _start_tasks(backend: EC2ContainerServiceBackend, service: Service) -> None:
    """The service's tasks' network interfaces, registered with its target groups (see the module's docstring)."""
    subnets = ((service.network_configuration or {}).get("awsvpcConfiguration") or {}).get("subnets") or []
    if not subnets or not service.load_balancers:
        return
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    groups = elbv2_backends[backend.account_id][backend.region_name].target_groups
    security = ((service.network_configuration or {}).get("awsvpcConfiguration") or {}).get("securityGroups") or []
    enis = []
    for index in range(service.desired_count):
        attachment = f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:attachment/{uuid.uuid4()}"
        enis.append(ec2.create_network_interface(ec2.get_subnet(subnets[index % len(subnets)]), None,
                                                 group_ids=security, description=attachment))
    _tasks[service.arn] = [e.id for e in enis]
    for lb in service.load_balancers:
        if lb.get("targetGroupArn") in groups:
            groups[lb["targetGroupArn"]].register([{"Id": e.private_ip_address, "Port": lb.get("containerPort")}
                                                   for e in enis])


def _delete_service(self: EC2ContainerServiceBackend, cluster_name: str, service_name: str, force: bool) -> Service:
    service = _own_delete(self, cluster_name, service_name, force)
    ec2 = ec2_backends[self.account_id][self.region_name]
    groups = elbv2_backends[self.account_id][self.region_name].target_groups
    enis = [ec2.enis[e] for e in _tasks.pop(service.arn, []) if e in ec2.enis]
    for lb in service.load_balancers or []:
        if lb.get("targetGroupArn") in groups and enis:
            groups[lb["targetGroupArn"]].deregister([{"Id": e.private_ip_address} for e in enis])
    for eni in enis:
        ec2.delete_network_interface(eni.id)
    return service


def install() -> None:
    Service.__init__ = _init
    EC2ContainerServiceBackend.create_service = _create_service
    EC2ContainerServiceBackend.delete_service = _delete_service
