"""The servers handler against DRS and EC2 where AWS is less kind than moto: recovery instances whose EC2
instance is long gone, snapshots without `timestamp`, duplicate source servers for one instance, a job refused
for capacity that other jobs hold. The handler is driven directly (no flow), the doubles' clocks moved by hand."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3

from conftest import ACCOUNT, RECOVERY, SOURCE
from core import observers
from core.aws import CallStats, Side, new_session
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext
from core.models import Mode, Outcome, Phase, Resource, ResourceResult
from core.netmap import NetworkMapper
from core.plan import Plan
from drflow.sandbox.drs import FakeClock, drs_backend
from tasks.servers import ServerHandler
from tasks.servers.launch import POLL, LaunchBatcher


def context(plan: Plan, mode: Mode = Mode.RECOVER, deps: dict[str, ResourceResult] | None = None,
            **kwargs: Any) -> ApplyContext:
    return ApplyContext(plan=plan, recovery=Side(new_session(), RECOVERY, CallStats()), mode=mode, deps=deps or {},
                        net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex(), **kwargs)


def discovered(plan: Plan) -> dict[str, Resource]:
    return {r.name: r for r in ServerHandler().discover(Side(new_session(), SOURCE, CallStats()), plan)}


def drs() -> Any:
    return boto3.client("drs", region_name=RECOVERY)


def test_a_recovery_instance_whose_ec2_instance_is_long_gone_is_not_an_existing_launch(servers, server_plan, sandbox):
    """EC2 forgets a terminated instance within about an hour, DRS keeps listing it (NOT_FOUND): finding the
    server's earlier launch must not describe it by id (InvalidInstanceID.NotFound would fail the server)."""
    clock = FakeClock(datetime.now(timezone.utc))
    sandbox.set_ec2_clock(clock)
    web = discovered(server_plan)["web"]
    server_id = drs_backend(ACCOUNT, RECOVERY).source_server_id_for(servers["web"])
    drs().describe_source_servers(filters={})  # the double adopts the agent-tagged servers
    drs().start_recovery(sourceServers=[{"sourceServerID": server_id}])
    (recovered,) = drs().describe_recovery_instances(filters={"sourceServerIDs": [server_id]})["items"]
    boto3.client("ec2", region_name=RECOVERY).terminate_instances(InstanceIds=[recovered["ec2InstanceID"]])
    clock.advance(2 * 3600)
    assert drs().describe_recovery_instances()["items"][0]["ec2InstanceState"] == "NOT_FOUND"
    assert ServerHandler().find(web, context(server_plan)) is None


def test_a_point_in_time_snapshot_without_timestamp_is_placed_by_its_expected_timestamp(servers, server_plan):
    """DRS lists a snapshot it has not taken yet without `timestamp` (the model requires only expectedTimestamp)."""
    backend, clock = drs_backend(ACCOUNT, RECOVERY), FakeClock(datetime.now(timezone.utc))
    backend.set_clock(clock)
    server_id = backend.source_server_id_for(servers["web"])
    drs().describe_source_servers(filters={})
    older = backend.add_snapshot(server_id, clock.time - timedelta(hours=2))
    newest = backend.add_snapshot(server_id, clock.time - timedelta(hours=1), taken=False)
    ctx = context(server_plan, point_in_time=clock.time - timedelta(minutes=30))
    assert ServerHandler()._snapshot(ctx, server_id) == newest
    ctx = context(server_plan, point_in_time=clock.time - timedelta(minutes=90))
    assert ServerHandler()._snapshot(ctx, server_id) == older


def test_the_live_source_server_of_an_instance_wins_over_a_stale_duplicate(servers, server_plan):
    """An agent reinstalled registers a second source server for the instance; the disconnected one, listed after
    or before it, never replicates the server now."""
    backend = drs_backend(ACCOUNT, RECOVERY)
    clock = FakeClock(datetime.now(timezone.utc))
    backend.set_clock(clock)
    resources = discovered(server_plan)
    drs().describe_source_servers(filters={})
    first = {name: backend.source_server_id_for(servers[name]) for name in ("web", "cache")}
    clock.advance(600)
    # DescribeSourceServers has no documented order (the double lists by id): web's new server lists before its
    # stale one, cache's after
    new_ids = {"web": "s-00000000000000001", "cache": "s-fffffffffffffffff"}
    reinstalled = {name: backend.reinstall_agent(servers[name], new_id=new_ids[name]) for name in first}
    ctx = context(server_plan)
    for name in first:
        assert ServerHandler()._source_server(ctx, servers[name])["sourceServerID"] == reinstalled[name]
        assert ServerHandler()._drs_problem(resources[name], ctx) is None


def test_two_live_source_servers_for_one_instance_are_refused_naming_both(servers, server_plan):
    backend = drs_backend(ACCOUNT, RECOVERY)
    resources = discovered(server_plan)
    drs().describe_source_servers(filters={})
    old = backend.source_server_id_for(servers["web"])
    new = backend.reinstall_agent(servers["web"], disconnect_old=False)
    problems = ServerHandler().preflight([resources["web"]], context(server_plan))
    (field, problem), = [p for p in problems if p[0] == "servers.web"]
    assert old in problem and new in problem and "replicate" in problem


