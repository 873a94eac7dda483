"""Servers without the DRS agent: nightly AMIs copied to the recovery region, launched from at failover.

Support for the servers handler (not a handler itself). Every nightly capture of such a server
records its capture time (that of its image from less than half the RPO ago, if there is one); staging images the instance (no reboot), copies the image into the
recovery region and tags the copy with that time, and prunes copies beyond the plan's `keep`. A
failover launches from the copy taken with the recovery point it recovers, so an older recovery
point brings back the matching disks.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from core.amis import image_snapshots, share_image
from core.aws import Retryable, Side
from core.handler import TAG_PLAN, TAG_SOURCE_ID, ApplyContext, Unrecoverable, tags_of
from core.models import Resource
from core.plan import Plan
from core.ownership import same_run_kind

TAG_CAPTURED = "drflow:captured-at"
CAPTURE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # sorts as time does


def _image_tags(resource: Resource, ctx: ApplyContext) -> list[dict[str, str]]:
    captured = resource.data["image"]["captured_at"]
    return [{"Key": TAG_PLAN, "Value": ctx.plan.name}, {"Key": TAG_SOURCE_ID, "Value": resource.source_id},
            {"Key": TAG_CAPTURED, "Value": captured}, {"Key": "Name", "Value": f"drflow {resource.name} {captured}"}]


def _images(side: Side, plan_name: str, source_id: str) -> list[dict[str, Any]]:
    return side.client("ec2").describe_images(Owners=["self"], Filters=[
        {"Name": f"tag:{TAG_PLAN}", "Values": [plan_name]},
        {"Name": f"tag:{TAG_SOURCE_ID}", "Values": [source_id]}])["Images"]


def recent_captures(source: Side, plan: Plan, now: datetime) -> dict[str, str]:
    """Instance id -> the capture time of its newest image taken by this plan less than half the RPO ago.

    A night's capture reuses such an image instead of taking another, as the database snapshots do: a retried or
    back-to-back replicate costs no image (and no write), and the recovery point is still within its RPO. The
    source keeps only its newest image per server (`stage_image`), which is the one asked for here."""
    fresh_after = (now - timedelta(minutes=plan.rpo_minutes / 2)).strftime(CAPTURE_FORMAT)
    newest: dict[str, str] = {}
    for image in source.client("ec2").describe_images(Owners=["self"], Filters=[
            {"Name": f"tag:{TAG_PLAN}", "Values": [plan.name]}, {"Name": "state", "Values": ["available"]}])["Images"]:
        tags = tags_of(image)
        captured, instance = tags.get(TAG_CAPTURED, ""), tags.get(TAG_SOURCE_ID)
        if instance and captured > fresh_after and captured > newest.get(instance, ""):
            newest[instance] = captured
    return newest


def _source_image(resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
    """The source image of this capture, when an earlier run took it (and its copy is what is missing)."""
    assert ctx.source is not None
    captured = resource.data["image"]["captured_at"]
    return next((i for i in _images(ctx.source, ctx.plan.name, resource.source_id)
                 if tags_of(i).get(TAG_CAPTURED) == captured and i.get("State") != "failed"), None)


def _copy_for(resource: Resource, ctx: ApplyContext) -> dict[str, Any] | None:
    captured = resource.data["image"]["captured_at"]
    return next((i for i in _images(ctx.recovery, ctx.plan.name, resource.source_id)
                 if tags_of(i).get(TAG_CAPTURED) == captured and i.get("State") != "failed"), None)


def image_problem(resource: Resource, ctx: ApplyContext) -> str | None:
    """Why the server cannot be launched from its recovery point's image copy, if it cannot (read-only)."""
    image = _copy_for(resource, ctx)
    if image is None:
        return (f"no image copy of {resource.source_id} captured at {resource.data['image']['captured_at']} in "
                f"{ctx.recovery.region} (pruned, or the nightly copy failed)")
    if image.get("State") not in ("available", "pending"):
        return f"image copy {image['ImageId']} of {resource.source_id} is {image.get('State')}, not available"
    return None


