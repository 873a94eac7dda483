"""Fault injection for the sandbox: answer a fraction of AWS calls with the errors AWS really sends.

`throttle` and `error5xx` are fractions of calls; `latency` is seconds every call takes before it is answered (AWS
answers in tens to hundreds of milliseconds, moto in one or two: a rehearsal of timing, or a test that needs a run
to last); `dark` is a region whose every call is refused (the
primary region during an outage); `revoked` holds account ids whose sandbox access key (`AKIA<account>SBOX`) is
refused as an invalid token, as AWS refuses a deactivated or deleted access key (the primary's credentials
taken away by an incident responder). Role sessions assumed earlier keep working, as they do in AWS.
`outage` is a region in a real outage, as clients meet it: no quick refusal but every call answered, after
`outage_delay` seconds (a connection that hangs until it gives up), with a 503 that botocore retries up to its
attempt limit (standard mode retries 5xx: botocore/retries/standard.py), so that a run which calls such a region at
all waits on it, visibly.
`fail_write=N` is a run killed at its Nth write: that write and every later one (counted from when the faults were
set) is refused with a client error botocore does not retry, so what the first N-1 writes made stays behind,
exactly as after a kill; a test then re-runs with the fault lifted and asks whether the run finds what it left.
Errors are shaped per protocol (EC2 XML, S3 XML, query XML, JSON), so that botocore parses and classifies them
exactly as it would real ones.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    throttle: float = 0.0
    error5xx: float = 0.0
    latency: float = 0.0
    dark: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)
    outage: set[str] = field(default_factory=set)
    outage_delay: float = 1.0
    fail_write: int = 0  # 0: off; N: the Nth write and every later one is refused ("the run was killed there")
    seed: int | None = None
    writes: int = field(default=0, repr=False)  # writes counted since these faults were set
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        for name in ("throttle", "error5xx"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault {name}={value}: must be a fraction between 0 and 1")
        for name in ("latency", "outage_delay"):
            if not 0.0 <= getattr(self, name) <= 60.0:
                raise ValueError(f"fault {name}={getattr(self, name)}: must be seconds between 0 and 60")
        if self.fail_write < 0:
            raise ValueError(f"fault fail_write={self.fail_write}: must be a write's number (1 = the first), or 0")
        if self.seed is not None:
            self._rng.seed(self.seed)

    @classmethod
    def parse(cls, text: str | None) -> "Faults":
        """`throttle=0.2,error5xx=0.05,latency=0.1,dark=us-east-1,revoked=111111111111,seed=7` (dark, revoked and
        outage may repeat)."""
        kwargs: dict = {"dark": set(), "revoked": set(), "outage": set()}
        for part in filter(None, (p.strip() for p in (text or "").split(","))):
            name, _, value = part.partition("=")
            try:
                if name in ("throttle", "error5xx", "latency", "outage_delay"):
                    kwargs[name] = float(value)
                elif name in ("seed", "fail_write"):
                    kwargs[name] = int(value)
                elif name in ("dark", "revoked", "outage"):
                    kwargs[name].add(value)
                else:
                    raise ValueError(f"unknown fault {name!r} (throttle, error5xx, latency, dark, outage, outage_delay, revoked, fail_write, seed)")
            except ValueError as exc:
                raise ValueError(f"--faults {part!r}: {exc}") from None
        return cls(**kwargs)

    def describe(self) -> str:
        """The spec `parse` reads back: what is in force (empty: none)."""
        parts = [f"{name}={getattr(self, name)}" for name in ("throttle", "error5xx", "latency") if getattr(self, name)]
        parts += [f"dark={r}" for r in sorted(self.dark)] + [f"revoked={a}" for a in sorted(self.revoked)]
        if self.outage:
            parts += [f"outage={r}" for r in sorted(self.outage)] + [f"outage_delay={self.outage_delay}"]
        parts += [f"fail_write={self.fail_write}"] if self.fail_write else []
        return ",".join(parts + ([f"seed={self.seed}"] if self.seed is not None else []))

    def pick(self, region: str) -> str | None:
        """The fault for one call: 'dark', 'outage', 'throttle', '5xx' or None."""
        if region in self.dark:
            return "dark"
        if region in self.outage:
            return "outage"
        with self._lock:
            roll = self._rng.random()
        if roll < self.throttle:
            return "throttle"
        if roll < self.throttle + self.error5xx:
            return "5xx"
        return None

    def interrupts(self, write: bool) -> bool:
        """Whether this call is refused as one the killed run never made (`fail_write`): counts the writes."""
        if not (write and self.fail_write):
            return False
        with self._lock:
            self.writes += 1
            return self.writes >= self.fail_write


# not an AWS error: the call a killed run never made. A 400 with a code botocore does not know is not retried
# (botocore's standard retry mode retries throttling codes, transient codes and 5xx only: botocore/retries/standard.py)
_INTERRUPTED = (400, "SandboxRunInterrupted", "sandbox: the run was killed before this write (fault fail_write)")
_CODES = {  # protocol -> fault -> (status, code, message)
    "ec2": {"throttle": (503, "RequestLimitExceeded", "Request limit exceeded."),
            "5xx": (500, "InternalError", "An internal error has occurred"),
            "dark": (503, "Unavailable", "The service is unavailable in this region (sandbox: region dark)"),
            "revoked": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
            "interrupted": _INTERRUPTED, "outage": (503, "Unavailable", "The server is overloaded and cannot "
                                                    "handle the request (sandbox: region in an outage)")},
    "s3": {"throttle": (503, "SlowDown", "Please reduce your request rate."),
           "5xx": (500, "InternalError", "We encountered an internal error. Please try again."),
           "dark": (403, "AccessDenied", "Region unavailable (sandbox: region dark)"),
           "revoked": (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
           "interrupted": _INTERRUPTED,
           "outage": (503, "ServiceUnavailable", "Service is unable to handle request (sandbox: region in an outage)")},
    "default": {"throttle": (400, "Throttling", "Rate exceeded"),
                "5xx": (500, "InternalFailure", "An internal error occurred"),
                "dark": (403, "AccessDenied", "Region unavailable (sandbox: region dark)"),
                "revoked": (403, "InvalidClientTokenId", "The security token included in the request is invalid."),
                "interrupted": _INTERRUPTED,
           "outage": (503, "ServiceUnavailable", "Service is unable to handle request (sandbox: region in an outage)")},
}


def error_response(fault: str, service: str, json_protocol: bool) -> tuple[int, list[tuple[str, str]], bytes]:
    protocol = service if service in ("ec2", "s3") else "default"
    status, code, message = _CODES[protocol][fault]
    if fault == "dark" and protocol == "ec2":
        status, code = 403, "UnauthorizedOperation"
    if json_protocol:
        if fault == "throttle":
            code = "ThrottlingException"
        if fault == "revoked":  # JSON services (KMS, DRS, ...) name a refused key this way
            code = "UnrecognizedClientException"
        body = ('{"__type": "%s", "message": "%s"}' % (code, message)).encode()
        return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)], body
    if protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>sandbox-fault</RequestID></Response>")
    elif protocol == "s3":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>sandbox-fault</RequestId></Error>"
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>sandbox-fault</RequestId></ErrorResponse>")
    # the header too: REST-JSON APIs on lowercase paths (EFS: GET /2015-02-01/...) are not recognised as JSON by
    # the request, and botocore's rest-json parser takes the code from this header; XML parsers ignore it
    return status, [("Content-Type", "text/xml"), ("x-amzn-ErrorType", code)], body.encode()
