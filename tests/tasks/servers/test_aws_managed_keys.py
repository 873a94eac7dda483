"""What the AWS managed EBS key encrypts cannot be shared with another account, so a cross-account night refuses
an imaged server (or a launch template's AMI) under it before it images, shares or copies anything.

EC2 User Guide, "Share an Amazon EBS snapshot": "You can't share snapshots that are encrypted with the default AWS
managed key"; "Share an AMI with specific AWS accounts": an AMI's encrypted snapshots must be under a customer
managed key. The sandbox refuses both shares as AWS does (drflow/sandbox/moto_ec2.py). Engine-direct: discovery and
the handlers' pre-flight (replicate raises PreflightError on any problem before its first write).
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from accounts_helper import EXTERNAL_ID, OTHER, RECOVERY_ROLE
from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.engine import RunSpec, handler_preflight
from core.models import Mode
from drflow.sandbox.accounts import recovery_role
from tasks.launch_templates import LaunchTemplateHandler
from tasks.registry import default_registry
from tasks.servers.instances import ServerHandler


def _server(shop, name: str, **ebs) -> str:
    """An imaged server (no DRS agent) of the shop, its root volume encrypted as `ebs` says."""
    return boto3.client("ec2", region_name=SOURCE).run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.small", SubnetId=shop["private-a"],
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "Encrypted": True, **ebs}}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "shop"},
                                                                 {"Key": "Name", "Value": name}]}])[
        "Instances"][0]["InstanceId"]


def _cross_account_spec():
    recovery_role(OTHER, [ACCOUNT], external_id=EXTERNAL_ID)
    plan = make_plan(recovery={"account_id": OTHER, "region": RECOVERY, "role_arn": RECOVERY_ROLE,
                               "external_id": EXTERNAL_ID})
    return RunSpec(plan=plan, aws=AwsAccess(plan), registry=default_registry(), mode=Mode.STAGE, scope="stage")


def test_the_sandbox_records_the_default_ebs_key_and_refuses_to_share_what_it_encrypts(shop, sandbox):
    ec2, kms = boto3.client("ec2", region_name=SOURCE), boto3.client("kms", region_name=SOURCE)
    instance = _server(shop, "billing")  # Encrypted, no KmsKeyId: the account's default key
    [volume] = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance]}])["Volumes"]
    default = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert volume["KmsKeyId"] == default["Arn"] and default["KeyManager"] == "AWS"
    snapshot = ec2.create_snapshot(VolumeId=volume["VolumeId"])
    assert snapshot["Encrypted"] and snapshot["KmsKeyId"] == default["Arn"]
    with pytest.raises(ClientError) as refused:
        ec2.modify_snapshot_attribute(SnapshotId=snapshot["SnapshotId"], Attribute="createVolumePermission",
                                      OperationType="add", UserIds=[OTHER])
    assert refused.value.response["Error"]["Code"] == "OperationNotPermitted"
    image = ec2.create_image(InstanceId=instance, Name="billing-image")["ImageId"]
    [mapping] = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]
    [behind] = ec2.describe_snapshots(SnapshotIds=[mapping["Ebs"]["SnapshotId"]])["Snapshots"]
    assert mapping["Ebs"]["Encrypted"] and behind["KmsKeyId"] == default["Arn"]  # CreateImage keeps the volume's key
    with pytest.raises(ClientError) as refused:
        ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"UserId": OTHER}]})
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    assert ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"] == []
    assert ec2.describe_snapshot_attribute(SnapshotId=snapshot["SnapshotId"], Attribute="createVolumePermission")[
        "CreateVolumePermissions"] == []

    customer = kms.create_key(Description="billing")["KeyMetadata"]["Arn"]  # a customer key's snapshot: shared
    theirs = _server(shop, "ledger", KmsKeyId=customer)
    [volume] = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [theirs]}])["Volumes"]
    shared = ec2.create_snapshot(VolumeId=volume["VolumeId"])["SnapshotId"]
    ec2.modify_snapshot_attribute(SnapshotId=shared, Attribute="createVolumePermission", OperationType="add",
                                  UserIds=[OTHER])
    ec2.modify_image_attribute(ImageId=ec2.create_image(InstanceId=theirs, Name="ledger-image")["ImageId"],
                               LaunchPermission={"Add": [{"UserId": OTHER}]})


def test_a_cross_account_night_refuses_an_imaged_server_under_the_aws_managed_key_before_any_write(shop, sandbox):
    billing = _server(shop, "billing")
    customer = boto3.client("kms", region_name=SOURCE).create_key(Description="ledger")["KeyMetadata"]["Arn"]
    _server(shop, "ledger", KmsKeyId=customer)  # copied under the recovery account's own key: no mapping needed
    spec = _cross_account_spec()
    sandbox.app.clear_log()
    servers = ServerHandler().discover(spec.aws.source, spec.plan)
    problems = handler_preflight(servers, spec)
    [(where, message)] = problems
    assert where == "servers.billing" and "alias/aws/ebs" in message and OTHER in message
    assert "customer managed key" in message and "DRS agent" in message
    assert [c for c in sandbox.calls if c.write] == []
    ec2 = boto3.client("ec2", region_name=SOURCE)
    assert ec2.describe_images(Owners=["self"])["Images"] == []  # nothing imaged, so nothing shared or copied
    same_account = RunSpec(plan=make_plan(), aws=AwsAccess(make_plan()), registry=default_registry(),
                           mode=Mode.STAGE, scope="stage")
    assert handler_preflight(servers, same_account) == []  # a copy within the account needs no share
    assert billing in {s.source_id for s in servers}


def test_a_cross_account_night_refuses_a_launch_template_whose_ami_is_under_the_aws_managed_key(shop, sandbox):
    ec2 = boto3.client("ec2", region_name=SOURCE)
    image = ec2.create_image(InstanceId=_server(shop, "builder"), Name="batch-image")["ImageId"]
    ec2.create_launch_template(LaunchTemplateName="shop-batch", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.small"}, TagSpecifications=[
        {"ResourceType": "launch-template", "Tags": [{"Key": "app", "Value": "shop"}]}])
    spec = _cross_account_spec()
    sandbox.app.clear_log()
    templates = LaunchTemplateHandler().discover(spec.aws.source, spec.plan)
    [(where, message)] = handler_preflight(templates, spec)
    assert where == "launch_templates.shop-batch" and "alias/aws/ebs" in message and "customer managed key" in message
    assert [c for c in sandbox.calls if c.write] == []
    assert ec2.describe_image_attribute(ImageId=image, Attribute="launchPermission")["LaunchPermissions"] == []
