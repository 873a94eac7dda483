"""Amazon ECS clusters and services (task definitions: tasks/ecs/task_definitions.py).

A cluster is free: created in the recovery region nightly, with its settings and Fargate capacity providers
(another capacity provider is an Auto Scaling group drflow does not recreate: the report says so). A service is
created at failover (its tasks bill), in the recovered cluster, with the recovered task definition, on the
recovered subnets and security groups, behind the recovered target groups.

A target group is named by link ("elbv2:target-group:<name>"), and so is every listener of a load balancer
that forwards to it ("elbv2:listener:<lb name>:<port>"): AWS refuses a service whose target group is not yet
attached to a load balancer, so the service waits for those listeners. The service is then waited for until
stable (botocore's `services_stable`: one deployment, running count = desired count), and the report says how
many tasks run. A service is found again by its (recovered) name in the recovered cluster and adopted only with
drflow's tags. A drill's service has a suffixed name in the drill's cluster and never a public IP. Service
discovery registries (Cloud Map) and classic load balancers are not recovered: the report says so.
"""

from __future__ import annotations

from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.aws import Retryable, Side, error_code, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner, NotFailedBack
from core.failback import COMPUTE_LEFT
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable, delete_quietly
from core.models import Mode, Phase, Resource, resource_key
from core.ownership import owned, recovered_name
from core.plan import Plan
from core.policy import translate

from .task_definitions import (CLUSTER, CLUSTER_INCLUDE, FARGATE_PROVIDERS, SERVICE, TASK_DEFINITION, chunks, clusters,
                               services, tag_dict, tag_list)

OPTIONAL = {  # config field: create_service parameter, copied as they are when the source has them
    "capacity_provider_strategy": "capacityProviderStrategy", "platform_version": "platformVersion",
    "health_check_grace_period": "healthCheckGracePeriodSeconds",
    "deployment_configuration": "deploymentConfiguration", "placement_constraints": "placementConstraints",
    "placement_strategy": "placementStrategy", "propagate_tags": "propagateTags",
    "enable_ecs_managed_tags": "enableECSManagedTags", "enable_execute_command": "enableExecuteCommand",
}
FROM_SOURCE = {  # describe_services field: config field
    "capacityProviderStrategy": "capacity_provider_strategy", "platformVersion": "platform_version",
    "healthCheckGracePeriodSeconds": "health_check_grace_period",
    "deploymentConfiguration": "deployment_configuration", "placementConstraints": "placement_constraints",
    "placementStrategy": "placement_strategy", "propagateTags": "propagate_tags",
    "enableECSManagedTags": "enable_ecs_managed_tags", "enableExecuteCommand": "enable_execute_command",
}


