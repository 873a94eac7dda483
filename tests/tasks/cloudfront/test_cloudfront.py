"""CloudFront distributions, handler-direct on the sandbox: discovery links the origins to the primary's load
balancer and bucket; the traffic phase switches them to the recovered ones only once those are healthy (a cutover
that times out changes nothing), `report` lists the change and writes nothing, a drill and a cross-account plan
never touch the distribution, origin groups are staged nightly, failback sends the origins home; re-runs write
nothing.

The plan's primary is us-east-2 here, so that a dark primary does not darken CloudFront's control plane (signed in
us-east-1, as on AWS): the last test shows what a dark us-east-1 does to a cutover, and why origin groups exist.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, RECOVERY, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.failback import FailbackContext
from core.handler import ApplyContext, Unrecoverable
from core.models import Mode, Outcome, Resource, ResourceResult
from core.netmap import NetworkMapper
from core.report import TRAFFIC_CHANGES
from core.scope import link
from drflow.sandbox.accounts import recovery_role
from drflow.sandbox.faults import Faults
from drflow.sandbox.moto_cloudfront import set_deploy_looks
from tasks.cloudfront import DistributionHandler
from tasks.load_balancers import LoadBalancerHandler

PRIMARY = "us-east-2"
RECOVERED_DNS = "shop-web-1.us-west-2.elb.amazonaws.com"
REPLICA = "shop-assets-replica"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"  # the managed cache policy
LB_KEY = "elbv2:load-balancer/shop-web"


@pytest.fixture
def seeded(sandbox):
    """In the primary: an ALB, and a distribution in front of it and of a bucket (with an origin access control),
    plus a third-party origin; a second distribution fronting only a site outside AWS."""
    ec2 = boto3.client("ec2", region_name=PRIMARY)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{PRIMARY}{z}")["Subnet"]
               ["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    alb = boto3.client("elbv2", region_name=PRIMARY).create_load_balancer(
        Name="shop-web", Subnets=subnets, Scheme="internet-facing", Type="application",
        Tags=[{"Key": "app", "Value": "shop"}])["LoadBalancers"][0]
    cf = boto3.client("cloudfront", region_name=PRIMARY)
    oac = cf.create_origin_access_control(OriginAccessControlConfig={
        "Name": "shop-assets", "SigningProtocol": "sigv4", "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3"})["OriginAccessControl"]["Id"]
    origins = [
        {"Id": "web", "DomainName": alb["DNSName"], "CustomOriginConfig": {
            "HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}},
        {"Id": "assets", "DomainName": f"shop-assets.s3.{PRIMARY}.amazonaws.com",
         "S3OriginConfig": {"OriginAccessIdentity": ""}, "OriginAccessControlId": oac},
        {"Id": "reviews", "DomainName": "reviews.example.net", "CustomOriginConfig": {
            "HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}]
    shop = _distribution(cf, "shop", origins, ["www.shop.example"], {"app": "shop"}, behaviors=[
        {"PathPattern": "/assets/*", "TargetOriginId": "assets", "ViewerProtocolPolicy": "https-only",
         "CachePolicyId": CACHING_OPTIMIZED}])
    _distribution(cf, "blog", [{"Id": "blog", "DomainName": "blog.example.org", "CustomOriginConfig": {
        "HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}], [], {"app": "shop"})
    sandbox.app.clear_log()
    return {"id": shop, "alb_dns": alb["DNSName"], "oac": oac}


def _distribution(cf, name, origins, aliases, tags, behaviors=()):
    config = {"CallerReference": name, "Comment": name, "Enabled": True,
              "Aliases": {"Quantity": len(aliases), "Items": aliases},
              "Origins": {"Quantity": len(origins), "Items": origins},
              "DefaultCacheBehavior": {"TargetOriginId": origins[0]["Id"], "ViewerProtocolPolicy": "https-only",
                                       "CachePolicyId": CACHING_OPTIMIZED}}
    if behaviors:
        config["CacheBehaviors"] = {"Quantity": len(behaviors), "Items": list(behaviors)}
    return cf.create_distribution_with_tags(DistributionConfigWithTags={
        "DistributionConfig": config, "Tags": {"Items": [{"Key": k, "Value": v} for k, v in tags.items()]}})[
        "Distribution"]["Id"]


def _plan(**traffic):
    return make_plan(source={"account_id": ACCOUNT, "region": PRIMARY},
                     traffic={"health_timeout_seconds": 2, "health_poll_seconds": 1, **traffic})


def _discovered(plan) -> Resource:
    found = DistributionHandler().discover(AwsAccess(plan).source, plan)
    assert len(found) == 1, "the blog's distribution fronts nothing of the primary region"
    return found[0]


def _deps(seeded, staged_only=False) -> dict[str, ResourceResult]:
    """What the origins' resources became: the recovered ALB (made at failover only: not there when staging) and the
    bucket's replica (staged nightly)."""
    lb = ResourceResult(key=LB_KEY, type="elbv2:load-balancer", source_id="shop-web", name="shop-web",
                        outcome=Outcome.SKIPPED if staged_only else Outcome.CREATED,
                        recovered_id=None if staged_only else f"arn:aws:elasticloadbalancing:{RECOVERY}:{ACCOUNT}:"
                                                              "loadbalancer/app/shop-web/1",
                        endpoints={} if staged_only else {seeded["alb_dns"]: RECOVERED_DNS},
                        deferred=[seeded["alb_dns"]] if staged_only else [])
    bucket = ResourceResult(key="s3:bucket/shop-assets", type="s3:bucket", source_id="shop-assets",
                            name="shop-assets", outcome=Outcome.UNCHANGED, recovered_id=REPLICA)
    return {r.key: r for r in (lb, bucket)}


