"""VPC endpoints. Gateway endpoints (S3, DynamoDB) are free: staged nightly. Interface endpoints bill
by the hour: created at failover. AWS service names are translated to the recovery region; an
endpoint to a partner or private service (vpce-svc-...) cannot be, and is reported as such.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, ClassVar

from core.aws import Retryable, Side, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, RestoredHome
from core.ec2_index import Lookup, created, ec2_arn, find_owned, name_of
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable, tags_of
from core.models import Phase, Resource, resource_key
from core.plan import Plan

from .types import GATEWAY, INTERFACE, VPC

LOOKUP = Lookup("describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId", "VpcEndpointIds")
GONE = ("deleted", "deleting", "failed", "rejected")
POLL_SECONDS, POLL_ATTEMPTS = 5, 60
AWS_SERVICE_RE = re.compile(r"^(?P<prefix>com\.amazonaws|aws\.api)\.(?P<region>[a-z]{2}(-[a-z]+)+-\d)\.(?P<rest>.+)$")


def translate_service(name: str, region: str) -> str | None:
    match = AWS_SERVICE_RE.match(name)
    return f"{match['prefix']}.{region}.{match['rest']}" if match else None


def _policy(doc: str | None) -> Any:
    return json.loads(doc) if doc else None


class _EndpointHandler:
    type: ClassVar[str]
    endpoint_type: ClassVar[str]
    pilot_light: ClassVar[bool]
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for ep in paginate(source.client("ec2"), "describe_vpc_endpoints", "VpcEndpoints"):
            if ep.get("VpcEndpointType", "Gateway") != self.endpoint_type or ep.get("State", "").lower() in (
                    "deleted", "deleting", "failed", "rejected"):
                continue
            vpc = resource_key(VPC, ep["VpcId"])
            tables = sorted(resource_key("ec2:route-table", t) for t in ep.get("RouteTableIds", []))
            subnets = sorted(resource_key("ec2:subnet", s) for s in ep.get("SubnetIds", []))
            groups = sorted(resource_key("ec2:security-group", g["GroupId"]) for g in ep.get("Groups", []))
            out.append(Resource(
                type=self.type, source_id=ep["VpcEndpointId"], name=name_of(ep), tags=tags_of(ep),
                arn=ec2_arn(source.region, ep, "vpc-endpoint", ep["VpcEndpointId"]),
                config={"vpc": vpc, "service_name": ep["ServiceName"], "route_tables": tables, "subnets": subnets,
                        "security_groups": groups, "private_dns": bool(ep.get("PrivateDnsEnabled")),
                        "policy": _policy(ep.get("PolicyDocument")), "source_region": source.region},
                dependencies=sorted({vpc, *tables, *subnets, *groups})))
        return out

    def _find(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        return find_owned(ctx, resource, ctx.recovery.client("ec2"), LOOKUP,
                          alive=lambda e: e.get("State", "").lower() not in ("deleted", "deleting", "failed"))

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._find(resource, ctx)
        return found["VpcEndpointId"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ec2 = ctx.recovery.client("ec2")
        cfg = resource.config
        service = translate_service(cfg["service_name"], ctx.recovery.region)
        if service is None:
            raise Unrecoverable(f"service {cfg['service_name']} is not an AWS service endpoint; "
                                "its provider must offer it in the recovery region")
        warnings = []
        policy = json.dumps(cfg["policy"]) if cfg["policy"] else None
        if policy and (cfg["source_region"] in policy or ctx.plan.source.account_id in policy):
            warnings.append("endpoint policy names the source region or account; it is applied as is")
        tables = [ctx.ref(t) for t in cfg["route_tables"]]
        endpoint = self._find(resource, ctx)
        if endpoint is None:
            kwargs: dict[str, Any] = {"VpcId": ctx.ref(cfg["vpc"]), "ServiceName": service,
                                      "VpcEndpointType": self.endpoint_type,
                                      "TagSpecifications": ctx.tag_spec(resource, "vpc-endpoint")}
            if policy:
                kwargs["PolicyDocument"] = policy
            if self.endpoint_type == "Gateway":
                kwargs["RouteTableIds"] = tables
            else:
                kwargs.update(SubnetIds=[ctx.ref(s) for s in cfg["subnets"]], PrivateDnsEnabled=cfg["private_dns"],
                              SecurityGroupIds=[ctx.ref(g) for g in cfg["security_groups"]])
            endpoint_id = ec2.create_vpc_endpoint(**kwargs)["VpcEndpoint"]["VpcEndpointId"]
            return Applied(created(ctx, resource, LOOKUP, endpoint_id), created=True, warnings=warnings,
                           details={"service_name": service})
        changed = False
        if self.endpoint_type == "Gateway":
            have = set(endpoint.get("RouteTableIds", []))
            add, remove = sorted(set(tables) - have), sorted(have - set(tables))
            if add or remove:
                ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], AddRouteTableIds=add,
                                        RemoveRouteTableIds=remove)
                changed = True
        return Applied(endpoint["VpcEndpointId"], changed=changed, warnings=warnings, details={"service_name": service})


    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' endpoints of this kind, waited for until gone (an interface endpoint's network interfaces
        hold its subnets and security groups; a gateway endpoint's routes are in the drill's route tables)."""
        ec2 = ctx.recovery.client("ec2")
        live = [e["VpcEndpointId"] for e in ctx.ec2_items(ec2, LOOKUP) if e.get("State", "").lower() not in GONE
                and e.get("VpcEndpointType", "Gateway") == self.endpoint_type]
        if not live:
            return []
        ec2.delete_vpc_endpoints(VpcEndpointIds=live)
        # no botocore waiter for endpoint deletion: poll their state
        for _ in range(POLL_ATTEMPTS):
            left = [e for e in ctx.ec2_items(ec2, LOOKUP)
                    if e["VpcEndpointId"] in live and e.get("State", "").lower() not in ("deleted", "failed", "rejected")]
            if not left:
                return live
            time.sleep(POLL_SECONDS)
        raise Retryable(f"VPC endpoints still deleting: {sorted(e['VpcEndpointId'] for e in left)}")


class GatewayEndpointHandler(_EndpointHandler, ClaimsArnKinds, Cleaner, RestoredHome):
    type: ClassVar[str] = GATEWAY
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:vpc-endpoint",)
    endpoint_type: ClassVar[str] = "Gateway"
    pilot_light: ClassVar[bool] = True


class InterfaceEndpointHandler(_EndpointHandler, ClaimsArnKinds, Cleaner, RestoredHome):
    type: ClassVar[str] = INTERFACE
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:vpc-endpoint",)
    endpoint_type: ClassVar[str] = "Interface"
    pilot_light: ClassVar[bool] = False
