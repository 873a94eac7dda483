"""Elastic Load Balancing v2: target groups, load balancers, listeners with their rules, and targets.

Target groups are free and staged nightly; load balancers bill by the hour and are created at failover, in the
recovered subnets and security groups. A listener's certificate is the one the ACM handler requested in the
recovery region (linked, so applied first), or the plan's `certificates` mapping where there is one (an
override: an imported certificate); one that is neither is refused in the failover's pre-flight, before any
write, and one that ACM has not issued fails the listener. Targets are registered last: the recovered
instances take the place of the source ones. Names are unique per region, so a recovered resource keeps its
source name (a drill adds a suffix) and one that exists without drflow's tags is never adopted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.artifacts import console_host
from core.aws import Side, error_code, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, ConsoleLink, Preflight, ReportsHealth
from core.certificates import certificate_links, issued_recovery_certificate, unrecovered_certificates
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable, delete_quietly
from core.models import Mode, Phase, Resource, resource_key
from core.ownership import copy_of, recovered_name
from core.plan import Plan

NAME_LIMIT = 32  # ELB names: 32 characters at most
TG = "elbv2:target-group"
LB = "elbv2:load-balancer"
LISTENER = "elbv2:listener"
TARGETS = "elbv2:targets"
HEALTH_FIELDS = ("HealthCheckProtocol", "HealthCheckPort", "HealthCheckEnabled", "HealthCheckPath",
                 "HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds", "HealthyThresholdCount",
                 "UnhealthyThresholdCount", "Matcher")


def _short(arn: str) -> str:
    """`targetgroup/web/6d0e...` or `app/shop/50dc...`: the stable, readable part of an ELB ARN."""
    return arn.split(":", 5)[5].split("/", 1)[1]


def _tags(elb: Any, arns: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), 20):  # the API takes 20 ARNs a call
        for desc in elb.describe_tags(ResourceArns=arns[start:start + 20])["TagDescriptions"]:
            out[desc["ResourceArn"]] = {t["Key"]: t["Value"] for t in desc.get("Tags", [])}
    return out


def _by_name(ctx: ApplyContext, resource: Resource, operation: str, result_key: str,
             arn_field: str) -> dict[str, Any] | None:
    """The recovered target group or load balancer of this name, if drflow made it; None when absent."""
    elb = ctx.recovery.client("elbv2")
    try:
        found = getattr(elb, operation)(Names=[recovered_name(resource.config["name"], ctx, NAME_LIMIT)])[result_key][0]
    except ClientError as exc:
        if error_code(exc).endswith("NotFound") or error_code(exc).endswith("NotFoundException"):
            return None
        raise
    _owned(elb, found[arn_field], resource, ctx)
    return found


def _owned(elb: Any, arn: str, resource: Resource, ctx: ApplyContext) -> None:
    if not copy_of(_tags(elb, [arn])[arn], resource, ctx):  # the name tells a drill's apart
        raise Unrecoverable(f"{arn} exists in {ctx.recovery.region} but was not made by drflow for this plan; "
                            "rename or remove it")


def _drills(ctx: CleanupContext, operation: str, result_key: str, arn_field: str, **kwargs: Any) -> list[str]:
    """ARNs of the drills' load balancers or target groups (ELB filters by nothing but name: read the tags)."""
    elb = ctx.recovery.client("elbv2")
    arns = [i[arn_field] for i in paginate(elb, operation, result_key, **kwargs)]
    tags = _tags(elb, arns) if arns else {}
    return sorted(a for a in arns if ctx.matches(tags.get(a)))


def _translate_actions(actions: list[dict[str, Any]], ctx: ApplyContext) -> list[dict[str, Any]]:
    out = []
    for action in actions:
        action = {k: v for k, v in action.items() if k != "ForwardConfig" or "TargetGroupArn" not in action}
        if "TargetGroupArn" in action:
            action["TargetGroupArn"] = ctx.ref(action["TargetGroupArn"])
        if "ForwardConfig" in action:
            groups = [{**g, "TargetGroupArn": ctx.ref(g["TargetGroupArn"])}
                      for g in action["ForwardConfig"].get("TargetGroups", [])]
            action["ForwardConfig"] = {**action["ForwardConfig"], "TargetGroups": groups}
        out.append(action)
    return out


