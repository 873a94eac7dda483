"""The DRS test double: served by moto as `drs`, in-process and over HTTP, shaped like the real API.

Every DRS client here checks each raw response body against botocore's model of the operation
(`validating_client`), so a field the model does not know, a missing required one, a wrong type or
an enum value out of range fails the call that returned it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

import model_check
from conftest import ACCOUNT, RECOVERY, SOURCE
from drflow.sandbox.drs import FakeClock, drs_backend
from drflow.sandbox.drs.ec2view import MANAGED_TAG, SOURCE_SERVER_TAG
from drflow.sandbox.drs.responses import OPERATIONS
from drflow.sandbox.drs.util import iso
from drflow.sandbox.server import SECRET, access_key_for
from model_check import service_model, shape_errors

MODEL = service_model("drs")
# The model caps EbsVolumeID at 19 characters, yet its own pattern and EC2 give `vol-` + 17 hex (21).
LENGTH_QUIRKS = frozenset({"EbsVolumeID"})


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    """These tests never run a flow: shadow conftest's Prefect test server (seconds to start)."""
    yield


# -- response validation against the botocore model ----------------------------------------------------

def validating_client(region: str = RECOVERY, seen: set[str] | None = None) -> Any:
    """A boto3 DRS client that asserts every raw response (errors included) against the model."""
    # the double answers ResourceNotFoundException for unknown ids where the DRS model lists no such error
    # (TerminateRecoveryInstances): what real DRS answers there is not documented
    return model_check.validating_client("drs", region, seen, quirks=LENGTH_QUIRKS, declared_errors=False)


def test_the_validator_catches_what_the_model_forbids():
    job = MODEL.shape_for("Job")
    assert shape_errors(job, {"jobID": "drsjob-0123456789abcdefg", "status": "COMPLETED"}) == []
    assert shape_errors(job, {"status": "DONE", "extra": 1, "tags": {"k": 2}}, quirks=LENGTH_QUIRKS) == [
        "$.jobID: required member missing", "$.status: 'DONE' not in enum JobStatus",
        "$.extra: not a member of Job", "$.tags[k]: expected a string, got 2"]


# -- helpers ------------------------------------------------------------------------------------------

def run_instances(count: int = 1, name: str = "web", instance_type: str = "t3.large", agent: bool = True,
                  region: str = SOURCE, subnet: str | None = None, ip: str | None = None, **tags: str) -> list[str]:
    all_tags = {"Name": name, **({"drs-agent": "installed"} if agent else {}), **tags}
    placement = {"SubnetId": subnet, **({"PrivateIpAddress": ip} if ip else {})} if subnet else {}
    reply = boto3.client("ec2", region_name=region).run_instances(
        ImageId="ami-12345678", MinCount=count, MaxCount=count, InstanceType=instance_type, **placement,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30}}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}])
    return [i["InstanceId"] for i in reply["Instances"]]


def server_of(drs: Any, instance_id: str) -> dict[str, Any]:
    servers = drs.describe_source_servers()["items"]
    return next(s for s in servers if s["sourceProperties"]["identificationHints"]["awsInstanceID"] == instance_id)


def job_of(drs: Any, job_id: str) -> dict[str, Any]:
    return drs.describe_jobs(filters={"jobIDs": [job_id]})["items"][0]


def recover(drs: Any, *server_ids: str, **kwargs: Any) -> dict[str, Any]:
    return drs.start_recovery(sourceServers=[{"sourceServerID": s} for s in server_ids], **kwargs)["job"]


def network(region: str = RECOVERY) -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.10.0/24", AvailabilityZone=f"{region}b")["Subnet"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    return {"vpc": vpc, "subnet": subnet["SubnetId"], "group": group}


def set_template(template_id: str, data: dict[str, Any]) -> None:
    ec2 = boto3.client("ec2", region_name=RECOVERY)
    version = ec2.create_launch_template_version(LaunchTemplateId=template_id, LaunchTemplateData=data)
    ec2.modify_launch_template(LaunchTemplateId=template_id,
                               DefaultVersion=str(version["LaunchTemplateVersion"]["VersionNumber"]))


