"""The console of ``testbed run``: progress lines, a live line, the summary table (Rich).

On a terminal the output has colour and, while a scenario runs, a live line (which
scenario, for how long) that disappears when it ends. When the output is not a terminal
or ``NO_COLOR`` is set (https://no-color.org), it is plain text: no colour, no control
sequence, the same lines. Rich wraps every cell to the width (the terminal's, else
``COLUMNS``, else 100 columns): a diagnosis is never cut.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Mapping, Sequence
from io import StringIO
from pathlib import Path
from typing import IO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text
from twisted.internet.task import LoopingCall

from testbed.reactor import IReactorTime
from testbed.scenario import ScenarioResult

from ._ladder_text import WIDTH as LADDER_WIDTH
from ._report_dir import LADDER_FILE, scenario_ladder
from ._status import (
    FAILED,
    NOT_RUN,
    PASSED,
    SKIPPED,
    Entry,
    NotRun,
    identity,
    status,
    totals_line,
)
from ._summary import (
    diagnosis_text,
    failure_details,
    finding_ids_text,
    format_duration,
    ladder_excerpt,
)

PLAIN_WIDTH = 100
"""Columns of plain output when ``COLUMNS`` does not say."""

MIN_LADDER_WIDTH = 80
"""The ladder is drawn at the console's width, but never narrower than this."""

REFRESH = 0.1
"""Seconds between two redraws of the live line."""

_LABELS = {PASSED: ("PASS", "bold green"), FAILED: ("FAIL", "bold red"),
           NOT_RUN: ("NOT RUN", "bold yellow"), SKIPPED: ("SKIP", "bold yellow")}


class _Console(Console):
    """A Rich console that reports a closed output as :class:`BrokenPipeError`.

    Rich's own reaction exits the process; the command line decides instead (it stops
    the run, writes its files and leaves quietly). Once closed, the console is quiet.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "the output was closed")


def make_console(file: IO[str] | None = None, *, environ: Mapping[str, str] | None = None,
                 force_terminal: bool | None = None) -> Console:
    """The console to print to ``file`` (stdout): styled on a terminal, else plain.

    Plain when ``file`` is not a terminal (Rich also honours ``FORCE_COLOR`` and
    ``TTY_COMPATIBLE``) or when ``NO_COLOR`` is set to anything but the empty string.
    """
    environ = os.environ if environ is None else environ
    output = sys.stdout if file is None else file

    def build(force: bool | None, plain_width: int | None = None) -> Console:
        return _Console(file=output, force_terminal=force, highlight=False, markup=False,
                        emoji=False, _environ=environ, width=plain_width,
                        color_system=None if plain_width else "auto")

    console = build(force_terminal)
    if console.is_terminal and environ.get("NO_COLOR", "") == "":
        return console
    columns = environ.get("COLUMNS", "")
    return build(False, int(columns) if columns.isdigit() and int(columns) else PLAIN_WIDTH)


def is_plain(console: Console) -> bool:
    """True when ``console`` writes no colour and no control sequence."""
    return console.color_system is None or not console.is_terminal


def progress_text(index: int, total: int, entry: Entry) -> Text:
    """``[ 3/27] PASS tls-expired-certificate (412 ms) TLS handshake failure``."""
    label, style = _LABELS[status(entry)]
    ident = identity(entry)
    text = Text(f"[{index:>{len(str(total))}}/{total}] ")
    text.append(label, style)
    text.append(f" {ident.name} ", "bold")
    text.append(f"({format_duration(ident.duration)}) ", "dim")
    if isinstance(entry, NotRun):
        text.append(entry.reason, "yellow")
    elif entry.skipped:
        text.append(entry.skipped, "yellow")
    elif entry.diagnosis is not None:
        text.append(entry.diagnosis.symptom)
    else:
        text.append(entry.error or "")
    return text


def progress_line(index: int, total: int, entry: Entry) -> str:
    """The progress line of one scenario, as plain text."""
    return progress_text(index, total, entry).plain


def _diagnosis_cell(entry: Entry) -> Text:
    if isinstance(entry, NotRun):
        return Text(entry.reason, "yellow")
    diagnosis = entry.diagnosis
    if entry.skipped:
        return Text(entry.skipped, "yellow")
    if diagnosis is None:
        return Text(entry.error or "", "red")
    cell = Text(diagnosis.symptom, "bold")
    if diagnosis.row != "healthy":
        cell.append(f": {diagnosis.cause}")
    ids = finding_ids_text(diagnosis)
    if ids:
        cell.append(f"\n{ids}", "dim")
    return cell


def summary_renderable(entries: Sequence[Entry]) -> RenderableType:
    """The table of scenarios (status, mode, time, full diagnosis) and the totals."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("scenario", no_wrap=True, overflow="fold")
    table.add_column("mode", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("diagnosis", overflow="fold")
    for entry in entries:
        label, style = _LABELS[status(entry)]
        ident = identity(entry)
        took = "-" if isinstance(entry, NotRun) and not ident.duration else format_duration(
            ident.duration)
        table.add_row(Text(label, style), ident.name, ident.mode.upper(), took,
                      _diagnosis_cell(entry))
    return Group(table, Text(""), Text(totals_line(entries), "bold"))


def summary_table(entries: Sequence[Entry], width: int = PLAIN_WIDTH) -> str:
    """The summary table as plain text, ``width`` columns wide."""
    console = make_console(StringIO(), environ={"COLUMNS": str(width)})
    return _plain(console, summary_renderable(entries))


def _plain(console: Console, renderable: RenderableType) -> str:
    """``renderable`` as ``console`` draws it without styles, lines right-stripped."""
    with console.capture() as captured:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in captured.get().rstrip("\n").splitlines())


