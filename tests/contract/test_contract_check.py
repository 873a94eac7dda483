"""The contract check fails where it should: handlers broken on purpose, one way each (mutations of a real one)."""

from __future__ import annotations

from contract import problems

from core.capabilities import Cleaner, ConsoleLink, FailsBack, Preflight
from core.models import Phase
from tasks.load_balancers import ListenerHandler
from tasks.network import VpcHandler
from tasks.s3 import BucketHandler


def test_a_real_handler_passes():
    assert problems(ListenerHandler()) == []


def test_claiming_a_capability_without_implementing_it_fails():
    class Claims(Preflight):  # the stub the protocol carries must not count
        type = "ec2:thing"
        phase = Phase.NETWORK
        pilot_light = internet_facing = False
        version = 1
        discover, find, apply = VpcHandler.discover, VpcHandler.find, VpcHandler.apply

    assert problems(Claims()) == ["claims Preflight but does not implement preflight"]


def test_implementing_a_capability_without_claiming_it_fails():
    class Unclaimed:
        type = "ec2:thing"
        phase = Phase.NETWORK
        pilot_light = internet_facing = False
        version = 1
        discover, find, apply = VpcHandler.discover, VpcHandler.find, VpcHandler.apply

        def cleanup(self, ctx):
            return []

    assert problems(Unclaimed()) == ["implements cleanup but does not claim Cleaner among its bases"]


def test_a_cleanup_with_the_wrong_signature_fails():
    class Wrong(VpcHandler):
        def cleanup(self, plan, ctx):
            return []

    assert problems(Wrong()) == ["cleanup('self', 'plan', 'ctx') should take ('self', 'ctx') (Cleaner)"]


def test_a_real_handler_with_its_cleanup_removed_fails():
    """The deliberate mutation: VpcHandler as it is, less its cleanup; it still claims Cleaner."""
    mutant = type("VpcHandler", VpcHandler.__bases__, {k: v for k, v in vars(VpcHandler).items() if k != "cleanup"})
    assert Cleaner in mutant.__mro__ and isinstance(mutant(), Cleaner)  # the protocol's stub would answer
    assert problems(mutant()) == ["claims Cleaner but does not implement cleanup"]


def test_a_real_handler_with_its_fail_back_removed_fails():
    """The deliberate mutation: BucketHandler as it is, less its fail_back; it still claims FailsBack."""
    mutant = type("BucketHandler", BucketHandler.__bases__,
                  {k: v for k, v in vars(BucketHandler).items() if k != "fail_back"})
    assert FailsBack in mutant.__mro__ and isinstance(mutant(), FailsBack)  # the protocol's stub would answer
    assert problems(mutant()) == ["claims FailsBack but does not implement fail_back"]


def test_a_fail_back_with_the_wrong_signature_or_a_phase_that_is_not_one_fails():
    class Wrong(BucketHandler):
        failback_phase = "data"  # a bare string, not a FailbackPhase

        def fail_back(self, resource, plan, ctx):
            return None

    assert problems(Wrong()) == ["fail_back('self', 'resource', 'plan', 'ctx') should take ('self', 'resource', "
                                 "'ctx') (FailsBack)", "failback_phase 'data' is not a FailbackPhase"]


def test_failing_back_without_claiming_it_fails():
    class Unclaimed(VpcHandler):
        failback_plan = "something"

    assert problems(Unclaimed()) == ["implements failback_plan but does not claim FailsBack among its bases"]


def test_a_handler_without_a_required_method_or_with_a_bad_type_fails():
    class NoApply:
        type = "ec2:thing"
        phase = Phase.NETWORK
        pilot_light = internet_facing = False
        version = 1
        discover, find = VpcHandler.discover, VpcHandler.find

    assert problems(NoApply()) == ["not a Handler: lacks apply"]

    class BadType(VpcHandler):
        type = "vpc"
        version = 0

    assert problems(BadType()) == ["type 'vpc' is not <service>:<kind>", "version 0 is not a positive int"]


def test_a_handler_without_a_phase_or_outside_the_phases_fails():
    """The report counts every type in a recovery phase: a handler must name its own."""
    mutant = type("VpcHandler", VpcHandler.__bases__, {k: v for k, v in vars(VpcHandler).items() if k != "phase"})
    assert problems(mutant()) == ["not a Handler: lacks phase"]

    class Other(VpcHandler):
        phase = Phase.OTHER

    assert problems(Other()) == ["phase <Phase.OTHER: 'other'> is not a recovery phase (core.models.Phase)"]


def test_a_real_handler_with_its_console_page_removed_fails():
    mutant = type("VpcHandler", VpcHandler.__bases__,
                  {k: v for k, v in vars(VpcHandler).items() if k != "console_url"})
    assert ConsoleLink in mutant.__mro__
    assert problems(mutant()) == ["claims ConsoleLink but does not implement console_url"]
