"""A test double of AWS Elastic Disaster Recovery (DRS), served by moto as the `drs` service.

Importing this package registers it with moto (see `registration`), in-process (`mock_aws`) and in
the sandbox server alike. Test and sandbox code only: production code never imports it.

    backend = drs_backend("111111111111", "us-west-2")   # the recovery region's DRS
    backend.set_clock(FakeClock()); backend.set_latency(5); backend.fail_next_launches("s-...", 1)
    backend.launch_log  # [(time, sourceServerID, event), ...]
"""

from __future__ import annotations

from drflow.sandbox.drs.registration import register

register()

from drflow.sandbox.drs.models import DrsBackend, drs_backends  # noqa: E402
from drflow.sandbox.drs.util import FakeClock  # noqa: E402


def drs_backend(account_id: str, region: str) -> DrsBackend:
    """The live backend of one account and region (a new object after every moto reset)."""
    return drs_backends[account_id][region]


__all__ = ["DrsBackend", "FakeClock", "drs_backend", "drs_backends"]
