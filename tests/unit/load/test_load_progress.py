"""The live statistics: a period row and a total row, rewritten in place on a terminal,
printed every interval elsewhere."""

import io

from testbed.load import LatencyHistogram, Progress, ProgressDisplay


def snapshots():
    return [Progress(0.5, 50, 40, 0, 10), Progress(1.0, 100, 90, 1, 9),
            Progress(1.5, 150, 140, 1, 9), Progress(6.0, 500, 490, 2, 8),
            Progress(6.2, 500, 498, 2, 0, done=True)]


def test_terminal_rewrites_the_two_rows_in_place():
    out = io.StringIO()
    display = ProgressDisplay(out, tty=True)
    assert display.refresh == 1.0
    for snapshot in snapshots():
        display(snapshot)
    text = out.getvalue()
    assert text.startswith("load ") and "p99 ms" in text.splitlines()[0]
    assert text.count("\x1b[1A") == 4  # every report after the first goes back up one row
    assert text.endswith("done\x1b[K\n")
    last_period, last_total = text.split("\x1b[1A")[-1].split("\n")[:2]
    assert last_period.split()[1:6] == ["0.2", "s", "0", "8", "0"]
    assert last_total.split()[:6] == ["total", "6.2", "s", "500", "498", "2"]


def test_pipe_prints_both_rows_per_interval_and_the_last_ones():
    out = io.StringIO()
    display = ProgressDisplay(out, tty=False, interval=5.0)
    assert display.refresh == 5.0
    for snapshot in snapshots():
        display(snapshot)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert [line.split()[0] for line in lines] == ["load", "period", "total", "period",
                                                   "total", "period", "total"]
    assert [line.split()[1] for line in lines[2::2]] == ["0.5", "6.0", "6.2"]
    # the period since the previous printed report: 0.5 s .. 6.0 s
    assert lines[3].split()[1:6] == ["5.5", "s", "450", "450", "2"]
    assert lines[-1].endswith("done") and display.lines == 7


def test_period_and_total_rates_and_latencies_side_by_side():
    display = ProgressDisplay(io.StringIO(), tty=True)
    slow = LatencyHistogram.of([0.100] * 100)
    first = Progress(1.0, 100, 100, 0, 0, False, 2, slow)
    fast = slow.copy().merge(LatencyHistogram.of([0.001] * 300))
    second = Progress(2.0, 500, 400, 0, 0, False, 5, fast)
    display(first)
    period, total = display.rows(second)
    p = period.split()
    t = total.split()
    assert p[6] == "3" and t[6] == "5"            # retransmissions: period, total
    assert p[-3] == "300" and t[-3] == "200"      # success rate per second
    # the period saw only 1 ms latencies (at the histogram's resolution: 2.33 %)
    assert 1.0 <= float(p[-2]) == float(p[-1]) <= 1.0233
    assert 1.0 <= float(t[-2]) <= 1.0233 and t[-1] == "100.00"  # the total: the slow ones