def instance(region: str, instance_id: str) -> dict[str, Any]:
    return boto3.client("ec2", region_name=region).describe_instances(
        InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def events(drs: Any, job_id: str) -> list[tuple[str, str | None]]:
    return [(i["event"], i["eventData"].get("sourceServerID")) for i in
            drs.describe_job_log_items(jobID=job_id)["items"]]


def assert_discovers_agent_instances_only(drs: Any, account: str) -> str:
    web = run_instances(name="web", instance_type="t3.large")[0]
    run_instances(name="no-agent", agent=False)
    run_instances(name="elsewhere", **{"drs-target-region": "eu-west-1"})
    servers = drs.describe_source_servers()["items"]
    assert [s["sourceProperties"]["identificationHints"]["awsInstanceID"] for s in servers] == [web]
    server = servers[0]
    source = instance(SOURCE, web)
    assert server["sourceServerID"] == drs_backend(account, RECOVERY).source_server_id_for(web)
    assert re.fullmatch(r"s-[0-9a-f]{17}", server["sourceServerID"])
    assert server["arn"] == f"arn:aws:drs:{RECOVERY}:{account}:source-server/{server['sourceServerID']}"
    props = server["sourceProperties"]
    assert props["identificationHints"]["hostname"] == "web"
    assert props["recommendedInstanceType"] == "t3.large"
    assert props["networkInterfaces"][0]["ips"] == [source["PrivateIpAddress"]]
    # the name the OS of a Nitro instance sees (DRS reports that, not the block device mapping's /dev/xvda)
    assert props["disks"] == [{"deviceName": "/dev/nvme0n1", "bytes": 30 * 1024 ** 3}]
    assert props["cpus"][0]["cores"] == 2 and props["ramBytes"] == 8 * 1024 ** 3
    assert server["sourceCloudProperties"] == {"originAccountID": account, "originRegion": SOURCE,
                                               "originAvailabilityZone": source["Placement"]["AvailabilityZone"]}
    assert server["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert server["replicationDirection"] == "FAILOVER" and server["lastLaunchResult"] == "NOT_STARTED"
    config = drs.get_launch_configuration(sourceServerID=server["sourceServerID"])
    assert config["targetInstanceTypeRightSizingMethod"] == "BASIC" and config["name"] == "web"
    template = boto3.client("ec2", region_name=RECOVERY).describe_launch_template_versions(
        LaunchTemplateId=config["ec2LaunchTemplateID"], Versions=["$Default"])["LaunchTemplateVersions"][0]
    assert template["LaunchTemplateData"]["InstanceType"] == "t3.large"
    # the instance's own region replicates nothing; a region it targets sees it too
    assert validating_client(SOURCE).describe_source_servers()["items"] == []
    assert len(validating_client("eu-west-1").describe_source_servers()["items"]) == 2
    return server["sourceServerID"]


# -- discovery, in-process and over HTTP --------------------------------------------------------------

def test_in_process_with_mock_aws_discovers_and_recovers(monkeypatch):
    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        drs = validating_client()
        server_id = assert_discovers_agent_instances_only(drs, DEFAULT_ACCOUNT_ID)
        job = recover(drs, server_id)
        assert job_of(drs, job["jobID"])["status"] == "COMPLETED"
        (recovered,) = drs.describe_recovery_instances()["items"]
        assert instance(RECOVERY, recovered["ec2InstanceID"])["State"]["Name"] == "running"


def test_over_http_through_the_sandbox_discovers_per_account(sandbox):
    drs = validating_client()
    server_id = assert_discovers_agent_instances_only(drs, ACCOUNT)
    assert list(sandbox.drs(ACCOUNT, RECOVERY).servers) == [server_id]
    assert "DescribeSourceServers" in [c.operation for c in sandbox.calls if c.service == "drs"]
    other = boto3.Session(aws_access_key_id=access_key_for("222222222222"), aws_secret_access_key=SECRET)
    assert other.client("drs", region_name=RECOVERY).describe_source_servers()["items"] == []
    theirs = other.client("ec2", region_name=SOURCE).run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "drs-agent", "Value": "installed"}]}])["Instances"][0]
    (their_server,) = other.client("drs", region_name=RECOVERY).describe_source_servers()["items"]
    assert their_server["sourceCloudProperties"]["originAccountID"] == "222222222222"
    assert their_server["sourceProperties"]["identificationHints"]["awsInstanceID"] == theirs["InstanceId"]
    assert [s["sourceServerID"] for s in drs.describe_source_servers()["items"]] == [server_id]


# -- every operation, every response shape -------------------------------------------------------------

def test_every_operation_answers_in_the_models_shape(sandbox):
    seen: set[str] = set()
    drs = validating_client(seen=seen)
    web = run_instances()[0]
    drs.initialize_service()
    server = server_of(drs, web)["sourceServerID"]
    drs.get_launch_configuration(sourceServerID=server)
    drs.update_launch_configuration(sourceServerID=server, copyTags=True, licensing={"osByol": True})
    drs.describe_recovery_snapshots(sourceServerID=server, order="DESC")
    job = recover(drs, server, isDrill=True, tags={"drill": "yes"})
    drs.describe_jobs()
    drs.describe_job_log_items(jobID=job["jobID"])
    (recovered,) = drs.describe_recovery_instances()["items"]
    drs.tag_resource(resourceArn=recovered["arn"], tags={"a": "1"})
    drs.untag_resource(resourceArn=recovered["arn"], tagKeys=["a"])
    drs.list_tags_for_resource(resourceArn=job["arn"])
    drs.reverse_replication(recoveryInstanceID=recovered["recoveryInstanceID"])
    drs.start_failback_launch(recoveryInstanceIDs=[recovered["recoveryInstanceID"]])
    drs.describe_recovery_instances()
    drs.describe_jobs()
    drs.describe_source_servers()
    drs.terminate_recovery_instances(recoveryInstanceIDs=[recovered["recoveryInstanceID"]])
    drs.describe_jobs()
    validating_client(SOURCE, seen).describe_source_servers()
    with pytest.raises(drs.exceptions.ResourceNotFoundException):
        drs.get_launch_configuration(sourceServerID="s-00000000000000000")
    assert seen == set(OPERATIONS)