def _ctx(plan, resource, deps, mode=Mode.RECOVER, health=None, drill_id=None) -> ApplyContext:
    ctx = ApplyContext(plan=plan, recovery=AwsAccess(plan).recovery, mode=mode, net=NetworkMapper({}, {}, RECOVERY),
                       index=OwnedIndex(), deps={k: deps[k] for k in resource.dependencies}, drill_id=drill_id)
    ctx.health_of = health or (lambda key: None)
    return ctx


def _linked(plan, seeded) -> Resource:
    """The distribution with its links resolved against the primary's load balancer and bucket."""
    lbs = LoadBalancerHandler().discover(AwsAccess(plan).source, plan)
    bucket = Resource(type="s3:bucket", source_id="shop-assets", name="shop-assets")
    return next(r for r in link([*lbs, bucket, _discovered(plan)]) if r.type == "cloudfront:distribution")


def _config(distribution_id):
    answer = boto3.client("cloudfront", region_name=RECOVERY).get_distribution_config(Id=distribution_id)
    return answer["DistributionConfig"], answer["ETag"]


def _origins(distribution_id):
    return {o["Id"]: o for o in _config(distribution_id)[0]["Origins"]["Items"]}


def _updates(sandbox):
    """CloudFront's writes that landed (the sandbox names a REST call by its method and path: PUT for an update)."""
    return [c for c in sandbox.calls if c.service == "cloudfront" and c.write and c.succeeded]


def test_an_account_without_distributions_discovers_none(sandbox):
    plan = _plan()
    assert DistributionHandler().discover(AwsAccess(plan).source, plan) == []


def test_discovery_links_each_origin_to_the_primary_resource_it_names(seeded):
    plan = _plan()
    resource = _linked(plan, seeded)
    assert resource.source_id == seeded["id"] and resource.name == "www.shop.example"
    assert resource.links == ["elbv2:load-balancer:shop-web", "s3:shop-assets"]
    lb = LoadBalancerHandler().discover(AwsAccess(plan).source, plan)[0]
    assert sorted(resource.dependencies) == sorted([lb.key, "s3:bucket/shop-assets"])
    kinds = {o["id"]: o.get("kind") for o in resource.config["origins"]}
    assert kinds == {"web": "load-balancer", "assets": "bucket", "reviews": None}


def _resource(plan, seeded) -> Resource:
    """The discovered distribution, its dependencies as link resolves them (keyed as _deps keys them)."""
    return _discovered(plan).model_copy(update={"dependencies": [LB_KEY, "s3:bucket/shop-assets"]})