class EcsClusterHandler(ClaimsArnKinds, Cleaner):
    type: ClassVar[str] = CLUSTER
    phase: ClassVar[Phase] = Phase.COMPUTE
    arn_kinds: ClassVar[tuple[str, ...]] = ("ecs:cluster",)
    pilot_light: ClassVar[bool] = True  # an empty cluster costs nothing
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        return [Resource(type=CLUSTER, source_id=c["clusterName"], arn=c["clusterArn"], name=c["clusterName"],
                         tags=tag_dict(c.get("tags")),
                         config={"name": c["clusterName"], "settings": c.get("settings", []),
                                 "capacity_providers": sorted(c.get("capacityProviders", [])),
                                 "default_strategy": c.get("defaultCapacityProviderStrategy", []),
                                 "configuration": c.get("configuration")})
                for c in clusters(source.client("ecs"))]

    def _find(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        name = recovered_name(resource.config["name"], ctx)
        found = ctx.recovery.client("ecs").describe_clusters(clusters=[name], include=CLUSTER_INCLUDE)["clusters"]
        cluster = next((c for c in found if c.get("status") == "ACTIVE"), None)
        if cluster and not owned(tag_dict(cluster.get("tags")), resource, ctx):
            raise Unrecoverable(f"ECS cluster {name} exists in {ctx.recovery.region} but was not made by drflow for "
                                "this plan; rename or remove it")
        return cluster

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        cluster = self._find(resource, ctx)
        return cluster["clusterArn"] if cluster else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ecs = ctx.recovery.client("ecs")
        cfg, warnings = resource.config, []
        providers = [p for p in cfg["capacity_providers"] if p in FARGATE_PROVIDERS]
        strategy = [s for s in cfg["default_strategy"] if s["capacityProvider"] in FARGATE_PROVIDERS]
        warnings += [f"capacity provider {p} not recovered: its Auto Scaling group is not drflow's to recreate "
                     "(services fall back to Fargate or their launch type)"
                     for p in cfg["capacity_providers"] if p not in FARGATE_PROVIDERS]
        configuration = None
        if cfg["configuration"]:
            done = translate(cfg["configuration"], ctx.translation(resource))
            configuration, warnings = done.document, warnings + [f"configuration {w}" for w in done.warnings]
        cluster = self._find(resource, ctx)
        if cluster is None:
            kwargs: dict[str, Any] = {"clusterName": recovered_name(cfg["name"], ctx),
                                      "tags": tag_list(ctx.tags(resource)), "settings": cfg["settings"]}
            if providers:
                kwargs["capacityProviders"] = providers
            if strategy:
                kwargs["defaultCapacityProviderStrategy"] = strategy
            if configuration:
                kwargs["configuration"] = configuration
            cluster = ecs.create_cluster(**kwargs)["cluster"]
            return Applied(cluster["clusterArn"], created=True, warnings=warnings)
        changed = False
        if sorted(cluster.get("capacityProviders", [])) != providers or \
                (cluster.get("defaultCapacityProviderStrategy") or []) != strategy:
            ecs.put_cluster_capacity_providers(cluster=cluster["clusterArn"], capacityProviders=providers,
                                               defaultCapacityProviderStrategy=strategy)
            changed = True
        if cfg["settings"] and cluster.get("settings", []) != cfg["settings"]:
            ecs.update_cluster(cluster=cluster["clusterArn"], settings=cfg["settings"])
            changed = True
        return Applied(cluster["clusterArn"], changed=changed, warnings=warnings)

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """After the drills' services (a cluster with services cannot be deleted)."""
        ecs = ctx.recovery.client("ecs")
        return [c["clusterArn"] for c in clusters(ecs) if ctx.matches(tag_dict(c.get("tags")))
                and _deleted(ecs.delete_cluster, cluster=c["clusterArn"])]


def _deleted(call: Any, **kwargs: Any) -> bool:
    """delete_quietly, for ECS's not-found errors (ClusterNotFoundException, ...)."""
    try:
        return delete_quietly(call, **kwargs)
    except ClientError as exc:
        if error_code(exc) in ("ClusterNotFoundException", "ServiceNotFoundException"):
            return False
        raise


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class _Attachments:
    """Target group names, and the listeners forwarding to each target group, read once per discovery."""

    def __init__(self, elb: Any):
        self.elb = elb
        self.groups: dict[str, dict[str, Any]] = {}
        self.listeners: dict[str, list[tuple[str, list[str]]]] = {}  # lb arn: [(listener name, target groups)]

    def group(self, arn: str) -> dict[str, Any]:
        if arn not in self.groups:
            self.groups[arn] = self.elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
        return self.groups[arn]

    def forwarding(self, group_arn: str) -> list[str]:
        """"<lb name>:<port>" of each listener that forwards to the target group (default action or a rule)."""
        out = []
        for lb_arn in self.group(group_arn).get("LoadBalancerArns", []):
            if lb_arn not in self.listeners:
                lb = self.elb.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][0]
                self.listeners[lb_arn] = []
                for listener in paginate(self.elb, "describe_listeners", "Listeners", LoadBalancerArn=lb_arn):
                    actions = [*listener.get("DefaultActions", []), *(
                        a for r in self.elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
                        for a in r.get("Actions", []))]
                    targets = [a["TargetGroupArn"] for a in actions if a.get("TargetGroupArn")] + [
                        g["TargetGroupArn"] for a in actions for g in (a.get("ForwardConfig") or {}).get(
                            "TargetGroups", [])]
                    self.listeners[lb_arn].append((f"{lb['LoadBalancerName']}:{listener['Port']}", targets))
            out += [name for name, targets in self.listeners[lb_arn] if group_arn in targets]
        return sorted(set(out))


