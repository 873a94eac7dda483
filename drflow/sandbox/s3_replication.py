"""Test double: moto's GetBucketReplication answers with what PutBucketReplication stored.

moto 5.2.5 stores the whole replication configuration but its GET answer is a fixed subset: every rule
comes back with `DeleteMarkerReplication: Disabled` and `Filter: {Prefix: ""}`, and without its
`SourceSelectionCriteria`. drflow compares the configuration before writing it (an unchanged setting costs
a read, not a write), so that answer would make every nightly run rewrite it, and tests could not check
what was written. `install()` (the Sandbox calls it) makes the answer faithful.
moto copies no objects for a replication configuration either way (CRR is not simulated).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.s3.exceptions import ReplicationConfigurationNotFoundError
from moto.s3.responses import S3Response


def _rule(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored rule (parsed from the PUT's XML, so every value is a string or None) as GET returns it."""
    rule = {k: v for k, v in stored.items() if v is not None}
    rule["Priority"] = int(rule.get("Priority") or 0)
    rule["Filter"] = {k: v or "" for k, v in (stored.get("Filter") or {"Prefix": ""}).items()}
    rule.setdefault("DeleteMarkerReplication", {"Status": "Disabled"})
    return rule


def get_bucket_replication(self: S3Response) -> Any:
    self.data["Action"] = "GetBucketReplication"
    replication = self.backend.get_bucket_replication(self.bucket_name)
    if not replication:
        raise ReplicationConfigurationNotFoundError(bucket_name=self.bucket_name)
    rules = [_rule(r) for r in replication["Rule"]]
    return self.serialized(ActionResult({"ReplicationConfiguration": {"Role": replication["Role"], "Rules": rules}}))


def install() -> None:
    S3Response.get_bucket_replication = get_bucket_replication