def test_a_cutover_switches_the_origins_once_healthy_and_a_rerun_writes_nothing(sandbox, seeded):
    plan = _plan(mode="cutover")
    resource, deps = _resource(plan, seeded), _deps(seeded)
    looked = []
    sandbox.faults = Faults(dark={PRIMARY})  # the primary region dark: the traffic phase needs none of it
    applied = DistributionHandler().apply(resource, _ctx(plan, resource, deps, health=lambda k: looked.append(k)))
    assert applied.changed and applied.recovered_id == seeded["id"] and len(_updates(sandbox)) == 1
    assert sorted(looked) == sorted(resource.dependencies)
    origins = _origins(seeded["id"])
    assert origins["web"]["DomainName"] == RECOVERED_DNS
    assert origins["assets"]["DomainName"] == f"{REPLICA}.s3.{RECOVERY}.amazonaws.com"
    assert origins["assets"]["OriginAccessControlId"] == seeded["oac"]  # the origin access control kept
    assert origins["reviews"]["DomainName"] == "reviews.example.net"  # not a primary resource: as it was
    changes = {c["what"]: c for c in applied.details[TRAFFIC_CHANGES]}
    assert changes["origin web"] == {"where": f"{seeded['id']} (www.shop.example)", "what": "origin web",
                                     "from": seeded["alb_dns"], "to": RECOVERED_DNS, "status": "made"}
    assert boto3.client("cloudfront", region_name=RECOVERY).get_distribution(Id=seeded["id"])[
        "Distribution"]["Status"] == "Deployed"
    back = DistributionHandler().read_back(resource, seeded["id"], _ctx(plan, resource, deps))
    assert not [d for d in back["origins"].values() if PRIMARY in d]  # the audit finds no primary origin left

    sandbox.app.clear_log()
    again = DistributionHandler().apply(resource, _ctx(plan, resource, deps))
    assert not again.changed and _updates(sandbox) == []
    assert {c["status"] for c in again.details[TRAFFIC_CHANGES]} == {"already switched"}


def test_a_cutover_waits_for_unhealthy_origins_then_times_out_with_nothing_changed(sandbox, seeded):
    plan = _plan(mode="cutover")
    resource, deps = _resource(plan, seeded), _deps(seeded)
    before = _config(seeded["id"])
    looks = []

    def unhealthy(key):
        looks.append(key)
        return "target group shop-web: 0 of 2 targets healthy" if key == LB_KEY else None

    with pytest.raises(Unrecoverable, match="not changed.*target group shop-web: 0 of 2 targets healthy"):
        DistributionHandler().apply(resource, _ctx(plan, resource, deps, health=unhealthy))
    assert looks.count(LB_KEY) >= 2  # it waited, looking again, before giving up
    assert _config(seeded["id"]) == before and _updates(sandbox) == []


def test_report_mode_lists_the_change_and_writes_nothing(sandbox, seeded):
    plan = _plan()  # traffic.mode defaults to report
    resource, deps = _resource(plan, seeded), _deps(seeded)
    before = _config(seeded["id"])
    applied = DistributionHandler().apply(resource, _ctx(plan, resource, deps))
    assert _config(seeded["id"]) == before and [c for c in sandbox.calls if c.write] == []
    by_origin = {c["what"]: (c["from"], c["to"], c["status"]) for c in applied.details[TRAFFIC_CHANGES]}
    assert by_origin == {
        "origin web": (seeded["alb_dns"], RECOVERED_DNS, "to apply by hand"),
        "origin assets": (f"shop-assets.s3.{PRIMARY}.amazonaws.com", f"{REPLICA}.s3.{RECOVERY}.amazonaws.com",
                          "to apply by hand")}


def test_the_plan_chooses_the_mode_per_distribution_by_id_or_alias_then_by_record_and_zone():
    traffic = _plan(mode="report", zones={"shop.example": "none"}, records={"api.shop.example": "cutover"},
                    distributions={"E2ABC": "cutover", "WWW.shop.example.": "none"}).traffic
    assert traffic.mode_for_distribution("E2ABC", ["www.shop.example"]) == "cutover"  # by id first
    assert traffic.mode_for_distribution("E9", ["www.shop.example"]) == "none"  # by alias
    assert traffic.mode_for_distribution("E9", ["api.shop.example"]) == "cutover"  # the alias's record set
    assert traffic.mode_for_distribution("E9", ["img.shop.example"]) == "none"  # the zone holding the alias
    assert traffic.mode_for_distribution("E9", []) == "report"
    assert _plan(origin_groups=["www.shop.example"]).traffic.origin_groups_for("E9", ["www.shop.example"])
    assert not _plan(origin_groups=["E1"]).traffic.origin_groups_for("E9", ["www.shop.example"])