def stage_image(resource: Resource, ctx: ApplyContext) -> tuple[str, bool]:
    """Image the source instance and copy it to the recovery region, once per capture; returns (copy id, written)."""
    existing = _copy_for(resource, ctx)
    if existing:
        return existing["ImageId"], False
    assert ctx.source is not None, "images are taken during nightly staging only"
    source_ec2 = ctx.source.client("ec2")
    tags = _image_tags(resource, ctx)
    token = hashlib.sha256(f"{ctx.plan.name}:{resource.source_id}:{tags[2]['Value']}".encode()).hexdigest()[:60]
    image = _source_image(resource, ctx) or source_ec2.create_image(
        InstanceId=resource.source_id, Name=f"drflow-{resource.source_id}-{token[:12]}", NoReboot=True,
        TagSpecifications=[{"ResourceType": "image", "Tags": tags}])
    source_ec2.get_waiter("image_available").wait(ImageIds=[image["ImageId"]],
                                                  WaiterConfig={"Delay": 15, "MaxAttempts": 240})
    if ctx.plan.cross_account:
        share_image(source_ec2, image["ImageId"], ctx.plan.recovery.account_id)
    ec2 = ctx.recovery.client("ec2")
    copy = ec2.copy_image(SourceImageId=image["ImageId"], SourceRegion=ctx.source.region, ClientToken=token,
                          Name=f"drflow-{resource.source_id}-{token[:12]}",
                          Description=f"drflow copy of {resource.source_id} ({resource.name})")
    ec2.create_tags(Resources=[copy["ImageId"]], Tags=tags)
    _prune(ctx.source, ctx.plan.name, resource.source_id, keep=1)  # the source copy only feeds the next copy
    _prune(ctx.recovery, ctx.plan.name, resource.source_id, keep=ctx.plan.vault.keep)
    return copy["ImageId"], True


def _prune(side: Side, plan_name: str, source_id: str, keep: int) -> None:
    ec2 = side.client("ec2")
    images = sorted(_images(side, plan_name, source_id), key=lambda i: tags_of(i).get(TAG_CAPTURED, ""))
    for image in images[:-keep] if keep > 0 else []:
        ec2.deregister_image(ImageId=image["ImageId"])
        for snapshot in image_snapshots(image):
            ec2.delete_snapshot(SnapshotId=snapshot)


def find_launched(resource: Resource, ctx: ApplyContext) -> str | None:
    """An instance this plan (and drill) already launched from an image for the server."""
    reservations = ctx.recovery.client("ec2").describe_instances(Filters=ctx.owner_filters(resource) + [
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
    found = [i for r in reservations for i in r["Instances"] if same_run_kind(i.get("Tags"), ctx)]
    return found[0]["InstanceId"] if found else None


def launch_from_image(resource: Resource, ctx: ApplyContext, template: dict[str, Any]) -> str:
    """Launch the server from the image copy of its recovery point, with the launch template's settings."""
    image = _copy_for(resource, ctx)
    if image is None:
        raise Unrecoverable(f"no image copy of {resource.source_id} ({resource.name}) captured at "
                            f"{resource.data['image']['captured_at']} in {ctx.recovery.region} (pruned, or the "
                            "nightly copy failed)")
    ec2 = ctx.recovery.client("ec2")
    if image.get("State") == "pending":
        ec2.get_waiter("image_available").wait(ImageIds=[image["ImageId"]], WaiterConfig={"Delay": 15, "MaxAttempts": 240})
    nic = template["NetworkInterfaces"][0]
    kwargs: dict[str, Any] = {
        "ImageId": image["ImageId"], "MinCount": 1, "MaxCount": 1, "InstanceType": template["InstanceType"],
        "SubnetId": nic["SubnetId"], "PrivateIpAddress": nic["PrivateIpAddress"], "SecurityGroupIds": nic["Groups"],
        "BlockDeviceMappings": template["BlockDeviceMappings"], "TagSpecifications": template["TagSpecifications"],
        "ClientToken": hashlib.sha256(f"{ctx.plan.name}:{ctx.mode}:{ctx.drill_id}:{resource.key}:"
                                      f"{image['ImageId']}".encode()).hexdigest()[:64]}
    if "IamInstanceProfile" in template:
        kwargs["IamInstanceProfile"] = template["IamInstanceProfile"]
    try:
        return ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"]
    except Exception as exc:  # noqa: BLE001 - capacity and the like: worth the task's retries
        if "InsufficientInstanceCapacity" in str(exc):
            raise Retryable(str(exc)) from exc
        raise
