"""What a terminal shows while a flow runs: a live display per phase, and Prefect's lines in a log file.

Prefect's console prints one INFO line per task run: hundreds for the sample shop, thousands for a real estate,
and what matters (how far the run is, what failed) scrolls away. In a terminal the CLI shows instead a rich
display fed by the run's observers (core/observers.py): per phase, resources done of all, failed, elapsed; above
it the flow, the phase it is in and its time. Prefect's console lines go, as they are, to a log file named at
the end (`--verbose` leaves them on the terminal; `--json` and output that is not a terminal are left alone:
drflow/cli.py decides). Nothing here logs: the file receives what Prefect's console would have shown, no more.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from core import observers
from core.engine import DISCOVER

LOG_DIR_ENV = "DRFLOW_LOG_DIR"  # where Prefect's lines of terminal runs go; default ~/.drflow/logs


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class PhaseDisplay(Progress):
    """A live display of one flow run: a header (flow, elapsed, current phase, totals), then a row per phase in
    the order the run announced them. A run observer (core.observers.RunObserver): events come from the flow's
    thread, rich redraws from its own."""

    def __init__(self, console: Console, title: str):
        self.title = title
        self._started = time.monotonic()
        self._ended: float | None = None
        self._rows: dict[str, TaskID] = {}
        self._failed: dict[str, int] = {}
        # not rich's own lock (Progress._lock): the redrawing thread takes that one after the Live's, which
        # add_task takes after it; the header reads without any lock (a snapshot of two dicts)
        self._events = threading.RLock()
        super().__init__(SpinnerColumn(finished_text="[green]✓[/]"), TextColumn("{task.description:<18}"),
                         BarColumn(bar_width=32, complete_style="cyan"), MofNCompleteColumn(),
                         TextColumn("{task.fields[failed]:<10}"), TimeElapsedColumn(),
                         TextColumn("[yellow]{task.fields[note]}[/]"), console=console,
                         refresh_per_second=8, redirect_stdout=False)  # stdout is the report's alone

    # -- core.observers.RunObserver --------------------------------------------------------------------------
    def planned(self, phase: str, total: int) -> None:
        with self._events:
            row = self._rows.get(phase)
            if row is None:
                self._rows[phase] = self.add_task(phase.replace("_", " "), total=total, failed="", note="")
                self._failed[phase] = 0
            else:  # announced again (failback): more of it to come, its clock goes on
                task = self._tasks[row]
                task.finished_time = None
                self.update(row, total=(task.total or 0) + total)

    def finished(self, phase: str, failed: bool) -> None:
        with self._events:
            if phase not in self._rows:  # an end never announced: count it all the same
                self.planned(phase, 1)
            self._failed[phase] += failed
            self.update(self._rows[phase], advance=1, note="",
                        failed=f"[red]{self._failed[phase]} failed[/]" if self._failed[phase] else "")

    def note(self, phase: str, text: str) -> None:
        """Why the phase waits (core.observers.note), beside its row until its next resource ends."""
        with self._events:
            if phase not in self._rows:
                self.planned(phase, 0)
            self.update(self._rows[phase], note=text.replace("[", r"\["))  # the text is not rich markup

    # -- rendering --------------------------------------------------------------------------------------------
    def header(self) -> Text:
        """The line above the rows: what runs, for how long, where it is now, how much of it is done."""
        rows = [(phase, self._tasks[row]) for phase, row in list(self._rows.items())]
        work = [task for phase, task in rows if phase != DISCOVER]  # resources, not the types discovered
        now = next((phase.replace("_", " ") for phase, task in rows if not task.finished), None)
        elapsed = (self._ended or time.monotonic()) - self._started
        text = Text.assemble((self.title, "bold"), f"  {_clock(elapsed)}  ")
        text.append("finished" if self._ended else f"now: {now}" if now else "pre-flight")
        if work:
            done, total = sum(int(t.completed) for t in work), sum(int(t.total or 0) for t in work)
            failed = sum(n for phase, n in list(self._failed.items()) if phase != DISCOVER)
            text.append(f"  {done} of {total} done")
            if failed:
                text.append(f", {failed} failed", style="red")
        return text

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.header()
        if self._rows:
            yield from super().get_renderables()

    @contextmanager
    def showing(self) -> Iterator[PhaseDisplay]:
        """Draw the display and hear the run's events for the block; leave its last state on the terminal."""
        self.start()
        try:
            with observers.observing(self):
                yield self
        finally:
            self._ended = time.monotonic()
            self.stop()


class PrefectLog:
    """For the block, Prefect's console handlers (root's, and the web server's loggers') write to a log file
    instead of the terminal: the same records, the same format, nothing added. Restored on any exit, unless
    `restore` is false: the `drflow` process itself ends with the command, and Prefect's last lines (its
    temporary server stopping, at exit) belong in the file too."""

    def __init__(self, command: str, directory: Path | None = None, restore: bool = True):
        self.directory = directory or Path(os.environ.get(LOG_DIR_ENV) or Path.home() / ".drflow" / "logs")
        self.command = command
        self.restore = restore
        self.path: Path | None = None
        self._swapped: list[tuple[logging.Logger, logging.Handler, logging.Handler]] = []

    def _open(self) -> Path:
        """A new file of this command's, readable by its owner only (it names the estate's resources)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        for n in range(1, 1000):
            path = self.directory / f"{self.command}-{stamp}{'' if n == 1 else f'-{n}'}.log"
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                return path
            except FileExistsError:
                continue
        raise FileExistsError(f"no free log file name for {self.command} in {self.directory}")

    def __enter__(self) -> PrefectLog:
        from prefect.logging.handlers import PrefectConsoleHandler

        self.path = self._open()
        loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                           if isinstance(lg, logging.Logger)]
        files: dict[int, logging.Handler] = {}
        for logger in loggers:
            for handler in list(logger.handlers):
                if isinstance(handler, PrefectConsoleHandler):
                    if id(handler) not in files:
                        file = logging.FileHandler(self.path, encoding="utf-8")
                        file.setFormatter(handler.formatter)
                        file.setLevel(handler.level)
                        for f in handler.filters:
                            file.addFilter(f)
                        files[id(handler)] = file
                    logger.removeHandler(handler)
                    logger.addHandler(files[id(handler)])
                    self._swapped.append((logger, handler, files[id(handler)]))
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.restore:  # logging's own shutdown, at exit, closes the file
            return
        for logger, console, file in reversed(self._swapped):
            logger.removeHandler(file)
            logger.addHandler(console)
        for file in {id(f): f for _, _, f in self._swapped}.values():
            file.close()
        self._swapped.clear()


class TerminalRun:
    """One command run at a terminal: Prefect's lines to a log file for the whole command, a PhaseDisplay per
    flow it runs (the demo runs two), and the file's name on the terminal at the end."""

    def __init__(self, console: Console, command: str, restore: bool = True):
        self.console = console
        self.log = PrefectLog(command, restore=restore)

    @contextmanager
    def flow(self, title: str) -> Iterator[PhaseDisplay]:
        with PhaseDisplay(self.console, title).showing() as display:
            yield display

    def __enter__(self) -> TerminalRun:
        self.log.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.__exit__(*exc)
        self.console.print(f"Prefect's log of this run: {self.log.path} (--verbose shows it on the terminal)",
                           soft_wrap=True, markup=False, highlight=False)