def test_a_drill_and_a_cross_account_failover_never_touch_the_distribution(sandbox, seeded):
    resource, deps = _resource(_plan(mode="cutover"), seeded), _deps(seeded)
    before = _config(seeded["id"])
    drill = DistributionHandler().apply(resource, _ctx(_plan(mode="cutover"), resource, deps, mode=Mode.DRILL,
                                                       drill_id="d1"))
    assert drill.skipped and drill.recovered_id is None
    crossed = make_plan(source={"account_id": ACCOUNT, "region": PRIMARY}, traffic={"mode": "cutover"},
                        recovery={"account_id": "222222222222", "region": RECOVERY,
                                  "role_arn": recovery_role("222222222222", [ACCOUNT])})
    cross = DistributionHandler().apply(resource, _ctx(crossed, resource, deps))
    assert "source account" in cross.skipped
    assert {c["status"] for c in cross.details[TRAFFIC_CHANGES]} == {"to change by hand"}
    assert _config(seeded["id"]) == before
    assert [c for c in sandbox.calls if c.write and c.service == "cloudfront"] == []


def test_origin_groups_are_staged_nightly_with_the_replica_as_secondary_then_completed_at_failover(sandbox, seeded):
    plan = _plan(origin_groups=True)
    resource = _resource(plan, seeded)
    staged = DistributionHandler().apply(resource, _ctx(plan, resource, _deps(seeded, staged_only=True),
                                                        mode=Mode.STAGE))
    assert staged.changed
    config = _config(seeded["id"])[0]
    origins = {o["Id"]: o["DomainName"] for o in config["Origins"]["Items"]}
    assert origins["assets"] == f"shop-assets.s3.{PRIMARY}.amazonaws.com"  # the primary still serves first
    assert origins["drflow-recovery-assets"] == f"{REPLICA}.s3.{RECOVERY}.amazonaws.com"
    assert "drflow-recovery-web" not in origins  # the recovered ALB is made at failover only
    group = config["OriginGroups"]["Items"][0]
    assert group["Id"] == "drflow-failover-assets"
    assert [m["OriginId"] for m in group["Members"]["Items"]] == ["assets", "drflow-recovery-assets"]
    assert config["CacheBehaviors"]["Items"][0]["TargetOriginId"] == "drflow-failover-assets"
    statuses = {c["what"]: c["status"] for c in staged.details[TRAFFIC_CHANGES]}
    assert statuses["origin web"].startswith("origin group at failover")

    sandbox.app.clear_log()
    assert not DistributionHandler().apply(resource, _ctx(plan, resource, _deps(seeded, staged_only=True),
                                                          mode=Mode.STAGE)).changed
    assert _updates(sandbox) == []  # the next night writes nothing

    failover = DistributionHandler().apply(resource, _ctx(plan, resource, _deps(seeded)))
    assert failover.changed
    config = _config(seeded["id"])[0]
    assert {o["Id"]: o["DomainName"] for o in config["Origins"]["Items"]}["drflow-recovery-web"] == RECOVERED_DNS
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == "drflow-failover-web"


def test_failback_sends_the_origins_home_and_a_rerun_writes_nothing(sandbox, seeded):
    before = _config(seeded["id"])[0]
    for plan in (_plan(mode="cutover"), _plan(origin_groups=True)):
        resource = _resource(plan, seeded)
        assert DistributionHandler().apply(resource, _ctx(plan, resource, _deps(seeded))).changed
        assert _config(seeded["id"])[0] != before
        context = FailbackContext(aws=AwsAccess(plan), plan=plan, marker={}, home={})
        step = DistributionHandler().fail_back(resource, context)
        assert step.outcome == Outcome.UPDATED and step.recovered_id == seeded["id"]
        assert _config(seeded["id"])[0] == before  # origins, groups and behaviours as the primary had them
        sandbox.app.clear_log()
        assert DistributionHandler().fail_back(resource, context).outcome == Outcome.UNCHANGED
        assert _updates(sandbox) == []


