"""make bench: copy BENCH_OBJECTS (default 10,000) small objects across regions, drflow's sync vs a plain loop.

Both run in the same run against the same sandbox bucket: drflow's one-time copy (tasks/s3/sync.py: list
both sides, parallel server-side copies through s3transfer) and a plain sequential `copy_object` loop over a
listing. Printed per method: seconds, objects/s, API calls (reads/writes); then the speed ratio, and a second
sync of the same buckets, which must copy nothing (listings only).

The sandbox runs in a child process (in this one it would share the benchmark's GIL, and the figure would
measure only this machine's CPU), and answers every request after BENCH_S3_LATENCY_MS (default 10 ms), a
model of S3's round trip: a server-side copy costs the client a round trip, not bandwidth. moto itself
spends a few ms of CPU per copy in its single process, which caps the parallel rate; S3 has no such cap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

import boto3

from core.aws import CallStats, Side
from drflow.sandbox.seed_s3 import seed_s3
from tasks.s3.sync import backfill, list_objects

SOURCE, RECOVERY = "us-east-1", "us-west-2"
BUCKET = "bench-assets"


def _bucket(s3: Any, name: str) -> None:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": RECOVERY})


def _sync(replica: str) -> dict[str, Any]:
    stats = CallStats()
    source, recovery = Side(boto3.Session(), SOURCE, stats), Side(boto3.Session(), RECOVERY, stats)
    started = time.monotonic()
    result = backfill(source.client("s3"), source.client("s3", RECOVERY), recovery.client("s3"), BUCKET, replica)
    return {"seconds": time.monotonic() - started, "copied": result.copied, "calls": stats.summary()}


def _loop(replica: str) -> dict[str, Any]:
    stats = CallStats()
    source, recovery = Side(boto3.Session(), SOURCE, stats), Side(boto3.Session(), RECOVERY, stats)
    started = time.monotonic()
    s3 = recovery.client("s3")
    keys = list(list_objects(source.client("s3"), BUCKET))
    for key in keys:
        s3.copy_object(Bucket=replica, Key=key, CopySource={"Bucket": BUCKET, "Key": key})
    return {"seconds": time.monotonic() - started, "copied": len(keys), "calls": stats.summary()}


def _row(method: str, run: dict[str, Any]) -> dict[str, Any]:
    return {"method": method, "objects": run["copied"], "seconds": round(run["seconds"], 2),
            "objects_per_s": round(run["copied"] / run["seconds"], 1) if run["seconds"] else 0.0,
            "api_calls": run["calls"]["read"] + run["calls"]["write"], "reads": run["calls"]["read"],
            "writes": run["calls"]["write"], "retried": run["calls"]["retried"]}


def serve(latency_ms: float) -> None:
    """The child process: the sandbox, each request answered after `latency_ms`; prints its URL, runs until
    its stdin closes (the parent went away)."""
    from drflow.sandbox.server import Sandbox

    sandbox = Sandbox(port=0)
    inner: Callable = sandbox.app.inner

    def slow(environ: dict[str, Any], start_response: Callable) -> Any:
        if environ.get("HTTP_X_BENCH_SEEDING") is None:
            time.sleep(latency_ms / 1000)
        return inner(environ, start_response)

    sandbox.app.inner = slow
    sandbox.start()
    print(sandbox.url, flush=True)
    sys.stdin.read()
    sandbox.stop()


def _start_child(latency_ms: float) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-m", "benchmarks.s3_sync", "serve", str(latency_ms)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = child.stdout.readline().strip() if child.stdout else ""
    if not url.startswith("http"):
        child.kill()
        raise SystemExit("the sandbox child process did not start")
    from drflow.sandbox.server import SECRET, access_key_for

    os.environ.update({"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": access_key_for("111111111111"),
                       "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": SOURCE})
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(key, None)
    return child


def _seeding_session() -> boto3.Session:
    """Seeding is set-up, not measured: its requests skip the modelled latency."""
    session = boto3.Session()
    session.events.register("before-send.s3.*",
                            lambda request, **kw: request.headers.__setitem__("x-bench-seeding", "1"))
    return session


def main() -> None:
    count = int(os.environ.get("BENCH_OBJECTS", "10000"))
    latency = float(os.environ.get("BENCH_S3_LATENCY_MS", "10"))
    child = _start_child(latency)
    try:
        t0 = time.monotonic()
        seeded = seed_s3(_seeding_session(), SOURCE, objects=count, bucket=BUCKET)
        seconds = time.monotonic() - t0
        recovery = boto3.client("s3", region_name=RECOVERY)
        for name in (f"{BUCKET}-sync", f"{BUCKET}-loop"):
            _bucket(recovery, name)
        rows = [_row("drflow sync (s3transfer)", _sync(f"{BUCKET}-sync")),
                _row("sequential copy_object", _loop(f"{BUCKET}-loop")),
                _row("drflow sync, again", _sync(f"{BUCKET}-sync"))]
        in_replicas = [len(list_objects(recovery, f"{BUCKET}-{m}")) for m in ("sync", "loop")]
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)
    print(f"{count} objects, {seeded['bytes']} bytes (seeded in {seconds:.1f} s); {SOURCE} -> {RECOVERY}; "
          f"sandbox latency {latency:g} ms per request")
    header = list(rows[0])
    print(" | ".join(f"{h:>24}" for h in header))
    for row in rows:
        print(" | ".join(f"{str(row[h]):>24}" for h in header))
    sync, loop, again = rows
    ratio = round(sync["objects_per_s"] / loop["objects_per_s"], 2) if loop["objects_per_s"] else 0.0
    print(f"sync / sequential loop: {ratio}x objects/s; second sync copied {again['objects']} objects with "
          f"{again['api_calls']} calls (listings only)")
    print(json.dumps({"bench": "s3_sync", "objects": count, "latency_ms": latency, "speedup": ratio, "runs": rows}))
    misses = []
    if in_replicas != [count, count]:
        misses.append(f"objects in the replicas {in_replicas}, expected {count} each")
    if again["objects"] or again["writes"]:
        misses.append(f"second sync copied {again['objects']} objects, wrote {again['writes']} times (target 0)")
    if misses:
        raise SystemExit("benchmark targets missed: " + "; ".join(misses))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(float(sys.argv[2]))
    else:
        main()
