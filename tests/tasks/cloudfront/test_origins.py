"""Which primary resource an origin's domain names (pure: no sandbox), and the configuration edits round-trip."""

from __future__ import annotations

import pytest

from tasks.cloudfront.origins import (Target, bucket_domain, home, link_of, ref_of, switched, target_of,
                                      with_failover_groups)


@pytest.mark.parametrize("domain, target", [
    ("shop-web-1234567890.us-east-1.elb.amazonaws.com", Target("load-balancer", "shop-web", "us-east-1")),
    ("internal-shop-api-42.us-east-1.elb.amazonaws.com", Target("load-balancer", "shop-api", "us-east-1")),
    ("dualstack.shop-web-1.us-east-1.elb.amazonaws.com", Target("load-balancer", "shop-web", "us-east-1")),
    ("shop-nlb-0123abcd.elb.us-east-1.amazonaws.com", Target("load-balancer", "shop-nlb", "us-east-1")),
    ("shop-assets.s3.us-east-1.amazonaws.com", Target("bucket", "shop-assets", "us-east-1")),
    ("shop.assets.s3-us-east-1.amazonaws.com", Target("bucket", "shop.assets", "us-east-1")),
    ("shop-assets.s3.amazonaws.com", Target("bucket", "shop-assets", None)),
    ("shop-site.s3-website-us-east-1.amazonaws.com", Target("bucket-website", "shop-site", "us-east-1")),
    ("abc123defg.execute-api.us-east-1.amazonaws.com", Target("api", "abc123defg", "us-east-1")),
    ("shop-db.abc.us-east-1.rds.amazonaws.com", Target("endpoint", "shop-db.abc.us-east-1.rds.amazonaws.com",
                                                       "us-east-1")),
    ("shop-web-1.eu-west-1.elb.amazonaws.com", None),  # another region's: not the primary's
    ("reviews.example.net", None),
])
def test_an_origin_names_the_primary_resource_its_domain_holds(domain, target):
    assert target_of(domain, "us-east-1") == target


def test_links_only_where_the_domain_names_the_resource_beyond_doubt():
    assert link_of(Target("load-balancer", "shop-web", "us-east-1")) == "elbv2:load-balancer:shop-web"
    assert link_of(Target("bucket", "shop-assets", "us-east-1")) == "s3:shop-assets"
    assert link_of(Target("bucket", "shop-assets", None)) is None  # the global host: maybe another region's bucket
    assert ref_of(Target("bucket", "shop-assets", None)) == "s3:shop-assets"
    assert ref_of(Target("api", "abc123", "us-east-1")) == "apigateway:abc123"


def test_a_website_bucket_gets_its_regions_form_of_the_website_endpoint():
    assert bucket_domain("bucket-website", "r", "us-west-2") == "r.s3-website-us-west-2.amazonaws.com"
    assert bucket_domain("bucket-website", "r", "eu-central-1") == "r.s3-website.eu-central-1.amazonaws.com"
    assert bucket_domain("bucket", "r", "eu-central-1") == "r.s3.eu-central-1.amazonaws.com"


def test_groups_and_switches_come_home_as_the_primary_had_them():
    config = {"Origins": {"Quantity": 2, "Items": [{"Id": "web", "DomainName": "a.us-east-1.elb.amazonaws.com"},
                                                   {"Id": "x", "DomainName": "x.example"}]},
              "OriginGroups": {"Quantity": 1, "Items": [{"Id": "theirs", "Members": {"Quantity": 2, "Items": [
                  {"OriginId": "x"}, {"OriginId": "web"}]}}]},
              "DefaultCacheBehavior": {"TargetOriginId": "web"}, "CacheBehaviors": {"Quantity": 0}}
    primaries = {"web": "a.us-east-1.elb.amazonaws.com"}
    grouped = with_failover_groups(config, {"web": "b.us-west-2.elb.amazonaws.com"})
    assert grouped["DefaultCacheBehavior"]["TargetOriginId"] == "drflow-failover-web"
    assert grouped["OriginGroups"]["Quantity"] == 2 and grouped["Origins"]["Quantity"] == 3
    assert with_failover_groups(grouped, {"web": "b.us-west-2.elb.amazonaws.com"}) == grouped  # idempotent
    assert home(grouped, primaries) == config
    assert home(switched(config, {"web": "b.us-west-2.elb.amazonaws.com"}), primaries) == config
