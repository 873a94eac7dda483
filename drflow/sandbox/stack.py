"""A real Prefect stack on loopback, as subprocesses: `prefect server start` (on SQLite, or on a PostgreSQL
cluster started here), process workers, and the operator's commands run against them.

Test and benchmark infrastructure, like the rest of drflow.sandbox: the integration tests and `make bench` use it
to run drflow exactly as an operator does (no test harness, no in-process server), and production code never
imports it. Every process is started in its own session (process group) so that `stop()` ends it with
everything it spawned (a worker's flow-run processes, the server's uvicorn); stop() is safe to call twice.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A loopback port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any PREFECT_* setting (a test harness's must not leak into the
    stack), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    env.update(extra)
    return env


class Process:
    """One long-running subprocess in its own process group, its output in a log file (read on failure)."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path, cwd: Path = ROOT,
                 user: str | None = None):
        self.name, self.log = name, log
        self._out = open(log, "wb")
        self.popen = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True, user=user)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, grace: float = 10) -> None:
        """SIGTERM to the whole group, SIGKILL after `grace` seconds."""
        if self.alive():
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.popen.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:  # children that outlived their parent (a flow run whose worker died) are in the same group
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._out.close()


def postgres_bin() -> Path | None:
    """The directory of Debian's PostgreSQL server binaries (initdb, pg_ctl), or None when not installed."""
    found = shutil.which("pg_ctl")
    if found and Path(found).resolve().with_name("initdb").exists():
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


class Postgres:
    """A throwaway PostgreSQL cluster: initdb into a temporary directory, pg_ctl start on a free loopback port,
    trust authentication for the loopback only. PostgreSQL refuses to run as root: as root, the cluster belongs
    to Debian's `postgres` system user (made by the postgresql package)."""

    DATABASE = "prefect"
    USER = "drflow"

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install -y postgresql)")
        self.bin = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="drflow-pg-"))
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no 'postgres' user to own the cluster") from None
            self.user = "postgres"
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.data = self.root / "data"
        self.started = False

    def _run(self, *argv: str) -> None:
        done = subprocess.run([str(self.bin / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=120,
                              user=self.user, cwd=self.root, env=clean_env(LC_ALL="C.UTF-8"))
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self) -> "Postgres":
        self._run("initdb", "-D", str(self.data), "-U", self.USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "postgres.log"), "-o", options, "-w",
                  "-t", "60", "start")
        self.started = True
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, self.DATABASE)
        return self

    def query(self, sql: str) -> list[list[str]]:
        """Rows of `sql` in the database, read with psql (what the server wrote, seen without the server)."""
        done = subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER,
                               "-d", self.DATABASE, "-tA", "-F", "\t", "-c", sql], capture_output=True, text=True,
                              timeout=60, env=clean_env())
        if done.returncode:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.USER}@127.0.0.1:{self.port}/{self.DATABASE}"

    def stop(self) -> None:
        if self.started:
            self.started = False
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


class PrefectServer:
    """`prefect server start` on a free loopback port, its state in its own PREFECT_HOME: SQLite there, or the
    PostgreSQL database `database_url` names. The scheduler service is off: the stack's clock must not start
    the deployments' cron runs (the hourly RPO watch) in the middle of a test or a measurement."""

    def __init__(self, home: Path, database_url: str | None = None, startup_timeout: float = 180):
        self.home, self.port = home, free_port()
        self.database = "postgresql" if database_url else "sqlite"
        # host and port as settings, not `--host/--port`: the UI asks the API at the URL the settings make
        # (PREFECT_UI_API_URL's default), which the flags do not change
        settings = {"PREFECT_HOME": str(home), "PREFECT_SERVER_API_HOST": "127.0.0.1",
                    "PREFECT_SERVER_API_PORT": str(self.port), "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
                    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"}
        if database_url:
            settings["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
        self.process = Process("prefect server", [str(BIN / "prefect"), "server", "start"], clean_env(**settings),
                               home / "server.log")
        self._wait_healthy(startup_timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a client of this server (the CLI, a worker): its API URL, a PREFECT_HOME of its own."""
        return clean_env(PREFECT_HOME=str(self.home), PREFECT_API_URL=self.api_url, **extra)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise RuntimeError(f"prefect server exited ({self.process.popen.returncode}):\n{self.process.tail()}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.process.stop()
        raise RuntimeError(f"prefect server not healthy after {timeout} s:\n{self.process.tail()}")

    def cli(self, *argv: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a command of the venv (`prefect ...`, `drflow ...`) from the repository root against this server;
        a non-zero exit raises with its output."""
        done = subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=ROOT, env=env or self.env(), capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def worker(self, pool: str, name: str, env: dict[str, str], limit: int | None = None) -> Process:
        """`prefect worker start --pool POOL`: its flow runs inherit `env` (the sandbox's endpoints, say). It
        polls the server every second (default 10): a stack that is waited on should not idle."""
        argv = [str(BIN / "prefect"), "worker", "start", "--pool", pool, "--name", name]
        if limit:
            argv += ["--limit", str(limit)]
        return Process(f"worker {name}", argv, self.env(PREFECT_WORKER_QUERY_SECONDS="1",
                                                        PREFECT_WORKER_PREFETCH_SECONDS="5", **env),
                       self.home / f"worker-{name}.log")

    def stop(self) -> None:
        self.process.stop()


def wait_for_state(client: Any, flow_run_id: Any, types: set[str], timeout: float,
                   watch: Sequence[Process] = ()) -> Any:
    """Poll the server until the flow run's state type is one of `types` (names: "PAUSED", "COMPLETED", ...);
    a run that reaches another final state, or a watched process that dies, ends the wait with its log."""
    deadline = time.monotonic() + timeout
    final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
    run = None
    while time.monotonic() < deadline:
        run = client.read_flow_run(flow_run_id)
        kind = run.state.type.value if run.state else None
        if kind in types:
            return run
        if kind in final:
            raise AssertionError(f"flow run {run.name} ended {kind}: {run.state.message}\n"
                                 + "\n".join(p.tail() for p in watch))
        for process in watch:
            if not process.alive():
                raise AssertionError(f"{process.name} died:\n{process.tail()}")
        time.sleep(0.5)
    raise AssertionError(f"flow run {flow_run_id} not {types} after {timeout} s (state "
                         f"{run.state.type.value if run and run.state else None})\n"
                         + "\n".join(p.tail() for p in watch))


def wait_for_input(client: Any, flow_run_id: Any, key: str, timeout: float = 60) -> Any:
    """A paused run's input (its description, its schema) as the UI's resume form reads it. Prefect proposes the
    Paused state first and saves the input after it, so a reader that has just seen Paused polls for it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.read_flow_run_input(flow_run_id, key)
        except httpx.HTTPStatusError as missing:
            if missing.response.status_code != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)
