"""AMI helpers shared by the nightly image copies (tasks/servers/images.py) and the failback of imaged servers
(tasks/servers/failback_imaged.py): both copy an AMI across regions, and across accounts by sharing it first."""

from __future__ import annotations

from typing import Any

from core.keys import KeyCatalog, key_problems
from core.plan import Plan


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


def snapshot_keys(ec2: Any, snapshot_ids: list[str], keys: KeyCatalog) -> dict[str, dict[str, Any]]:
    """The keys (as KeyCatalog records them, by ARN) encrypting these EBS snapshots: an image's, whose key AWS
    reports on the snapshot only (DescribeSnapshots, Snapshot.KmsKeyId)."""
    if not snapshot_ids:
        return {}
    snapshots = ec2.describe_snapshots(SnapshotIds=sorted(set(snapshot_ids)))["Snapshots"]
    return {s["KmsKeyId"]: keys.describe(s["KmsKeyId"]) for s in snapshots if s.get("Encrypted") and s.get("KmsKeyId")}


def share_problems(plan: Plan, keys: dict[str, dict[str, Any]], what: str) -> list[str]:
    """Why an image (of these keys' snapshots) cannot be shared with the recovery account, before anything is
    imaged, shared or copied. Only an AWS managed key stops it (core.keys.key_problems, shared=True; EC2 User
    Guide, "Share an Amazon EBS snapshot": "You can't share snapshots that are encrypted with the default AWS
    managed key"): a customer key needs no kms_key_map entry here, since the recovery account's CopyImage, which
    names no key, re-encrypts the copy under that account's own default EBS key (EC2 API Reference, CopyImage)."""
    return [message for key in keys.values() if key.get("aws_managed")
            for _, message in key_problems(plan, key, what, shared=True)]