class EcsServiceHandler(ClaimsArnKinds, Cleaner, NotFailedBack, Audited):
    type: ClassVar[str] = SERVICE
    phase: ClassVar[Phase] = Phase.COMPUTE
    arn_kinds: ClassVar[tuple[str, ...]] = ("ecs:service",)
    pilot_light: ClassVar[bool] = False  # running tasks bill: created at failover only
    internet_facing: ClassVar[bool] = False  # a drill's service gets no public IP
    version: ClassVar[int] = 1
    not_failed_back: ClassVar[str] = COMPUTE_LEFT  # failback leaves it: the primary's own copy serves

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        ecs = source.client("ecs")
        attachments = _Attachments(source.client("elbv2"))
        out = []
        for cluster in clusters(ecs):
            for s in services(ecs, cluster["clusterArn"]):
                out.append(self._captured(s, cluster["clusterName"], attachments))
        return out

    def _captured(self, s: dict[str, Any], cluster: str, attachments: _Attachments) -> Resource:
        deps = [resource_key(CLUSTER, cluster), resource_key(TASK_DEFINITION, _short(s["taskDefinition"]))]
        network = None
        vpc = (s.get("networkConfiguration") or {}).get("awsvpcConfiguration")
        if vpc:
            network = {"subnets": sorted(resource_key("ec2:subnet", i) for i in vpc.get("subnets", [])),
                       "security_groups": sorted(resource_key("ec2:security-group", i)
                                                 for i in vpc.get("securityGroups", [])),
                       "assign_public_ip": vpc.get("assignPublicIp", "DISABLED")}
            deps += network["subnets"] + network["security_groups"]
        balancers, classic, links = [], [], set()
        for lb in s.get("loadBalancers", []):
            if lb.get("targetGroupArn"):
                name = attachments.group(lb["targetGroupArn"])["TargetGroupName"]
                links.add(f"elbv2:target-group:{name}")
                links |= {f"elbv2:listener:{listener}" for listener in attachments.forwarding(lb["targetGroupArn"])}
                balancers.append({"target_group": name, "container_name": lb.get("containerName"),
                                  "container_port": lb.get("containerPort")})
            else:
                classic.append(lb.get("loadBalancerName", ""))
        config = {"cluster": deps[0], "task_definition": deps[1], "name": s["serviceName"],
                  "launch_type": s.get("launchType"), "desired_count": s.get("desiredCount", 0),
                  "scheduling_strategy": s.get("schedulingStrategy", "REPLICA"), "network": network,
                  "load_balancers": balancers, "classic_load_balancers": classic,
                  "service_registries": [r.get("registryArn", "") for r in s.get("serviceRegistries", [])],
                  "deployment_controller": (s.get("deploymentController") or {}).get("type", "ECS"),
                  **{field: s[key] for key, field in FROM_SOURCE.items() if s.get(key) not in (None, [], "")}}
        return Resource(type=SERVICE, source_id=f"{cluster}/{s['serviceName']}", arn=s["serviceArn"],
                        name=s["serviceName"], tags=tag_dict(s.get("tags")), config=config,
                        dependencies=sorted(set(deps)), links=sorted(links))

    def _describe(self, resource: Resource, ctx: ApplyContext, cluster: str) -> dict[str, Any] | None:
        name = recovered_name(resource.config["name"], ctx)
        ecs = ctx.recovery.client("ecs")
        try:
            found = ecs.describe_services(cluster=cluster, services=[name], include=["TAGS"])["services"]
        except ecs.exceptions.ClusterNotFoundException:
            return None
        service = next((s for s in found if s.get("status") != "INACTIVE"), None)
        if service is None:
            return None
        if not owned(tag_dict(service.get("tags")), resource, ctx):
            raise Unrecoverable(f"ECS service {name} exists in cluster {cluster} in {ctx.recovery.region} but was "
                                "not made by drflow for this plan; rename or remove it")
        if service["status"] == "DRAINING":
            raise Retryable(f"ECS service {name} in cluster {cluster} is still being deleted")
        return service

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        cluster = recovered_name(resource.config["cluster"].split("/", 1)[1], ctx)
        service = self._describe(resource, ctx, cluster)
        return service["serviceArn"] if service else None

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        """The service as ECS answers it: its task definition, target groups, subnets and security groups."""
        cluster = recovered_id.split(":", 5)[5].split("/")[1]
        [service] = ctx.recovery.client("ecs").describe_services(cluster=cluster, services=[recovered_id])["services"]
        return {k: service[k] for k in ("taskDefinition", "loadBalancers", "networkConfiguration",
                                        "serviceRegistries", "roleArn") if service.get(k)}

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ecs = ctx.recovery.client("ecs")
        cfg, warnings = resource.config, []
        if cfg["classic_load_balancers"]:
            raise Unrecoverable(f"ECS service {cfg['name']} is behind classic load balancer(s) "
                                f"{', '.join(cfg['classic_load_balancers'])}, which drflow does not recover")
        warnings += [f"service registry {arn} not recovered (Cloud Map is not in drflow's scope): register the "
                     "recovered service's tasks there yourself" for arn in cfg["service_registries"]]
        if cfg.get("deployment_controller", "ECS") != "ECS":
            warnings.append(f"deployment controller {cfg['deployment_controller']} not recovered: the service "
                            "comes back with ECS rolling deployments (recreate its CodeDeploy or external deployment)")
        cluster, task_definition = ctx.ref(cfg["cluster"]), ctx.ref(cfg["task_definition"])
        wanted: dict[str, Any] = {"taskDefinition": task_definition, "desiredCount": cfg["desired_count"]}
        if cfg["network"]:
            public = cfg["network"]["assign_public_ip"]
            if ctx.mode == Mode.DRILL and public == "ENABLED":
                public = "DISABLED"
                warnings.append("drill: no public IP (the drill network has no internet gateway)")
            wanted["networkConfiguration"] = {"awsvpcConfiguration": {
                "subnets": sorted(ctx.ref(k) for k in cfg["network"]["subnets"]),
                "securityGroups": sorted(ctx.ref(k) for k in cfg["network"]["security_groups"]),
                "assignPublicIp": public}}
        if cfg["load_balancers"]:
            wanted["loadBalancers"] = [
                {"targetGroupArn": ctx.linked(f"elbv2:target-group:{lb['target_group']}").recovered_id,
                 "containerName": lb["container_name"], "containerPort": lb["container_port"]}
                for lb in cfg["load_balancers"]]
        service = self._describe(resource, ctx, cluster)
        created, changed = service is None, False
        if created:
            kwargs = {"cluster": cluster, "serviceName": recovered_name(cfg["name"], ctx), **wanted,
                      "schedulingStrategy": cfg["scheduling_strategy"], "tags": tag_list(ctx.tags(resource)),
                      **{param: cfg[field] for field, param in OPTIONAL.items() if field in cfg}}
            kwargs.update(_placement(cfg, warnings))
            if cfg["scheduling_strategy"] == "DAEMON":
                kwargs.pop("desiredCount")
            ecs.create_service(**kwargs)
        else:
            updates = {k: v for k, v in wanted.items() if _differs(service, k, v)}
            if updates:
                ecs.update_service(cluster=cluster, service=service["serviceArn"], **updates)
                changed = True
        name = recovered_name(cfg["name"], ctx)
        ecs.get_waiter("services_stable").wait(cluster=cluster, services=[name])
        service = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
        return Applied(service["serviceArn"], created=created, changed=changed, warnings=warnings,
                       details={"cluster": cluster, "task_definition": service.get("taskDefinition"),
                                "desired_count": service.get("desiredCount"),
                                "running_count": service.get("runningCount")})

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' services: scaled to 0, deleted, and waited for until INACTIVE (their tasks hold the
        drill's network interfaces, and a cluster with services cannot be deleted)."""
        ecs = ctx.recovery.client("ecs")
        removed = []
        for cluster in clusters(ecs):
            gone = []
            for s in services(ecs, cluster["clusterArn"]):
                if not ctx.matches(tag_dict(s.get("tags"))):
                    continue
                if s.get("desiredCount") and s.get("schedulingStrategy") != "DAEMON":
                    ecs.update_service(cluster=cluster["clusterArn"], service=s["serviceArn"], desiredCount=0)
                ecs.delete_service(cluster=cluster["clusterArn"], service=s["serviceArn"])
                gone.append(s["serviceArn"])
            for batch in chunks(gone, 10):
                ecs.get_waiter("services_inactive").wait(cluster=cluster["clusterArn"], services=batch)
            removed += gone
        return removed


