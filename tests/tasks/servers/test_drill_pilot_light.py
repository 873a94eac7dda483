"""Drills leave the staged pilot light alone, resume under their own id, and never stand in a failover's way.

- The DRS launch templates the nightly staging keeps pointed at the recovered network: a drill borrows a
  server's template for its launch only (its own version, the default while DRS launches it) and gives it back;
  drill cleanup deletes its versions and resets a default a killed drill left behind.
- `failover(drill=True, drill_id=...)` resumes that drill: nothing is made twice.
- EFS: a replica has mount targets in one VPC only; a second drill is refused before any write, and a real
  failover takes the replica over from a leftover drill.

Everything is asserted on the account's state (the sandbox's moto, with the DRS and EFS replication doubles;
moto has no DeleteLaunchTemplateVersions: drflow/sandbox/launch_templates.py adds it).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan, workload_writes
from core.handler import TAG_DRILL, TAG_PLAN
from drflow.cli import app
from drflow.sandbox.drs import drs_backend
from drflow.sandbox.seed_efs import MOUNT_SUBNETS, seed_efs
from drflow.sandbox.workload import SERVERS
from flows.cleanup import drill_cleanup
from flows.common import PreflightError
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.servers.templates import DRILL_MARK
from drill_helper import plan_file, names, of_drill, tagged_with


def ec2() -> Any:
    return boto3.client("ec2", region_name=RECOVERY)


def templates() -> dict[str, str]:
    """DRS source server id -> the EC2 launch template DRS launches it from."""
    drs = boto3.client("drs", region_name=RECOVERY)
    return {s["sourceServerID"]: drs.get_launch_configuration(sourceServerID=s["sourceServerID"])["ec2LaunchTemplateID"]
            for s in drs.describe_source_servers(filters={})["items"]}


def versions(template_id: str) -> list[dict[str, Any]]:
    pages = ec2().get_paginator("describe_launch_template_versions").paginate(LaunchTemplateId=template_id)
    return [v for page in pages for v in page["LaunchTemplateVersions"]]


def defaults() -> dict[str, tuple[int, str, dict[str, Any]]]:
    """Every server's template: its default version's number, description and data (what DRS would launch)."""
    out = {}
    for template_id in templates().values():
        [v] = ec2().describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])[
            "LaunchTemplateVersions"]
        out[template_id] = (v["VersionNumber"], v.get("VersionDescription"), v["LaunchTemplateData"])
    return out


def drill_versions(drill_id: str) -> dict[str, list[int]]:
    found = {t: [v["VersionNumber"] for v in versions(t) if (v.get("VersionDescription") or "").startswith(
        f"{DRILL_MARK}{drill_id}:")] for t in templates().values()}
    return {t: numbers for t, numbers in found.items() if numbers}


def drill_instances(drill_id: str) -> list[dict[str, Any]]:
    return [i for r in ec2().describe_instances(Filters=[
        {"Name": f"tag:{TAG_DRILL}", "Values": [drill_id]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"] for i in r["Instances"]]


def vpc_drill(vpc_id: str) -> str | None:
    [vpc] = ec2().describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    return {t["Key"]: t["Value"] for t in vpc.get("Tags", [])}.get(TAG_DRILL)


def cleanup(plan, drill_id: str) -> dict[str, Any]:
    report = run(drill_cleanup, plan=plan, drill_id=drill_id)
    assert report["failed"] == [], report["failed"]
    return report


# -- 1. the launch templates of the pilot light ---------------------------------------------------------------

def test_a_drill_launches_from_its_own_template_version_and_gives_the_staged_default_back(servers, server_plan, sandbox):
    assert run(replicate, plan=server_plan)["failed"] == []
    staged = defaults()
    assert len(staged) == len(SERVERS)
    assert all(description.startswith("drflow:") for _, description, _ in staged.values())  # staging wrote them

    drill = run(failover, plan=server_plan, drill=True)
    assert drill["failed"] == [], drill["failed"]
    drill_id = drill["drill_id"]
    assert defaults() == staged  # every default, number and data, as the nightly staging left it
    mine = drill_versions(drill_id)
    assert len(mine) == len(SERVERS)  # the drill launched from versions of its own...
    instances = drill_instances(drill_id)
    assert len(instances) == len(SERVERS)
    assert {vpc_drill(i["VpcId"]) for i in instances} == {drill_id}  # ...into its own VPC
    staged_subnets = {d["NetworkInterfaces"][0]["SubnetId"] for _, _, d in staged.values()}
    assert not staged_subnets & {i["SubnetId"] for i in instances}

    report = cleanup(server_plan, drill_id)
    assert sum("v" in r and r.startswith("lt-") for r in report["removed"]["ec2:instance"]) == len(SERVERS)
    assert drill_versions(drill_id) == {}
    assert defaults() == staged


def test_cleanup_puts_back_the_staged_default_a_drill_killed_mid_launch_left_behind(servers, server_plan):
    assert run(replicate, plan=server_plan)["failed"] == []
    staged = defaults()
    drill_id = "drill-20260101t000000"
    template_id = next(iter(staged))
    data = {**staged[template_id][2], "TagSpecifications": [{"ResourceType": "instance", "Tags": [
        {"Key": TAG_PLAN, "Value": server_plan.name}, {"Key": TAG_DRILL, "Value": drill_id}]}]}
    # what a drill does right before DRS launches (tasks/servers/templates.py borrow), and then it is killed
    number = ec2().create_launch_template_version(LaunchTemplateId=template_id, LaunchTemplateData=data,
                                                  VersionDescription=f"{DRILL_MARK}{drill_id}:0123")[
        "LaunchTemplateVersion"]["VersionNumber"]
    ec2().modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(number))
    assert defaults() != staged

    report = cleanup(server_plan, "drill-other")  # another drill's cleanup leaves it alone
    assert "ec2:instance" not in report["removed"]
    assert defaults()[template_id][0] == number

    report = cleanup(server_plan, drill_id)
    assert report["removed"]["ec2:instance"] == [f"{template_id} v{number}"]
    assert defaults() == staged
    assert drill_versions(drill_id) == {}


# -- 2. a drill resumed by its id ---------------------------------------------------------------------------

def test_a_drill_resumed_by_its_id_finishes_what_failed_and_makes_nothing_twice(servers, server_plan, sandbox):
    assert run(replicate, plan=server_plan)["failed"] == []
    staged = defaults()
    backend = drs_backend(ACCOUNT, RECOVERY)
    backend.fail_next_launches(backend.source_server_id_for(servers["app-a"]), 99)
    drill_id = "drill-20260301t101500"
    first = run(failover, plan=server_plan, drill=True, drill_id=drill_id)
    assert first["drill_id"] == drill_id
    assert any(servers["app-a"] in f for f in first["failed"])  # app-a failed, web (behind it) was skipped
    assert defaults() == staged  # a failed launch gives the template back too
    made = of_drill(drill_id)
    assert len(made["Instances"]) == len(SERVERS) - 2
    assert first["drill_commands"] == {
        "resume": f"drflow failover --drill --drill-id {drill_id} --plan PLAN_FILE",
        "cleanup": f"drflow drill cleanup --drill-id {drill_id} --plan PLAN_FILE"}

    backend.failures.clear()
    sandbox.app.clear_log()
    second = run(failover, plan=server_plan, drill=True, drill_id=drill_id)
    assert second["failed"] == [] and second["drill_id"] == drill_id
    resumed = of_drill(drill_id)
    # the same network, groups, load balancer... (by id: a subnet's free address count moves with its instances)
    assert {k: v for k, v in names(resumed).items() if k != "Instances"} == \
        {k: v for k, v in names(made).items() if k != "Instances"}
    source_ids = sorted(next(t["Value"] for t in i["Tags"] if t["Key"] == "drflow:source-id")
                        for i in resumed["Instances"])
    assert source_ids == sorted(servers[name] for name in SERVERS)  # each server once: the two missing ones added
    assert second["resources"]["by_outcome"]["created"] == 2
    assert {c.operation for c in sandbox.calls if c.write and c.service == "drs"} == {"StartRecovery"}
    assert defaults() == staged
    tagged = tagged_with(drill_id)

    sandbox.app.clear_log()  # once more, as an operator would, from the command line
    path = plan_file(server_plan)
    result = CliRunner().invoke(app, ["failover", "--drill", "--drill-id", drill_id, "--plan", str(path), "--json"])
    assert result.exit_code == 0, result.output
    third = json.loads(result.stdout)
    assert third["failed"] == [] and third["identity_map"] == second["identity_map"]
    assert third["drill_commands"]["resume"] == f"drflow failover --drill --drill-id {drill_id} --plan {path}"
    assert third["drill_commands"]["cleanup"] == f"drflow drill cleanup --drill-id {drill_id} --plan {path}"
    assert workload_writes(sandbox, server_plan) == []  # all of it completed: nothing redone
    assert names(of_drill(drill_id)) == names(resumed) and tagged_with(drill_id) == tagged


def test_a_drill_id_is_checked_before_anything_is_read(sandbox, server_plan):
    for params, words in (({"drill": False, "drill_id": "drill-20260301t101500"}, "real failover"),
                          ({"drill": True, "drill_id": "drill 1; rm"}, "is not a drill id")):
        with pytest.raises(PreflightError) as refused:
            run(failover, plan=server_plan, **params)
        assert refused.value.problems[0][0] == "drill_id" and words in refused.value.problems[0][1]
    assert sandbox.calls == []
    result = CliRunner().invoke(app, ["failover", "--drill-id", "drill-20260301t101500", "--plan", "x.yaml"])
    assert result.exit_code == 2 and "pass --drill too" in result.output


# -- 3. drills and the EFS replica ----------------------------------------------------------------------------

@pytest.fixture
def files(shop, sandbox):
    ids = seed_efs(boto3.Session(), SOURCE, dict(shop))
    sandbox.app.clear_log()
    return ids


def mounts(fs_id: str) -> dict[str, str | None]:
    """The replica's mount targets: id -> the drill whose subnet holds it (None: production's)."""
    targets = boto3.client("efs", region_name=RECOVERY).describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
    if not targets:
        return {}
    subnets = {s["SubnetId"]: {t["Key"]: t["Value"] for t in s.get("Tags", [])}
               for s in ec2().describe_subnets(SubnetIds=[mt["SubnetId"] for mt in targets])["Subnets"]}
    return {mt["MountTargetId"]: subnets[mt["SubnetId"]].get(TAG_DRILL) for mt in targets}


def test_a_second_drill_is_refused_before_any_write_while_another_drill_holds_the_replica(files, sandbox):
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    first = run(failover, plan=plan, drill=True, drill_id="drill-efs-one")
    assert first["failed"] == [], first["failed"]
    fs_id = first["identity_map"][files["efs"]]
    held = mounts(fs_id)
    assert len(held) == len(MOUNT_SUBNETS) and set(held.values()) == {"drill-efs-one"}

    sandbox.app.clear_log()
    with pytest.raises(PreflightError) as refused:
        run(failover, plan=plan, drill=True, drill_id="drill-efs-two")
    [(field, problem)] = [p for p in refused.value.problems if "drill-efs-one" in p[1]]
    assert files["efs"] in field
    assert "drflow drill cleanup --drill-id drill-efs-one" in problem
    assert [c for c in sandbox.calls if c.write] == []  # refused before any write
    assert of_drill("drill-efs-two") == {} and mounts(fs_id) == held

    again = run(failover, plan=plan, drill=True, drill_id="drill-efs-one")  # its own mounts: no obstacle
    assert again["failed"] == [] and mounts(fs_id) == held

    cleanup(plan, "drill-efs-one")
    second = run(failover, plan=plan, drill=True, drill_id="drill-efs-two")  # once it is gone, the next drill runs
    assert second["failed"] == [], second["failed"]
    assert set(mounts(fs_id).values()) == {"drill-efs-two"}


def test_a_real_failover_takes_the_replica_over_from_a_leftover_drill_and_says_so(files, sandbox):
    plan = make_plan()
    assert run(replicate, plan=plan)["failed"] == []
    drill = run(failover, plan=plan, drill=True, drill_id="drill-left-over")
    assert drill["failed"] == []
    fs_id = drill["identity_map"][files["efs"]]
    drill_mounts = set(mounts(fs_id))
    assert len(drill_mounts) == len(MOUNT_SUBNETS)

    sandbox.faults.dark = {SOURCE}
    real = run(failover, plan=plan)
    sandbox.faults.dark = set()
    assert real["failed"] == [], real["failed"]
    now = mounts(fs_id)
    assert not drill_mounts & set(now) and set(now.values()) == {None}  # production's mount targets only...
    subnets = {mt["SubnetId"] for mt in boto3.client("efs", region_name=RECOVERY).describe_mount_targets(
        FileSystemId=fs_id)["MountTargets"]}
    assert subnets == {real["identity_map"][files[role]] for role in MOUNT_SUBNETS}  # ...in the recovered subnets
    row = next(d for d in real["details"] if d["key"] == f"efs:file-system/{files['efs']}")
    [warning] = [w for w in row["warnings"] if "drill-left-over" in w]
    assert all(m in warning for m in drill_mounts)
    assert "drflow drill cleanup --drill-id drill-left-over" in warning
    assert of_drill("drill-left-over").get("Subnets")  # the drill's other resources are the cleanup's

    cleanup(plan, "drill-left-over")
    assert of_drill("drill-left-over") == {}
    assert mounts(fs_id) == now  # the cleanup leaves the failover's mount targets alone
