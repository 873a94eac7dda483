"""The EC2 side of the DRS double: the launch template DRS owns per source server, and the launch.

drflow shapes a recovery instance only through ordinary EC2 calls on that template (a new version,
made default), so the launch reads the template's *default* version. moto's run_instances ignores a
template's subnet, private IP and NIC security groups, so they are passed explicitly here.
"""

from __future__ import annotations

import secrets
from typing import Any

from moto.ec2.utils import convert_tag_spec, filter_iam_instance_profiles

from drflow.sandbox.drs.ec2view import GIB, MANAGED_TAG, MANAGED_VALUE, SOURCE_SERVER_TAG, ec2


class LaunchError(Exception):
    """Why a launch failed, reported as the LAUNCH_FAILED log item's rawError."""


def create_template(account_id: str, region: str, source_server_id: str, instance_type: str) -> str:
    """The EC2 launch template DRS creates for a new source server (reused if it already exists)."""
    backend = ec2(account_id, region)
    name = f"drs-launch-template-{source_server_id}"
    if name in backend.launch_template_name_to_ids:
        return backend.launch_template_name_to_ids[name]
    tags = {MANAGED_TAG: MANAGED_VALUE, SOURCE_SERVER_TAG: source_server_id}
    template = backend.create_launch_template(name, "Elastic Disaster Recovery launch template",
                                              {"InstanceType": instance_type}, {"launch-template": tags})
    return template.id


def register_image(account_id: str, region: str, source_server_id: str) -> str:
    """An AMI standing for the converted replica, so every recovery instance has a real image id."""
    image = ec2(account_id, region).register_image(name=f"drs-{source_server_id}",
                                                   description="Elastic Disaster Recovery converted replica")
    return image.id


def launch(account_id: str, region: str, *, template_id: str, image_id: str, config: dict[str, Any],
           source: dict[str, Any], source_tags: dict[str, str], source_server_id: str) -> Any:
    """Run one instance from the template's default version; returns moto's Instance or raises LaunchError."""
    backend = ec2(account_id, region)
    if (config.get("launchIntoInstanceProperties") or {}).get("launchIntoEC2InstanceID"):
        # DRS would launch into (replace the disks of) that instance: the double does not model it, and says so
        raise LaunchError("sandbox: launching into an existing instance (launchIntoInstanceProperties) is not modelled")
    if template_id not in backend.launch_templates:
        raise LaunchError(f"EC2 launch template {template_id} not found in {region}")
    data = backend.launch_templates[template_id].default_version().data
    nics = data.get("NetworkInterfaces") or []
    primary = next((n for n in nics if int(n.get("DeviceIndex", 0)) == 0), {})
    private_ip = primary.get("PrivateIpAddress") or next(
        (a.get("PrivateIpAddress") for a in primary.get("PrivateIpAddresses", []) if a.get("Primary")), None)
    if config.get("copyPrivateIp"):
        private_ip = source.get("privateIp")
    instance_type = data.get("InstanceType") or source["instanceType"]
    if config.get("targetInstanceTypeRightSizingMethod", "BASIC") != "NONE":
        instance_type = source["instanceType"]  # DRS overwrites the template's type while right-sizing is on
    tag_spec = convert_tag_spec(data.get("TagSpecifications") or [])
    instance_tags = {**(source_tags if config.get("copyTags") else {}), **tag_spec.get("instance", {}),
                     MANAGED_TAG: MANAGED_VALUE, SOURCE_SERVER_TAG: source_server_id}
    profile = data.get("IamInstanceProfile") or {}
    if profile and not _profile_exists(account_id, backend.partition, profile):
        raise LaunchError(f"IAM instance profile {profile} not found")
    devices = _block_devices(data, source)
    try:
        reservation = backend.run_instances(
            image_id, 1, None, data.get("SecurityGroups") or [],
            instance_type=instance_type, is_instance_type_default=False, region_name=region,
            placement=(data.get("Placement") or {}).get("AvailabilityZone") if not primary.get("SubnetId") else None,
            subnet_id=primary.get("SubnetId"), private_ip=private_ip, nics=[],
            security_group_ids=list(primary.get("Groups") or data.get("SecurityGroupIds") or []),
            associate_public_ip=primary.get("AssociatePublicIpAddress"), key_name=data.get("KeyName"),
            tags={"instance": instance_tags, "volume": tag_spec.get("volume", {})},
            block_device_mappings=[_creatable(d) for d in devices], ebs_optimized=bool(data.get("EbsOptimized")),
            disable_api_stop=False, instance_market_options={}, hibernation_options={}, metadata_options={},
            monitoring_state="disabled", ipv6_address_count=None, instance_initiated_shutdown_behavior=None,
            client_token=secrets.token_hex(8))
    except Exception as exc:  # moto's EC2 errors (bad subnet, IP in use, unknown group) fail the launch
        raise LaunchError(f"{type(exc).__name__}: {exc}") from None
    instance = reservation.instances[0]
    _apply_volume_settings(backend, instance, devices)
    if profile:
        backend.associate_iam_instance_profile(instance.id, iam_instance_profile_name=profile.get("Name"),
                                               iam_instance_profile_arn=profile.get("Arn"))
    if config.get("launchDisposition") == "STOPPED":
        backend.stop_instances([instance.id])
    return instance


