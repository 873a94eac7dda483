"""Progress of a run for whoever started the flow in this process: the CLI's terminal display (drflow/progress.py).

The Prefect progress artifact (core/artifacts.py) is for people watching the UI; a terminal user of `drflow
replicate` needs the same facts without an API round trip, and without reading one log line per task. So the
engine (and the flows' own loops) announce them here: how many resources a phase has, and each one as it ends.
A phase is a name the flow gives (the handlers' recovery phases, "discover", a failback step): core names no
resource type and knows nothing of terminals.

Observers are process-wide, not per flow run: the flow's thread, which is the one that reports, is Prefect's to
choose. An observer that raises is dropped: the display is for the watcher, the recovery goes on without it.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Iterator, Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class RunObserver(Protocol):
    def planned(self, phase: str, total: int) -> None:
        """`total` more resources will run in `phase` (a phase may be announced more than once: failback)."""

    def finished(self, phase: str, failed: bool) -> None:
        """One resource of `phase` ended, failed or not (blocked by a failed dependency counts as failed)."""


_observers: list[RunObserver] = []
_lock = threading.Lock()


@contextmanager
def observing(observer: RunObserver) -> Iterator[RunObserver]:
    """Tell `observer` about every run's progress in this process until the block ends."""
    with _lock:
        _observers.append(observer)
    try:
        yield observer
    finally:
        with _lock:
            if observer in _observers:
                _observers.remove(observer)


def planned(phase: str, total: int) -> None:
    if total:
        _tell("planned", phase, total)


def finished(phase: str, failed: bool = False) -> None:
    _tell("finished", phase, failed)


def note(phase: str, text: str) -> None:
    """Why `phase` is slow right now, for the watcher ("waiting for DRS capacity ..."): shown beside its row until
    its next resource ends. Optional for an observer (one without `note` does not hear it). Never a secret: the
    text is the caller's own words about the run."""
    _tell("note", phase, text)


def _tell(event: str, *args: object) -> None:
    with _lock:
        current = [o for o in _observers if hasattr(o, event)]
    for observer in current:
        try:
            getattr(observer, event)(*args)
        except Exception as exc:  # noqa: BLE001 - see the module's docstring
            log.debug("run observer %r dropped (%s: %s)", observer, type(exc).__name__, exc)
            with _lock:
                if observer in _observers:
                    _observers.remove(observer)