def test_health_is_deployed_and_enabled(sandbox, seeded):
    plan = _plan(mode="cutover")
    resource, deps = _resource(plan, seeded), _deps(seeded)
    ctx = _ctx(plan, resource, deps)
    assert DistributionHandler().health(resource, seeded["id"], ctx) is None
    set_deploy_looks(5)
    try:
        DistributionHandler().apply(resource, _ctx(_plan(mode="cutover", health_timeout_seconds=1), resource, deps))
        assert "InProgress" in DistributionHandler().health(resource, seeded["id"], ctx)
    finally:
        set_deploy_looks(0)


def test_the_sandbox_refuses_a_stale_etag_and_deploys_an_update_as_cloudfront_does(seeded):
    cf = boto3.client("cloudfront", region_name=RECOVERY)
    config, etag = _config(seeded["id"])
    answer = cf.update_distribution(Id=seeded["id"], IfMatch=etag, DistributionConfig=config)
    assert answer["Distribution"]["Status"] == "InProgress" and answer["ETag"] != etag
    with pytest.raises(ClientError) as refused:
        cf.update_distribution(Id=seeded["id"], IfMatch=etag, DistributionConfig=config)
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_with_cloudfronts_control_plane_dark_the_nights_origin_groups_stand_and_a_cutover_cannot(sandbox, seeded):
    """CloudFront's control plane is in us-east-1: dark with it, a cutover's read and write fail, while the origin
    groups staged the night before already hold the replica as the secondary, and the failover goes on, warned."""
    grouped, cutover = _plan(origin_groups=True), _plan(mode="cutover")
    resource = _resource(grouped, seeded)
    DistributionHandler().apply(resource, _ctx(grouped, resource, _deps(seeded, staged_only=True), mode=Mode.STAGE))
    staged = _config(seeded["id"])
    sandbox.faults = Faults(dark={"us-east-1", PRIMARY})
    with pytest.raises(ClientError):
        DistributionHandler().apply(resource, _ctx(cutover, resource, _deps(seeded)))
    applied = DistributionHandler().apply(resource, _ctx(grouped, resource, _deps(seeded)))
    assert applied.warnings and "control plane did not answer" in applied.warnings[0]
    assert {c["what"] for c in applied.details[TRAFFIC_CHANGES]} == {"origin web", "origin assets"}
    sandbox.faults = Faults()
    assert _config(seeded["id"]) == staged  # nothing written in the dark; the staged secondary in place
    assert "drflow-recovery-assets" in _origins(seeded["id"])


def test_preflight_names_a_distribution_the_plan_names_that_is_not_protected(seeded):
    plan = _plan(distributions={seeded["id"]: "cutover", "www.shop.example": "none", "E0TYPO": "cutover"},
                 origin_groups=["shop.example"])
    resource = _resource(plan, seeded)
    problems = DistributionHandler().preflight([resource], _ctx(plan, resource, _deps(seeded)))
    assert [field for field, _ in problems] == ["traffic.distributions.E0TYPO", "traffic.origin_groups.shop.example"]
    assert "www.shop.example" in problems[0][1]


def test_a_change_made_by_someone_else_meanwhile_is_refused_and_nothing_is_written(sandbox, seeded, monkeypatch):
    plan = _plan(mode="cutover")
    resource, deps = _resource(plan, seeded), _deps(seeded)
    handler = DistributionHandler()
    read = handler._read

    def read_then_someone_edits(cf, distribution_id):
        config, etag = read(cf, distribution_id)
        cf.update_distribution(Id=distribution_id, IfMatch=etag, DistributionConfig={**config, "Comment": "by hand"})
        return config, etag

    monkeypatch.setattr(handler, "_read", read_then_someone_edits)
    with pytest.raises(Unrecoverable, match="changed by someone else"):
        handler.apply(resource, _ctx(plan, resource, deps))
    assert _origins(seeded["id"])["web"]["DomainName"] == seeded["alb_dns"]  # the other edit stands, ours not made
    assert _config(seeded["id"])[0]["Comment"] == "by hand"
