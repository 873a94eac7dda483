"""How servers are launched through DRS: batched into jobs, within DRS's limits, watched until launched.

Support for the servers handler (not a handler itself). DRS takes at most 100 source servers per
`start_recovery` job and runs at most 20 jobs and 500 servers at once. Servers whose dependencies
finish at the same moment become ready together; the first of them waits a short window for the
others and starts one job for all of them. Each job holds one slot of a Prefect global concurrency
limit (and one slot per server of a second one) for as long as it runs, so that drflow never asks
DRS for more than it allows, however many plans run at once.

One watcher thread per job polls `describe_jobs` with backoff (DRS has no waiter) and wakes each
server's task when its launch is decided: one poll per job, not one per server. The slots belong to
the job, not to any one server's task, which is why the watcher (a thread) holds them.

drflow's limits count only drflow's jobs: DRS refuses a job (HTTP 402 ServiceQuotaExceededException) while jobs
started elsewhere (the console, another tool, a failback) hold its capacity. The job then waits until DRS takes
it, up to `POLL.capacity_timeout`, the reason in each waiting server's log and in its result's details.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import MissingContextError, ObjectNotFound
from prefect.concurrency.sync import concurrency

from core import observers
from core.aws import error_code, paginate
from core.handler import ApplyContext
from core.models import Mode, Phase
from core.ownership import TAG_DRILL, of_plan

MAX_SERVERS_PER_JOB = 100
MAX_JOBS = 20
MAX_SERVERS_IN_JOBS = 500
DONE = ("LAUNCHED", "FAILED", "TERMINATED")
QUOTA_EXCEEDED = "ServiceQuotaExceededException"  # StartRecovery's 402: DRS's jobs or servers-in-jobs quota is full


@dataclass
class PollSchedule:
    """Backoff between job polls. DRS launches take minutes: 15 s granularity costs little there."""

    first: float = 1.0
    factor: float = 2.0
    cap: float = 15.0
    # The longest the first ready server waits for others to share its job, and it stops waiting as soon as no
    # other server has joined for `quiet`. Servers whose dependencies finished together reach `launch` from
    # separate Prefect task threads, each after its own few calls (its launch template, its running jobs): on a
    # loaded machine they were seen arriving more than 30 ms, then more than 200 ms apart, and were split into two
    # jobs. A launch takes minutes, so half a second's wait per batch costs nothing.
    batch_window: float = 2.0
    quiet: float = 0.5
    # The longest a job waits for DRS capacity that other jobs hold (402); then its servers fail, saying why.
    capacity_timeout: float = 3600.0

    def delays(self):
        delay = self.first
        while True:
            yield delay
            delay = min(self.cap, delay * self.factor)


POLL = PollSchedule()


@dataclass
class _Request:
    server_id: str
    snapshot_id: str | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    job_id: str | None = None
    status: dict[str, Any] | None = None
    error: BaseException | None = None
    logger: Any = None  # the server's task run logger, where it asked from one


class LaunchBatcher:
    """One per run: groups launch requests into DRS jobs and watches them."""

    def __init__(self, ctx: ApplyContext):
        self._drs = ctx.recovery.client("drs")
        self._is_drill = ctx.mode == Mode.DRILL
        self._tags = {"drflow:plan": ctx.plan.name, **({"drflow:drill": ctx.drill_id} if ctx.drill_id else {})}
        scope = f"{ctx.plan.recovery.account_id}-{ctx.plan.recovery.region}"
        self._job_limit = f"drflow-drs-jobs-{scope}"
        self._server_limit = f"drflow-drs-servers-{scope}"
        with get_client(sync_client=True) as client:  # created once; an operator may lower them (shared DRS)
            for name, limit in ((self._job_limit, MAX_JOBS), (self._server_limit, MAX_SERVERS_IN_JOBS)):
                try:
                    client.read_global_concurrency_limit_by_name(name)
                except ObjectNotFound:
                    client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
        self._lock = threading.Lock()
        self._pending: list[_Request] = []
        self._collecting = False
        self.jobs: list[dict[str, Any]] = []  # what was started: job id, servers, start time
        self._waits: dict[str, list[str]] = {}  # source server id -> why its job waited for DRS capacity

    @classmethod
    def for_run(cls, ctx: ApplyContext) -> "LaunchBatcher":
        return ctx.shared.once("drs-batcher", lambda: cls(ctx))

    def launch(self, server_id: str, snapshot_id: str | None = None,
               timeout: float = 3600) -> tuple[str, dict[str, Any]]:
        """Launch one source server (from a point-in-time snapshot, or the latest); returns (job id, its
        participating-server status once decided)."""
        request = _Request(server_id, snapshot_id, logger=_task_logger())
        with self._lock:
            self._pending.append(request)
            lead, self._collecting = not self._collecting, True
        if lead:
            self._collect_until_quiet()
            with self._lock:
                batch, self._pending, self._collecting = self._pending, [], False
            for start in range(0, len(batch), MAX_SERVERS_PER_JOB):
                chunk = batch[start:start + MAX_SERVERS_PER_JOB]
                threading.Thread(target=self._run_job, args=(chunk,), name="drs-job", daemon=True).start()
        if not request.ready.wait(timeout):
            raise TimeoutError(f"DRS launch of {server_id} not decided after {timeout} s")
        if request.error:
            raise request.error
        return request.job_id, request.status

    def capacity_waits(self, server_id: str) -> list[str]:
        """Why the server's job waited for DRS capacity before DRS took it (each distinct refusal once)."""
        with self._lock:
            return list(self._waits.get(server_id, []))

    def follow(self, job_id: str, server_id: str) -> tuple[str, dict[str, Any]]:
        """Wait for a launch an earlier attempt of this run started (see `in_flight_job`); returns what
        `launch` returns. Watched in the caller's thread: only a resumed run follows jobs, a handful at most."""
        request = _Request(server_id, job_id=job_id)
        self._watch(job_id, {server_id: request})
        return job_id, request.status

    def _collect_until_quiet(self) -> None:
        """Servers ready at the same moment arrive within milliseconds of each other: wait while they do."""
        deadline = time.monotonic() + POLL.batch_window
        seen = -1
        while time.monotonic() < deadline:
            with self._lock:
                count = len(self._pending)
            if count == seen or count >= MAX_SERVERS_PER_JOB:
                return
            seen = count
            time.sleep(min(POLL.quiet, max(0.0, deadline - time.monotonic())))

    def _run_job(self, chunk: list[_Request]) -> None:
        try:
            with concurrency(self._job_limit, occupy=1), concurrency(self._server_limit, occupy=len(chunk)):
                servers = [{"sourceServerID": r.server_id, **({"recoverySnapshotID": r.snapshot_id}
                                                              if r.snapshot_id else {})} for r in chunk]
                job = self._start(chunk, servers)
                self.jobs.append({"job": job["jobID"], "servers": [r.server_id for r in chunk],
                                  "started": time.time()})
                for request in chunk:
                    request.job_id = job["jobID"]
                self._watch(job["jobID"], {r.server_id: r for r in chunk})
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting server task
            for request in chunk:
                if not request.ready.is_set():
                    request.error = exc
                    request.ready.set()

    def _start(self, chunk: list[_Request], servers: list[dict[str, Any]]) -> dict[str, Any]:
        """start_recovery, waiting while DRS refuses it for capacity other jobs hold.

        A loop of its own, for two reasons. botocore retries throttling and transient errors only, and a 402 is
        neither: adding it to botocore's retries would retry every DRS call, for seconds. A Prefect task retry
        would re-run each server's whole apply (its template, a new batch) after a few seconds, while capacity comes
        back when another job ends, minutes later. Here the job keeps its place and its concurrency slots, so
        drflow's own next jobs queue behind it rather than race it for the capacity."""
        delays, deadline, last = POLL.delays(), time.monotonic() + POLL.capacity_timeout, None
        while True:
            try:
                return self._drs.start_recovery(sourceServers=servers, isDrill=self._is_drill, tags=self._tags)["job"]
            except ClientError as exc:
                if error_code(exc) != QUOTA_EXCEEDED:
                    raise
                reason = (f"waiting for DRS capacity: {exc.response.get('Error', {}).get('Message', '')} "
                          f"(quota {exc.response.get('quotaCode', '?')})")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"DRS refused the job for {POLL.capacity_timeout:.0f} s: {reason}") from exc
                if reason != last:
                    last = reason
                    with self._lock:
                        for request in chunk:
                            self._waits.setdefault(request.server_id, []).append(reason)
                    for request in chunk:
                        (request.logger or logging.getLogger(__name__)).warning("%s: %s", request.server_id, reason)
                    observers.note(str(Phase.SERVERS), f"{len(chunk)} server(s) {reason}")  # the terminal shows why
            time.sleep(next(delays))

    def _watch(self, job_id: str, waiting: dict[str, _Request]) -> None:
        delays = POLL.delays()
        while True:
            job = self._drs.describe_jobs(filters={"jobIDs": [job_id]})["items"][0]
            for server in job.get("participatingServers", []):
                request = waiting.get(server["sourceServerID"])
                if request and (server.get("launchStatus") in DONE or job["status"] == "COMPLETED"):
                    request.status = server
                    request.ready.set()
                    del waiting[server["sourceServerID"]]
            if job["status"] == "COMPLETED":
                for request in waiting.values():  # not in the job's list at all: DRS dropped it
                    request.status = {"sourceServerID": request.server_id, "launchStatus": "FAILED"}
                    request.ready.set()
                return
            time.sleep(next(delays))