def terminate(account_id: str, region: str, instance_id: str) -> None:
    backend = ec2(account_id, region)
    if any(i.id == instance_id and i.state != "terminated" for i in backend.all_instances()):
        backend.terminate_instances([instance_id])


def _profile_exists(account_id: str, partition: str, profile: dict[str, str]) -> bool:
    try:
        return filter_iam_instance_profiles(account_id, partition, profile.get("Arn"), profile.get("Name")) is not None
    except Exception:
        return False


def _creatable(device: dict[str, Any]) -> dict[str, Any]:
    """moto's run_instances cannot hand Iops to the volumes it creates, so io1/io2 start as gp3."""
    ebs = device["Ebs"]
    if ebs["VolumeType"] in ("io1", "io2"):
        ebs = {**ebs, "VolumeType": "gp3"}
    return {**device, "Ebs": ebs}


def _apply_volume_settings(backend: Any, instance: Any, devices: list[dict[str, Any]]) -> None:
    """Give each created volume the template's type, IOPS and throughput (see `_creatable`)."""
    for device in devices:
        mapping = instance.block_device_mapping.get(device["DeviceName"])
        volume = backend.volumes.get(mapping.volume_id) if mapping else None
        if volume is not None:
            ebs = device["Ebs"]
            volume.volume_type = ebs["VolumeType"]
            volume.iops = ebs.get("Iops") or volume.iops
            volume.throughput = ebs.get("Throughput") or volume.throughput


def _block_devices(data: dict[str, Any], source: dict[str, Any]) -> list[dict[str, Any]]:
    """One volume per replicated disk, shaped by the template's mapping of the disk's DRS name.

    DRS user guide, Key considerations for EC2 launch templates: DRS maps the template's volumes by the device name
    as the source server reports it; "if no matching volume exists in the launch template, DRS uses default values.
    If the launch template includes a volume that does not exist on the source server, the system disregards it."
    The recovery instance attaches each disk under the source's own EC2 device name."""
    mappings = {m["DeviceName"]: m for m in data.get("BlockDeviceMappings") or []
                if "Ebs" in m and m.get("NoDevice") is None}
    out = []
    for disk in source.get("disks", []):
        ebs = mappings.get(disk["deviceName"], {}).get("Ebs", {})
        out.append({"DeviceName": disk.get("ec2DeviceName") or disk["deviceName"],
                    "Ebs": {"VolumeSize": ebs.get("VolumeSize") or max(disk["bytes"] // GIB, 1),
                            "VolumeType": ebs.get("VolumeType", "gp3"), "SnapshotId": ebs.get("SnapshotId"),
                            "Iops": ebs.get("Iops"), "Throughput": ebs.get("Throughput"),
                            "Encrypted": bool(ebs.get("Encrypted", False)), "KmsKeyId": ebs.get("KmsKeyId"),
                            "DeleteOnTermination": ebs.get("DeleteOnTermination", True)}})
    return out
