"""Every handler in the registry keeps the contract (tests/contract/contract.py), and the registry is sound."""

from __future__ import annotations

import pytest
from contract import problems

from core.capabilities import ClaimsArnKinds
from tasks.registry import HANDLERS, default_registry


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda h: h.type)
def test_the_handler_keeps_the_contract(handler):
    assert problems(handler) == []


def test_one_handler_per_type_and_each_arn_kind_claimed_once_but_the_endpoints():
    types = [h.type for h in HANDLERS]
    assert len(types) == len(set(types)) == len(default_registry())
    claimed: dict[str, list[str]] = {}
    for handler in HANDLERS:
        if isinstance(handler, ClaimsArnKinds):
            for kind in handler.arn_kinds:
                claimed.setdefault(kind, []).append(handler.type)
    # interface and gateway endpoints share the ARN kind ec2:vpc-endpoint (the ARN does not tell them apart)
    shared = {kind: owners for kind, owners in claimed.items() if len(owners) > 1}
    assert shared == {"ec2:vpc-endpoint": ["ec2:vpc-endpoint", "ec2:interface-endpoint"]}