def _placement(cfg: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """Launch type or capacity provider strategy, and deployment settings that hold in the recovery region: a
    capacity provider other than Fargate's is an Auto Scaling group drflow does not recreate; CloudWatch alarms
    named by the deployment configuration are not recovered."""
    out: dict[str, Any] = {}
    strategy = cfg.get("capacity_provider_strategy", [])
    kept = [s for s in strategy if s["capacityProvider"] in FARGATE_PROVIDERS]
    warnings += [f"capacity provider {s['capacityProvider']} not recovered (an Auto Scaling group)"
                 for s in strategy if s not in kept]
    out["capacityProviderStrategy"] = kept
    if not kept:
        out.pop("capacityProviderStrategy")
        if cfg["launch_type"]:
            out["launchType"] = cfg["launch_type"]
        elif strategy:
            out["launchType"] = "FARGATE"
            warnings.append("no Fargate capacity provider left in the strategy: launched on FARGATE")
    deployment = dict(cfg.get("deployment_configuration") or {})
    if (deployment.get("alarms") or {}).get("enable"):
        warnings.append("deployment alarms not recovered (CloudWatch alarms are not in drflow's scope)")
    deployment.pop("alarms", None)
    out["deploymentConfiguration"] = deployment
    if not deployment:
        out.pop("deploymentConfiguration")
    return out


def _differs(service: dict[str, Any], key: str, wanted: Any) -> bool:
    current = service.get(key)
    if key == "networkConfiguration":
        have, want = (current or {}).get("awsvpcConfiguration", {}), wanted["awsvpcConfiguration"]
        return any(sorted(have.get(k) or []) != sorted(want[k]) for k in ("subnets", "securityGroups")) or \
            have.get("assignPublicIp", "DISABLED") != want["assignPublicIp"]
    if key == "loadBalancers":
        def norm(lbs: Any) -> list[tuple]:
            return sorted((b.get("targetGroupArn"), b.get("containerName"), b.get("containerPort")) for b in lbs or [])
        return norm(current) != norm(wanted)
    return current != wanted
