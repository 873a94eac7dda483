"""Auto Scaling: launch templates staged nightly with their AMI copied, groups recovered at failover in the
recovered subnets at their desired size, behind the recovered target group; drills isolated and cleaned up."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from conftest import RECOVERY, SOURCE, make_plan
from core.coverage import arn_kind
from drflow.sandbox.faults import Faults
from drflow.sandbox.seed_asg import NAME, USER_DATA, seed_asg
from flows.cleanup import drill_cleanup
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import default_registry



@pytest.fixture
def batch(shop, sandbox):
    ids = {**shop, **seed_asg(boto3.Session(), SOURCE, shop)}
    sandbox.app.clear_log()
    return ids


def asg_plan():
    """The whole shop's scope: the group's instances (tagged app=shop at launch) are its own, no servers."""
    return make_plan()


def client(service: str, region: str = RECOVERY):
    return boto3.client(service, region_name=region)


def groups() -> list[dict[str, Any]]:
    return client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]


def templates() -> list[dict[str, Any]]:
    return client("ec2").describe_launch_templates()["LaunchTemplates"]


def default_data(template_id: str) -> dict[str, Any]:
    return client("ec2").describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]


def instances(ids: list[str]) -> list[dict[str, Any]]:
    return [i for r in client("ec2").describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]]


def test_the_group_comes_back_at_its_desired_size_in_the_recovered_subnets(batch, sandbox):
    plan = asg_plan()
    client("ec2", SOURCE).create_launch_template(  # Beanstalk's own, for its environment: not ours to stage
        LaunchTemplateName="awseb-e-abc-stack", LaunchTemplateData={"ImageId": batch["asg-image"]},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [
            {"Key": "app", "Value": "shop"}, {"Key": "elasticbeanstalk:environment-name", "Value": "shop-web"}]}])
    replicated = run(replicate, plan=plan)
    assert replicated["failed"] == [], replicated["failed"]
    assert not [n for n in replicated["not_protected"] if n["kind"] in ("ec2:launch-template",
                                                                       "autoscaling:autoScalingGroup")]
    assert groups() == []  # a group runs instances: nothing of it before a failover
    [template] = templates()  # the template is staged nightly, with its AMI copied and mapped
    assert template["LaunchTemplateName"] == NAME
    tags = {t["Key"]: t["Value"] for t in template["Tags"]}
    assert tags["drflow:source-id"] == batch["launch-template"] and tags["app"] == "shop"
    data = default_data(template["LaunchTemplateId"])
    copies = client("ec2").describe_images(Owners=["self"], Filters=[
        {"Name": "tag:drflow:source-id", "Values": [batch["asg-image"]]}])["Images"]
    assert [c["ImageId"] for c in copies] == [data["ImageId"]] and data["ImageId"] != batch["asg-image"]
    assert data["InstanceType"] == "t3.small" and data["UserData"] == USER_DATA
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    [staged_sg] = data["SecurityGroupIds"]
    assert staged_sg != batch["sg-app"]

    sandbox.app.clear_log()  # a second night with nothing changed writes nothing for the template
    assert run(replicate, plan=plan)["failed"] == []
    assert [c for c in sandbox.calls if c.write and c.region == RECOVERY and c.service == "ec2"] == []

    sandbox.faults = Faults(dark={SOURCE})
    sandbox.app.clear_log()
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    assert [c for c in sandbox.calls if c.region == SOURCE] == []
    idmap = report["identity_map"]
    assert idmap[batch["sg-app"]] == staged_sg

    [group] = groups()
    assert group["AutoScalingGroupName"] == NAME
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (1, 2, 4)
    assert set(group["VPCZoneIdentifier"].split(",")) == {idmap[batch["private-a"]], idmap[batch["private-b"]]}
    assert group["LaunchTemplate"]["LaunchTemplateId"] == template["LaunchTemplateId"]
    assert group["LaunchTemplate"]["Version"] == "$Default"
    assert group["HealthCheckType"] == "ELB" and group["HealthCheckGracePeriod"] == 120
    assert group["TerminationPolicies"] == ["OldestInstance"]
    recovered_tg = client("elbv2").describe_target_groups(Names=[NAME])["TargetGroups"][0]["TargetGroupArn"]
    assert group["TargetGroupARNs"] == [recovered_tg] and recovered_tg != batch["asg-target-group"]
    tags = {t["Key"]: (t["Value"], t["PropagateAtLaunch"]) for t in group["Tags"]}
    assert tags["app"] == ("shop", True) and tags["tier"] == ("batch", False)
    running = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    assert len(running) == 2
    live = client("ec2").describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
    assert sorted(i["InstanceId"] for r in live["Reservations"] for i in r["Instances"]) == sorted(running)  # no
    # copies of the source group's instances as servers of their own: the group launched these
    for instance in instances(running):
        assert instance["SubnetId"] in {idmap[batch["private-a"]], idmap[batch["private-b"]]}
        assert instance["ImageId"] == data["ImageId"]
        assert [g["GroupId"] for g in instance["SecurityGroups"]] == [staged_sg]
        assert {"Key": "app", "Value": "shop"} in instance["Tags"]
    [policy] = client("autoscaling").describe_policies(AutoScalingGroupName=NAME)["ScalingPolicies"]
    assert policy["PolicyName"] == "cpu-50" and policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingConfiguration"]["TargetValue"] == 50.0
    [action] = client("autoscaling").describe_scheduled_actions(AutoScalingGroupName=NAME)[
        "ScheduledUpdateGroupActions"]
    assert action["ScheduledActionName"] == "nightly-quiet" and action["Recurrence"] == "0 23 * * *"
    [row] = [r for r in report["details"] if r["key"] == f"autoscaling:group/{NAME}"]
    assert row["details"]["in_service"] == 2 and sorted(row["details"]["instances"]) == sorted(running)

    client("autoscaling").set_desired_capacity(AutoScalingGroupName=NAME, DesiredCapacity=3)  # it scaled out since
    sandbox.app.clear_log()  # a failover started again adopts the group: no second one, no write, no scale-in
    again = run(failover, plan=plan, refresh=True)
    assert again["failed"] == [] and again["identity_map"] == idmap
    assert [c for c in sandbox.calls if c.write and c.service == "autoscaling"] == []
    assert groups()[0]["DesiredCapacity"] == 3
    assert [g["AutoScalingGroupName"] for g in groups()] == [NAME] and len(templates()) == 1


def test_a_drill_uses_copies_of_its_own_and_cleanup_removes_them(batch, sandbox):
    plan = asg_plan()
    assert run(replicate, plan=plan)["failed"] == []
    [staged] = templates()
    staged_versions = client("ec2").describe_launch_template_versions(LaunchTemplateId=staged["LaunchTemplateId"])[
        "LaunchTemplateVersions"]

    sandbox.faults = Faults(dark={SOURCE})
    drill = run(failover, plan=plan, drill=True)
    sandbox.faults = Faults()
    assert drill["failed"] == [], drill["failed"]
    drill_id = drill["drill_id"]
    [group] = groups()
    assert group["AutoScalingGroupName"].startswith(f"{NAME}-")
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags["drflow:drill"] == drill_id
    copy = next(t for t in templates() if t["LaunchTemplateId"] != staged["LaunchTemplateId"])
    assert group["LaunchTemplate"]["LaunchTemplateId"] == copy["LaunchTemplateId"]
    drill_sg = default_data(copy["LaunchTemplateId"])["SecurityGroupIds"]
    assert drill_sg != default_data(staged["LaunchTemplateId"])["SecurityGroupIds"]
    drill_tg = client("elbv2").describe_target_groups(TargetGroupArns=group["TargetGroupARNs"])["TargetGroups"][0]
    assert drill_tg["TargetGroupName"] != NAME
    running = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    assert len(running) == 2
    assert all({"Key": "drflow:drill", "Value": drill_id} in i["Tags"] for i in instances(running))
    # production's staged template: untouched, its default version as it was
    assert client("ec2").describe_launch_template_versions(LaunchTemplateId=staged["LaunchTemplateId"])[
        "LaunchTemplateVersions"] == staged_versions

    report = run(drill_cleanup, plan=plan, drill_id=drill_id)
    assert report["failed"] == [], report["failed"]
    assert report["removed"]["autoscaling:group"] == [group["AutoScalingGroupName"]]
    assert report["removed"]["ec2:launch-template"] == [copy["LaunchTemplateId"]]
    assert groups() == []
    assert [t["LaunchTemplateId"] for t in templates()] == [staged["LaunchTemplateId"]]
    states = {i["State"]["Name"] for i in instances(running)}
    assert states == {"terminated"}
    again = run(drill_cleanup, plan=plan, drill_id=drill_id)
    assert again["removed"] == {}


@pytest.mark.parametrize("arn, kind", [
    (f"arn:aws:autoscaling:{SOURCE}:111111111111:autoScalingGroup:6d3c1b9e-0000-4000-8000-000000000000:"
     f"autoScalingGroupName/{NAME}", "autoscaling:autoScalingGroup"),
    (f"arn:aws:ec2:{SOURCE}:111111111111:launch-template/lt-0123456789abcdef0", "ec2:launch-template")])
def test_the_kinds_the_handlers_claim_are_the_tagging_apis(arn, kind):
    registry = default_registry()
    assert arn_kind(arn) == kind
    assert kind in registry["autoscaling:group"].arn_kinds + registry["ec2:launch-template"].arn_kinds


def test_a_new_source_version_is_a_new_default_version_and_a_new_ami_a_new_copy(batch, sandbox):
    plan = asg_plan()
    assert run(replicate, plan=plan)["failed"] == []
    [staged] = templates()
    first = default_data(staged["LaunchTemplateId"])["ImageId"]
    source = client("ec2", SOURCE)
    image = source.register_image(Name="shop-batch-image-2", RootDeviceName="/dev/xvda", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    source.create_launch_template_version(LaunchTemplateId=batch["launch-template"], SourceVersion="1",
                                          LaunchTemplateData={"ImageId": image, "InstanceType": "t3.medium",
                                                              "SecurityGroupIds": [batch["sg-app"]]})
    source.modify_launch_template(LaunchTemplateId=batch["launch-template"], DefaultVersion="2")
    client("autoscaling", SOURCE).update_auto_scaling_group(  # the group stays on the first version, by number
        AutoScalingGroupName=NAME, LaunchTemplate={"LaunchTemplateId": batch["launch-template"], "Version": "1"})

    assert run(replicate, plan=plan)["failed"] == []
    [template] = templates()
    assert template["LaunchTemplateId"] == staged["LaunchTemplateId"] and template["DefaultVersionNumber"] == 2
    data = default_data(template["LaunchTemplateId"])
    assert data["InstanceType"] == "t3.medium" and data["ImageId"] not in (first, image)
    [copy] = client("ec2").describe_images(Owners=["self"], Filters=[
        {"Name": "tag:drflow:source-id", "Values": [image]}])["Images"]
    assert copy["ImageId"] == data["ImageId"]
    assert data["SecurityGroupIds"] != [batch["sg-app"]]

    sandbox.app.clear_log()
    assert run(replicate, plan=plan, refresh=True)["failed"] == []
    assert [c for c in sandbox.calls if c.write and c.region == RECOVERY and c.service == "ec2"] == []
    versions = client("ec2").describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])[
        "LaunchTemplateVersions"]
    assert len(versions) == 2

    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    [group] = groups()
    assert group["LaunchTemplate"]["Version"] == "1"  # the recovered template's version with the first data
    running = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    assert len(running) == 2 and {i["ImageId"] for i in instances(running)} == {first}
    assert {i["InstanceType"] for i in instances(running)} == {"t3.small"}


def test_a_copy_no_kept_recovery_point_launches_from_is_deregistered(batch, sandbox):
    plan = make_plan(vault={"keep": 1})
    assert run(replicate, plan=plan)["failed"] == []
    [first] = client("ec2").describe_images(Owners=["self"])["Images"]
    source = client("ec2", SOURCE)
    image = source.register_image(Name="shop-batch-image-2", RootDeviceName="/dev/xvda", BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    source.create_launch_template_version(LaunchTemplateId=batch["launch-template"], LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.small", "SecurityGroupIds": [batch["sg-app"]]})
    source.modify_launch_template(LaunchTemplateId=batch["launch-template"], DefaultVersion="2")

    assert run(replicate, plan=plan)["failed"] == []
    [kept] = client("ec2").describe_images(Owners=["self"])["Images"]
    assert kept["ImageId"] != first["ImageId"] and {"Key": "drflow:source-id", "Value": image} in kept["Tags"]
    assert kept["ImageId"] == default_data(templates()[0]["LaunchTemplateId"])["ImageId"]
    snapshots = {s["SnapshotId"] for s in client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not {m["Ebs"]["SnapshotId"] for m in first["BlockDeviceMappings"] if "Ebs" in m} & snapshots


def test_cross_account_the_ami_is_shared_then_copied_and_the_group_runs_in_the_recovery_account(batch, sandbox):
    from drflow.sandbox.accounts import recovery_role, session_for

    other = "222222222222"
    role = recovery_role(other, trusted="111111111111")
    plan = make_plan(recovery={"account_id": other, "region": RECOVERY, "role_arn": role})
    assert run(replicate, plan=plan)["failed"] == []
    permissions = client("ec2", SOURCE).describe_image_attribute(ImageId=batch["asg-image"],
                                                                  Attribute="launchPermission")["LaunchPermissions"]
    assert {"UserId": other} in permissions
    theirs = session_for(other, RECOVERY)
    [template] = theirs.client("ec2").describe_launch_templates()["LaunchTemplates"]
    data = theirs.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Default"])["LaunchTemplateVersions"][0][
        "LaunchTemplateData"]
    [copy] = theirs.client("ec2").describe_images(ImageIds=[data["ImageId"]])["Images"]
    assert copy["OwnerId"] == other
    assert templates() == []  # nothing in the source account's recovery region

    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    [group] = theirs.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert len([i for i in group["Instances"] if i["LifecycleState"] == "InService"]) == 2
    assert group["LaunchTemplate"]["LaunchTemplateId"] == template["LaunchTemplateId"]
    assert groups() == []
