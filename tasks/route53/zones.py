"""Hosted zones: listing them, finding drflow's copies, making one with its tags, and removing a drill's.

Route 53 is a global service: on AWS its control plane (every call here) is served from us-east-1 whatever region a
client names, so a Route 53 write at failover depends on us-east-1 being up even when the primary is elsewhere (and
a failover out of us-east-1 may find the control plane impaired with it). What keeps working through a regional
outage is Route 53's data plane: failover routing with health checks answers DNS without any API call, which is why
drflow stages a customer's SECONDARY failover records nightly (traffic.py) rather than relying on a cutover alone.

CreateHostedZone takes no tags, so a zone drflow makes is found again by its CallerReference, which holds a digest
of whose copy it is (plan, drill, source): a run killed between the create and the tagging finds its zone untagged
and tags it, instead of making a second one. A CallerReference is used once in the life of an account (AWS refuses
it again: HostedZoneAlreadyExists), so the digest is followed by a random part; the digest alone identifies.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Iterable

from core.aws import error_code, paginate
from core.handler import ApplyContext, CleanupContext
from core.models import Resource
from core.ownership import TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID, tag_dict

HOSTED_ZONE = "hostedzone"  # the ResourceType the tagging calls take
PRIVATE_COPY = "pz"  # a private zone's recovered copy
TEST_ZONE = "tz"  # a drill's private test zone standing in for a public zone
CALLER_REFERENCE_LIMIT = 128  # CreateHostedZone: CallerReference, 1 to 128 characters


def short_id(zone_id: str) -> str:
    """`/hostedzone/Z123` -> `Z123`."""
    return zone_id.rsplit("/", 1)[-1]


def zone_arn(zone_id: str) -> str:
    return f"arn:aws:route53:::hostedzone/{short_id(zone_id)}"


def fqdn(name: str) -> str:
    """A DNS name as Route 53 answers it: lower case, with its final dot."""
    return name.lower().rstrip(".") + "."


def hosted_zones(route53: Any) -> list[dict[str, Any]]:
    return paginate(route53, "list_hosted_zones", "HostedZones")


def zone_tags(route53: Any, zone_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """Zone id -> its tags, ten zones per ListTagsForResources (its limit)."""
    ids = [short_id(z) for z in zone_ids]
    out: dict[str, dict[str, str]] = {}
    for start in range(0, len(ids), 10):
        answer = route53.list_tags_for_resources(ResourceType=HOSTED_ZONE, ResourceIds=ids[start:start + 10])
        for item in answer.get("ResourceTagSets", []):
            out[item["ResourceId"]] = tag_dict(item.get("Tags"))
    return out


def vpcs_of(route53: Any, zone_id: str) -> list[dict[str, str]]:
    return route53.get_hosted_zone(Id=zone_id).get("VPCs") or []


def digest(kind: str, source_id: str, ctx: ApplyContext) -> str:
    """What a zone's CallerReference starts with when it is drflow's `kind` of copy of `source_id` for this plan,
    recovery account and drill."""
    raw = f"{ctx.plan.name}:{ctx.plan.recovery.account_id}:{ctx.drill_id}:{kind}:{source_id}"
    return f"drflow-{kind}-{hashlib.sha256(raw.encode()).hexdigest()[:32]}-"


def find_copy(route53: Any, kind: str, source_id: str, name: str, ctx: ApplyContext) -> dict[str, Any] | None:
    """drflow's zone of this kind for this source (a private one of that name), if any; read-only."""
    prefix = digest(kind, source_id, ctx)
    return next((z for z in hosted_zones(route53) if z.get("CallerReference", "").startswith(prefix)
                 and z["Name"] == fqdn(name)), None)


def create_copy(route53: Any, kind: str, resource: Resource, name: str, vpc: dict[str, str], comment: str,
                ctx: ApplyContext, tags: dict[str, str]) -> dict[str, Any]:
    """A private zone of `name` associated with `vpc`, then tagged (CreateHostedZone takes no tags)."""
    reference = (digest(kind, resource.source_id, ctx) + uuid.uuid4().hex)[:CALLER_REFERENCE_LIMIT]
    zone = route53.create_hosted_zone(Name=fqdn(name), CallerReference=reference, VPC=vpc,
                                      HostedZoneConfig={"Comment": comment, "PrivateZone": True})["HostedZone"]
    tag(route53, zone["Id"], tags)
    return zone


def tag(route53: Any, zone_id: str, tags: dict[str, str]) -> None:
    route53.change_tags_for_resource(ResourceType=HOSTED_ZONE, ResourceId=short_id(zone_id),
                                     AddTags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])


def claimed(tags: dict[str, str], wanted: dict[str, str]) -> bool:
    """The zone carries drflow's claim (plan, source, drill) as `wanted` has it."""
    return all(tags.get(k) == wanted.get(k) for k in (TAG_PLAN, TAG_SOURCE_ID, TAG_DRILL))


def remove_drill_zones(ctx: CleanupContext, kind: str) -> list[str]:
    """Every zone of this kind a drill of the plan made (drflow's CallerReference and drill tag both): its record
    sets deleted (AWS refuses to delete a zone holding more than its SOA and NS), then the zone."""
    route53 = ctx.recovery.client("route53")
    mine = [z for z in hosted_zones(route53) if z.get("CallerReference", "").startswith(f"drflow-{kind}-")]
    tags = zone_tags(route53, [z["Id"] for z in mine]) if mine else {}
    gone = []
    for zone in mine:
        if not ctx.matches(tags.get(short_id(zone["Id"]))):
            continue
        records = [r for r in paginate(route53, "list_resource_record_sets", "ResourceRecordSets",
                                       HostedZoneId=zone["Id"]) if not apex_record(r, zone["Name"])]
        try:
            if records:
                change(route53, zone["Id"], [{"Action": "DELETE", "ResourceRecordSet": r} for r in records],
                       f"drflow drill cleanup of {zone['Name']}")
            route53.delete_hosted_zone(Id=zone["Id"])
        except Exception as exc:  # noqa: BLE001 - only a zone already gone is quietly passed over
            if error_code(exc) != "NoSuchHostedZone":
                raise
            continue
        gone.append(short_id(zone["Id"]))
    return sorted(gone)


def apex_record(record: dict[str, Any], zone_name: str) -> bool:
    """The zone's own SOA and NS: Route 53 makes them with the zone; never copied, never deleted."""
    return record["Type"] in ("SOA", "NS") and fqdn(record["Name"]) == fqdn(zone_name)


CHANGE_BATCH_LIMIT = 500  # ChangeResourceRecordSets: 1,000 ResourceRecord elements a batch, an UPSERT counting twice


def change(route53: Any, zone_id: str, changes: list[dict[str, Any]], comment: str) -> None:
    """Send the changes (in batches within AWS's limit) and wait until each is INSYNC on every Route 53 server
    (botocore's resource_record_sets_changed waiter)."""
    waiter = route53.get_waiter("resource_record_sets_changed")
    for start in range(0, len(changes), CHANGE_BATCH_LIMIT):
        batch = {"Comment": comment, "Changes": changes[start:start + CHANGE_BATCH_LIMIT]}
        info = route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch=batch)["ChangeInfo"]
        waiter.wait(Id=info["Id"])
