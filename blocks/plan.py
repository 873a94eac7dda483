"""The plan as a Prefect Block, so that deployments and the UI refer to a plan by name.

The block holds the same pydantic model as the YAML file (`core.plan.Plan`), so a plan saved from a
file and loaded in a flow is validated by the same rules. It names credential sources (a profile,
a role, an AwsCredentials block), never secrets.
"""

from __future__ import annotations

from pathlib import Path

from prefect.blocks.core import Block

from core.plan import Plan, load_plan


class PlanBlock(Block):
    _block_type_name = "drflow plan"
    _block_type_slug = "drflow-plan"
    _description = "What drflow protects and where it recovers it (the plan file's content)."

    plan: Plan

    @classmethod
    def from_file(cls, path: str | Path, resource_types: set[str] | None = None) -> "PlanBlock":
        return cls(plan=load_plan(path, resource_types))

    @classmethod
    def load_plan(cls, name: str) -> Plan:
        return cls.load(name).plan
