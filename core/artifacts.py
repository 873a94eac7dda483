"""What a run shows in the Prefect UI besides its report: live progress, and console links to what it recovered.

Artifacts are for people watching a run; none of them may slow or break the recovery itself. So the progress
artifact is written at most once per PROGRESS_INTERVAL_SECONDS (one API call each, from the flow's thread that
only waits for tasks anyway), and an artifact the Prefect API refuses is logged and dropped, never raised.
"""

from __future__ import annotations

import re
import time
from typing import Any
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

# One update per second is what a person watching the page can read; at ~100 resources/s (make bench) that is
# one API call per ~100 tasks, instead of one per task.
PROGRESS_INTERVAL_SECONDS = 1.0


def artifact_key(*parts: str) -> str:
    """An artifact key from its parts: Prefect keys allow only lowercase letters, digits and dashes."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", "-".join(parts).lower())).strip("-")


class Progress:
    """A Prefect progress artifact (percentage of resources done) for one engine run, updated as tasks finish."""

    def __init__(self, key: str, total: int, done: int = 0, interval: float = PROGRESS_INTERVAL_SECONDS):
        self.key, self.total, self.done, self.interval = key, total, done, interval
        self.failed = 0
        self._id: UUID | None = None
        self._shown = -1.0
        self._last = 0.0
        self._call(lambda: setattr(self, "_id", create_progress_artifact(
            progress=self.percent, key=key, description=self._description())))
        self._shown, self._last = self.percent, time.monotonic()

    @property
    def percent(self) -> float:
        return round(100.0 * self.done / self.total, 1) if self.total else 100.0

    def _description(self) -> str:
        return f"{self.done} of {self.total} resources done" + (f", {self.failed} failed" if self.failed else "")

    def advance(self, failed: bool = False) -> None:
        """One more resource done; the artifact follows at most every `interval` seconds."""
        self.done += 1
        self.failed += failed
        if time.monotonic() - self._last >= self.interval:
            self._update()

    def finish(self) -> None:
        """Every resource done: the artifact says 100 (unless it already does)."""
        self.done = self.total
        if self._shown != self.percent:
            self._update()

    def _update(self) -> None:
        if self._id is None:
            return
        self._call(lambda: update_progress_artifact(artifact_id=self._id, progress=self.percent,
                                                    description=self._description()))
        self._shown, self._last = self.percent, time.monotonic()

    def _call(self, write: Any) -> None:
        try:
            write()
        except Exception as exc:  # noqa: BLE001 - progress is for the watcher; the recovery goes on without it
            get_run_logger().warning("progress artifact %s not written (%s: %s)", self.key, type(exc).__name__, exc)
            self._id = None


# --- AWS console pages of recovered resources --------------------------------------------------------------

def _console_host(region: str) -> str:
    if region.startswith("us-gov-"):
        return "https://console.amazonaws-us-gov.com"
    if region.startswith("cn-"):
        return "https://console.amazonaws.cn"
    return f"https://{region}.console.aws.amazon.com"


def _load_balancer(arn: str, region: str) -> str:
    return f"{_console_host(region)}/ec2/home?region={region}#LoadBalancer:loadBalancerArn={arn}"


# type -> the console page of one recovered resource (its recovered id), in `region`
_PAGES: dict[str, Any] = {
    "ec2:instance": lambda i, r: f"{_console_host(r)}/ec2/home?region={r}#InstanceDetails:instanceId={i}",
    "ec2:vpc": lambda i, r: f"{_console_host(r)}/vpcconsole/home?region={r}#VpcDetails:VpcId={i}",
    "elbv2:load-balancer": _load_balancer,
    "rds:db-instance": lambda i, r: f"{_console_host(r)}/rds/home?region={r}#database:id={i};is-cluster=false",
    "rds:db-cluster": lambda i, r: f"{_console_host(r)}/rds/home?region={r}#database:id={i};is-cluster=true",
    "s3:bucket": lambda i, r: (f"{_console_host(r)}/s3/buckets/{i}?region={r}" if r.startswith(("us-gov-", "cn-"))
                               else f"https://s3.console.aws.amazon.com/s3/buckets/{i}?region={r}"),
    "efs:file-system": lambda i, r: f"{_console_host(r)}/efs/home?region={r}#/file-systems/{i}",
}


def console_url(type_: str, recovered_id: str, region: str) -> str | None:
    """The AWS console page of a recovered resource, or None for a type without a page worth opening."""
    page = _PAGES.get(type_)
    return page(recovered_id, region) if page else None


def console_links(details: list[dict[str, Any]], region: str) -> list[dict[str, str]]:
    """The console pages of a report's resources that ended with an id (not failed, not skipped), in its order."""
    links = []
    for row in details:
        if row["outcome"] in ("failed", "skipped") or not row.get("recovered_id"):
            continue
        url = console_url(row["key"].split("/", 1)[0], row["recovered_id"], region)
        if url:
            links.append({"key": row["key"], "name": row["name"], "id": row["recovered_id"], "url": url})
    return links
