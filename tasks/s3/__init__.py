"""S3: replica buckets kept by replication, and backfilled."""

from .buckets import BucketHandler

__all__ = ["BucketHandler"]
