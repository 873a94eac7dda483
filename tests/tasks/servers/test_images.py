"""Servers without the DRS agent: protected by nightly images, which a back-to-back night reuses."""

from __future__ import annotations

from conftest import SOURCE, ec2
from core.aws import AwsAccess
from core.vault import Vault
from flows.replicate import replicate
from flows_helper import run


def _plan_images(region: str) -> list[dict]:
    return ec2(region).describe_images(Owners=["self"], Filters=[{"Name": "tag:drflow:plan", "Values": ["shop"]}])[
        "Images"]


def test_a_back_to_back_night_reuses_the_servers_image_and_writes_nothing(servers, server_plan):
    ec2(SOURCE).delete_tags(Resources=[servers["worker"]], Tags=[{"Key": "drs-agent"}])  # protected by images
    first = run(replicate, plan=server_plan)
    assert first["failed"] == []
    copies = _plan_images("us-west-2")
    assert len(copies) == 1
    again = run(replicate, plan=server_plan, refresh=True)  # every staged resource checked anew, no cache
    assert again["failed"] == [] and again["api_calls"]["write"] == 0
    assert [i["ImageId"] for i in _plan_images("us-west-2")] == [i["ImageId"] for i in copies]
    assert len(_plan_images(SOURCE)) == 1
    vault = Vault(AwsAccess(server_plan).vault, server_plan.vault_bucket, server_plan.name)
    captured = [next(r.data["image"]["captured_at"] for r in vault.load(i).resources if r.source_id == servers["worker"])
                for i in (first["recovery_point"], again["recovery_point"])]
    assert captured[0] == captured[1]  # the second point launches from the same image
