"""EC2 route tables: routes to recovered gateways, and subnet associations.

Routes through a gateway VPC endpoint are owned by the endpoint (it adds them to the tables it is
associated with), so they are not copied here. Routes whose target cannot be recreated in another
region (peering, transit gateway, VPN gateway, an instance or ENI) are recorded and reported as
warnings, never silently dropped. During nightly staging, a route to a NAT gateway waits for the
failover, where the NAT gateway is created.
"""

from __future__ import annotations

from typing import Any, ClassVar

from core.aws import Side, paginate
from core.capabilities import ClaimsArnKinds, Cleaner, RestoredHome
from core.ec2_index import Lookup, adopt_tags, created, ec2_arn, find_owned, find_vpc_default, name_of
from core.handler import Applied, ApplyContext, CleanupContext, delete_quietly, tags_of
from core.models import Phase, Resource, resource_key
from core.plan import Plan

from .types import ROUTE_TABLE, SUBNET, VPC

LOOKUP = Lookup("describe_route_tables", "RouteTables", "RouteTableId", "RouteTableIds")
TARGETS = {  # describe field -> (resource type, create_route parameter)
    "NatGatewayId": ("ec2:nat-gateway", "NatGatewayId"),
    "EgressOnlyInternetGatewayId": ("ec2:egress-only-internet-gateway", "EgressOnlyInternetGatewayId"),
}
UNRECOVERABLE = {
    "VpcPeeringConnectionId": "VPC peering connection (re-create the peering in the recovery region)",
    "TransitGatewayId": "transit gateway", "InstanceId": "instance", "NetworkInterfaceId": "network interface",
    "CarrierGatewayId": "carrier gateway", "LocalGatewayId": "local gateway", "CoreNetworkArn": "core network",
}
DESTINATIONS = ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId")


def _destination(route: dict[str, Any]) -> tuple[str, str]:
    field = next(f for f in DESTINATIONS if route.get(f))
    return field, route[field]


def _target(route: dict[str, Any]) -> tuple[str, str] | None:
    """(create_route parameter, target id) of a route, or None for local/endpoint/propagated routes."""
    gateway = route.get("GatewayId", "")
    if gateway.startswith("igw-"):
        return "GatewayId", gateway
    for field, (_, param) in TARGETS.items():
        if route.get(field):
            return param, route[field]
    return None


