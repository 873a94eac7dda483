"""The one-time copy of the objects a bucket held before its replication was configured.

Support for the S3 handler (not a handler itself). Cross-Region Replication copies only what is written
after the configuration exists; what was there before needs a separate copy (S3 Batch Replication on AWS).
This is that copy, done with s3transfer's TransferManager (server-side CopyObject, parallel, multipart
copy for objects too large for CopyObject), and resumable: both buckets are listed and only objects that
are missing from the replica, or differ, are copied, so a run cut short is finished by the next one.
Both listings are walked together in key order, never held whole in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator

from s3transfer.manager import TransferConfig, TransferManager
from s3transfer.subscribers import BaseSubscriber

from core.aws import Retryable, is_transient

# Parallel copy requests: server-side copies are latency-bound, not bandwidth-bound, on the client.
COPY_CONCURRENCY = 64
# CopyObject copies up to 5 GiB in one call; above 1 GiB a multipart copy in parallel 256 MiB parts is faster.
MULTIPART_THRESHOLD = 1024 ** 3
MULTIPART_CHUNK = 256 * 1024 ** 2
# Copies in flight at once: the futures of one batch are settled before the next is listed, which bounds
# memory on a bucket of millions of objects and costs little (the pool stays busy for most of a batch).
BATCH = 2000
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
    archived: int = 0
    archived_keys: list[str] = field(default_factory=list)  # the first few, for the warning

    def details(self) -> dict[str, Any]:
        return {"listed": self.listed, "copied": self.copied, "bytes": self.bytes, "skipped": self.skipped,
                "archived": self.archived}


class _Listed(BaseSubscriber):
    """Hands TransferManager the size and ETag the listing already gave, so that it does not HEAD every object
    first (the ETag also guards the parts of a multipart copy against a change of the source mid-copy)."""

    def __init__(self, item: Listed) -> None:
        self._item = item

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self._item.size)
        future.meta.provide_object_etag(self._item.etag)


def iter_objects(s3: Any, bucket: str) -> Iterator[tuple[str, Listed]]:
    """The current version of every object in the bucket, in key order (S3 lists a general purpose bucket in
    UTF-8 binary order, which is Python's order of str)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            yield item["Key"], Listed(item["Size"], item.get("ETag", ""), item["LastModified"],
                                      item.get("StorageClass", "STANDARD"))


def list_objects(s3: Any, bucket: str) -> dict[str, Listed]:
    return dict(iter_objects(s3, bucket))


def pairs(source: Iterator[tuple[str, Listed]],
          replica: Iterator[tuple[str, Listed]]) -> Iterator[tuple[str, Listed, Listed | None]]:
    """Each source object with its copy in the replica (None: missing), by walking both sorted listings
    together, so that memory stays at a page per side however many objects the bucket holds."""
    other = next(replica, None)
    for key, item in source:
        while other is not None and other[0] < key:
            other = next(replica, None)
        yield key, item, (other[1] if other is not None and other[0] == key else None)


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
    result = SyncResult()
    config = TransferConfig(max_request_concurrency=concurrency, multipart_threshold=MULTIPART_THRESHOLD,
                            multipart_chunksize=MULTIPART_CHUNK)
    failures: list[tuple[str, BaseException]] = []
    batch: list[tuple[str, int, Any]] = []
    with TransferManager(writer_s3, config) as manager:
        for key, item, copy in pairs(iter_objects(source_s3, bucket), iter_objects(replica_s3, replica)):
            result.listed += 1
            if not needs_copy(item, copy):
                result.skipped += 1
            elif item.storage_class in ARCHIVED:
                result.archived += 1
                if len(result.archived_keys) < 3:
                    result.archived_keys.append(key)
            else:
                batch.append((key, item.size, manager.copy({"Bucket": bucket, "Key": key}, replica, key,
                                                           subscribers=[_Listed(item)], source_client=source_s3)))
                if len(batch) >= BATCH:
                    _settle(batch, result, failures)
                    batch = []
        _settle(batch, result, failures)
    if failures:
        key, exc = next(((k, e) for k, e in failures if not is_transient(e)), failures[0])
        if not is_transient(exc):  # access denied and the like: another attempt would fail the same way
            raise exc
        raise Retryable(f"{len(failures)} of {result.copied + len(failures)} object copies from {bucket} to "
                        f"{replica} failed (first: {key}: {exc}); {result.copied} copied, a re-run copies only "
                        "the rest") from exc
    return result


def _settle(batch: list[tuple[str, int, Any]], result: SyncResult, failures: list[tuple[str, BaseException]]) -> None:
    """Wait for a batch of copies; count what was copied, collect what failed."""
    for key, size, future in batch:
        try:
            future.result()
        except Exception as exc:  # noqa: BLE001 - collected, then raised once for all of them
            failures.append((key, exc))
            continue
        result.copied += 1
        result.bytes += size
