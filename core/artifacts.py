"""What a run shows in the Prefect UI besides its report: live progress, and console links to what it recovered.

Artifacts are for people watching a run; none of them may slow or break the recovery itself. So the progress
artifact is written at most once per PROGRESS_INTERVAL_SECONDS (one API call each, from the flow's thread that
only waits for tasks anyway), and an artifact the Prefect API refuses is logged and dropped, never raised.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from core.capabilities import ConsoleLink

if TYPE_CHECKING:
    from core.handler import Registry

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

def console_host(region: str) -> str:
    """The AWS console of a region's partition (GovCloud and China have their own), for handlers' `console_url`."""
    if region.startswith("us-gov-"):
        return "https://console.amazonaws-us-gov.com"
    if region.startswith("cn-"):
        return "https://console.amazonaws.cn"
    return f"https://{region}.console.aws.amazon.com"


def console_links(details: list[dict[str, Any]], region: str, registry: Registry) -> list[dict[str, str]]:
    """The console pages of a report's resources that ended with an id (not failed, not skipped), in its order;
    a resource's page is its handler's (`ConsoleLink`), and a type without one has no page worth opening."""
    links = []
    for row in details:
        if row["outcome"] in ("failed", "skipped") or not row.get("recovered_id"):
            continue
        handler = registry.get(row["key"].split("/", 1)[0])
        if isinstance(handler, ConsoleLink):
            url = handler.console_url(row["recovered_id"], region)
            links.append({"key": row["key"], "name": row["name"], "id": row["recovered_id"], "url": url})
    return links
