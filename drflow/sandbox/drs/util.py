"""Small helpers of the DRS double: ids, DRS's ISO-8601 strings, a fake clock, pagination."""

from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from drflow.sandbox.drs.errors import ValidationException

Clock = Callable[[], datetime]
LOCK = threading.RLock()  # one lock for every account and region: reverse replication spans two backends


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class FakeClock:
    """A clock the tests move by hand, so latency is observable without sleeping."""

    def __init__(self, start: datetime | None = None):
        self.time = start or datetime(2024, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.time

    def advance(self, seconds: float) -> datetime:
        self.time += timedelta(seconds=seconds)
        return self.time


def stable_id(prefix: str, seed: str, length: int = 17) -> str:
    """`prefix` + hex derived from `seed`: the same EC2 instance always maps to the same DRS id."""
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:length]


def random_id(prefix: str, length: int = 17) -> str:
    return prefix + secrets.token_hex(length)[:length]


def iso(value: datetime) -> str:
    """DRS's ISO8601DatetimeString: UTC with a `Z` (the model's pattern refuses `+00:00`)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationException(f"{field}: not an ISO-8601 date-time: {value!r}", "fieldValidationFailed",
                                  [(field, "invalid date-time")]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def duration(seconds: float) -> str:
    return f"PT{max(int(seconds), 0)}S"


def paginate(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
    """One page of `items` by `maxResults` / `nextToken` (an offset), as botocore paginators expect."""
    token = params.get("nextToken") or "0"
    if not token.isdigit():
        raise ValidationException(f"invalid nextToken {token!r}", "fieldValidationFailed",
                                  [("nextToken", "invalid token")])
    start = int(token)
    size = params.get("maxResults") or 1000
    if not isinstance(size, int) or size < 1:
        raise ValidationException("maxResults must be a positive integer", "fieldValidationFailed",
                                  [("maxResults", "must be >= 1")])
    page = items[start:start + size]
    return page, (str(start + size) if start + size < len(items) else None)


def required(request: dict[str, Any], name: str) -> Any:
    if not request.get(name):
        raise ValidationException(f"{name} is required", "fieldValidationFailed", [(name, "required")])
    return request[name]


def with_token(result: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token:
        result["nextToken"] = token
    return result
