"""The contract's killed-apply checks for CloudFront distributions (tests/contract/test_killed_apply.py skips the
type: the sample shop has none, and its writes are changes of production that no drill makes): each of the
handler's writes (a cutover, a night's origin groups, a failback) killed, then run again. Nothing half-done: the
killed write left the distribution as it was (one UpdateDistribution holds the whole change), the re-run made it,
once, and `find` gives the distribution."""

from __future__ import annotations

import boto3
import pytest

from core.aws import AwsAccess
from core.failback import FailbackContext
from core.models import Mode
from drflow.sandbox.faults import Faults
from tasks.cloudfront import DistributionHandler
from test_cloudfront import RECOVERY, _config, _ctx, _deps, _plan, _resource, _updates, seeded  # noqa: F401


def _killed_then_again(sandbox, distribution_id, write):
    """`write()` killed at its first write, then run again: (the configuration after the kill, the re-run's writes)."""
    before = _config(distribution_id)
    sandbox.faults = Faults(fail_write=1)
    with pytest.raises(Exception):  # noqa: B017 - the killed run's error, whichever
        write()
    sandbox.faults = Faults()
    killed = _config(distribution_id)
    sandbox.app.clear_log()
    write()
    return before, killed, _updates(sandbox)


@pytest.mark.parametrize("stage", ["cutover", "origin groups", "failback"])
def test_a_killed_write_run_again_leaves_the_distribution_fully_changed_once(sandbox, seeded, stage):
    handler = DistributionHandler()
    plan = _plan(origin_groups=True) if stage == "origin groups" else _plan(mode="cutover")
    resource = _resource(plan, seeded)
    ctx = _ctx(plan, resource, _deps(seeded, staged_only=stage == "origin groups"),
               mode=Mode.STAGE if stage == "origin groups" else Mode.RECOVER)
    if stage == "failback":
        handler.apply(resource, ctx)  # the failover's cutover, whole
        context = FailbackContext(aws=AwsAccess(plan), plan=plan, marker={}, home={})
        before, killed, again = _killed_then_again(sandbox, seeded["id"], lambda: handler.fail_back(resource, context))
    else:
        before, killed, again = _killed_then_again(sandbox, seeded["id"], lambda: handler.apply(resource, ctx))
    assert killed == before, "the killed write changed something"
    assert len(again) == 1, "the re-run made the change once"
    assert _config(seeded["id"])[0] != before[0]
    assert handler.find(resource, ctx) == seeded["id"]
    sandbox.app.clear_log()
    if stage == "failback":
        handler.fail_back(resource, context)
    else:
        handler.apply(resource, ctx)
    assert _updates(sandbox) == [], "a third run writes nothing"
    assert boto3.client("cloudfront", region_name=RECOVERY).get_distribution(Id=seeded["id"])["Distribution"][
        "Status"] == "Deployed"
