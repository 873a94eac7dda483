"""The plan as a Prefect block: saved from the YAML file, loaded by name, same model and rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from blocks.plan import PlanBlock
from core.plan import load_plan

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop-plan.yaml"


def test_plan_block_round_trip():
    block = PlanBlock.from_file(EXAMPLE)
    block.save("shop-test", overwrite=True)
    assert PlanBlock.load_plan("shop-test") == load_plan(EXAMPLE)


def test_plan_block_applies_the_plan_rules():
    data = load_plan(EXAMPLE).model_dump()
    data["recovery"]["region"] = data["source"]["region"]
    with pytest.raises(ValidationError, match="recovery.region"):
        PlanBlock(plan=data)
