"""The sample workload's bucket: `shop-assets-<account>` in the primary region, tagged app=shop, with objects."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

APP_TAGS = {"app": "shop"}


def seed_s3(session: boto3.Session, region: str = "us-east-1", objects: int = 50,
            bucket: str | None = None) -> dict[str, Any]:
    """Create the bucket (private) and `objects` small objects under a few prefixes.

    Returns {"bucket", "keys", "bytes"} for tests and the demo's report."""
    s3 = session.client("s3", region_name=region, config=Config(max_pool_connections=16))
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    name = bucket or f"shop-assets-{account}"
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in APP_TAGS.items()]})
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    prefixes = ("images", "css", "docs")
    keys = [f"{prefixes[i % len(prefixes)]}/asset-{i:05d}.txt" for i in range(objects)]

    def put(key: str) -> int:
        body = f"{key}: sample asset of the shop\n".encode() * (1 + len(key) % 3)
        s3.put_object(Bucket=name, Key=key, Body=body)
        return len(body)

    # seeding only: thousands of tiny puts are latency-bound, a small pool keeps test set-up short
    with ThreadPoolExecutor(max_workers=16) as pool:
        sizes = list(pool.map(put, keys))
    return {"bucket": name, "keys": keys, "bytes": sum(sizes)}