def _capture_actions(actions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], set[str]]:
    """Actions with target group ARNs replaced by resource keys; and those keys."""
    keys: set[str] = set()
    out = []
    for action in sorted(actions, key=lambda a: a.get("Order", 0)):
        action = dict(action)
        if action.get("TargetGroupArn"):
            action["TargetGroupArn"] = resource_key(TG, _short(action["TargetGroupArn"]))
            keys.add(action["TargetGroupArn"])
            action.pop("ForwardConfig", None)
        elif action.get("ForwardConfig"):
            groups = []
            for g in action["ForwardConfig"].get("TargetGroups", []):
                key = resource_key(TG, _short(g["TargetGroupArn"]))
                keys.add(key)
                groups.append({**g, "TargetGroupArn": key})
            action["ForwardConfig"] = {**action["ForwardConfig"], "TargetGroups": groups}
        out.append(action)
    return out, keys


def _forwarded_groups(actions: list[dict[str, Any]]) -> set[str]:
    """The target group ARNs live actions forward to (a plain forward, or a weighted ForwardConfig)."""
    arns = {a["TargetGroupArn"] for a in actions if a.get("TargetGroupArn")}
    return arns | {g["TargetGroupArn"] for a in actions for g in (a.get("ForwardConfig") or {}).get("TargetGroups", [])}


def _condition(condition: dict[str, Any]) -> dict[str, Any]:
    """AWS echoes a condition's values twice (`Values` and `<Field>Config`); create_rule takes one of them."""
    if any(k.endswith("Config") for k in condition):
        return {k: v for k, v in condition.items() if k != "Values"}
    return dict(condition)


def _listener_on(elb: Any, lb_arn: str, port: int) -> dict[str, Any] | None:
    return next((lst for lst in paginate(elb, "describe_listeners", "Listeners", LoadBalancerArn=lb_arn)
                 if lst["Port"] == port), None)


class _Elb:
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        return []

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        return None


