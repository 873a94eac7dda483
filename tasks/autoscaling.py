"""Auto Scaling groups (`autoscaling:group`), created at failover from their recovered launch template.

A group runs instances, so nothing is staged nightly: at failover the group is created (or adopted, by drflow's
tags) in the recovered subnets, launching from the recovered template (tasks/launch_templates.py, named by the
link "ec2:launch-template:<name>"), attached to the recovered target groups ("elbv2:target-group:<name>"), with
its sizes, health check, termination policies, scaling policies and scheduled actions. The failover then waits
until the group has its desired number of InService instances, and reports them.

Groups that Elastic Beanstalk or an ECS capacity provider made are theirs (their environment or cluster brings
them back) and are not captured. The instances a group launched are not servers of their own either: the
group launches new ones. A drill makes its groups under a suffixed name, tagged (the drill tag propagates to
their instances); drill cleanup force-deletes them and waits until they are gone.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.aws import Retryable, Side, error_code, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, NotFailedBack
from core.failback import COMPUTE_LEFT
from core.handler import TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID, Applied, ApplyContext, CleanupContext, Unrecoverable
from core.models import Phase, Resource, resource_key
from core.ownership import copy_of, recovered_name
from core.plan import Plan

NAME_LIMIT = 246  # group names: 255 characters, less room for drflow's own suffixes
GROUP = "autoscaling:group"
MANAGED_TAGS = ("elasticbeanstalk:environment-name", "AmazonECSManaged")
POLICY_FIELDS = ("PolicyType", "AdjustmentType", "MinAdjustmentMagnitude", "ScalingAdjustment", "Cooldown",
                 "MetricAggregationType", "StepAdjustments", "EstimatedInstanceWarmup", "TargetTrackingConfiguration",
                 "Enabled")
SCHEDULE_FIELDS = ("Recurrence", "MinSize", "MaxSize", "DesiredCapacity", "TimeZone")
WAIT = {"first": 2.0, "cap": 15.0, "seconds": 900.0}  # how long a failover waits for the group's instances


def _tags(group: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in group.get("Tags", [])}


def _policy(policy: dict[str, Any]) -> dict[str, Any]:
    """What put_scaling_policy takes back, without the empty fields AWS echoes for other policy types."""
    return {f: policy[f] for f in POLICY_FIELDS if policy.get(f) not in (None, [], {})}


def _label(policy: dict[str, Any]) -> str | None:
    """A target tracking policy's ALB request count label ("app/<lb>/<id>/targetgroup/<tg>/<id>")."""
    return ((policy.get("TargetTrackingConfiguration") or {}).get("PredefinedMetricSpecification") or {}).get(
        "ResourceLabel")


def _template_spec(group: dict[str, Any]) -> dict[str, Any] | None:
    return group.get("LaunchTemplate") or (group.get("MixedInstancesPolicy") or {}).get(
        "LaunchTemplate", {}).get("LaunchTemplateSpecification")