def verbose_text(result: ScenarioResult, report_dir: Path | None,
                 width: int = LADDER_WIDTH) -> str:
    """``-v``: the diagnosis with its findings and the ladder (an excerpt if long)."""
    parts = []
    if result.diagnosis is not None:
        parts.append("\n".join("    " + line
                               for line in diagnosis_text(result.diagnosis).splitlines()))
    whole = str(Path(report_dir) / result.scenario.name / LADDER_FILE) if report_dir else None
    drawn = scenario_ladder(result, width=width)
    parts.append("  Ladder" + (f" ({whole}):" if whole else ":"))
    parts.append(ladder_excerpt(drawn, whole=whole))
    return "\n".join(parts)


class RunConsole:
    """What ``testbed run`` prints as it goes, and the summary at the end.

    ``started`` shows the live line (interactive terminals only), redrawn every
    :data:`REFRESH` seconds by the reactor given; ``finished`` prints a scenario's
    progress line, its failures and, with ``verbose``, its diagnosis and ladder.
    Writing to a closed output raises :class:`BrokenPipeError`.
    """

    def __init__(self, console: Console, *, verbose: bool = False,
                 report_dir: Path | None = None) -> None:
        self.console = console
        self.verbose = verbose
        self.report_dir = report_dir
        self.live = console.is_interactive and not is_plain(console)
        self._live: Live | None = None
        self._ticker: LoopingCall | None = None
        self._current: tuple[int, int, str, float, IReactorTime] | None = None
        self._finished: list[Entry] = []

    def started(self, index: int, total: int, name: str, clock: IReactorTime) -> None:
        """Scenario ``index`` of ``total`` has started: show it on the live line."""
        self._current = (index, total, name, clock.seconds(), clock)
        if not self.live:
            return
        if self._live is None:
            self._live = Live(console=self.console, transient=True, auto_refresh=False,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start()
            self._ticker = LoopingCall(self.refresh)
            self._ticker.clock = clock
            self._ticker.start(REFRESH, now=False)
        self.refresh()

    def refresh(self) -> None:
        """Redraw the live line."""
        if self._live is None:
            return
        try:
            self._live.update(self._live_line(), refresh=True)
        except BrokenPipeError:
            self.close()

    def _live_line(self) -> RenderableType:
        if self._current is None:  # between two scenarios
            return Text(totals_line(self._finished), "dim")
        index, total, name, since, clock = self._current
        text = Text(f"[{index}/{total}] running ")
        text.append(name, "bold")
        text.append(f" {clock.seconds() - since:.1f} s", "dim")
        if self._finished:
            text.append(f"   {totals_line(self._finished)}", "dim")
        return Spinner("dots", text=text, style="cyan")

    def finished(self, index: int, total: int, entry: Entry) -> None:
        """Print the progress line of a scenario that ended (or will not run)."""
        self._current = None
        self._finished.append(entry)
        self.console.print(progress_text(index, total, entry))
        if isinstance(entry, ScenarioResult):
            if not entry.passed:
                self.console.print(Text(failure_details(entry), "red"))
            if self.verbose:
                width = max(MIN_LADDER_WIDTH, self.console.width)
                self.console.print(Text(verbose_text(entry, self.report_dir, width)),
                                   soft_wrap=True)
        self.refresh()

    def summary(self, entries: Sequence[Entry]) -> None:
        """Stop the live line; print the summary table and the totals."""
        self.close()
        self.console.print()
        table = summary_renderable(entries)
        if is_plain(self.console):
            self.console.print(Text(_plain(self.console, table)), soft_wrap=True)
        else:
            self.console.print(table)

    def close(self) -> None:
        """Stop redrawing and remove the live line."""
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        self._ticker = None
        live, self._live = self._live, None
        if live is not None:
            live.stop()