def test_a_launch_refused_for_capacity_that_other_jobs_hold_waits_for_it(servers, server_plan, sandbox, monkeypatch):
    """DRS answers 402 ServiceQuotaExceededException while jobs started elsewhere hold its capacity (drflow's own
    Prefect limits do not count them): the launch waits until DRS takes it, saying why, instead of failing."""
    for name, value in (("first", 0.05), ("cap", 0.1), ("batch_window", 0.2), ("quiet", 0.05)):
        monkeypatch.setattr(POLL, name, value)
    backend, clock = drs_backend(ACCOUNT, RECOVERY), FakeClock(datetime.now(timezone.utc))
    backend.set_clock(clock)
    backend.limits["concurrent_jobs"] = 1
    web, cache = (backend.source_server_id_for(servers[n]) for n in ("web", "cache"))
    drs().describe_source_servers(filters={})
    backend.set_latency(lambda server_id: 600 if server_id == cache else 0)
    outside = drs().start_recovery(sourceServers=[{"sourceServerID": cache}])["job"]  # another tool's job
    batcher = LaunchBatcher(context(server_plan))
    result: dict[str, Any] = {}

    def launch() -> None:
        try:
            result["job"], result["status"] = batcher.launch(web, timeout=60)
        except Exception as exc:  # noqa: BLE001 - the test asserts on it
            result["error"] = exc

    class Watching:  # the terminal display, as far as the reason goes (drflow/progress.py PhaseDisplay.note)
        def __init__(self) -> None:
            self.notes: list[tuple[str, str]] = []

        def note(self, phase: str, text: str) -> None:
            self.notes.append((phase, text))

    watcher = Watching()
    with observers.observing(watcher):
        thread = threading.Thread(target=launch)
        thread.start()
        refused = lambda: len([c for c in sandbox.calls if c.operation == "StartRecovery"])  # noqa: E731
        deadline = time.monotonic() + 20
        while thread.is_alive() and refused() < 3 and time.monotonic() < deadline:  # the outside job, 2 refused
            time.sleep(0.05)
        assert "error" not in result, result
        assert thread.is_alive() and [j["jobID"] for j in drs().describe_jobs(filters={})["items"]] == [outside["jobID"]]
        clock.advance(600)  # the outside job ends: capacity is free
        thread.join(30)
        assert result.get("status", {}).get("launchStatus") == "LAUNCHED", result
        jobs = {j["jobID"]: j for j in drs().describe_jobs(filters={})["items"]}
        assert jobs[result["job"]]["creationDateTime"] >= jobs[outside["jobID"]]["endDateTime"]
    (why,) = batcher.capacity_waits(web)
    assert "concurrent-jobs-in-progress" in why and "1 jobs are already in progress" in why
    assert watcher.notes == [(str(Phase.SERVERS), f"1 server(s) {why}")]  # once per distinct refusal


def staged_deps(resource: Resource) -> dict[str, ResourceResult]:
    """The server's dependencies as staging left them: a recovered subnet (of its address) and security group (the
    servers it depends on: any id, the template does not name them)."""
    ec2 = boto3.client("ec2", region_name=RECOVERY)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    cidr = ".".join(resource.config["private_ip"].split(".")[:3]) + ".0/24"
    made = {"ec2:subnet": ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"],
            "ec2:security-group": ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]}
    out = {}
    for key in resource.dependencies:
        type_, source_id = key.split("/", 1)
        out[key] = ResourceResult(key=key, type=type_, source_id=source_id, outcome=Outcome.UNCHANGED,
                                  recovered_id=made.get(type_, source_id))
    return out


def test_launch_template_volumes_are_named_as_drs_names_the_disks_so_their_settings_apply(servers, server_plan):
    """DRS maps the template's volumes by the disk names the source server reports (/dev/nvme0n1 ... on Nitro) and
    disregards the others: written under EC2's names, the data volume's io1 and IOPS would be dropped silently."""
    web = discovered(server_plan)["web"]
    data = next(v for v in web.config["volumes"] if v["device"] == "/dev/xvdb")
    data.update(type="io1", iops=3000)
    ctx = context(server_plan, mode=Mode.STAGE, deps=staged_deps(web))
    applied = ServerHandler().apply(web, ctx)
    server_id, template_id = applied.details["source_server"], applied.details["launch_template"]
    ec2 = boto3.client("ec2", region_name=RECOVERY)
    (default,) = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])[
        "LaunchTemplateVersions"]
    assert [m["DeviceName"] for m in default["LaunchTemplateData"]["BlockDeviceMappings"]] == [
        "/dev/nvme0n1", "/dev/nvme1n1"]
    drs().start_recovery(sourceServers=[{"sourceServerID": server_id}])
    (recovered,) = drs().describe_recovery_instances(filters={"sourceServerIDs": [server_id]})["items"]
    [instance] = ec2.describe_instances(InstanceIds=[recovered["ec2InstanceID"]])["Reservations"][0]["Instances"]
    volume_id = next(m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"] if m["DeviceName"] == "/dev/xvdb")
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert (volume["Size"], volume["VolumeType"], volume["Iops"]) == (100, "io1", 3000)


def test_a_volume_that_matches_no_disk_drs_reports_is_refused_before_any_write(servers, server_plan):
    web = discovered(server_plan)["web"]
    web.config["volumes"].append({"device": "/dev/xvdz", "type": "gp3", "size": 500, "encrypted": True,
                                  "delete_on_termination": True})
    drs().describe_source_servers(filters={})
    problems = dict(ServerHandler().preflight([web], context(server_plan)))
    assert "/dev/xvdz" in problems.get("servers.web", "") and "no disk" in problems["servers.web"]
