"""The live progress line: rewritten in place on a terminal, periodic lines elsewhere."""

import io

from testbed.load import Progress, ProgressDisplay


def snapshots():
    return [Progress(0.5, 50, 40, 0, 10), Progress(1.0, 100, 90, 1, 9),
            Progress(1.5, 150, 140, 1, 9), Progress(6.0, 500, 490, 2, 8),
            Progress(6.2, 500, 498, 2, 0, done=True)]


def test_terminal_rewrites_one_line_with_carriage_returns():
    out = io.StringIO()
    display = ProgressDisplay(out, tty=True)
    assert display.refresh == 0.5
    for snapshot in snapshots():
        display(snapshot)
    text = out.getvalue()
    assert text.count("\r") == 5
    assert text.count("\n") == 1 and text.endswith("done\n")
    assert "498 ok" in text.split("\r")[-1]


def test_pipe_prints_a_line_per_interval_and_the_last_one():
    out = io.StringIO()
    display = ProgressDisplay(out, tty=False, interval=5.0)
    assert display.refresh == 5.0
    for snapshot in snapshots():
        display(snapshot)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split()[1] for line in lines] == ["0.5", "6.0", "6.2"]
    assert lines[-1].endswith("done")


def test_rate_is_since_the_previous_snapshot():
    display = ProgressDisplay(io.StringIO(), tty=True)
    first, second = Progress(1.0, 100, 100, 0, 0), Progress(2.0, 300, 250, 0, 0)
    assert display.line(first).rstrip().endswith("100/s")
    display(first)
    assert display.line(second).rstrip().endswith("150/s")