def test_unimplemented_operations_fail_loudly(sandbox):
    with pytest.raises(boto3.client("drs", region_name=RECOVERY).exceptions.ClientError) as raised:
        boto3.client("drs", region_name=RECOVERY).list_staging_accounts()
    assert raised.value.response["Error"]["Code"] == "NotImplementedException"


# -- launching -----------------------------------------------------------------------------------------

def test_start_recovery_launches_from_the_templates_default_version(sandbox):
    drs, net = validating_client(), network()
    iam = boto3.client("iam")
    iam.create_role(RoleName="web", AssumeRolePolicyDocument="{}")
    profile = iam.create_instance_profile(InstanceProfileName="web")["InstanceProfile"]["Arn"]
    web = run_instances(instance_type="t3.large")[0]
    server = server_of(drs, web)["sourceServerID"]
    config = drs.update_launch_configuration(sourceServerID=server, targetInstanceTypeRightSizingMethod="NONE")
    set_template(config["ec2LaunchTemplateID"], {
        "InstanceType": "m5.large", "IamInstanceProfile": {"Arn": profile},
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": net["subnet"], "PrivateIpAddress": "10.0.10.20",
                               "Groups": [net["group"]]}],
        "BlockDeviceMappings": [{"DeviceName": "/dev/nvme0n1", "Ebs": {"VolumeSize": 50, "VolumeType": "io1",
                                                                      "Iops": 3000}},
                                {"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 100, "VolumeType": "io1",
                                                                    "Iops": 3000}}],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web-dr"}]}]})
    job = recover(drs, server, tags={"run": "1"})
    assert (job["type"], job["initiatedBy"], job["status"]) == ("LAUNCH", "START_RECOVERY", "PENDING")
    assert job["participatingServers"] == [{"sourceServerID": server, "launchStatus": "PENDING"}]
    assert re.fullmatch(r"drsjob-[0-9a-f]{17}", job["jobID"])

    done = job_of(drs, job["jobID"])
    assert done["status"] == "COMPLETED"
    (participant,) = done["participatingServers"]
    assert participant["launchStatus"] == "LAUNCHED"
    launched = instance(RECOVERY, participant["recoveryInstanceID"])
    assert launched["InstanceType"] == "m5.large"
    assert launched["SubnetId"] == net["subnet"] and launched["PrivateIpAddress"] == "10.0.10.20"
    assert [g["GroupId"] for g in launched["SecurityGroups"]] == [net["group"]]
    assert launched["IamInstanceProfile"]["Arn"] == profile
    assert launched["ImageId"].startswith("ami-")
    tags = {t["Key"]: t["Value"] for t in launched["Tags"]}
    assert tags == {"Name": "web-dr", MANAGED_TAG: "drs.amazonaws.com", SOURCE_SERVER_TAG: server}
    volumes = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in launched["BlockDeviceMappings"]}
    described = {v["VolumeId"]: v for v in boto3.client("ec2", region_name=RECOVERY).describe_volumes(
        VolumeIds=list(volumes.values()))["Volumes"]}
    # the template's volumes are mapped by the disk names DRS reports: /dev/nvme0n1 shapes the source's /dev/xvda;
    # /dev/xvdb is no disk of the source server, so DRS disregards it (DRS guide, key considerations)
    assert [(d, described[v]["Size"], described[v]["VolumeType"]) for d, v in sorted(volumes.items())] == [
        ("/dev/xvda", 50, "io1")]
    assert described[volumes["/dev/xvda"]]["Iops"] == 3000

    assert events(drs, job["jobID"]) == [("JOB_START", None), ("SNAPSHOT_START", server), ("SNAPSHOT_END", server),
                                         ("CONVERSION_START", server), ("CONVERSION_END", server),
                                         ("LAUNCH_START", server), ("JOB_END", None)]
    (recovered,) = drs.describe_recovery_instances(filters={"sourceServerIDs": [server]})["items"]
    assert recovered["recoveryInstanceID"] == recovered["ec2InstanceID"] == launched["InstanceId"]
    assert (recovered["jobID"], recovered["isDrill"], recovered["ec2InstanceState"]) == (job["jobID"], False, "RUNNING")
    assert recovered["originEnvironment"] == "AWS"
    assert recovered["recoveryInstanceProperties"]["networkInterfaces"][0]["ips"] == ["10.0.10.20"]
    source = server_of(drs, web)
    assert source["recoveryInstanceId"] == launched["InstanceId"] and source["lastLaunchResult"] == "SUCCEEDED"
    assert source["lifeCycle"]["lastLaunch"]["initiated"]["jobID"] == job["jobID"]
    assert drs.list_tags_for_resource(resourceArn=job["arn"])["tags"] == {"run": "1"}


