"""The servers handler against DRS and EC2 where AWS is less kind than moto: recovery instances whose EC2
instance is long gone, snapshots without `timestamp`, duplicate source servers for one instance, a job refused
for capacity that other jobs hold. The handler is driven directly (no flow), the doubles' clocks moved by hand."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import boto3

from conftest import ACCOUNT, RECOVERY, SOURCE
from core.aws import CallStats, Side, new_session
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext
from core.models import Mode, Resource
from core.netmap import NetworkMapper
from core.plan import Plan
from drflow.sandbox.drs import FakeClock, drs_backend
from tasks.servers import ServerHandler


def context(plan: Plan, mode: Mode = Mode.RECOVER, **kwargs: Any) -> ApplyContext:
    return ApplyContext(plan=plan, recovery=Side(new_session(), RECOVERY, CallStats()), mode=mode, deps={},
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
