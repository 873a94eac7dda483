"""The vault: recovery points as immutable, versioned JSON documents in an S3 bucket on the recovery side.

Layout: `<plan>/recovery-points/<id>.json` (ids sort by time), and `<plan>/failover.json`, the marker a real
failover leaves (which recovery point, when) and that failback requires: a plan that never failed over has
nothing to fail back. A point is written once, with a
conditional put (`If-None-Match: *`), into a versioned bucket, so it cannot be overwritten by
accident; retention deletes whole points (every version) beyond the plan's `keep`.
"""

from __future__ import annotations

import json
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
            self._s3.create_bucket(**kwargs)
            self._s3.put_bucket_tagging(Bucket=self.bucket, Tagging={"TagSet": [VAULT_TAG]})
            writes.append("create_bucket")
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

    def write(self, point: RecoveryPoint) -> str:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=self._key(point.id), Body=point.model_dump_json().encode(),
                                ContentType="application/json", IfNoneMatch="*")
        except ClientError as exc:
            if error_code(exc) == "PreconditionFailed":
                raise VaultError(f"recovery point {point.id} already exists; points are immutable") from exc
            raise
        return f"s3://{self.bucket}/{self._key(point.id)}"

    def ids(self) -> list[str]:
        """Recovery point ids, oldest first."""
        try:
            objects = paginate(self._s3, "list_objects_v2", "Contents", Bucket=self.bucket, Prefix=self.prefix)
        except ClientError as exc:
            if error_code(exc) == "NoSuchBucket":
                return []
            raise
        return sorted(o["Key"][len(self.prefix):-len(".json")] for o in objects if o["Key"].endswith(".json"))

    def load(self, point_id: str = "latest") -> RecoveryPoint:
        """A recovery point by id, or the newest complete one for `latest`."""
        if point_id == "latest":
            for candidate in reversed(self.ids()):
                point = self.load(candidate)
                if point.complete:
                    return point
            raise VaultError(f"no complete recovery point in s3://{self.bucket}/{self.prefix} "
                             "(has the replication flow run?)")
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=self._key(point_id))["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "NoSuchBucket", "404"):
                raise VaultError(f"recovery point {point_id!r} not found in s3://{self.bucket}/{self.prefix}") from exc
            raise
        return RecoveryPoint.model_validate_json(body)

    def prune(self, keep: int) -> list[str]:
        """Delete every version of the points beyond the newest `keep`; returns the pruned ids."""
        doomed = self.ids()[:-keep] if keep > 0 else []
        for point_id in doomed:
            key = self._key(point_id)
            versions = paginate(self._s3, "list_object_versions", "Versions", Bucket=self.bucket, Prefix=key)
            markers = paginate(self._s3, "list_object_versions", "DeleteMarkers", Bucket=self.bucket, Prefix=key)
            objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions + markers if v["Key"] == key]
            for start in range(0, len(objects), 1000):
                self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects[start:start + 1000],
                                                                    "Quiet": True})
        return doomed

    def summaries(self) -> list[dict[str, Any]]:
        """One line per point for listings: id, time, resource count, completeness."""
        rows = []
        for point_id in reversed(self.ids()):
            point = self.load(point_id)
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
