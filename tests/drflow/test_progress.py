"""What a terminal shows while a flow runs (drflow/progress.py): a live display per phase, Prefect's lines in a
log file named at the end; --verbose, --json and output that is no terminal as they always were.

The display is driven by the run observers' events (core/observers.py) on a forced-terminal rich Console; one
CLI test runs a real replication at such a "terminal", the others a one-task stand-in flow."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid

import pytest
import yaml
from prefect import flow, get_run_logger, task
from rich.console import Console
from typer.testing import CliRunner

import drflow.cli as cli
from conftest import make_plan, plan_data
from core import observers
from core import report as reports
from core.aws import AwsAccess
from core.engine import DISCOVER, RunSpec, run_graph
from core.handler import BlockedByDependency
from core.models import Phase, Resource
from drflow.progress import PhaseDisplay, PrefectLog
from engine_helper import Recorder

runner = CliRunner()


def screen(written: str) -> list[str]:
    """What stays on a terminal after `written`: lines a live display erased (cursor up, erase line) are gone,
    colours are dropped."""
    lines = [""]
    for token in re.split(r"(\x1b\[[0-9;?]*[A-Za-z]|\r|\n)", written):
        if token == "\n":
            lines.append("")
        elif token == "\x1b[2K":
            lines[-1] = ""
        elif up := re.fullmatch(r"\x1b\[(\d*)A", token):
            del lines[len(lines) - int(up.group(1) or 1):]
            lines = lines or [""]
        elif token and not token.startswith("\x1b") and token != "\r":
            lines[-1] += token
    return [line.rstrip() for line in lines if line.strip()]


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(force_terminal=True, file=out, width=110), out


def row(lines: list[str], phase: str) -> str:
    found = [line for line in lines if re.match(rf"^\S+ {phase}\s", line)]
    assert len(found) == 1, "\n".join(lines)
    return found[0]


def test_the_display_shows_each_phase_done_failed_and_total_and_the_current_phase():
    console, out = terminal()
    display = PhaseDisplay(console, "replicate of plan shop")
    with display.showing():
        observers.planned(DISCOVER, 3)
        for _ in range(3):
            observers.finished(DISCOVER)
        observers.planned("network", 4)
        observers.planned("load_balancers", 2)
        for failed in (False, False, True, False):
            observers.finished("network", failed=failed)
        observers.finished("load_balancers")
        assert str(display.header()).startswith("replicate of plan shop  0:00:0")
        assert "now: load balancers  5 of 6 done, 1 failed" in str(display.header())
    observers.finished("network")  # after the block: no longer heard
    lines = screen(out.getvalue())
    assert re.match(r"^replicate of plan shop  0:00:0\d  finished  5 of 6 done, 1 failed$", lines[0]), lines
    assert re.search(r"3/3\s+0:00:0\d$", row(lines, "discover"))
    assert re.search(r"4/4\s+1 failed\s+0:00:0\d$", row(lines, "network"))
    assert re.search(r"1/2\s+0:00:0\d$", row(lines, "load balancers"))
    assert len(lines) == 4, lines  # the last frame only: every earlier one was erased


def test_a_phase_that_waits_says_why_until_its_next_resource_ends():
    console, out = terminal()
    display = PhaseDisplay(console, "failover of plan shop")
    with display.showing():
        observers.planned("servers", 2)
        observers.note("servers", "2 server(s) waiting for DRS capacity: [quota L-1234]")
        assert "waiting for DRS capacity: [quota L-1234]" in row(screen(_frame(display)), "servers")
        observers.finished("servers")
        assert "waiting" not in row(screen(_frame(display)), "servers")


def _frame(display: PhaseDisplay) -> str:
    """What the display draws now, on a console of its own (the live one redraws on its own clock)."""
    frame = io.StringIO()
    Console(file=frame, width=160, force_terminal=False, color_system=None).print(*display.get_renderables())
    return frame.getvalue()


def test_an_observer_that_raises_is_dropped_and_the_run_goes_on():
    class Broken:
        def planned(self, phase, total):
            raise ValueError("display gone")

        finished = planned

    heard = []

    class Listening:
        def planned(self, phase, total):
            heard.append((phase, total))

        def finished(self, phase, failed):
            heard.append((phase, failed))

    with observers.observing(Broken()), observers.observing(Listening()):
        observers.planned("data", 2)
        observers.finished("data")
    assert heard == [("data", 2), ("data", False)]


class Networked(Recorder):
    phase = Phase.NETWORK


class Stored(Recorder):
    type = "test:store"
    phase = Phase.DATA


def test_the_engine_tells_observers_of_every_resource_under_its_handlers_phase():
    """a <- b (network), a <- s1 and s2 (data); s1 fails for good, so nothing of it is retried, and the rest
    of the graph goes on."""
    plan = make_plan(name=f"t{uuid.uuid4().hex[:10]}")
    store = Stored(fail={"s1": [BlockedByDependency("gone for good")]}, delay=0.05)
    resources = [Resource(type="test:thing", source_id="a"),
                 Resource(type="test:thing", source_id="b", dependencies=["test:thing/a"]),
                 Resource(type="test:store", source_id="s1", dependencies=["test:thing/a"]),
                 Resource(type="test:store", source_id="s2", dependencies=["test:thing/a"])]
    events = []

    class Heard:
        def planned(self, phase, total):
            events.append(("planned", phase, total))

        def finished(self, phase, failed):
            events.append(("finished", phase, failed))

    @flow
    def engine_flow():
        spec = RunSpec(plan=plan, aws=AwsAccess(plan), registry={"test:thing": Networked(delay=0.05),
                                                                 "test:store": store}, mode="stage", scope="t")
        return run_graph(resources, spec)

    with observers.observing(Heard()):
        engine_flow()
    assert events[:2] == [("planned", "network", 2), ("planned", "data", 2)]
    assert sorted(e for e in events[2:]) == [("finished", "data", False), ("finished", "data", True),
                                             ("finished", "network", False), ("finished", "network", False)]


@pytest.fixture
def prefect_console(monkeypatch):
    """Prefect's console handler (root's) writing to a buffer of its own, at INFO as outside the tests: what
    Prefect would print at a terminal."""
    from prefect.logging.handlers import PrefectConsoleHandler

    buffer = io.StringIO()
    [handler] = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    monkeypatch.setattr(handler, "stream", buffer)
    monkeypatch.setattr(handler.console, "file", buffer)
    prefect_logger = logging.getLogger("prefect")
    level = prefect_logger.level
    prefect_logger.setLevel(logging.INFO)
    yield buffer
    prefect_logger.setLevel(level)


def test_prefects_console_lines_go_to_the_log_file_then_back(prefect_console, tmp_path):
    task_runs, run = logging.getLogger("prefect.task_runs"), {"task_run_name": "ec2:vpc vpc-1"}
    with PrefectLog("replicate", directory=tmp_path / "logs") as log:
        task_runs.info("Finished in state Completed()", extra=run)
    task_runs.info("after the block", extra=run)
    assert log.path.parent == tmp_path / "logs" and log.path.name.startswith("replicate-")
    assert "Task run 'ec2:vpc vpc-1' - Finished in state Completed()" in log.path.read_text()
    assert "after the block" not in log.path.read_text()
    assert prefect_console.getvalue().count("\n") == 1 and "after the block" in prefect_console.getvalue()
    assert oct(log.path.stat().st_mode & 0o777) == "0o600"


@pytest.fixture
def plan_file(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(plan_data()))
    return str(path)


@pytest.fixture
def log_dir(tmp_path, monkeypatch):
    path = tmp_path / "logs"
    monkeypatch.setenv("DRFLOW_LOG_DIR", str(path))
    return path


def at_a_terminal(monkeypatch) -> io.StringIO:
    console, out = terminal()
    monkeypatch.setattr(cli, "_console", lambda: console)
    return out


REPORT = {"flow": "replicate", "plan": "shop", "recovery_point": "20250101T000000000Z", "seconds": 0.1,
          "resources": {"total": 2, "by_outcome": {"created": 2}}, "api_calls": {"read": 1, "write": 2, "retried": 0},
          "details": [{"key": f"ec2:vpc/vpc-{n}", "name": f"vpc {n}", "outcome": "created", "recovered_id": f"vpc-r{n}",
                       "error": None, "warnings": []} for n in (1, 2)], "failed": []}


@task(name="stand-in-task")
def _one(n: int) -> int:
    get_run_logger().info("resource %d applied", n)
    return n


@flow(name="drflow-replicate")
def stand_in_replicate(plan, refresh: bool = False) -> dict:
    """What the CLI sees of a replication: progress events, Prefect's per-task lines, a report."""
    observers.planned("network", 2)
    for n in (1, 2):
        _one(n)
        observers.finished("network")
    return REPORT


