"""One run of a plan at a time: a lease object in the plan's vault, taken and renewed with S3 conditional writes.

Two runs of one plan (a retried nightly beside a manual one, a replicate during a failover) would race the same
find-then-create and leave duplicates. Every writing flow of a plan holds `<plan>/lease.json` in the vault for the
whole run: taken with `If-None-Match: *` (only one creator wins), renewed with `If-Match: <its ETag>` (only the
holder can), given back with a conditional delete. A holder that died stops renewing: once `expires_at` has
passed, the next run takes the lease over, again with `If-Match` on the stale ETag, so two runs that both see it
expired cannot both win. A holder killed on this same machine is noticed at once (its process is gone), so a
killed run can be resumed without waiting for the expiry. (S3 user guide: conditional writes and conditional
deletes; a precondition that fails answers 412, a concurrent conditional request may answer 409.)

Why not a Prefect concurrency limit per plan: the CLI runs against Prefect's ephemeral server, one per process,
so a limit there is not seen by a second shell or by a deployment's worker; the vault is what every run of the
plan reaches, from anywhere, through the recovery credentials it needs anyway.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from botocore.exceptions import ClientError

from core.aws import Side, error_code

TTL = timedelta(minutes=5)  # a dead holder blocks the plan at most this long (from another machine)
RENEW_EVERY = 60.0  # seconds: well inside the TTL, so a slow call or two never lets a live lease expire
CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
_HELD: set[tuple[str, str]] = set()  # (bucket, key) of the leases this process holds now
_HELD_LOCK = threading.RLock()  # re-entered: `hold` takes it around `acquire`, which asks `_held_here`


class LeaseHeld(RuntimeError):
    """Another run holds the plan; `holder` is what it wrote (run id, flow, since, host)."""

    def __init__(self, plan_name: str, holder: dict[str, Any]):
        self.holder = holder
        super().__init__(
            f"plan {plan_name} is in use by {holder.get('flow', '?')} run {holder.get('run_id', '?')} "
            f"since {holder.get('since', '?')} (on {holder.get('host', '?')}, process {holder.get('pid', '?')}); "
            f"a run of a plan waits for none other: start this one again once that run has ended. If that run died, "
            f"its lease expires at {holder.get('expires_at', '?')}")


@dataclass
class Holder:
    run_id: str
    flow: str

    def body(self, now: datetime) -> dict[str, Any]:
        return {"run_id": self.run_id, "flow": self.flow, "since": now.isoformat(), "host": socket.gethostname(),
                "pid": os.getpid(), "expires_at": (now + TTL).isoformat()}


class Lease:
    """The plan's lease in its vault bucket; `hold` is the way to use it."""

    def __init__(self, side: Side, bucket: str, plan_name: str):
        self._s3 = side.client("s3")
        self.bucket, self.plan_name = bucket, plan_name
        self.key = f"{plan_name}/lease.json"
        self._etag: str | None = None
        self._body: dict[str, Any] = {}
        self._lock = threading.Lock()

    def acquire(self, holder: Holder) -> None:
        now = datetime.now(timezone.utc)
        body = holder.body(now)
        if self._put(body, IfNoneMatch="*"):
            return
        current, etag = self._read()
        if current is None:  # given back between our put and our read: try once more
            if self._put(body, IfNoneMatch="*"):
                return
            current, etag = self._read()
        if current is not None and etag and not self._held_here() and _abandoned(current, now) and self._put(
                {**body, "took_over_from": current.get("run_id")}, IfMatch=etag):
            return
        raise LeaseHeld(self.plan_name, current or {})

    def _held_here(self) -> bool:
        """Held by another run in this very process (flows run in threads of one process in tests and workers)."""
        with _HELD_LOCK:
            return (self.bucket, self.key) in _HELD

    def renew(self) -> bool:
        """Push the expiry on; False when the lease is no longer ours (taken over after we stalled)."""
        with self._lock:
            if self._etag is None:
                return False
            body = {**self._body, "expires_at": (datetime.now(timezone.utc) + TTL).isoformat()}
            return self._put(body, IfMatch=self._etag)

    def release(self) -> None:
        with self._lock:
            etag, self._etag = self._etag, None
        if etag is None:
            return
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
        except ClientError as exc:
            if error_code(exc) not in (*CONFLICT, "NoSuchKey", "404"):
                raise  # else: no longer ours, nothing to give back

    def _put(self, body: dict[str, Any], **condition: str) -> bool:
        try:
            answer = self._s3.put_object(Bucket=self.bucket, Key=self.key, Body=json.dumps(body).encode(),
                                         ContentType="application/json", **condition)
        except ClientError as exc:
            if error_code(exc) in (*CONFLICT, "NoSuchKey"):
                return False
            raise
        self._etag, self._body = answer["ETag"], body
        return True

    def _read(self) -> tuple[dict[str, Any] | None, str | None]:
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None, None
            raise
        try:
            return json.loads(answer["Body"].read()), answer["ETag"]
        except ValueError:
            return {"run_id": "unreadable lease", "expires_at": "1970-01-01T00:00:00+00:00"}, answer["ETag"]


def _abandoned(holder: dict[str, Any], now: datetime) -> bool:
    """Expired, or held by a process of this machine that is gone (or by this process, which holds it no more)."""
    try:
        if datetime.fromisoformat(holder["expires_at"]) <= now:
            return True
    except (KeyError, TypeError, ValueError):
        return True
    return holder.get("host") == socket.gethostname() and not _alive(holder.get("pid"))


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # cannot tell: wait for the expiry
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def hold(side: Side, bucket: str, plan_name: str, holder: Holder) -> Iterator[Lease]:
    """Hold the plan's lease for the block, renewed in the background, given back on any exit."""
    lease = Lease(side, bucket, plan_name)
    with _HELD_LOCK:  # taken under the process's lock: two threads of one process never both take it over
        lease.acquire(holder)
        _HELD.add((bucket, lease.key))
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(RENEW_EVERY):
            if not lease.renew():
                return

    renewer = threading.Thread(target=renew, name=f"lease-{plan_name}", daemon=True)
    renewer.start()
    try:
        yield lease
    finally:
        stop.set()
        renewer.join(timeout=5)
        with _HELD_LOCK:
            _HELD.discard((bucket, lease.key))
        lease.release()
