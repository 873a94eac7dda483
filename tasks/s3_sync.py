"""The one-time copy of the objects a bucket held before its replication was configured.

Support for the S3 handler (not a handler itself). Cross-Region Replication copies only what is written
after the configuration exists; what was there before needs a separate copy (S3 Batch Replication on AWS).
This is that copy, done with s3transfer's TransferManager (server-side CopyObject, parallel, multipart
copy for objects too large for CopyObject), and resumable: both buckets are listed and only objects that
are missing from the replica, or differ, are copied, so a run cut short is finished by the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from s3transfer.manager import TransferConfig, TransferManager
from s3transfer.subscribers import BaseSubscriber

from core.aws import Retryable, is_transient

# Parallel copy requests: server-side copies are latency-bound, not bandwidth-bound, on the client.
COPY_CONCURRENCY = 64
# CopyObject copies up to 5 GiB in one call; above 1 GiB a multipart copy in parallel 256 MiB parts is faster.
MULTIPART_THRESHOLD = 1024 ** 3
MULTIPART_CHUNK = 256 * 1024 ** 2
# Archived objects cannot be copied until restored; they are counted and named in a warning, not copied.
ARCHIVED = {"GLACIER", "DEEP_ARCHIVE"}


@dataclass(frozen=True)
class Listed:
    size: int
    etag: str
    modified: datetime
    storage_class: str = "STANDARD"


@dataclass
class SyncResult:
    """What one backfill did: objects copied (and their bytes), already in place, not copyable."""

    listed: int = 0
    copied: int = 0
    bytes: int = 0
    skipped: int = 0
    archived: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        return {"listed": self.listed, "copied": self.copied, "bytes": self.bytes, "skipped": self.skipped,
                "archived": len(self.archived)}


class _Listed(BaseSubscriber):
    """Hands TransferManager the size and ETag the listing already gave, so that it does not HEAD every object
    first (the ETag also guards the parts of a multipart copy against a change of the source mid-copy)."""

    def __init__(self, item: Listed) -> None:
        self._item = item

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self._item.size)
        future.meta.provide_object_etag(self._item.etag)


def list_objects(s3: Any, bucket: str) -> dict[str, Listed]:
    """The current version of every object in the bucket, by key."""
    out: dict[str, Listed] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            out[item["Key"]] = Listed(item["Size"], item.get("ETag", ""), item["LastModified"],
                                      item.get("StorageClass", "STANDARD"))
    return out


def needs_copy(source: Listed, replica: Listed | None) -> bool:
    """Missing from the replica, or different. ETags alone cannot say "different": a copy re-encrypted with
    another KMS key, or copied in parts, has another ETag for the same bytes. So a differing ETag counts only
    when the source object was written after its copy (it changed since)."""
    if replica is None or replica.size != source.size:
        return True
    return replica.etag != source.etag and replica.modified < source.modified


def backfill(source_s3: Any, writer_s3: Any, replica_s3: Any, bucket: str, replica: str,
             concurrency: int = COPY_CONCURRENCY) -> SyncResult:
    """Copy every object of `bucket` that `replica` lacks (or holds in another version), server-side.

    `source_s3` lists the source (its region); `replica_s3` lists the replica; `writer_s3` makes the copies
    (a client in the replica's region with credentials that may read the source). Raises Retryable when
    some copies failed transiently after botocore's retries, so that the task runs again and copies only
    those; a permanent failure (access denied) is raised as it is.
    """
    source = list_objects(source_s3, bucket)
    present = list_objects(replica_s3, replica)
    result = SyncResult(listed=len(source))
    todo: list[tuple[str, Listed]] = []
    for key, item in source.items():
        if not needs_copy(item, present.get(key)):
            result.skipped += 1
        elif item.storage_class in ARCHIVED:
            result.archived.append(key)
        else:
            todo.append((key, item))
    if not todo:
        return result
    config = TransferConfig(max_request_concurrency=concurrency, multipart_threshold=MULTIPART_THRESHOLD,
                            multipart_chunksize=MULTIPART_CHUNK)
    failures: list[tuple[str, BaseException]] = []
    with TransferManager(writer_s3, config) as manager:
        futures = [(key, item.size, manager.copy({"Bucket": bucket, "Key": key}, replica, key,
                                                 subscribers=[_Listed(item)], source_client=source_s3))
                   for key, item in todo]
        for key, size, future in futures:
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 - collected, then raised once for all of them
                failures.append((key, exc))
                continue
            result.copied += 1
            result.bytes += size
    if failures:
        key, exc = next(((k, e) for k, e in failures if not is_transient(e)), failures[0])
        if not is_transient(exc):  # access denied and the like: another attempt would fail the same way
            raise exc
        raise Retryable(f"{len(failures)} of {len(todo)} object copies from {bucket} to {replica} failed "
                        f"(first: {key}: {exc}); {result.copied} copied, a re-run copies only the rest") from exc
    return result