@pytest.fixture
def stand_in(monkeypatch):
    import flows.replicate

    monkeypatch.setattr(flows.replicate, "replicate", stand_in_replicate)
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):  # rich would take these for a terminal
        monkeypatch.delenv(name, raising=False)


def test_json_verbose_and_output_that_is_no_terminal_are_as_they_were(stand_in, plan_file, log_dir, monkeypatch,
                                                                      prefect_console):
    """Byte for byte: stdout the report alone, nothing on stderr, no display, no log file; Prefect's lines where
    Prefect put them."""
    text = reports.text(REPORT) + "\n"
    for args in ([], ["--verbose"]):  # not a terminal (CliRunner's output is none)
        result = runner.invoke(cli.app, ["replicate", "--plan", plan_file, *args])
        assert (result.exit_code, result.stdout, result.stderr) == (0, text, ""), result.output
    tty = at_a_terminal(monkeypatch)
    result = runner.invoke(cli.app, ["replicate", "--plan", plan_file, "--json"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, json.dumps(REPORT, indent=2) + "\n", "")
    result = runner.invoke(cli.app, ["replicate", "--plan", plan_file, "--verbose"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, text, "")
    assert tty.getvalue() == "" and not log_dir.exists()
    assert prefect_console.getvalue().count("resource 1 applied") == 4  # every run: Prefect's console had it


def test_a_terminal_run_shows_its_phases_and_puts_prefects_lines_in_the_log_file_it_names(
        shop, plan_file, log_dir, monkeypatch, prefect_console):
    """The one real flow at a terminal: a replication of the sample shop."""
    tty = at_a_terminal(monkeypatch)
    result = runner.invoke(cli.app, ["replicate", "--plan", plan_file])
    assert result.exit_code == 0, result.output
    lines = screen(tty.getvalue())
    total = int(re.search(r"^  (\d+) resources: ", result.stdout, re.M).group(1))
    assert re.match(rf"^replicate of plan shop  \d:\d\d:\d\d  finished  {total} of {total} done$", lines[0]), lines
    assert re.search(r" (\d+)/\1\s+\d:\d\d:\d\d$", row(lines, "discover"))  # one per resource type
    assert re.search(rf" {total}/{total}\s+\d:\d\d:\d\d$", row(lines, "network"))  # the shop fixture: all network
    [log] = list(log_dir.iterdir())
    assert lines[-1] == f"Prefect's log of this run: {log} (--verbose shows it on the terminal)"
    written = log.read_text()
    assert re.search(r"Task run 'ec2:vpc vpc-\w+' - .*created", written)  # the engine's line per resource
    assert written.count("Finished in state") > total
    assert "Task run" not in tty.getvalue() and "Task run" not in result.output
    assert "Task run" not in prefect_console.getvalue()
    assert "sandbox-secret" not in written and "SECRET" not in written
    assert result.stdout.startswith("drflow replicate · plan shop · recovery point ")  # the report, as ever


@pytest.mark.parametrize("command", [["replicate"], ["failover"], ["failback"], ["drill", "cleanup"], ["demo"]],
                         ids=" ".join)
def test_every_command_that_runs_flows_offers_verbose(command):
    result = runner.invoke(cli.app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--verbose" in result.output and "log file" in result.output
