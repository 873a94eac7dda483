"""A recording handler and a synthetic estate, for tests that drive the engine itself."""

from __future__ import annotations

import threading
import time

from core.handler import Applied
from core.models import Resource


class Recorder:
    type = "test:thing"
    pilot_light = True
    internet_facing = False
    version = 1

    def __init__(self, fail: dict[str, list[Exception]] | None = None, delay: float = 0.3):
        self.fail = fail or {}
        self.delay = delay
        self.spans: dict[str, tuple[float, float]] = {}
        self.attempts: dict[str, int] = {}
        self.seen_deps: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def discover(self, source, plan):
        return []

    def find(self, resource, ctx):
        return None

    def apply(self, resource, ctx):
        with self._lock:
            self.attempts[resource.source_id] = self.attempts.get(resource.source_id, 0) + 1
        start = time.monotonic()
        time.sleep(self.delay)
        self.seen_deps[resource.source_id] = {k: ctx.ref(k) for k in resource.dependencies}
        errors = self.fail.get(resource.source_id)
        if errors:
            raise errors.pop(0)
        self.spans[resource.source_id] = (start, time.monotonic())
        return Applied(f"new-{resource.source_id}", created=True)


def things(spec: dict[str, list[str]]) -> list[Resource]:
    return [Resource(type="test:thing", source_id=s, dependencies=[f"test:thing/{d}" for d in deps])
            for s, deps in spec.items()]
