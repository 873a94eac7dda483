"""The vault: recovery points as immutable, versioned JSON documents in an S3 bucket on the recovery side.

Layout: `<plan>/recovery-points/<id>.json` (ids sort by time); `<plan>/complete/<id>.json`, written once the
point's staging finished with nothing failed (a point is written before its staging, so that a run killed
mid-way leaves a point without this marker: incomplete, never `latest`); and `<plan>/failover.json`, the marker a
real failover leaves (which recovery point, when) and that failback requires: a plan that never failed over has
nothing to fail back. Points and completion markers are written once, with a conditional put
(`If-None-Match: *`), into a versioned bucket, so they cannot be overwritten by accident; retention keeps the
newest `keep` complete points (and incomplete ones newer than the oldest of them) and deletes the rest, every
version. A point written before completion markers existed says `complete: true` in itself, and stays complete.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from core.aws import Side, error_code, paginate
from core.models import RecoveryPoint

VAULT_TAG = {"Key": "drflow:vault", "Value": "true"}


class VaultError(RuntimeError):
    pass


class Vault:
    def __init__(self, side: Side, bucket: str, plan_name: str):
        self._s3 = side.client("s3")
        self._region = side.region
        self.bucket = bucket
        self.prefix = f"{plan_name}/recovery-points/"
        self.complete_prefix = f"{plan_name}/complete/"
        self.failover_key = f"{plan_name}/failover.json"

    def ensure(self) -> list[str]:
        """Create the bucket if missing; make sure it is versioned, encrypted and private. Returns writes made."""
        writes: list[str] = []
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise VaultError(f"vault bucket {self.bucket}: {exc}") from exc
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if self._region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
            try:
                self._s3.create_bucket(**kwargs)
                writes.append("create_bucket")
            except ClientError as exc:
                # another run made it between our look and our create (two runs of a plan start together: the
                # lease that keeps them apart lives in this bucket): it is ours all the same
                if error_code(exc) != "BucketAlreadyOwnedByYou":
                    raise
        try:
            tags = self._s3.get_bucket_tagging(Bucket=self.bucket)["TagSet"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchTagSet":
                raise
            tags = []
        if VAULT_TAG not in tags:  # also a vault a killed run made and never tagged
            self._s3.put_bucket_tagging(Bucket=self.bucket, Tagging={"TagSet": tags + [VAULT_TAG]})
            writes.append("put_bucket_tagging")
        if self._s3.get_bucket_versioning(Bucket=self.bucket).get("Status") != "Enabled":
            self._s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
            writes.append("put_bucket_versioning")
        block = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                 "RestrictPublicBuckets": True}
        try:
            current = self._s3.get_public_access_block(Bucket=self.bucket)["PublicAccessBlockConfiguration"]
        except ClientError:
            current = {}
        if current != block:
            self._s3.put_public_access_block(Bucket=self.bucket, PublicAccessBlockConfiguration=block)
            writes.append("put_public_access_block")
        try:
            self._s3.get_bucket_encryption(Bucket=self.bucket)
        except ClientError:
            self._s3.put_bucket_encryption(Bucket=self.bucket, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                           "BucketKeyEnabled": True}]})
            writes.append("put_bucket_encryption")
        return writes

    def _key(self, point_id: str) -> str:
        return f"{self.prefix}{point_id}.json"

    def _complete_key(self, point_id: str) -> str:
        return f"{self.complete_prefix}{point_id}.json"

    def write(self, point: RecoveryPoint) -> str:
        """Store a point (normally `complete=False`: `mark_complete` says when its staging finished)."""
        self._put_once(self._key(point.id), point.model_dump_json().encode(),
                       f"recovery point {point.id} already exists; points are immutable")
        return f"s3://{self.bucket}/{self._key(point.id)}"

    def mark_complete(self, point_id: str) -> str:
        """Record that everything the point names was staged and copied; written once, as the point itself."""
        body = json.dumps({"recovery_point": point_id, "completed_at": datetime.now(timezone.utc).isoformat()})
        try:
            self._put_once(self._complete_key(point_id), body.encode(), "")
        except VaultError:
            pass  # marked already (a retried run): complete it is
        return f"s3://{self.bucket}/{self._complete_key(point_id)}"

    def _put_once(self, key: str, body: bytes, exists: str) -> None:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json",
                                IfNoneMatch="*")
        except ClientError as exc:
            if error_code(exc) == "PreconditionFailed":
                raise VaultError(exists) from exc
            raise

    def _listed(self, prefix: str) -> list[str]:
        try:
            objects = paginate(self._s3, "list_objects_v2", "Contents", Bucket=self.bucket, Prefix=prefix)
        except ClientError as exc:
            if error_code(exc) == "NoSuchBucket":
                return []
            raise
        return sorted(o["Key"][len(prefix):-len(".json")] for o in objects if o["Key"].endswith(".json"))

    def ids(self) -> list[str]:
        """Recovery point ids, oldest first, complete or not."""
        return self._listed(self.prefix)

    def completed(self) -> set[str]:
        """Ids of the points marked complete (points older than the markers say so in themselves: `load`)."""
        return set(self._listed(self.complete_prefix))

    def load(self, point_id: str = "latest") -> RecoveryPoint:
        """A recovery point by id (its `complete` as the vault knows it), or the newest complete one for `latest`."""
        if point_id == "latest":
            completed = self.completed()
            for candidate in reversed(self.ids()):
                point = self._read(candidate, completed)
                if point.complete:
                    return point
            raise VaultError(f"no complete recovery point in s3://{self.bucket}/{self.prefix} "
                             "(has the replication flow run and finished?)")
        return self._read(point_id)

    def _read(self, point_id: str, completed: set[str] | None = None) -> RecoveryPoint:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=self._key(point_id))["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "NoSuchBucket", "404"):
                raise VaultError(f"recovery point {point_id!r} not found in s3://{self.bucket}/{self.prefix}") from exc
            raise
        point = RecoveryPoint.model_validate_json(body)
        if not point.complete:
            point.complete = point_id in (self.completed() if completed is None else completed)
        return point

    def _doomed(self, keep: int) -> list[str]:
        """The points retention deletes: those older than the oldest of the newest `keep` complete points. With
        no complete point at all, nothing (the incomplete ones are what there is to look at)."""
        if keep <= 0:
            return []
        ids, completed = self.ids(), self.completed()
        complete = [i for i in ids if i in completed or self._read(i, completed).complete]
        if len(complete) <= keep:
            return []
        oldest_kept = complete[-keep]
        return [i for i in ids if i < oldest_kept]

    def retained(self, keep: int) -> list[str]:
        """The ids retention keeps (what a handler's own vault objects must be kept for), oldest first."""
        doomed = set(self._doomed(keep))
        return [i for i in self.ids() if i not in doomed]

    def prune(self, keep: int) -> list[str]:
        """Delete every version of the points retention does not keep (and of their markers); returns their ids."""
        doomed = self._doomed(keep)
        for point_id in doomed:
            for key in (self._key(point_id), self._complete_key(point_id)):
                versions = paginate(self._s3, "list_object_versions", "Versions", Bucket=self.bucket, Prefix=key)
                markers = paginate(self._s3, "list_object_versions", "DeleteMarkers", Bucket=self.bucket, Prefix=key)
                objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions + markers
                           if v["Key"] == key]
                for start in range(0, len(objects), 1000):
                    self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects[start:start + 1000],
                                                                        "Quiet": True})
        return doomed

    def summaries(self) -> list[dict[str, Any]]:
        """One line per point for listings: id, time, resource count, completeness."""
        rows, completed = [], self.completed()
        for point_id in reversed(self.ids()):
            point = self._read(point_id, completed)
            rows.append({"id": point.id, "created_at": point.created_at.isoformat(), "complete": point.complete,
                         "resources": len(point.resources), "source": f"{point.source.account_id}/{point.source.region}"})
        return rows

    # -- the failover marker: written by a real failover, read by failback --------------------------------

    def record_failover(self, marker: dict[str, Any]) -> str:
        """Overwritten by each real failover (the bucket is versioned, so earlier ones stay as versions)."""
        self._s3.put_object(Bucket=self.bucket, Key=self.failover_key, Body=json.dumps(marker).encode(),
                            ContentType="application/json")
        return f"s3://{self.bucket}/{self.failover_key}"

    def last_failover(self) -> dict[str, Any] | None:
        """The marker of the latest real failover, or None when the plan never failed over."""
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=self.failover_key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "NoSuchBucket", "404"):
                return None
            raise
        return json.loads(body)
