"""VPC links of HTTP APIs: how a private integration reaches a load balancer's listener inside the VPC, recreated
with the recovered subnets and security groups.

A VPC link belongs to the API that uses it here: drflow makes one per API and source link, tagged with the API's
claim and the source link's id (`drflow:vpc-link`), so that a re-run finds it. VPC links for HTTP APIs cost
nothing (API Gateway pricing: no charge for VPC links of HTTP APIs), so they are staged with the API, on the
subnets and groups the network phase staged. AWS makes a VPC link asynchronously (PENDING, then AVAILABLE, which
can take minutes): an integration is put only once its link is AVAILABLE, waited for with a botocore waiter
(apigatewayv2 ships none, so the waiter model is declared here). The integration's URI, the listener's ARN, is the
recovered listener's (link `elbv2:listener:<id>`); load balancers are made at failover, so tonight it waits.
"""

from __future__ import annotations

from typing import Any

from botocore.waiter import WaiterModel, create_waiter_with_client

from core.aws import Side
from core.handler import ApplyContext, CleanupContext, delete_quietly
from core.models import resource_key
from core.ownership import owned, recovered_name

from .targets import Deferred, pages

TAG_VPC_LINK = "drflow:vpc-link"
NAME_LIMIT = 128
# GetVpcLink's VpcLinkStatus: PENDING | AVAILABLE | DELETING | FAILED | INACTIVE (botocore's apigatewayv2 model)
WAITERS = WaiterModel({"version": 2, "waiters": {"VpcLinkAvailable": {
    "operation": "GetVpcLink", "delay": 5, "maxAttempts": 120, "acceptors": [
        {"state": "success", "matcher": "path", "argument": "VpcLinkStatus", "expected": "AVAILABLE"},
        {"state": "failure", "matcher": "path", "argument": "VpcLinkStatus", "expected": "FAILED"},
        {"state": "failure", "matcher": "path", "argument": "VpcLinkStatus", "expected": "INACTIVE"}]}}})


def listener_link(uri: str | None) -> str | None:
    """`elbv2:listener:<app/shop-alb/50dc/f2f7>` for a listener ARN (the load balancer handler's source id)."""
    if not uri or ":elasticloadbalancing:" not in uri or ":listener/" not in uri:
        return None
    return "elbv2:listener:" + uri.split(":", 5)[5].split("/", 1)[1]


def captured(source: Side, link_ids: set[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The source's VPC links by id ({name, subnets, groups} as resource keys), and those keys (dependencies)."""
    api2 = source.client("apigatewayv2")
    out, keys = {}, set()
    for link_id in sorted(link_ids):
        link = api2.get_vpc_link(VpcLinkId=link_id)
        subnets = sorted(resource_key("ec2:subnet", s) for s in link.get("SubnetIds", []))
        groups = sorted(resource_key("ec2:security-group", g) for g in link.get("SecurityGroupIds", []))
        out[link_id] = {"name": link["Name"], "subnets": subnets, "groups": groups}
        keys |= {*subnets, *groups}
    return out, sorted(keys)


def recovered_links(api2: Any, resource: Any, ctx: ApplyContext, writes: list[str]) -> dict[str, str]:
    """Source VPC link id -> the recovered one (made, and waited for, when missing)."""
    have = {tags.get(TAG_VPC_LINK): link for link in pages(api2.get_vpc_links)
            if owned(tags := link.get("Tags") or {}, resource, ctx)}
    out = {}
    for link_id, link in sorted(resource.config.get("vpc_links", {}).items()):
        found = have.get(link_id)
        if found is None:
            found = api2.create_vpc_link(
                Name=recovered_name(link["name"], ctx, NAME_LIMIT), Tags={**ctx.tags(resource), TAG_VPC_LINK: link_id},
                SubnetIds=[ctx.ref(k) for k in link["subnets"]], SecurityGroupIds=[ctx.ref(k) for k in link["groups"]])
            writes.append(f"create_vpc_link {link['name']}")
        if found.get("VpcLinkStatus") != "AVAILABLE":
            create_waiter_with_client("VpcLinkAvailable", WAITERS, api2).wait(VpcLinkId=found["VpcLinkId"])
        out[link_id] = found["VpcLinkId"]
    return out


def private_target(integration: dict[str, Any], links: dict[str, str], ctx: ApplyContext) -> dict[str, str]:
    """ConnectionId and IntegrationUri of a private integration on the recovery side; Deferred while the listener
    is not made (load balancers are created at failover)."""
    ref = listener_link(integration.get("IntegrationUri"))
    if ref is None:
        raise ValueError(f"a private integration to {integration.get('IntegrationUri')} (not a load balancer "
                         "listener: a Cloud Map service?) is not recovered by drflow")
    try:
        listener = ctx.linked(ref).recovered_id
    except KeyError:
        listener = None
    if not listener:
        raise Deferred(f"listener {ref.rsplit(':', 1)[-1]} is made at failover")
    return {"ConnectionId": links[integration["ConnectionId"]], "IntegrationUri": listener}


def remove_drill_links(api2: Any, ctx: CleanupContext) -> list[str]:
    """The drills' VPC links (after their APIs: an integration holds its link)."""
    return sorted(link["VpcLinkId"] for link in pages(api2.get_vpc_links)
                  if ctx.matches(link.get("Tags")) and delete_quietly(api2.delete_vpc_link,
                                                                        VpcLinkId=link["VpcLinkId"]))
