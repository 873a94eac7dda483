"""Failback of an imaged server (no DRS agent): an AMI of the recovered instance, copied home and launched there.

Support for flows/failback.py (not a handler). The failover launched the server in the recovery region from
its nightly image copy (tasks/servers/images.py); what it wrote since is on that instance's disks. Failback:

1. an AMI of the recovered instance, in the recovery region, with NoReboot: the recovered server is production
   until the switch-over, and a reboot would be an outage (the nightly images make the same choice); the image
   is crash-consistent, so stop the application's writes first when that matters;
2. a copy of it in the primary region; across accounts the recovery account shares the AMI and its snapshots
   with the source account, which copies it (core/amis.py, as the nightly copies do the other way round);
3. a launch of the copy in the server's ORIGINAL subnet, with its original security groups, instance type and
   instance profile (the recovery point names them by their primary ids, which failback has verified).

As the DRS path does (tasks/servers/failback.py `_point_template`): the original private IP is asked for unless
something in the subnet holds it now (the original instance, back with its region), in which case EC2 picks
another address and a warning says so; the original instance itself is left exactly as it is, neither stopped
nor terminated: retiring it is the operator's call once the failback instance serves.

Idempotent: the AMI and its copy carry drflow:plan, drflow:failback (the failover's time) and
drflow:failback-of (the server) tags and deterministic names; the instance carries drflow:plan, drflow:source-id
and drflow:failback, and its launch a ClientToken. A re-run adopts the instance, else the copy, else the AMI.
The images deliberately carry no drflow:source-id: the nightly image copies are found and pruned by that tag.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

from core.amis import share_image
from core.aws import Side
from core.handler import TAG_DRILL, TAG_PLAN, TAG_SOURCE_ID, Unrecoverable, tags_of
from core.models import Resource
from .failback import home_ip_free

TAG_FAILBACK = "drflow:failback"  # as tasks/servers/failback.py: the failover this failback undoes
TAG_FAILBACK_OF = "drflow:failback-of"
LIVE = ["pending", "running", "stopping", "stopped"]
IMAGE_WAIT = {"Delay": 15, "MaxAttempts": 240}  # an AMI of large disks takes a while; a copy across regions longer


def _instances(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=filters + [{"Name": "instance-state-name", "Values": LIVE}])
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def _image(ec2: Any, plan_name: str, source_id: str, failover_at: str) -> dict[str, Any] | None:
    images = ec2.describe_images(Owners=["self"], Filters=[
        {"Name": f"tag:{TAG_PLAN}", "Values": [plan_name]}, {"Name": f"tag:{TAG_FAILBACK_OF}", "Values": [source_id]},
        {"Name": f"tag:{TAG_FAILBACK}", "Values": [failover_at]}])["Images"]
    usable = [i for i in images if i.get("State") in ("pending", "available")]
    return usable[0] if usable else None


def fail_back_image(resource: Resource, recovery: Side, source: Side, plan_name: str, failover_at: str,
                    home_id: Callable[[str], str], share_with: str | None = None) -> dict[str, Any]:
    """Bring one imaged server home (see the module's docstring); `home_id` gives a dependency's id in the
    primary (its own, or what failback recreated there); `share_with`: the source account, when the recovery
    account is another. Returns the details for the report, with `instance` (the failback instance),
    `image` and `copy` (the AMI in each region) and `launched` (whether this call launched it)."""
    sec2, rec2 = source.client("ec2"), recovery.client("ec2")
    token = hashlib.sha256(f"{plan_name}:failback:{resource.source_id}:{failover_at}".encode()).hexdigest()
    name = f"drflow-failback-{resource.source_id}-{token[:12]}"
    image_tags = [{"Key": TAG_PLAN, "Value": plan_name}, {"Key": TAG_FAILBACK_OF, "Value": resource.source_id},
                  {"Key": TAG_FAILBACK, "Value": failover_at},
                  {"Key": "Name", "Value": f"drflow failback {resource.name or resource.source_id}"}]
    details: dict[str, Any] = {"warnings": [], "launched": False}
    found = _instances(sec2, [{"Name": f"tag:{TAG_PLAN}", "Values": [plan_name]},
                              {"Name": f"tag:{TAG_SOURCE_ID}", "Values": [resource.source_id]},
                              {"Name": f"tag:{TAG_FAILBACK}", "Values": [failover_at]}])
    if found:
        details.update(instance=found[0]["InstanceId"], copy=found[0]["ImageId"])
        return details
    copy = _image(sec2, plan_name, resource.source_id, failover_at)
    if copy is None:
        image = _image(rec2, plan_name, resource.source_id, failover_at) or \
            _image_recovered(rec2, resource, plan_name, name, image_tags, details)
        details["image"] = image["ImageId"]
        rec2.get_waiter("image_available").wait(ImageIds=[image["ImageId"]], WaiterConfig=IMAGE_WAIT)
        if share_with:
            share_image(rec2, image["ImageId"], share_with)
        copy = sec2.copy_image(SourceImageId=image["ImageId"], SourceRegion=recovery.region, Name=name,
                               ClientToken=token[:64], Description=f"drflow failback of {resource.label}")
        sec2.create_tags(Resources=[copy["ImageId"]], Tags=image_tags)
    details["copy"] = copy["ImageId"]
    sec2.get_waiter("image_available").wait(ImageIds=[copy["ImageId"]], WaiterConfig=IMAGE_WAIT)
    details["instance"] = _launch(sec2, resource, copy["ImageId"], plan_name, failover_at, token, home_id,
                                  details["warnings"])
    details["launched"] = True
    sec2.get_waiter("instance_running").wait(InstanceIds=[details["instance"]],
                                             WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    return details


def _image_recovered(ec2: Any, resource: Resource, plan_name: str, name: str, tags: list[dict[str, str]],
                     details: dict[str, Any]) -> dict[str, Any]:
    """An AMI of the instance the failover launched for the server (production's, never a drill's)."""
    recovered = [i for i in _instances(ec2, [{"Name": f"tag:{TAG_PLAN}", "Values": [plan_name]},
                                             {"Name": f"tag:{TAG_SOURCE_ID}", "Values": [resource.source_id]}])
                 if TAG_DRILL not in tags_of(i)]
    if not recovered:
        raise Unrecoverable(f"{resource.label}: no recovered instance of this plan in the recovery region "
                            "(was it launched by the failover, or terminated since?)")
    details["recovered_instance"] = recovered[0]["InstanceId"]
    return ec2.create_image(InstanceId=recovered[0]["InstanceId"], Name=name, NoReboot=True,
                            Description=f"drflow failback of {resource.label}",
                            TagSpecifications=[{"ResourceType": "image", "Tags": tags}])


def _launch(ec2: Any, resource: Resource, image_id: str, plan_name: str, failover_at: str, token: str,
            home_id: Callable[[str], str], warnings: list[str]) -> str:
    """The copy, launched with the server's original placement; the private IP as the DRS path chooses it."""
    cfg = resource.config
    subnet = home_id(cfg["subnet"])
    tags = [{"Key": TAG_PLAN, "Value": plan_name}, {"Key": TAG_SOURCE_ID, "Value": resource.source_id},
            {"Key": TAG_FAILBACK, "Value": failover_at}, {"Key": "Name", "Value": resource.name or resource.source_id}]
    kwargs: dict[str, Any] = {
        "ImageId": image_id, "MinCount": 1, "MaxCount": 1, "InstanceType": cfg["instance_type"], "SubnetId": subnet,
        "SecurityGroupIds": sorted(home_id(g) for g in cfg["security_groups"]), "ClientToken": token[:64],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}, {"ResourceType": "volume", "Tags": tags}]}
    if home_ip_free(ec2, subnet, cfg["private_ip"], warnings):
        kwargs["PrivateIpAddress"] = cfg["private_ip"]
    if cfg.get("instance_profile"):
        kwargs["IamInstanceProfile"] = {"Name": cfg["instance_profile"]}
    return ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"]
