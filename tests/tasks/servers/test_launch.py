"""The DRS launch batcher on its own: which requests share a job depends only on when they reach it.

In a flow, when two servers reach `launch` depends on how fast their other dependencies came back (two subnets,
say), which no test controls; here the arrivals are placed by hand, far from the batcher's thresholds."""

from __future__ import annotations

import threading
import time

from conftest import ACCOUNT, RECOVERY
from core.aws import CallStats, Side, new_session
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext
from core.models import Mode
from core.netmap import NetworkMapper
from drflow.sandbox.drs import drs_backend
from tasks.servers.launch import POLL, LaunchBatcher


def _launch_at(batcher: LaunchBatcher, arrivals: dict[str, float]) -> dict[str, str]:
    """Each source server's launch requested `arrivals[server]` seconds after the start; returns server -> job."""
    jobs: dict[str, str] = {}
    start = time.monotonic()

    def one(server_id: str, at: float) -> None:
        time.sleep(max(0.0, start + at - time.monotonic()))
        jobs[server_id] = batcher.launch(server_id, timeout=120)[0]

    threads = [threading.Thread(target=one, args=item) for item in arrivals.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return jobs


def test_launches_requested_close_together_share_a_job_and_a_later_one_gets_its_own(servers, server_plan):
    backend = drs_backend(ACCOUNT, RECOVERY)
    ids = {name: backend.source_server_id_for(servers[name]) for name in ("db-proxy", "cache", "worker", "web")}
    ctx = ApplyContext(plan=server_plan, recovery=Side(new_session(), RECOVERY, CallStats()), mode=Mode.RECOVER,
                       deps={}, net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex())
    ctx.recovery.client("drs").describe_source_servers(filters={})  # the double adopts the agent-tagged servers
    gap = POLL.quiet / 4  # each newcomer well inside the quiet gap of the one before
    late = POLL.batch_window + POLL.quiet * 2  # well after the first job was started
    jobs = _launch_at(LaunchBatcher(ctx), {ids["db-proxy"]: 0.0, ids["cache"]: gap, ids["worker"]: 2 * gap,
                                           ids["web"]: late})
    started = ctx.recovery.client("drs").describe_jobs(filters={})["items"]
    members = sorted(sorted(s["sourceServerID"] for s in job["participatingServers"]) for job in started)
    assert members == sorted([sorted([ids["db-proxy"], ids["cache"], ids["worker"]]), [ids["web"]]])
    assert jobs[ids["db-proxy"]] == jobs[ids["cache"]] == jobs[ids["worker"]] != jobs[ids["web"]]
    assert {job["jobID"] for job in started} == set(jobs.values())