def _task_logger() -> Any:
    """The calling Prefect task's run logger (its lines land in that server's log), or None outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return None


def in_flight_job(ctx: ApplyContext, server_id: str) -> str | None:
    """The LAUNCH job this plan (and drill) started for the server that is still running, if any.

    A failover whose process was killed while DRS launched its servers leaves those jobs running; DRS
    refuses a second job for a server that is in one (ConflictException), and the first job's instance
    will appear anyway. So a resumed run follows that job instead of starting another. Listed once per
    run: jobs this run starts itself are followed by the batcher."""
    return ctx.shared.once("drs-in-flight-jobs", lambda: _running_launches(ctx)).get(server_id)


def launch_running(ctx: ApplyContext, server_id: str) -> bool:
    """True while a LAUNCH job of this plan (and drill) still has the server in it: listed afresh, for the rare
    moment it is asked (a launch that raised instead of being decided: will DRS still read the template?)."""
    return server_id in _running_launches(ctx)


def drill_launching(ctx: ApplyContext, server_id: str) -> bool:
    """True while a drill of this plan (any drill) is launching the server: its version of the server's launch
    template must stay the default until DRS has read it (tasks/servers/templates.py)."""
    return server_id in _running_launches(ctx, any_drill=True)


def _running_launches(ctx: ApplyContext, any_drill: bool = False) -> dict[str, str]:
    """Source server id -> the running LAUNCH job of this plan (and drill, or of any drill) it is in, undecided."""
    initiated = "START_DRILL" if ctx.mode == Mode.DRILL or any_drill else "START_RECOVERY"
    found: dict[str, str] = {}
    for job in paginate(ctx.recovery.client("drs"), "describe_jobs", "items", filters={}):
        tags = job.get("tags") or {}
        drill = tags.get(TAG_DRILL)
        if (job.get("type") != "LAUNCH" or job.get("status") == "COMPLETED" or job.get("initiatedBy") != initiated
                or not of_plan(tags, ctx) or (not drill if any_drill else drill != ctx.drill_id)):
            continue
        for server in job.get("participatingServers", []):
            if server.get("launchStatus") not in DONE:
                found[server["sourceServerID"]] = job["jobID"]
    return found