def test_basic_right_sizing_overrides_the_templates_instance_type_and_copy_settings_apply(sandbox):
    drs, net = validating_client(), network()
    source_net = network(SOURCE)
    web = run_instances(instance_type="t3.large", subnet=source_net["subnet"], ip="10.0.10.99", team="shop")[0]
    server = server_of(drs, web)["sourceServerID"]
    config = drs.update_launch_configuration(sourceServerID=server, copyTags=True, copyPrivateIp=True,
                                             launchDisposition="STOPPED")
    set_template(config["ec2LaunchTemplateID"], {"InstanceType": "m5.large", "NetworkInterfaces": [
        {"DeviceIndex": 0, "SubnetId": net["subnet"], "PrivateIpAddress": "10.0.10.20", "Groups": [net["group"]]}]})
    job = recover(drs, server)
    (participant,) = job_of(drs, job["jobID"])["participatingServers"]
    launched = instance(RECOVERY, participant["recoveryInstanceID"])
    assert launched["InstanceType"] == "t3.large"  # BASIC: DRS picks the source's type over the template's
    assert launched["PrivateIpAddress"] == "10.0.10.99"  # copyPrivateIp: the source's, not the template's
    assert launched["State"]["Name"] == "stopped"
    assert {"team": "shop", "Name": "web"}.items() <= {t["Key"]: t["Value"] for t in launched["Tags"]}.items()


def test_a_new_launch_replaces_the_servers_recovery_instance_and_terminate_removes_it(sandbox):
    drs = validating_client()
    server = server_of(drs, run_instances()[0])["sourceServerID"]
    first = recover(drs, server, isDrill=True)
    assert job_of(drs, first["jobID"])["initiatedBy"] == "START_DRILL"
    (old,) = drs.describe_recovery_instances()["items"]
    assert old["isDrill"] is True
    recover(drs, server)
    (new,) = drs.describe_recovery_instances()["items"]
    assert new["recoveryInstanceID"] != old["recoveryInstanceID"]
    assert instance(RECOVERY, old["ec2InstanceID"])["State"]["Name"] == "terminated"

    job = drs.terminate_recovery_instances(recoveryInstanceIDs=[new["recoveryInstanceID"]])["job"]
    assert (job["type"], job["initiatedBy"]) == ("TERMINATE", "TERMINATE_RECOVERY_INSTANCES")
    assert drs.describe_recovery_instances()["items"] == []
    done = job_of(drs, job["jobID"])
    assert done["status"] == "COMPLETED"
    assert done["participatingServers"][0]["launchStatus"] == "TERMINATED"
    assert [e for e, _ in events(drs, job["jobID"])] == ["JOB_START", "CLEANUP_START", "CLEANUP_END", "JOB_END"]
    assert instance(RECOVERY, new["ec2InstanceID"])["State"]["Name"] == "terminated"
    assert "recoveryInstanceId" not in server_of(drs, drs_backend(ACCOUNT, RECOVERY).servers[server].instance_id)
    with pytest.raises(drs.exceptions.ResourceNotFoundException):
        drs.terminate_recovery_instances(recoveryInstanceIDs=[new["recoveryInstanceID"]])


def test_reverse_replication_and_failback_launch(sandbox):
    drs = validating_client()
    server = server_of(drs, run_instances()[0])
    recover(drs, server["sourceServerID"])
    (recovered,) = drs.describe_recovery_instances()["items"]
    arn = drs.reverse_replication(recoveryInstanceID=recovered["recoveryInstanceID"])[
        "reversedDirectionSourceServerArn"]
    (reversed_server,) = validating_client(SOURCE).describe_source_servers()["items"]
    assert reversed_server["arn"] == arn and reversed_server["replicationDirection"] == "FAILBACK"
    assert reversed_server["sourceCloudProperties"]["originRegion"] == RECOVERY
    assert reversed_server["reversedDirectionSourceServerArn"] == server["arn"]
    assert server_of(drs, server["sourceProperties"]["identificationHints"]["awsInstanceID"])[
        "reversedDirectionSourceServerArn"] == arn
    job = drs.start_failback_launch(recoveryInstanceIDs=[recovered["recoveryInstanceID"]], tags={"k": "v"})["job"]
    assert (job["type"], job["initiatedBy"]) == ("LAUNCH", "FAILBACK")
    assert job_of(drs, job["jobID"])["status"] == "COMPLETED"
    (after,) = drs.describe_recovery_instances()["items"]
    assert after["failback"]["state"] == "FAILBACK_COMPLETED" and after["failback"]["failbackJobID"] == job["jobID"]


