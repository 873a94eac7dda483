"""AMI helpers shared by the nightly image copies (tasks/servers/images.py) and the failback of imaged servers
(tasks/servers/failback_imaged.py): both copy an AMI across regions, and across accounts by sharing it first."""

from __future__ import annotations

from typing import Any


def image_snapshots(image: dict[str, Any]) -> list[str]:
    """The EBS snapshots behind an AMI's block device mappings."""
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if (m.get("Ebs") or {}).get("SnapshotId")]


def share_image(ec2: Any, image_id: str, account: str) -> None:
    """Let another account copy the image: a launch permission on the AMI and create-volume permission on its
    snapshots (CopyImage of a shared AMI reads them). The other account's copy is its own."""
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": account}]})
    for snapshot in image_snapshots(image):
        ec2.modify_snapshot_attribute(SnapshotId=snapshot, Attribute="createVolumePermission",
                                      OperationType="add", UserIds=[account])
