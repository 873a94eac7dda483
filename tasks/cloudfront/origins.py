"""A CloudFront distribution's origins: which primary resource each one's domain names, and the distribution's
configuration with its origins switched, staged as origin groups' secondaries, or sent home.

Pure functions over the `DistributionConfig` that GetDistributionConfig answers and UpdateDistribution takes (the
whole document: CloudFront has no partial update), so that they can be tested without AWS. Where a domain names a
resource:

- a load balancer: `<name>-<id>.<region>.elb.amazonaws.com` (an application load balancer; `internal-` first for an
  internal one, `dualstack.` for IPv6) or `<name>-<id>.elb.<region>.amazonaws.com` (a network load balancer)
  (Elastic Load Balancing User Guide, "DNS name");
- a bucket: `<bucket>.s3.<region>.amazonaws.com` (or the legacy `s3-<region>`), `<bucket>.s3.amazonaws.com` (no
  region in it), or a website endpoint `<bucket>.s3-website-<region>.amazonaws.com` / `.s3-website.<region>.`
  (Amazon S3 User Guide, "Website endpoints": the dash form in the oldest regions, the dot form elsewhere);
- an API: `<api id>.execute-api.<region>.amazonaws.com` (API Gateway Developer Guide, "Invoking a REST API");
- any other host in the primary region (`*.<region>.amazonaws.com`): an endpoint another handler may name
  (`Resource.endpoints`), found through the reference translation.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

ELB_RE = re.compile(r"^(?:dualstack\.)?(?:internal-)?(?P<name>[a-z0-9-]+)-[a-z0-9]+\.(?P<region>[a-z0-9-]+)"
                    r"\.elb\.amazonaws\.com$")
NLB_RE = re.compile(r"^(?:dualstack\.)?(?P<name>[a-z0-9-]+)-[a-z0-9]+\.elb\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$")
WEBSITE_RE = re.compile(r"^(?P<name>.+)\.s3-website[.-](?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9])\.amazonaws\.com$")
BUCKET_RE = re.compile(r"^(?P<name>.+)\.s3[.-](?:dualstack\.)?(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9])\.amazonaws\.com$")
GLOBAL_BUCKET_RE = re.compile(r"^(?P<name>.+)\.s3\.amazonaws\.com$")
API_RE = re.compile(r"^(?P<name>[a-z0-9]+)\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$")
# S3 User Guide, "Website endpoints": the regions whose website endpoint is s3-website-<region> (dash); every other
# region's is s3-website.<region> (dot)
WEBSITE_DASH_REGIONS = frozenset({"us-east-1", "us-west-1", "us-west-2", "ap-southeast-1", "ap-southeast-2",
                                  "ap-northeast-1", "eu-west-1", "sa-east-1", "us-gov-west-1"})
GROUP_PREFIX = "drflow-failover-"    # an origin group drflow staged: the origin, then its recovery copy
COPY_PREFIX = "drflow-recovery-"     # the recovery copy of an origin, the group's secondary
FAILOVER_STATUS_CODES = [500, 502, 503, 504]  # what makes CloudFront try the secondary (OriginGroupFailoverCriteria)


@dataclass(frozen=True)
class Target:
    """What an origin's domain names: `kind` load-balancer, bucket, bucket-website, api or endpoint; `name` the load
    balancer's or bucket's name, the API's id, or the host; `region` None for a bucket's global host."""

    kind: str
    name: str
    region: str | None


def target_of(domain: str, region: str) -> Target | None:
    """The primary resource an origin's domain names, when it is one of `region` (or a bucket's global host, which
    names no region); None for anything else (a custom origin outside AWS, another region's resource)."""
    host = domain.lower().rstrip(".")
    for kind, pattern in (("load-balancer", ELB_RE), ("load-balancer", NLB_RE), ("bucket-website", WEBSITE_RE),
                          ("bucket", BUCKET_RE), ("api", API_RE)):
        match = pattern.match(host)
        if match:
            return Target(kind, match["name"], match["region"]) if match["region"] == region else None
    match = GLOBAL_BUCKET_RE.match(host)
    if match:
        return Target("bucket", match["name"], None)
    if host.endswith(".amazonaws.com") and f".{region}." in f".{host}":
        return Target("endpoint", host, region)
    return None


def link_of(target: Target) -> str | None:
    """The core.scope link that brings the origin's resource into scope: only where the domain names it beyond
    doubt (a load balancer, a bucket of the primary region)."""
    if target.kind == "load-balancer":
        return f"elbv2:load-balancer:{target.name}"
    if target.kind in ("bucket", "bucket-website") and target.region:
        return f"s3:{target.name}"
    return None


def ref_of(target: Target) -> str | None:
    """A core.scope ref (ordered before the distribution when protected, never pulled into scope): a bucket's global
    host may name a bucket of another region; an API's service key is its handler's to choose."""
    if target.kind == "bucket" and not target.region:
        return f"s3:{target.name}"
    if target.kind == "api":
        return f"apigateway:{target.name}"
    return None


def bucket_domain(kind: str, bucket: str, region: str) -> str:
    """The regional domain CloudFront should use for a bucket (its website endpoint for a website origin)."""
    if kind == "bucket-website":
        return f"{bucket}.s3-website{'-' if region in WEBSITE_DASH_REGIONS else '.'}{region}.amazonaws.com"
    return f"{bucket}.s3.{region}.amazonaws.com"


def origins(config: dict[str, Any]) -> dict[str, str]:
    """Origin id -> domain, as the configuration has them."""
    return {o["Id"]: o["DomainName"] for o in (config.get("Origins") or {}).get("Items") or []}


def switched(config: dict[str, Any], wanted: dict[str, str]) -> dict[str, Any]:
    """The configuration with each origin in `wanted` (id -> domain) pointed at its new domain."""
    out = copy.deepcopy(config)
    for origin in out["Origins"]["Items"]:
        if origin["Id"] in wanted:
            origin["DomainName"] = wanted[origin["Id"]]
    return out


def _behaviors(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [config["DefaultCacheBehavior"], *((config.get("CacheBehaviors") or {}).get("Items") or [])]


def grouped(config: dict[str, Any]) -> set[str]:
    """The origins already members of an origin group the customer made (drflow leaves those alone)."""
    return {m["OriginId"] for g in (config.get("OriginGroups") or {}).get("Items") or []
            if not g["Id"].startswith(GROUP_PREFIX) for m in g["Members"]["Items"]}


def with_failover_groups(config: dict[str, Any], secondaries: dict[str, str]) -> dict[str, Any]:
    """The configuration with, for each origin in `secondaries` (id -> recovery domain), a copy of it on the recovery
    domain and an origin group of the two (the origin first), which the behaviours that used the origin now use."""
    out = copy.deepcopy(config)
    items = out["Origins"]["Items"]
    by_id = {o["Id"]: o for o in items}
    groups = [g for g in (out.get("OriginGroups") or {}).get("Items") or []]
    group_ids = {g["Id"] for g in groups}
    for origin_id, domain in sorted(secondaries.items()):
        copy_id, group_id = COPY_PREFIX + origin_id, GROUP_PREFIX + origin_id
        if copy_id in by_id:
            by_id[copy_id]["DomainName"] = domain
        else:
            twin = copy.deepcopy(by_id[origin_id])
            twin.update({"Id": copy_id, "DomainName": domain})
            items.append(twin)
            by_id[copy_id] = twin
        if group_id not in group_ids:
            groups.append({"Id": group_id, "FailoverCriteria": {"StatusCodes": {
                "Quantity": len(FAILOVER_STATUS_CODES), "Items": list(FAILOVER_STATUS_CODES)}},
                "Members": {"Quantity": 2, "Items": [{"OriginId": origin_id}, {"OriginId": copy_id}]}})
        for behavior in _behaviors(out):
            if behavior["TargetOriginId"] == origin_id:
                behavior["TargetOriginId"] = group_id
    out["Origins"]["Quantity"] = len(items)
    out["OriginGroups"] = {"Quantity": len(groups), **({"Items": groups} if groups else {})}
    return out


def home(config: dict[str, Any], primaries: dict[str, str]) -> dict[str, Any]:
    """The configuration as the primary had it: each origin in `primaries` (id -> primary domain) on its own domain
    again, and drflow's origin groups and recovery copies gone (their behaviours back on the origin)."""
    out = switched(config, primaries)
    groups = (out.get("OriginGroups") or {}).get("Items") or []
    for behavior in _behaviors(out):
        if behavior["TargetOriginId"].startswith(GROUP_PREFIX):
            behavior["TargetOriginId"] = behavior["TargetOriginId"].removeprefix(GROUP_PREFIX)
    kept = [g for g in groups if not g["Id"].startswith(GROUP_PREFIX)]
    out["OriginGroups"] = {"Quantity": len(kept), **({"Items": kept} if kept else {})}
    out["Origins"]["Items"] = [o for o in out["Origins"]["Items"] if not o["Id"].startswith(COPY_PREFIX)]
    out["Origins"]["Quantity"] = len(out["Origins"]["Items"])
    return out