def test_a_reversed_server_syncs_before_it_can_be_recovered(sandbox):
    """The reversed server goes INITIATING -> INITIAL_SYNC -> CREATING_SNAPSHOT -> CONTINUOUS on its backend's
    clock; StartRecovery before its initial sync ends is refused (ConflictException), with no job made."""
    drs, home, clock = validating_client(), validating_client(SOURCE), FakeClock()
    for region in (RECOVERY, SOURCE):
        sandbox.drs(ACCOUNT, region).set_clock(clock)
    sandbox.drs(ACCOUNT, SOURCE).set_initial_sync(1000)
    server = server_of(drs, run_instances()[0])
    recover(drs, server["sourceServerID"])
    (recovered,) = drs.describe_recovery_instances()["items"]
    reversed_id = drs.reverse_replication(recoveryInstanceID=recovered["recoveryInstanceID"])[
        "reversedDirectionSourceServerArn"].rsplit("/", 1)[-1]

    def replication() -> dict[str, Any]:
        return home.describe_source_servers(filters={"sourceServerIDs": [reversed_id]})["items"][0][
            "dataReplicationInfo"]

    seen = []
    for step in (50, 100, 500, 300, 49):  # 50, 150, 650, 950, 999 s after the reversal
        clock.advance(step)
        seen.append(replication()["dataReplicationState"])
        with pytest.raises(home.exceptions.ConflictException) as refused:
            recover(home, reversed_id)
        assert refused.value.response["resourceId"] == reversed_id
    assert seen == ["INITIATING", "INITIAL_SYNC", "INITIAL_SYNC", "CREATING_SNAPSHOT", "CREATING_SNAPSHOT"]
    assert replication()["lagDuration"] == "PT999S" and replication()["etaDateTime"] == iso(clock.time + timedelta(
        seconds=1))
    assert home.describe_recovery_snapshots(sourceServerID=reversed_id)["items"] == []
    assert home.describe_jobs(filters={})["items"] == []
    clock.advance(1)
    healthy = replication()
    assert healthy["dataReplicationState"] == "CONTINUOUS" and healthy["lagDuration"] == "PT0S"
    assert len(home.describe_recovery_snapshots(sourceServerID=reversed_id)["items"]) == 1
    assert job_of(home, recover(home, reversed_id)["jobID"])["status"] == "COMPLETED"


def test_a_reversed_server_set_never_to_sync_stays_in_initial_sync(sandbox):
    drs, home = validating_client(), validating_client(SOURCE)
    sandbox.drs(ACCOUNT, SOURCE).set_initial_sync(float("inf"))
    recover(drs, server_of(drs, run_instances()[0])["sourceServerID"])
    (recovered,) = drs.describe_recovery_instances()["items"]
    drs.reverse_replication(recoveryInstanceID=recovered["recoveryInstanceID"])
    (reversed_server,) = home.describe_source_servers()["items"]
    assert reversed_server["dataReplicationInfo"]["dataReplicationState"] == "INITIATING"
    with pytest.raises(home.exceptions.ConflictException):
        recover(home, reversed_server["sourceServerID"])


# -- limits, faults, latency, snapshots -----------------------------------------------------------------

def test_drs_limits_are_enforced_with_drs_errors(sandbox):
    drs = validating_client()
    with pytest.raises(drs.exceptions.ValidationException) as raised:
        recover(drs, *[f"s-{i:017d}" for i in range(101)])
    assert raised.value.response["fieldList"][0]["name"] == "sourceServers"

    run_instances(count=21)
    sandbox.drs(ACCOUNT, RECOVERY).set_latency(60)  # real clock: nothing completes during the test
    servers = [s["sourceServerID"] for s in drs.describe_source_servers()["items"]]
    first = recover(drs, servers[0])
    with pytest.raises(drs.exceptions.ConflictException) as conflict:
        recover(drs, servers[0])
    assert conflict.value.response["resourceId"] == servers[0]
    with pytest.raises(drs.exceptions.ConflictException):
        drs.update_launch_configuration(sourceServerID=servers[0], copyTags=True)
    for server in servers[1:20]:
        recover(drs, server)
    with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as quota:
        recover(drs, servers[20])
    error = quota.value.response
    assert (error["serviceCode"], error["resourceType"]) == ("drs", "JOB") and error["quotaCode"]
    assert job_of(drs, first["jobID"])["status"] == "STARTED"

    sandbox.drs(ACCOUNT, RECOVERY).limits.update(concurrent_jobs=100, servers_in_jobs=20)
    with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as quota:
        recover(drs, servers[20])
    assert quota.value.response["resourceType"] == "SOURCE_SERVER"


