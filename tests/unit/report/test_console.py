"""The console of ``testbed run``: plain text when not a terminal or NO_COLOR is set,
colour and a live line on a terminal (Rich), times in ms, full diagnoses wrapped to the
width, findings, and ``-v``'s ladder (an excerpt when long)."""

import re
from io import StringIO

import pytest
from twisted.internet.task import Clock

from testbed.report import (
    NotRun,
    RunConsole,
    format_duration,
    ladder_excerpt,
    make_console,
    progress_line,
    summary_table,
    verbose_text,
)

from .conftest import LONG_CAUSE, register_events, result, scenario

ESCAPE = "\x1b["
GREEN_BOLD = "\x1b[1;32m"


def unstyled(text):
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def terminal(environ=None, width=100):
    """A console that believes it writes to a terminal, and what it wrote."""
    buffer = StringIO()
    environ = {"COLUMNS": str(width), "LINES": "25", **(environ or {})}
    return make_console(buffer, environ=environ, force_terminal=True), buffer


def piped(width=100):
    buffer = StringIO()
    return make_console(buffer, environ={"COLUMNS": str(width)}), buffer


@pytest.mark.parametrize(("seconds", "text"), [
    (0.0004, "0.4 ms"), (0.0098, "9.8 ms"), (0.0123, "12 ms"), (0.4126, "413 ms"),
    (2.5, "2500 ms")])
def test_times_are_in_milliseconds(seconds, text):
    assert format_duration(seconds) == text


def test_the_progress_line_names_status_scenario_time_and_symptom():
    assert progress_line(3, 27, result("tls-expired", duration=0.412)) == (
        "[ 3/27] PASS tls-expired (412 ms) No problem")
    assert progress_line(4, 27, NotRun.of(scenario("x"), "interrupted by SIGINT")) == (
        "[ 4/27] NOT RUN x (0.0 ms) interrupted by SIGINT")


def test_not_a_terminal_is_plain_text():
    console, buffer = piped()
    display = RunConsole(console)
    display.started(1, 2, "healthy-udp", Clock())
    display.finished(1, 2, result())
    display.finished(2, 2, result("broken", passed=False, failures=("steps[0]: expected X",)))
    display.summary([result(), result("broken", passed=False)])
    out = buffer.getvalue()
    assert ESCAPE not in out
    assert not display.live
    assert "[1/2] PASS healthy-udp (12 ms) No problem" in out
    assert "[2/2] FAIL broken" in out and "steps[0]: expected X" in out
    assert "1 passed, 1 failed" in out
    assert all(line == line.rstrip() for line in out.splitlines())


def test_a_terminal_gets_colour_and_a_live_line_that_goes_away():
    console, buffer = terminal()
    clock = Clock()
    display = RunConsole(console)
    assert display.live
    display.started(1, 1, "healthy-udp", clock)
    clock.advance(1.25)
    shown = unstyled(buffer.getvalue())
    assert "[1/1] running healthy-udp 1.2 s" in shown
    display.finished(1, 1, result())
    display.summary([result()])
    out = buffer.getvalue()
    assert f"{GREEN_BOLD}PASS" in out
    assert "\x1b[2K" in out  # the live line erased (transient)
    assert "\x1b[?25l" in out and "\x1b[?25h" in out  # the cursor hidden, then shown again
    assert "[1/1] PASS healthy-udp (12 ms) No problem" in unstyled(out)
    assert not clock.getDelayedCalls()  # the redraw stopped with the live line


def test_no_color_on_a_terminal_is_plain_text():
    console, buffer = terminal({"NO_COLOR": "1"})
    display = RunConsole(console)
    display.started(1, 1, "healthy-udp", Clock())
    display.finished(1, 1, result())
    display.summary([result()])
    assert not display.live
    assert ESCAPE not in buffer.getvalue()
    assert "[1/1] PASS healthy-udp" in buffer.getvalue()


def test_an_empty_no_color_does_not_count():
    """https://no-color.org: set "and not an empty string"."""
    console, _ = terminal({"NO_COLOR": ""})
    assert RunConsole(console).live


def words(text):
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("width", [80, 120])
def test_the_summary_shows_the_whole_diagnosis_wrapped_to_the_width(width):
    failing = result("tls-cn-only", row="tls-handshake-failure", cause=LONG_CAUSE)
    table = summary_table([failing], width=width)
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= width
    column = lines[0].index("diagnosis")
    body = lines[2:lines.index("")]
    cell = words(" ".join(line[column:] for line in body))
    assert cell == (f"TLS handshake failure: {LONG_CAUSE} "
                    "findings: connection-refused, failover")
    assert len(lines) > 4  # wrapped over several lines, not cut


def test_the_summary_counts_what_did_not_run():
    entries = [result(), NotRun.of(scenario("b"), "interrupted by SIGTERM while running", 0.2),
               NotRun.of(scenario("c"), "the run was interrupted by SIGTERM")]
    table = summary_table(entries)
    assert "NOT RUN" in table and "the run was interrupted by SIGTERM" in table
    assert table.rstrip().endswith("1 passed, 0 failed, 2 not run")


def test_verbose_shows_the_diagnosis_findings_and_ladder():
    text = verbose_text(result(events=tuple(register_events(2))), None)
    assert "Symptom: No problem" in text
    assert "[connection-refused] 127.0.0.7:5061/TLS refused the connection" in text
    assert "REGISTER to 127.0.0.7:5061/TLS: refused after 0 transmission(s)" in text
    assert "REGISTER sip:example.com (CSeq 2 REGISTER)" in text
    assert "200 OK (CSeq 2 REGISTER)" in text


def test_verbose_on_the_console_prints_the_ladder():
    console, buffer = piped()
    RunConsole(console, verbose=True).finished(1, 1, result(events=tuple(register_events(1))))
    out = buffer.getvalue()
    assert "Ladder:" in out and "REGISTER sip:example.com (CSeq 1 REGISTER)" in out
    assert "[failover]" in out


def test_a_long_ladder_is_its_header_and_last_rows_saying_where_the_whole_is(tmp_path):
    text = verbose_text(result(events=tuple(register_events(40))), tmp_path)
    whole = f"{tmp_path}/healthy-udp/ladder.txt"
    assert f"Ladder ({whole}):" in text
    assert re.search(rf"\.\.\. \d+ earlier lines not shown; the whole ladder: {re.escape(whole)}",
                     text)
    assert "Participants:" in text and "time(s)" in text  # the header stays
    assert "(CSeq 40 REGISTER)" in text and "(CSeq 21 REGISTER)" in text
    assert "(CSeq 20 REGISTER)" not in text


def test_ladder_excerpt_keeps_short_ladders_whole():
    header = ["Participants:", "  client  127.0.0.1", "", " time(s)"]
    rows = [f"{i:8.3f}  row {i}" for i in range(10)]
    short = "\n".join(header + rows)
    assert ladder_excerpt(short) == short
    cut = ladder_excerpt(short, rows=3).splitlines()
    assert cut == [*header, "   ... 7 earlier lines not shown ...", *rows[-3:]]


def test_a_closed_output_is_a_broken_pipe_and_the_console_goes_quiet():
    class Closed(StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    console = make_console(Closed(), environ={})
    with pytest.raises(BrokenPipeError):
        RunConsole(console).finished(1, 1, result())
    assert console.quiet
