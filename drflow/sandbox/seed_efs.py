"""The sample workload's shared file system: `shop-files`, mounted in both private subnets.

An NFS security group (`shop-efs`, 2049 from the app tier) guards its mount targets; one access point gives
the app servers their directory as uid/gid 1000. Seeded after `seed_network`, whose ids it uses.
"""

from __future__ import annotations

from typing import Any

import boto3

from drflow.sandbox.workload import APP_TAGS

MOUNT_SUBNETS = {"private-a": "10.0.10.50", "private-b": "10.0.11.50"}  # role -> the mount target's address


def _tags(name: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in {"Name": name, **APP_TAGS}.items()]


def seed_efs(session: boto3.Session, region: str, ids: dict[str, str], kms_key_id: str | None = None) -> dict[str, Any]:
    """Create the shop's file system; returns `ids` with efs, sg-efs, efs-ap and one efs-mt-<subnet role> each.

    `kms_key_id`: encrypt with this customer key (the plan then needs a kms_key_map entry for it)."""
    ec2 = session.client("ec2", region_name=region)
    efs = session.client("efs", region_name=region)
    ids["sg-efs"] = ec2.create_security_group(
        GroupName="shop-efs", Description="shop shared files (NFS)", VpcId=ids["vpc"],
        TagSpecifications=[{"ResourceType": "security-group", "Tags": _tags("shop-efs")}])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=ids["sg-efs"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049,
         "UserIdGroupPairs": [{"GroupId": ids["sg-app"], "Description": "NFS from the app tier"}]}])
    encryption: dict[str, Any] = {"Encrypted": True, "KmsKeyId": kms_key_id} if kms_key_id else {}
    fs = efs.create_file_system(CreationToken=f"shop-files-{region}", PerformanceMode="generalPurpose",
                                ThroughputMode="bursting", Tags=_tags("shop-files"), **encryption)
    ids["efs"] = fs_id = fs["FileSystemId"]
    efs.put_lifecycle_configuration(FileSystemId=fs_id, LifecyclePolicies=[{"TransitionToIA": "AFTER_30_DAYS"}])
    for role, ip in MOUNT_SUBNETS.items():
        ids[f"efs-mt-{role}"] = efs.create_mount_target(FileSystemId=fs_id, SubnetId=ids[role], IpAddress=ip,
                                                        SecurityGroups=[ids["sg-efs"]])["MountTargetId"]
    ids["efs-ap"] = efs.create_access_point(
        ClientToken="shop-uploads", FileSystemId=fs_id, Tags=_tags("shop-uploads"),
        PosixUser={"Uid": 1000, "Gid": 1000, "SecondaryGids": [100]},
        RootDirectory={"Path": "/uploads", "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000,
                                                            "Permissions": "750"}})["AccessPointId"]
    return ids