def test_injected_launch_failure_fails_once_then_the_server_launches(sandbox):
    drs = validating_client()
    server = server_of(drs, run_instances()[0])["sourceServerID"]
    backend = sandbox.drs(ACCOUNT, RECOVERY)
    backend.fail_next_launches(server, 1)
    failed = job_of(drs, recover(drs, server)["jobID"])
    assert failed["status"] == "COMPLETED"
    assert failed["participatingServers"] == [{"sourceServerID": server, "launchStatus": "FAILED"}]
    log = drs.describe_job_log_items(jobID=failed["jobID"])["items"]
    assert [i["event"] for i in log][-3:] == ["LAUNCH_START", "LAUNCH_FAILED", "JOB_END"]
    assert "injected" in log[-2]["eventData"]["rawError"]
    assert drs.describe_recovery_instances()["items"] == []
    ec2 = boto3.client("ec2", region_name=RECOVERY)
    assert ec2.describe_instances(Filters=[{"Name": f"tag:{SOURCE_SERVER_TAG}", "Values": [server]}])[
        "Reservations"] == []
    assert server_of(drs, backend.servers[server].instance_id)["lastLaunchResult"] == "FAILED"

    launched = job_of(drs, recover(drs, server)["jobID"])
    assert launched["participatingServers"][0]["launchStatus"] == "LAUNCHED"
    assert [e for _, s, e in backend.launch_log if s == server] == [
        "LAUNCH_REQUESTED", "FAILED", "LAUNCH_REQUESTED", "LAUNCHED"]


def test_latency_runs_on_the_backends_clock(sandbox):
    drs, clock = validating_client(), FakeClock()
    backend = sandbox.drs(ACCOUNT, RECOVERY)
    backend.set_clock(clock)
    backend.set_latency(5)
    server = server_of(drs, run_instances()[0])["sourceServerID"]
    job = recover(drs, server)
    started = job_of(drs, job["jobID"])
    assert started["status"] == "STARTED"
    assert started["participatingServers"][0]["launchStatus"] == "IN_PROGRESS"
    assert drs.describe_recovery_instances()["items"] == []
    clock.advance(4.9)
    assert job_of(drs, job["jobID"])["status"] == "STARTED"
    clock.advance(0.1)
    done = job_of(drs, job["jobID"])
    assert done["status"] == "COMPLETED"
    assert done["endDateTime"] == iso(clock.time) and done["creationDateTime"] == iso(clock.time - timedelta(seconds=5))


def test_per_server_latency_orders_launches_and_the_launch_log(sandbox):
    drs, clock = validating_client(), FakeClock()
    backend = sandbox.drs(ACCOUNT, RECOVERY)
    backend.set_clock(clock)
    slow, fast = (server_of(drs, i)["sourceServerID"] for i in (run_instances(name="slow")[0],
                                                                 run_instances(name="fast")[0]))
    backend.set_latency(lambda server_id: 10 if server_id == slow else 3)
    start = clock.time
    job = recover(drs, slow, fast)
    clock.advance(3)
    statuses = {p["sourceServerID"]: p["launchStatus"] for p in job_of(drs, job["jobID"])["participatingServers"]}
    assert statuses == {fast: "LAUNCHED", slow: "IN_PROGRESS"}
    clock.advance(60)
    assert job_of(drs, job["jobID"])["status"] == "COMPLETED"
    assert [(t - start, s, e) for t, s, e in backend.launch_log] == [
        (timedelta(0), slow, "LAUNCH_REQUESTED"), (timedelta(0), fast, "LAUNCH_REQUESTED"),
        (timedelta(seconds=3), fast, "LAUNCHED"), (timedelta(seconds=10), slow, "LAUNCHED")]
    launches = [(i["logDateTime"], i["eventData"]["sourceServerID"]) for i in
                drs.describe_job_log_items(jobID=job["jobID"])["items"] if i["event"] == "LAUNCH_START"]
    assert launches == [(iso(start + timedelta(seconds=3)), fast), (iso(start + timedelta(seconds=10)), slow)]


def test_point_in_time_snapshots_are_listed_filtered_and_launched_from(sandbox):
    drs, clock = validating_client(), FakeClock()
    backend = sandbox.drs(ACCOUNT, RECOVERY)
    backend.set_clock(clock)
    server = server_of(drs, run_instances()[0])["sourceServerID"]
    now = clock.time
    two_hours = backend.add_snapshot(server, now - timedelta(hours=2))
    one_hour = backend.add_snapshot(server, now - timedelta(hours=1))
    newest_first = drs.describe_recovery_snapshots(sourceServerID=server, order="DESC")["items"]
    assert [s["timestamp"] for s in newest_first] == [iso(now - timedelta(hours=h)) for h in (0, 1, 2)]
    window = drs.describe_recovery_snapshots(sourceServerID=server, filters={
        "fromDateTime": iso(now - timedelta(minutes=90)), "toDateTime": iso(now - timedelta(minutes=30))})["items"]
    assert [s["snapshotID"] for s in window] == [one_hour]

    job = drs.start_recovery(sourceServers=[{"sourceServerID": server, "recoverySnapshotID": two_hours}])["job"]
    assert "USING_PREVIOUS_SNAPSHOT" in [e for e, _ in events(drs, job["jobID"])]
    (recovered,) = drs.describe_recovery_instances()["items"]
    assert recovered["pointInTimeSnapshotDateTime"] == iso(now - timedelta(hours=2))
    with pytest.raises(drs.exceptions.ResourceNotFoundException):
        drs.start_recovery(sourceServers=[{"sourceServerID": server, "recoverySnapshotID": "pit-00000000000000000"}])