class RouteTableHandler(ClaimsArnKinds, Cleaner, RestoredHome):
    type: ClassVar[str] = ROUTE_TABLE
    phase: ClassVar[Phase] = Phase.NETWORK
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:route-table",)
    pilot_light: ClassVar[bool] = True
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1
    restored_home: ClassVar[bool] = True  # failback's phase 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        out = []
        for table in paginate(source.client("ec2"), "describe_route_tables", "RouteTables"):
            vpc = resource_key(VPC, table["VpcId"])
            routes, unrecoverable, deps = [], [], {vpc}
            for route in table.get("Routes", []):
                if route.get("Origin") == "EnableVgwRoutePropagation" or route.get("GatewayId") == "local":
                    continue
                if route.get("GatewayId", "").startswith("vpce-"):
                    continue  # the gateway endpoint owns this route
                field, dest = _destination(route)
                target = _target(route)
                if target and route.get("State") != "blackhole":
                    param, target_id = target
                    kind = "ec2:internet-gateway" if param == "GatewayId" else next(
                        t for f, (t, p) in TARGETS.items() if p == param)
                    routes.append({"destination_field": field, "destination": dest, "target_param": param,
                                   "target": resource_key(kind, target_id)})
                    deps.add(resource_key(kind, target_id))
                else:
                    reason = next((r for f, r in UNRECOVERABLE.items() if route.get(f)), None)
                    if route.get("State") == "blackhole":
                        reason = "blackhole route (its target no longer exists)"
                    elif route.get("GatewayId", "").startswith("vgw-"):
                        reason = "virtual private gateway (VPN)"
                    unrecoverable.append({"destination": dest, "reason": reason or "unsupported target"})
            subnets = sorted(resource_key(SUBNET, a["SubnetId"]) for a in table.get("Associations", [])
                             if a.get("SubnetId"))
            deps.update(subnets)
            main = any(a.get("Main") for a in table.get("Associations", []))
            out.append(Resource(
                type=ROUTE_TABLE, source_id=table["RouteTableId"], name=name_of(table), tags=tags_of(table),
                arn=ec2_arn(source.region, table, "route-table", table["RouteTableId"]),
                config={"vpc": vpc, "main": main, "routes": sorted(routes, key=lambda r: r["destination"]),
                        "subnets": subnets, "unrecoverable": unrecoverable},
                dependencies=sorted(deps)))
        return out

    def _find(self, resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
        ec2 = ctx.recovery.client("ec2")
        if resource.config["main"]:
            return find_vpc_default(ctx, resource, ec2, LOOKUP, {"Name": "association.main", "Values": ["true"]})
        return find_owned(ctx, resource, ec2, LOOKUP)

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = self._find(resource, ctx)
        return found["RouteTableId"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ec2 = ctx.recovery.client("ec2")
        cfg = resource.config
        table = self._find(resource, ctx)
        new = table is None
        changed = False
        if new:
            table = ec2.create_route_table(VpcId=ctx.ref(cfg["vpc"]),
                                           TagSpecifications=ctx.tag_spec(resource, "route-table"))["RouteTable"]
            created(ctx, resource, LOOKUP, table["RouteTableId"])
        elif cfg["main"]:
            changed = adopt_tags(ctx, resource, ec2, table, table["RouteTableId"])
        table_id = table["RouteTableId"]
        warnings = [f"route to {u['destination']} not recovered: {u['reason']}" for u in cfg["unrecoverable"]]
        deferred: list[str] = []
        changed |= self._routes(ec2, table, cfg, ctx, deferred)
        changed |= self._associations(ec2, table, cfg, ctx)
        details = {"deferred_routes": deferred} if deferred else {}
        return Applied(table_id, created=new, changed=changed and not new, details=details,
                       warnings=warnings)

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' route tables, their subnets disassociated first; a VPC's main table goes with its VPC."""
        ec2 = ctx.recovery.client("ec2")
        out = []
        for table in ctx.ec2_items(ec2, LOOKUP):
            if any(a.get("Main") for a in table.get("Associations", [])):
                continue
            for assoc in table.get("Associations", []):
                if assoc.get("SubnetId"):
                    delete_quietly(ec2.disassociate_route_table, AssociationId=assoc["RouteTableAssociationId"])
            if delete_quietly(ec2.delete_route_table, RouteTableId=table["RouteTableId"]):
                out.append(table["RouteTableId"])
        return out

    def _routes(self, ec2: Any, table: dict[str, Any], cfg: dict[str, Any], ctx: ApplyContext,
                deferred: list[str]) -> bool:
        table_id = table["RouteTableId"]
        current = {_destination(r)[1]: _target(r) for r in table.get("Routes", [])
                   if r.get("Origin") == "CreateRoute" and not r.get("GatewayId", "").startswith("vpce-")}
        desired: dict[str, tuple[str, str]] = {}
        changed = False
        for route in cfg["routes"]:
            dest = ctx.net.cidr(route["destination"])
            target_id = ctx.ref(route["target"])
            if target_id is None:  # not recovered in this run (a NAT gateway while staging)
                deferred.append(dest)
                continue
            desired[dest] = (route["target_param"], target_id)
            kwargs = {route["destination_field"]: dest, route["target_param"]: target_id, "RouteTableId": table_id}
            if dest not in current:
                ec2.create_route(**kwargs)
                changed = True
            elif current[dest] != desired[dest]:
                ec2.replace_route(**kwargs)
                changed = True
        for route in table.get("Routes", []):
            if route.get("Origin") != "CreateRoute" or route.get("GatewayId", "").startswith("vpce-"):
                continue
            field, dest = _destination(route)
            if dest not in desired and dest not in deferred:
                ec2.delete_route(RouteTableId=table_id, **{field: dest})
                changed = True
        return changed

    def _associations(self, ec2: Any, table: dict[str, Any], cfg: dict[str, Any], ctx: ApplyContext) -> bool:
        table_id = table["RouteTableId"]
        wanted = {ctx.ref(s) for s in cfg["subnets"]}
        here = {a["SubnetId"]: a["RouteTableAssociationId"] for a in table.get("Associations", []) if a.get("SubnetId")}
        missing = sorted(wanted - set(here))
        changed = False
        if missing:
            elsewhere = {}
            for other in ec2.describe_route_tables(
                    Filters=[{"Name": "association.subnet-id", "Values": missing}])["RouteTables"]:
                for assoc in other.get("Associations", []):
                    if assoc.get("SubnetId") in missing:
                        elsewhere[assoc["SubnetId"]] = assoc["RouteTableAssociationId"]
            for subnet_id in missing:
                if subnet_id in elsewhere:
                    ec2.replace_route_table_association(AssociationId=elsewhere[subnet_id], RouteTableId=table_id)
                else:
                    ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)
                changed = True
        for subnet_id, assoc_id in here.items():
            if subnet_id not in wanted:
                ec2.disassociate_route_table(AssociationId=assoc_id)
                changed = True
        return changed
