"""DRS failback of one server, the handler driven directly (no flow): the reversed source server takes time to
replicate before DRS launches it (the doubles' clocks moved by hand), a server that never becomes healthy fails,
named, while the others fail back, and the reversed server gets the forward path's launch settings."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE
from core.aws import AwsAccess, CallStats, Side, new_session
from core.failback import FailbackContext
from core.handler import Unrecoverable
from core.models import Outcome, Resource
from core.plan import Plan
from drflow.sandbox.drs import FakeClock, drs_backend
from drflow.sandbox.drs.util import stable_id
from tasks.servers import ServerHandler, failback
from tasks.servers.launch import POLL


@pytest.fixture
def quick_polls(monkeypatch):
    for name, value in (("first", 0.01), ("cap", 0.02)):
        monkeypatch.setattr(POLL, name, value)


def failed_over(plan: Plan, names: tuple[str, ...]) -> dict[str, Resource]:
    """The named servers discovered, each launched in the recovery region by DRS (as a failover leaves them)."""
    resources = {r.name: r for r in ServerHandler().discover(Side(new_session(), SOURCE, CallStats()), plan)}
    drs, backend = boto3.client("drs", region_name=RECOVERY), drs_backend(ACCOUNT, RECOVERY)
    drs.describe_source_servers(filters={})
    drs.start_recovery(sourceServers=[{"sourceServerID": backend.source_server_id_for(resources[n].source_id)}
                                      for n in names])
    assert len(drs.describe_recovery_instances(filters={})["items"]) == len(names)  # the double launches them
    return {n: resources[n] for n in names}


def reversed_id(resource: Resource) -> str:
    """The id the double gives the reversed source server of the resource's recovery instance."""
    backend = drs_backend(ACCOUNT, RECOVERY)
    instance = backend.servers[backend.source_server_id_for(resource.source_id)].recovery_instance_id
    return stable_id("s-", f"failback:{instance}")


def fail_back(plan: Plan, resource: Resource) -> Any:
    context = FailbackContext(aws=AwsAccess(plan), plan=plan, home={},
                              marker={"completed_at": datetime.now(timezone.utc).isoformat()})
    return ServerHandler().fail_back(resource, context)


def test_failback_waits_until_the_reversed_server_is_healthy_then_launches(servers, server_plan, sandbox, quick_polls):
    clock = FakeClock(datetime.now(timezone.utc))
    home = drs_backend(ACCOUNT, SOURCE)
    home.set_clock(clock)
    home.set_initial_sync(3600)
    web = failed_over(server_plan, ("web",))["web"]
    done: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: done.update(step=fail_back(server_plan, web)), daemon=True)
    worker.start()
    deadline = time.monotonic() + 20
    while reversed_id(web) not in home.servers and time.monotonic() < deadline:
        time.sleep(0.01)
    synced = home.servers[reversed_id(web)].synced
    clock.advance(1800)
    time.sleep(0.1)  # several of the failback's polls
    assert worker.is_alive() and home.jobs == {}  # still waiting: nothing launched while it syncs
    clock.advance(1800)
    worker.join(20)
    step = done["step"]
    assert step.outcome == Outcome.CREATED
    (job,) = home.jobs.values()
    assert job.created >= synced  # launched only once the reversed server was CONTINUOUS
    instance = boto3.client("ec2", region_name=SOURCE).describe_instances(InstanceIds=[step.recovered_id])[
        "Reservations"][0]["Instances"][0]
    assert instance["State"]["Name"] == "running"
    states = [s["state"] for s in step.details["replication"]]
    assert states[0] in ("INITIATING", "INITIAL_SYNC") and "INITIAL_SYNC" in states and states[-1] == "CONTINUOUS"


def test_a_server_whose_reversed_replication_never_gets_healthy_fails_named(servers, server_plan, sandbox,
                                                                            quick_polls, monkeypatch):
    monkeypatch.setattr(failback, "REVERSE_SYNC_TIMEOUT", 0.3, raising=False)
    resources = failed_over(server_plan, ("web", "cache"))
    stuck = reversed_id(resources["web"])
    drs_backend(ACCOUNT, SOURCE).set_initial_sync(lambda server_id: float("inf") if server_id == stuck else 0)
    with pytest.raises(Unrecoverable, match=rf"server web: reverse replication of {stuck} not healthy after 0 s: "
                                            r"last state INITIATING"):
        fail_back(server_plan, resources["web"])
    step = fail_back(server_plan, resources["cache"])  # the other server fails back
    assert step.outcome == Outcome.CREATED and step.details["replication"][-1]["state"] == "CONTINUOUS"
    home = drs_backend(ACCOUNT, SOURCE)
    assert [p.source_server_id for job in home.jobs.values() for p in job.participants] == [
        reversed_id(resources["cache"])]


def test_the_reversed_servers_launch_configuration_is_normalised(servers, server_plan, sandbox, quick_polls):
    """A reversed server starts with DRS's default launch settings: right-sizing BASIC, and with the account's
    "launch into source instance" default, the original instance to launch into. Failback launches a new instance
    of the source's type, as the forward path does."""
    home = drs_backend(ACCOUNT, SOURCE)
    home.launch_into_source_instance = True
    home.set_initial_sync(0)  # healthy at once: only the launch settings are in question here
    web = failed_over(server_plan, ("web",))["web"]
    step = fail_back(server_plan, web)
    config = boto3.client("drs", region_name=SOURCE).get_launch_configuration(sourceServerID=reversed_id(web))
    assert (config["copyPrivateIp"], config["copyTags"], config["launchDisposition"],
            config["targetInstanceTypeRightSizingMethod"]) == (False, False, "STARTED", "NONE")
    assert not (config.get("launchIntoInstanceProperties") or {}).get("launchIntoEC2InstanceID")
    assert step.outcome == Outcome.CREATED and step.recovered_id != web.source_id
    instance = boto3.client("ec2", region_name=SOURCE).describe_instances(InstanceIds=[step.recovered_id])[
        "Reservations"][0]["Instances"][0]
    assert instance["InstanceType"] == web.config["instance_type"]