class _Named(_Elb):
    """A kind whose name is unique per region: found on the recovery side by its (recovered) name."""

    lookup: ClassVar[tuple[str, str, str]]  # describe operation, result key, ARN field

    def _find(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        return _by_name(ctx, resource, *self.lookup)

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._find(resource, ctx)
        return found[self.lookup[2]] if found else None


class TargetGroupHandler(_Named, ClaimsArnKinds, Cleaner):
    type: ClassVar[str] = TG
    phase: ClassVar[Phase] = Phase.LOAD_BALANCERS
    arn_kinds: ClassVar[tuple[str, ...]] = ("elasticloadbalancing:targetgroup",)
    pilot_light: ClassVar[bool] = True
    lookup: ClassVar[tuple[str, str, str]] = ("describe_target_groups", "TargetGroups", "TargetGroupArn")

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        elb = source.client("elbv2")
        groups = paginate(elb, "describe_target_groups", "TargetGroups")
        tags = _tags(elb, [g["TargetGroupArn"] for g in groups])
        out = []
        for g in groups:
            vpc = resource_key("ec2:vpc", g["VpcId"]) if g.get("VpcId") else None
            out.append(Resource(
                type=TG, source_id=_short(g["TargetGroupArn"]), arn=g["TargetGroupArn"], name=g["TargetGroupName"],
                tags=tags.get(g["TargetGroupArn"], {}),
                config={"vpc": vpc, "name": g["TargetGroupName"], "protocol": g.get("Protocol"), "port": g.get("Port"),
                        "target_type": g.get("TargetType", "instance"), "protocol_version": g.get("ProtocolVersion"),
                        "health": {f: g[f] for f in HEALTH_FIELDS if f in g}},
                dependencies=[vpc] if vpc else []))
        return out

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        elb = ctx.recovery.client("elbv2")
        cfg = resource.config
        group = self._find(resource, ctx)
        if group is None:
            kwargs: dict[str, Any] = {"Name": recovered_name(cfg["name"], ctx, NAME_LIMIT),
                                      "TargetType": cfg["target_type"],
                                      "Tags": ctx.tag_list(resource), **cfg["health"]}
            for key, field in (("Protocol", "protocol"), ("Port", "port"), ("ProtocolVersion", "protocol_version")):
                if cfg[field] is not None:
                    kwargs[key] = cfg[field]
            if cfg["vpc"]:
                kwargs["VpcId"] = ctx.ref(cfg["vpc"])
            arn = elb.create_target_group(**kwargs)["TargetGroups"][0]["TargetGroupArn"]
            return Applied(arn, created=True)
        drift = {f: v for f, v in cfg["health"].items() if group.get(f) != v and f != "HealthCheckEnabled"}
        if drift:
            elb.modify_target_group(TargetGroupArn=group["TargetGroupArn"], **drift)
        return Applied(group["TargetGroupArn"], changed=bool(drift))


    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """After the load balancers: a target group a listener still forwards to cannot be deleted."""
        elb = ctx.recovery.client("elbv2")
        return [arn for arn in _drills(ctx, "describe_target_groups", "TargetGroups", "TargetGroupArn")
                if delete_quietly(elb.delete_target_group, TargetGroupArn=arn)]


class LoadBalancerHandler(_Named, ClaimsArnKinds, Cleaner, ConsoleLink, ReportsHealth):
    type: ClassVar[str] = LB
    phase: ClassVar[Phase] = Phase.LOAD_BALANCERS
    arn_kinds: ClassVar[tuple[str, ...]] = ("elasticloadbalancing:loadbalancer",)
    pilot_light: ClassVar[bool] = False
    lookup: ClassVar[tuple[str, str, str]] = ("describe_load_balancers", "LoadBalancers", "LoadBalancerArn")

    def console_url(self, recovered_id: str, region: str) -> str:
        return f"{console_host(region)}/ec2/home?region={region}#LoadBalancer:loadBalancerArn={recovered_id}"

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        elb = source.client("elbv2")
        balancers = paginate(elb, "describe_load_balancers", "LoadBalancers")
        tags = _tags(elb, [b["LoadBalancerArn"] for b in balancers])
        out = []
        for b in balancers:
            subnets = sorted(resource_key("ec2:subnet", z["SubnetId"]) for z in b.get("AvailabilityZones", []))
            groups = sorted(resource_key("ec2:security-group", g) for g in b.get("SecurityGroups", []))
            out.append(Resource(
                type=LB, source_id=_short(b["LoadBalancerArn"]), arn=b["LoadBalancerArn"], name=b["LoadBalancerName"],
                tags=tags.get(b["LoadBalancerArn"], {}),
                config={"vpc": resource_key("ec2:vpc", b["VpcId"]), "name": b["LoadBalancerName"], "type": b["Type"],
                        "scheme": b["Scheme"], "ip_address_type": b.get("IpAddressType", "ipv4"),
                        "subnets": subnets, "security_groups": groups},
                dependencies=sorted({*subnets, *groups}), endpoints={"dns": b["DNSName"]} if b.get("DNSName") else {}))
        return out

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        elb = ctx.recovery.client("elbv2")
        cfg = resource.config
        subnets = sorted(ctx.ref(s) for s in cfg["subnets"])
        groups = sorted(ctx.ref(g) for g in cfg["security_groups"])
        balancer = self._find(resource, ctx)
        created = balancer is None
        changed = False
        warnings = []
        if created:
            scheme = cfg["scheme"]
            if ctx.mode == Mode.DRILL and scheme == "internet-facing":
                scheme = "internal"
                warnings.append("drill: created internal, the drill network has no internet gateway")
            kwargs: dict[str, Any] = {"Name": recovered_name(cfg["name"], ctx, NAME_LIMIT), "Subnets": subnets,
                                      "Scheme": scheme,
                                      "Type": cfg["type"], "IpAddressType": cfg["ip_address_type"],
                                      "Tags": ctx.tag_list(resource)}
            if groups:
                kwargs["SecurityGroups"] = groups
            balancer = elb.create_load_balancer(**kwargs)["LoadBalancers"][0]
        else:
            current = sorted(z["SubnetId"] for z in balancer.get("AvailabilityZones", []))
            if current != subnets:
                elb.set_subnets(LoadBalancerArn=balancer["LoadBalancerArn"], Subnets=subnets)
                changed = True
            if groups and sorted(balancer.get("SecurityGroups", [])) != groups:
                elb.set_security_groups(LoadBalancerArn=balancer["LoadBalancerArn"], SecurityGroups=groups)
                changed = True
        elb.get_waiter("load_balancer_available").wait(LoadBalancerArns=[balancer["LoadBalancerArn"]])
        return Applied(balancer["LoadBalancerArn"], created=created, changed=changed, warnings=warnings,
                       details={"dns_name": balancer.get("DNSName"),
                                "canonical_hosted_zone_id": balancer.get("CanonicalHostedZoneId")},
                       endpoints={"dns": balancer.get("DNSName", "")})

    def health(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> str | None:
        """Healthy when the load balancer is active and every target group its listeners forward to (default
        actions and rules) has a healthy target: what it takes to answer users. One look (the traffic phase
        polls, core/health.py); the reason counts the targets by state."""
        elb = ctx.recovery.client("elbv2")
        try:
            balancer = elb.describe_load_balancers(LoadBalancerArns=[recovered_id])["LoadBalancers"][0]
        except ClientError as exc:
            if error_code(exc) == "LoadBalancerNotFound":
                return f"load balancer {recovered_id} is gone"
            raise
        state = balancer.get("State", {}).get("Code")
        if state != "active":
            return f"load balancer {balancer['LoadBalancerName']} is {state}"
        groups: set[str] = set()
        for listener in paginate(elb, "describe_listeners", "Listeners", LoadBalancerArn=recovered_id):
            actions = list(listener.get("DefaultActions", []))
            actions += [a for rule in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
                        for a in rule.get("Actions", [])]
            groups |= _forwarded_groups(actions)
        if not groups:
            return f"load balancer {balancer['LoadBalancerName']} forwards to no target group"
        problems = []
        for arn in sorted(groups):
            states = Counter(d["TargetHealth"]["State"] for d in
                             elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"])
            if not states.get("healthy"):
                counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no targets registered"
                problems.append(f"target group {arn.split('/')[-2]}: 0 healthy ({counts})")
        return "; ".join(problems) or None


    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """Deleted and waited for: their network interfaces hold the drill's subnets and security groups."""
        elb = ctx.recovery.client("elbv2")
        gone = [arn for arn in _drills(ctx, "describe_load_balancers", "LoadBalancers", "LoadBalancerArn")
                if delete_quietly(elb.delete_load_balancer, LoadBalancerArn=arn)]
        if gone:
            elb.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=gone)
        return gone


class ListenerHandler(_Elb, ClaimsArnKinds, Preflight, Cleaner):
    type: ClassVar[str] = LISTENER
    phase: ClassVar[Phase] = Phase.LOAD_BALANCERS
    arn_kinds: ClassVar[tuple[str, ...]] = ("elasticloadbalancing:listener", "elasticloadbalancing:listener-rule")
    pilot_light: ClassVar[bool] = False

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        elb = source.client("elbv2")
        out = []
        for b in paginate(elb, "describe_load_balancers", "LoadBalancers"):
            lb = resource_key(LB, _short(b["LoadBalancerArn"]))
            for listener in paginate(elb, "describe_listeners", "Listeners", LoadBalancerArn=b["LoadBalancerArn"]):
                default, keys = _capture_actions(listener.get("DefaultActions", []))
                rules = []
                for rule in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
                    if rule.get("IsDefault"):
                        continue
                    actions, more = _capture_actions(rule.get("Actions", []))
                    keys |= more
                    conditions = [_condition(c) for c in rule.get("Conditions", [])]
                    rules.append({"priority": int(rule["Priority"]), "conditions": conditions, "actions": actions})
                certs = sorted(c["CertificateArn"] for c in listener.get("Certificates", []))
                out.append(Resource(
                    type=LISTENER, source_id=_short(listener["ListenerArn"]), arn=listener["ListenerArn"],
                    name=f"{b['LoadBalancerName']}:{listener['Port']}",
                    config={"vpc": resource_key("ec2:vpc", b["VpcId"]), "load_balancer": lb, "port": listener["Port"],
                            "protocol": listener["Protocol"], "ssl_policy": listener.get("SslPolicy"),
                            "certificates": certs, "default_actions": default,
                            "rules": sorted(rules, key=lambda r: r["priority"])},
                    dependencies=sorted({lb, *keys}), links=certificate_links(plan, certs)))
        return out

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        plan = ctx.plan
        if ctx.staging:
            return []  # listeners are recreated at failover: checked then
        problems = [("certificates", f"listener {r.name} uses {arn}, which has no mapping to a certificate in "
                     f"{plan.recovery.region} and which drflow does not recover (not found in ACM in "
                     f"{plan.source.region} when the recovery point was made)") for r in resources
                    for arn in unrecovered_certificates(r, r.config["certificates"], plan)]
        needed = {plan.certificates[a]: r.name for r in resources for a in r.config["certificates"]
                  if a in plan.certificates}
        acm = ctx.recovery.client("acm") if needed else None
        for arn, listener in sorted(needed.items()):
            status = _certificate_status(acm, arn)
            if status != "ISSUED":
                problems.append((f"certificates.{arn}", f"listener {listener} is mapped to {arn}, which is "
                                 f"{status or 'not in ACM'} in {plan.recovery.region}: an HTTPS listener needs an "
                                 "issued certificate there"))
        return problems

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        """The listener on the recovered load balancer's port (one listener per port and load balancer); None
        while the load balancer is not known to this context (a dry run's, which has no dependencies' results)."""
        dep = ctx.deps.get(resource.config["load_balancer"])
        lb_arn = dep.recovered_id if dep else None
        found = _listener_on(ctx.recovery.client("elbv2"), lb_arn, resource.config["port"]) if lb_arn else None
        return found["ListenerArn"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        elb = ctx.recovery.client("elbv2")
        cfg = resource.config
        lb_arn = ctx.ref(cfg["load_balancer"])
        certificates = [issued_recovery_certificate(ctx, a, f"listener {resource.name}") for a in cfg["certificates"]]
        kwargs: dict[str, Any] = {"Port": cfg["port"], "Protocol": cfg["protocol"],
                                  "DefaultActions": _translate_actions(cfg["default_actions"], ctx)}
        if certificates:
            kwargs["Certificates"] = [{"CertificateArn": a} for a in certificates]
        if cfg["ssl_policy"]:
            kwargs["SslPolicy"] = cfg["ssl_policy"]
        existing = _listener_on(elb, lb_arn, cfg["port"])
        if existing:
            arn = existing["ListenerArn"]
            created = False
            changed = (existing.get("DefaultActions") != kwargs["DefaultActions"]
                       or sorted(c["CertificateArn"] for c in existing.get("Certificates", [])) != sorted(certificates))
            if changed:
                elb.modify_listener(ListenerArn=arn, **kwargs)
        else:
            arn = elb.create_listener(LoadBalancerArn=lb_arn, Tags=ctx.tag_list(resource), **kwargs)["Listeners"][0][
                "ListenerArn"]
            created, changed = True, False
        changed |= self._rules(elb, arn, cfg["rules"], ctx)
        return Applied(arn, created=created, changed=changed and not created)

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' listeners, before their load balancers (which would take them along, but then the
        report could not name them)."""
        elb = ctx.recovery.client("elbv2")
        out = []
        for lb_arn in _drills(ctx, "describe_load_balancers", "LoadBalancers", "LoadBalancerArn"):
            arns = [i["ListenerArn"] for i in paginate(elb, "describe_listeners", "Listeners", LoadBalancerArn=lb_arn)]
            tags = _tags(elb, arns) if arns else {}
            out += [a for a in arns if ctx.matches(tags.get(a)) and delete_quietly(elb.delete_listener, ListenerArn=a)]
        return out

    def _rules(self, elb: Any, listener_arn: str, rules: list[dict[str, Any]], ctx: ApplyContext) -> bool:
        current = {int(r["Priority"]): r for r in elb.describe_rules(ListenerArn=listener_arn)["Rules"]
                   if not r.get("IsDefault")}
        changed = False
        for rule in rules:
            actions = _translate_actions(rule["actions"], ctx)
            have = current.pop(rule["priority"], None)
            if have is None:
                elb.create_rule(ListenerArn=listener_arn, Priority=rule["priority"], Conditions=rule["conditions"],
                                Actions=actions)
                changed = True
            elif [a.get("TargetGroupArn") for a in have.get("Actions", [])] != [a.get("TargetGroupArn") for a in actions]:
                elb.modify_rule(RuleArn=have["RuleArn"], Conditions=rule["conditions"], Actions=actions)
                changed = True
        for stale in current.values():
            elb.delete_rule(RuleArn=stale["RuleArn"])
            changed = True
        return changed


class TargetsHandler(_Elb):
    type: ClassVar[str] = TARGETS
    phase: ClassVar[Phase] = Phase.LOAD_BALANCERS
    pilot_light: ClassVar[bool] = False  # nothing to register before the servers are launched

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        elb = source.client("elbv2")
        managed = _managed_targets(source)
        out = []
        for g in paginate(elb, "describe_target_groups", "TargetGroups"):
            health = elb.describe_target_health(TargetGroupArn=g["TargetGroupArn"])["TargetHealthDescriptions"]
            kind = g.get("TargetType", "instance")
            targets, deps = [], {resource_key(TG, _short(g["TargetGroupArn"]))}
            others = [t for t in health if t["Target"]["Id"] not in managed]
            for t in others:
                target = t["Target"]
                entry = {"port": target.get("Port")}
                if kind == "instance":
                    entry["instance"] = resource_key("ec2:instance", target["Id"])
                    deps.add(entry["instance"])
                else:
                    entry["ip"] = target["Id"]
                targets.append(entry)
            if health and not others:
                continue  # only an Auto Scaling group's or an ECS service's targets: they register themselves
            vpc = resource_key("ec2:vpc", g["VpcId"]) if g.get("VpcId") else None
            out.append(Resource(type=TARGETS, source_id=_short(g["TargetGroupArn"]), name=g["TargetGroupName"],
                                config={"vpc": vpc, "target_group": resource_key(TG, _short(g["TargetGroupArn"])),
                                        "targets": sorted(targets, key=str),
                                        "shared": len(others) < len(health)},
                                dependencies=sorted(deps)))
        return out

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        elb = ctx.recovery.client("elbv2")
        group = ctx.ref(resource.config["target_group"])
        wanted = []
        for t in resource.config["targets"]:
            target_id = ctx.ref(t["instance"]) if "instance" in t else ctx.net.ip(t["ip"])
            if target_id:
                wanted.append({"Id": target_id, **({"Port": t["port"]} if t.get("port") else {})})
        current = [d["Target"] for d in elb.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]]
        have = {(c["Id"], c.get("Port")) for c in current}
        add = [w for w in wanted if (w["Id"], w.get("Port", resource_port(current, w))) not in have]
        keep = {(w["Id"], w.get("Port")) for w in wanted}
        remove = [] if resource.config.get("shared") else [  # shared: what the group or service registered stays
            c for c in current if (c["Id"], c.get("Port")) not in keep and (c["Id"], None) not in keep]
        if add:
            elb.register_targets(TargetGroupArn=group, Targets=add)
        if remove:
            elb.deregister_targets(TargetGroupArn=group, Targets=remove)
        return Applied(group, changed=bool(add or remove), details={"targets": [w["Id"] for w in wanted]})


def _managed_targets(source: Side) -> set[str]:
    """Targets that register themselves, so that drflow must neither recover nor remove them: instances an
    Auto Scaling group launched (recovered with the group), and the private IPs of the network interfaces ECS
    made for its tasks (described by the task attachment's ARN; Fargate tasks come back with their service)."""
    ec2 = source.client("ec2")
    reservations = paginate(ec2, "describe_instances", "Reservations",
                            Filters=[{"Name": "tag-key", "Values": ["aws:autoscaling:groupName"]}])
    managed = {i["InstanceId"] for r in reservations for i in r["Instances"]}
    for eni in paginate(ec2, "describe_network_interfaces", "NetworkInterfaces",
                        Filters=[{"Name": "description", "Values": ["arn:aws:ecs:*"]}]):
        managed.update(a["PrivateIpAddress"] for a in eni.get("PrivateIpAddresses", []))
    return managed


def resource_port(current: list[dict[str, Any]], wanted: dict[str, Any]) -> Any:
    """The port a registered target got by default (the group's), to compare a portless wanted target."""
    return next((c.get("Port") for c in current if c["Id"] == wanted["Id"]), None)


def _certificate_status(acm: Any, arn: str) -> str | None:
    """ACM's status of a certificate (ISSUED, PENDING_VALIDATION, EXPIRED...), None when it does not exist."""
    try:
        return acm.describe_certificate(CertificateArn=arn)["Certificate"].get("Status")
    except ClientError as exc:
        if error_code(exc) in ("ResourceNotFoundException", "ValidationException"):
            return None
        raise