class GroupHandler(ClaimsArnKinds, Cleaner, NotFailedBack):
    type: ClassVar[str] = GROUP
    phase: ClassVar[Phase] = Phase.COMPUTE
    arn_kinds: ClassVar[tuple[str, ...]] = ("autoscaling:autoScalingGroup",)
    pilot_light: ClassVar[bool] = False  # a group runs instances: created at failover only
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    not_failed_back: ClassVar[str] = COMPUTE_LEFT  # failback leaves it: the primary's own copy serves

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        client = source.client("autoscaling")
        groups = [g for g in paginate(client, "describe_auto_scaling_groups", "AutoScalingGroups")
                  if not any(k in _tags(g) for k in MANAGED_TAGS)]
        subnet_ids = sorted({s for g in groups for s in (g.get("VPCZoneIdentifier") or "").split(",") if s})
        vpc_of = {s["SubnetId"]: s["VpcId"] for s in paginate(source.client("ec2"), "describe_subnets", "Subnets",
                                                                SubnetIds=subnet_ids)} if subnet_ids else {}
        policies: dict[str, list[dict[str, Any]]] = {}
        for p in paginate(client, "describe_policies", "ScalingPolicies"):
            policies.setdefault(p["AutoScalingGroupName"], []).append({"name": p["PolicyName"], **_policy(p)})
        schedules: dict[str, list[dict[str, Any]]] = {}
        for a in paginate(client, "describe_scheduled_actions", "ScheduledUpdateGroupActions"):
            if a.get("Recurrence"):  # a one-off action in the past means nothing at failover
                schedules.setdefault(a["AutoScalingGroupName"], []).append(
                    {"name": a["ScheduledActionName"], **{f: a[f] for f in SCHEDULE_FIELDS if a.get(f) is not None}})
        elb = source.client("elbv2")
        out = []
        for g in groups:
            name = g["AutoScalingGroupName"]
            spec = _template_spec(g)
            subnets = [s for s in (g.get("VPCZoneIdentifier") or "").split(",") if s]
            groups_tg = sorted(g.get("TargetGroupARNs", []))
            tg_names = [t["TargetGroupName"] for t in elb.describe_target_groups(TargetGroupArns=groups_tg)[
                "TargetGroups"]] if groups_tg else []
            vpc = resource_key("ec2:vpc", vpc_of[subnets[0]]) if subnets and subnets[0] in vpc_of else None
            links = [f"elbv2:target-group:{n}" for n in sorted(tg_names)]
            if spec:
                links.insert(0, f"ec2:launch-template:{spec['LaunchTemplateName']}")
            out.append(Resource(
                type=GROUP, source_id=name, name=name, arn=g.get("AutoScalingGroupARN", ""), tags=_tags(g),
                config={"vpc": vpc, "name": name,
                        "launch_template": spec["LaunchTemplateName"] if spec else None,
                        "launch_template_version": (spec.get("Version") or "$Default") if spec else None,
                        "launch_configuration": g.get("LaunchConfigurationName"),
                        "min": g["MinSize"], "max": g["MaxSize"], "desired": g["DesiredCapacity"],
                        "subnets": [resource_key("ec2:subnet", s) for s in subnets],
                        "target_groups": sorted(tg_names),
                        "health_check_type": g.get("HealthCheckType", "EC2"),
                        "health_check_grace": g.get("HealthCheckGracePeriod", 0),
                        "default_cooldown": g.get("DefaultCooldown", 300),
                        "termination_policies": g.get("TerminationPolicies", ["Default"]),
                        "capacity_rebalance": bool(g.get("CapacityRebalance")),
                        "max_instance_lifetime": g.get("MaxInstanceLifetime"),
                        "protected_from_scale_in": bool(g.get("NewInstancesProtectedFromScaleIn")),
                        "tags": sorted(({"Key": t["Key"], "Value": t["Value"],
                                         "PropagateAtLaunch": bool(t.get("PropagateAtLaunch"))}
                                        for t in g.get("Tags", []) if not t["Key"].startswith("aws:")),
                                       key=lambda t: t["Key"]),
                        "policies": sorted(policies.get(name, []), key=lambda p: p["name"]),
                        "scheduled_actions": sorted(schedules.get(name, []), key=lambda a: a["name"])},
                links=links, dependencies=sorted({resource_key("ec2:subnet", s) for s in subnets})))
        return out

    # -- the recovery side ------------------------------------------------------------------------------

    def _group(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        name = recovered_name(resource.name, ctx, NAME_LIMIT)
        groups = ctx.recovery.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[name])["AutoScalingGroups"]
        if not groups:
            return None
        tags = _tags(groups[0])
        if not copy_of(tags, resource, ctx):
            raise Unrecoverable(f"Auto Scaling group {name} exists in {ctx.recovery.region} but was not made by "
                                "drflow for this plan; rename or remove it")
        return groups[0]

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        group = self._group(resource, ctx)
        return group["AutoScalingGroupName"] if group else None

    def _tag_list(self, resource: Resource, ctx: ApplyContext, name: str) -> list[dict[str, Any]]:
        """The group's own tags, as they propagate in the source, and drflow's: the plan and the drill propagate
        (drill cleanup finds the drill's instances by them), the source id marks the group alone."""
        tags = {t["Key"]: t for t in resource.config["tags"]}
        tags[TAG_PLAN] = {"Key": TAG_PLAN, "Value": ctx.plan.name, "PropagateAtLaunch": True}
        tags[TAG_SOURCE_ID] = {"Key": TAG_SOURCE_ID, "Value": resource.source_id, "PropagateAtLaunch": False}
        if ctx.drill_id:
            tags[TAG_DRILL] = {"Key": TAG_DRILL, "Value": ctx.drill_id, "PropagateAtLaunch": True}
        return [{**t, "ResourceId": name, "ResourceType": "auto-scaling-group"} for _, t in sorted(tags.items())]

    def _wanted(self, resource: Resource, ctx: ApplyContext, name: str) -> dict[str, Any]:
        cfg = resource.config
        if not cfg["launch_template"]:
            raise Unrecoverable(f"Auto Scaling group {resource.name} launches from launch configuration "
                                f"{cfg['launch_configuration']}: not supported, move it to a launch template")
        template = ctx.linked(f"ec2:launch-template:{cfg['launch_template']}")
        # "$Default" stays itself (the recovered template's default is the source's, and an operator who moves it
        # after the failover moves the group with it); "$Latest" and numbers become the recovered version's number
        label = cfg["launch_template_version"]
        version = "$Default" if label == "$Default" else template.details.get("versions", {}).get(label)
        if version is None:
            raise Unrecoverable(f"Auto Scaling group {resource.name}: version {label} of launch template "
                                f"{cfg['launch_template']} was not recovered")
        wanted: dict[str, Any] = {
            "AutoScalingGroupName": name, "MinSize": cfg["min"], "MaxSize": cfg["max"],
            "DesiredCapacity": cfg["desired"],
            "LaunchTemplate": {"LaunchTemplateId": template.recovered_id, "Version": version},
            "VPCZoneIdentifier": ",".join(ctx.ref(s) for s in cfg["subnets"]),
            "HealthCheckType": cfg["health_check_type"], "HealthCheckGracePeriod": cfg["health_check_grace"],
            "DefaultCooldown": cfg["default_cooldown"], "TerminationPolicies": cfg["termination_policies"],
            "CapacityRebalance": cfg["capacity_rebalance"],
            "NewInstancesProtectedFromScaleIn": cfg["protected_from_scale_in"]}
        if cfg["max_instance_lifetime"]:
            wanted["MaxInstanceLifetime"] = cfg["max_instance_lifetime"]
        return wanted

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        client = ctx.recovery.client("autoscaling")
        name = recovered_name(resource.name, ctx, NAME_LIMIT)
        wanted = self._wanted(resource, ctx, name)
        target_groups = sorted(ctx.linked(f"elbv2:target-group:{n}").recovered_id or ""
                               for n in resource.config["target_groups"])
        group = self._group(resource, ctx)
        writes = 0
        if group is None:
            client.create_auto_scaling_group(**wanted, TargetGroupARNs=target_groups,
                                             Tags=self._tag_list(resource, ctx, name))
        else:
            drift = {k: v for k, v in wanted.items() if k != "AutoScalingGroupName" and group.get(k) != v}
            if wanted["MinSize"] <= group["DesiredCapacity"] <= wanted["MaxSize"]:
                drift.pop("DesiredCapacity", None)  # scaled since it was made: a resumed failover does not undo that
            if "VPCZoneIdentifier" in drift and set(group.get("VPCZoneIdentifier", "").split(",")) == set(
                    wanted["VPCZoneIdentifier"].split(",")):
                drift.pop("VPCZoneIdentifier")
            if "LaunchTemplate" in drift and {k: group["LaunchTemplate"].get(k) for k in ("LaunchTemplateId", "Version")} \
                    == wanted["LaunchTemplate"]:
                drift.pop("LaunchTemplate")
            if drift:
                client.update_auto_scaling_group(AutoScalingGroupName=name, **drift)
                writes += 1
            missing = sorted(set(target_groups) - set(group.get("TargetGroupARNs", [])))
            if missing:
                client.attach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=missing)
                writes += 1
        writes += self._policies(client, resource, name)
        writes += self._schedules(client, resource, name)
        instances = self._wait_in_service(client, resource, name, ctx)
        return Applied(name, created=group is None, changed=bool(writes) and group is not None,
                       warnings=self._warnings(resource),
                       details={"desired": resource.config["desired"], "in_service": len(instances),
                                "instances": instances, "target_groups": target_groups,
                                "launch_template": wanted["LaunchTemplate"]})

    @staticmethod
    def _warnings(resource: Resource) -> list[str]:
        out = [f"policy {p['name']}: its CloudWatch alarms are not recreated by drflow; create them for the recovered "
               "group" for p in resource.config["policies"] if p["PolicyType"] in ("StepScaling", "SimpleScaling")]
        return out + [f"policy {p['name']}: not recreated: its ResourceLabel names the source's load balancer and "
                      "target group" for p in resource.config["policies"] if _label(p)]

    def _policies(self, client: Any, resource: Resource, name: str) -> int:
        have = {p["PolicyName"]: _policy(p) for p in paginate(client, "describe_policies", "ScalingPolicies",
                                                               AutoScalingGroupName=name)}
        writes = 0
        for policy in resource.config["policies"]:
            body = {k: v for k, v in policy.items() if k != "name"}
            if _label(policy):  # names the source's load balancer and target group: not mapped, see the warnings
                continue
            if have.get(policy["name"]) != body:
                client.put_scaling_policy(AutoScalingGroupName=name, PolicyName=policy["name"], **body)
                writes += 1
        return writes

    def _schedules(self, client: Any, resource: Resource, name: str) -> int:
        have = {a["ScheduledActionName"]: {f: a[f] for f in SCHEDULE_FIELDS if a.get(f) is not None}
                for a in paginate(client, "describe_scheduled_actions", "ScheduledUpdateGroupActions",
                                  AutoScalingGroupName=name)}
        writes = 0
        for action in resource.config["scheduled_actions"]:
            body = {k: v for k, v in action.items() if k != "name"}
            if have.get(action["name"]) != body:
                client.put_scheduled_update_group_action(AutoScalingGroupName=name, ScheduledActionName=action["name"],
                                                         **body)
                writes += 1
        return writes

    @staticmethod
    def _wait_in_service(client: Any, resource: Resource, name: str, ctx: ApplyContext) -> list[str]:
        """The group's InService, healthy instances, once it has its desired number of them.

        A plain poll with backoff: botocore has no waiter for Auto Scaling at all (its GroupInService, in other
        SDKs, compares with the minimum size, not the desired capacity)."""
        deadline = time.monotonic() + WAIT["seconds"]
        delay = WAIT["first"]
        while True:
            group = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
            ready = sorted(i["InstanceId"] for i in group.get("Instances", [])
                           if i["LifecycleState"] == "InService" and i.get("HealthStatus", "Healthy") == "Healthy")
            if len(ready) >= group["DesiredCapacity"]:
                return ready
            if time.monotonic() + delay > deadline:
                raise Retryable(f"Auto Scaling group {name}: {len(ready)} of {group['DesiredCapacity']} instances "
                                f"InService after {WAIT['seconds']:.0f} s")
            time.sleep(delay)
            delay = min(WAIT["cap"], delay * 2)

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """Force-delete the drills' groups (their instances go with them), and wait until AWS has removed them:
        a group still deleting holds its launch template and its instances' interfaces in the drill's subnets."""
        client = ctx.recovery.client("autoscaling")
        names = sorted(g["AutoScalingGroupName"] for g in paginate(client, "describe_auto_scaling_groups",
                                                                      "AutoScalingGroups") if ctx.matches(g.get("Tags")))
        gone = []
        for name in names:
            try:
                client.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
                gone.append(name)
            except ClientError as exc:
                if error_code(exc) != "ValidationError":  # already gone: "AutoScalingGroup name not found"
                    raise
        deadline = time.monotonic() + WAIT["seconds"]
        delay = WAIT["first"]
        while gone:  # no waiter for a deleted group in botocore either (see _wait_in_service)
            left = client.describe_auto_scaling_groups(AutoScalingGroupNames=gone)["AutoScalingGroups"]
            if not left:
                break
            if time.monotonic() + delay > deadline:
                raise Retryable(f"Auto Scaling groups still deleting: {sorted(g['AutoScalingGroupName'] for g in left)}")
            time.sleep(delay)
            delay = min(WAIT["cap"], delay * 2)
        return gone