def test_a_source_that_stops_replicating_is_recovered_from_its_last_snapshot(sandbox):
    drs = validating_client()
    web = run_instances()[0]
    server = server_of(drs, web)
    boto3.client("ec2", region_name=SOURCE).stop_instances(InstanceIds=[web])
    assert server_of(drs, web)["dataReplicationInfo"]["dataReplicationState"] == "DISCONNECTED"
    job = recover(drs, server["sourceServerID"])
    assert [e for e, _ in events(drs, job["jobID"])][1:2] == ["USING_PREVIOUS_SNAPSHOT"]
    (recovered,) = drs.describe_recovery_instances()["items"]
    assert recovered["pointInTimeSnapshotDateTime"] == server["lifeCycle"]["addedToServiceDateTime"]


# -- pagination, tags, reset ----------------------------------------------------------------------------

def test_paginators_walk_every_page(sandbox):
    drs = validating_client()
    ids = run_instances(count=5)
    pages = list(drs.get_paginator("describe_source_servers").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    found = [s["sourceProperties"]["identificationHints"]["awsInstanceID"] for p in pages for s in p["items"]]
    assert sorted(found) == sorted(ids)
    servers = [s["sourceServerID"] for p in pages for s in p["items"]]
    job = recover(drs, *servers)
    items = [i for p in drs.get_paginator("describe_job_log_items").paginate(
        jobID=job["jobID"], PaginationConfig={"PageSize": 4}) for i in p["items"]]
    assert len(items) == 2 + 5 * 5 and items[0]["event"] == "JOB_START" and items[-1]["event"] == "JOB_END"
    recovered = [r for p in drs.get_paginator("describe_recovery_instances").paginate(
        PaginationConfig={"PageSize": 3}) for r in p["items"]]
    assert len(recovered) == 5


def test_tags_on_source_servers_jobs_and_recovery_instances(sandbox):
    drs = validating_client()
    server = server_of(drs, run_instances()[0])
    job = recover(drs, server["sourceServerID"], tags={"ticket": "INC-1"})
    (recovered,) = drs.describe_recovery_instances()["items"]
    for arn, initial in ((server["arn"], {}), (job["arn"], {"ticket": "INC-1"}), (recovered["arn"], {})):
        assert drs.list_tags_for_resource(resourceArn=arn)["tags"] == initial
        drs.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
        drs.untag_resource(resourceArn=arn, tagKeys=["a"])
        assert drs.list_tags_for_resource(resourceArn=arn)["tags"] == {**initial, "b": "2"}
    assert server_of(drs, server["sourceProperties"]["identificationHints"]["awsInstanceID"])["tags"] == {"b": "2"}
    assert job_of(drs, job["jobID"])["tags"] == {"ticket": "INC-1", "b": "2"}
    missing = f"arn:aws:drs:{RECOVERY}:{ACCOUNT}:source-server/s-00000000000000000"
    with pytest.raises(drs.exceptions.ResourceNotFoundException):
        drs.list_tags_for_resource(resourceArn=missing)


def test_moto_reset_through_the_sandbox_resets_the_double(sandbox):
    drs = validating_client()
    server = server_of(drs, run_instances()[0])["sourceServerID"]
    old = sandbox.drs(ACCOUNT, RECOVERY)
    old.set_latency(30)
    recover(drs, server)
    assert old.launch_log
    sandbox.reset()
    assert drs.describe_source_servers()["items"] == []
    assert drs.describe_jobs()["items"] == []
    fresh = sandbox.drs(ACCOUNT, RECOVERY)
    assert fresh is not old and fresh.launch_log == [] and fresh.latency(server) == 0


def test_a_terminated_recovery_instance_is_forgotten_by_ec2_after_an_hour_and_drs_says_not_found(sandbox):
    """EC2 shows a terminated instance for up to an hour, then answers InvalidInstanceID.NotFound for its id
    (drflow/sandbox/moto_ec2.py); DRS keeps the recovery instance, its EC2 state TERMINATED, then NOT_FOUND."""
    drs, ec2 = validating_client(), boto3.client("ec2", region_name=RECOVERY)
    clock = FakeClock(datetime.now(timezone.utc))
    sandbox.set_ec2_clock(clock)
    server = server_of(drs, run_instances()[0])["sourceServerID"]
    recover(drs, server)
    (recovered,) = drs.describe_recovery_instances()["items"]
    ec2.terminate_instances(InstanceIds=[recovered["ec2InstanceID"]])
    clock.advance(59 * 60)
    assert instance(RECOVERY, recovered["ec2InstanceID"])["State"]["Name"] == "terminated"
    (listed,) = drs.describe_recovery_instances()["items"]
    assert listed["ec2InstanceState"] == "TERMINATED"
    clock.advance(2 * 60)
    with pytest.raises(ec2.exceptions.ClientError) as gone:
        ec2.describe_instances(InstanceIds=[recovered["ec2InstanceID"]])
    assert gone.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    assert recovered["ec2InstanceID"] not in [i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
                                              for i in r["Instances"]]
    (listed,) = drs.describe_recovery_instances()["items"]
    assert listed["ec2InstanceState"] == "NOT_FOUND"


def test_a_snapshot_not_taken_yet_is_listed_without_timestamp(sandbox):
    """botocore's RecoverySnapshot requires only snapshotID, sourceServerID and expectedTimestamp."""
    drs, clock = validating_client(), FakeClock()
    backend = sandbox.drs(ACCOUNT, RECOVERY)
    backend.set_clock(clock)
    server = server_of(drs, run_instances()[0])["sourceServerID"]
    pending = backend.add_snapshot(server, clock.time + timedelta(minutes=10), taken=False)
    newest, taken = drs.describe_recovery_snapshots(sourceServerID=server, order="DESC")["items"]
    assert newest["snapshotID"] == pending and "timestamp" not in newest
    assert newest["expectedTimestamp"] == iso(clock.time + timedelta(minutes=10))
    assert taken["timestamp"] == taken["expectedTimestamp"] == iso(clock.time)


def test_an_agent_reinstalled_leaves_a_disconnected_source_server_beside_the_new_one(sandbox):
    drs, clock = validating_client(), FakeClock()
    backend = sandbox.drs(ACCOUNT, RECOVERY)
    backend.set_clock(clock)
    web = run_instances()[0]
    old = server_of(drs, web)["sourceServerID"]
    clock.advance(3600)
    new = backend.reinstall_agent(web)
    clock.advance(60)
    listed = {s["sourceServerID"]: s for s in drs.describe_source_servers()["items"]}
    assert sorted(listed) == sorted([old, new]) and backend.source_server_id_for(web) == new
    assert {s["sourceProperties"]["identificationHints"]["awsInstanceID"] for s in listed.values()} == {web}
    stale, live = listed[old], listed[new]
    assert stale["dataReplicationInfo"]["dataReplicationState"] == "DISCONNECTED"
    assert "lagDuration" not in stale["dataReplicationInfo"]
    assert [d["totalStorageBytes"] for d in stale["dataReplicationInfo"]["replicatedDisks"]] == [0]
    assert live["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert stale["lifeCycle"]["lastSeenByServiceDateTime"] < live["lifeCycle"]["lastSeenByServiceDateTime"]
    both = backend.reinstall_agent(web, disconnect_old=False)
    states = {s["sourceServerID"]: s["dataReplicationInfo"]["dataReplicationState"]
              for s in drs.describe_source_servers()["items"]}
    assert states == {old: "DISCONNECTED", new: "CONTINUOUS", both: "CONTINUOUS"}


def test_disks_are_named_as_the_source_os_sees_them_and_unmatched_template_volumes_are_disregarded(sandbox):
    """DRS guide, key considerations for EC2 launch templates: the template's volumes are matched by the source
    server's disk names; a disk without one gets defaults, a volume matching no disk is ignored."""
    drs = validating_client()
    xen = run_instances(name="old", instance_type="m4.large")[0]
    assert server_of(drs, xen)["sourceProperties"]["disks"] == [{"deviceName": "/dev/xvda", "bytes": 30 * 1024 ** 3}]
    server = server_of(drs, run_instances(name="new", instance_type="m5.large")[0])["sourceServerID"]
    config = drs.get_launch_configuration(sourceServerID=server)
    set_template(config["ec2LaunchTemplateID"], {"BlockDeviceMappings": [
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 80, "VolumeType": "io2", "Iops": 4000}}]})
    (participant,) = job_of(drs, recover(drs, server)["jobID"])["participatingServers"]
    (mapping,) = instance(RECOVERY, participant["recoveryInstanceID"])["BlockDeviceMappings"]
    volume = boto3.client("ec2", region_name=RECOVERY).describe_volumes(VolumeIds=[mapping["Ebs"]["VolumeId"]])[
        "Volumes"][0]
    assert (mapping["DeviceName"], volume["Size"], volume["VolumeType"]) == ("/dev/xvda", 30, "gp3")
