"""The sample workload's batch tier: an Auto Scaling group launching from a launch template.

Launch template "shop-batch" (an AMI of its own, t3.small, the app security group, user data: a gzip-compressed
boot script that exports the database's address and the orders queue's URL when the shop has them); group
"shop-batch" with 1/2/4 instances in the private subnets, a target tracking policy on CPU, a nightly scheduled
action, attached to a target group of its own; tags app=shop, propagated to the instances.
"""

from __future__ import annotations

import base64
import gzip

import boto3

NAME = "shop-batch"
APP_TAGS = [{"Key": "app", "Value": "shop"}]
USER_DATA = base64.b64encode(b"#!/bin/sh\nexec /opt/shop/batch --queue orders\n").decode()


def user_data(ids: dict[str, str]) -> str:
    """The boot script, base64 of gzip as cloud-init takes it, naming what the shop has (USER_DATA without)."""
    if not (ids.get("db-endpoint") or ids.get("queue-url")):
        return USER_DATA
    script = (f"#!/bin/sh\nexport DB_HOST={ids.get('db-endpoint', '')}\n"
              f"export ORDERS_QUEUE_URL={ids.get('queue-url', '')}\nexec /opt/shop/batch\n")
    return base64.b64encode(gzip.compress(script.encode(), mtime=0)).decode()


def _image(ec2, name: str) -> str:
    """The batch AMI: reused when it is there (a demo seeded twice), registered otherwise."""
    found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    if found:
        return found[0]["ImageId"]
    return ec2.register_image(Name=name, RootDeviceName="/dev/xvda", Architecture="x86_64",
                              VirtualizationType="hvm", BlockDeviceMappings=[
                                  {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}])["ImageId"]


def seed_asg(session: boto3.Session, region: str, ids: dict[str, str]) -> dict[str, str]:
    """Create the batch tier on the network `seed_network` made (`ids`); returns its ids by role."""
    ec2 = session.client("ec2", region_name=region)
    asg = session.client("autoscaling", region_name=region)
    elb = session.client("elbv2", region_name=region)
    image = _image(ec2, "shop-batch-image")
    template = ec2.create_launch_template(
        LaunchTemplateName=NAME, VersionDescription="batch workers",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.small", "SecurityGroupIds": [ids["sg-app"]],
                            "UserData": user_data(ids), "MetadataOptions": {"HttpTokens": "required"},
                            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda",
                                                     "Ebs": {"VolumeSize": 16, "VolumeType": "gp3", "Encrypted": True}}],
                            "TagSpecifications": [{"ResourceType": "instance",
                                                   "Tags": [{"Key": "Name", "Value": "shop-batch"}]}]},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": APP_TAGS}])["LaunchTemplate"]
    group_arn = elb.create_target_group(Name=NAME, Protocol="HTTP", Port=8080, VpcId=ids["vpc"], TargetType="instance",
                                        HealthCheckPath="/health", Tags=APP_TAGS)["TargetGroups"][0]["TargetGroupArn"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName=NAME, LaunchTemplate={"LaunchTemplateName": NAME, "Version": "$Default"},
        MinSize=1, DesiredCapacity=2, MaxSize=4, VPCZoneIdentifier=f"{ids['private-a']},{ids['private-b']}",
        TargetGroupARNs=[group_arn], HealthCheckType="ELB", HealthCheckGracePeriod=120,
        TerminationPolicies=["OldestInstance"],
        Tags=[{"Key": "app", "Value": "shop", "PropagateAtLaunch": True, "ResourceId": NAME,
               "ResourceType": "auto-scaling-group"},
              {"Key": "tier", "Value": "batch", "PropagateAtLaunch": False, "ResourceId": NAME,
               "ResourceType": "auto-scaling-group"}])
    asg.put_scaling_policy(AutoScalingGroupName=NAME, PolicyName="cpu-50", PolicyType="TargetTrackingScaling",
                           TargetTrackingConfiguration={"PredefinedMetricSpecification": {
                               "PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 50.0})
    asg.put_scheduled_update_group_action(AutoScalingGroupName=NAME, ScheduledActionName="nightly-quiet",
                                          Recurrence="0 23 * * *", MinSize=1, DesiredCapacity=1)
    return {"launch-template": template["LaunchTemplateId"], "asg": NAME, "asg-target-group": group_arn,
            "asg-image": image}
