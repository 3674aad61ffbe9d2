"""The load page: figures, tables and the four SVG plots from a LoadResult's intervals."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from testbed.load import LatencyHistogram, LoadInterval, LoadResult
from testbed.report import write_load_page


def interval(index: int, *, duration: float = 1.0, ok: int = 100, errors=(), retx: int = 0,
             tcp_ms: float = 20.0) -> LoadInterval:
    failed = Counter(dict(errors))
    return LoadInterval(
        index, float(index), duration, attempted=ok + failed.total(), succeeded=ok,
        failed=failed.total(), retransmissions=retx, errors=failed,
        statuses=Counter({200: ok}),
        latencies={"UDP": LatencyHistogram.of([0.005 + k / 10000 for k in range(ok)]),
                   "TCP": LatencyHistogram.of([tcp_ms / 1000] * 10)})


def result() -> LoadResult:
    load = LoadResult("register", "udp", 50, attempted=0, elapsed=3.01)
    for item in (interval(0), interval(1, errors={"timeout": 7, "transport": 2}, retx=12),
                 interval(2, tcp_ms=80.0), interval(3, duration=0.01, ok=5)):
        load.attempted += item.attempted
        load.succeeded += item.succeeded
        load.failed += item.failed
        load.fold(item)
    return load


def plots(page: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in
            re.finditer(r'<svg class="plot" id="plot-(\w+)".*?</svg>', page, re.S)}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("load")
    return write_load_page(folder, result(), target="sip:example.com").read_bytes()


def test_the_page_has_the_figures_the_tables_and_four_plots(written):
    page = written.decode("utf-8")
    drawn = plots(page)
    assert list(drawn) == ["rate", "latency", "errors", "histogram"]
    for svg in drawn.values():
        ET.fromstring(svg)  # each one well-formed SVG, inline
    assert "UDP p50" in drawn["latency"] and "TCP p99" in drawn["latency"]
    assert "timeout" in drawn["errors"] and "retransmissions" in drawn["errors"]
    assert "UDP (305)" in drawn["histogram"]
    assert "<b>314</b>attempted" in page and "<b>9</b>failed" in page
    assert re.search(r"<td>timeout</td><td>7</td>.*<td>transport</td><td>2</td>", page, re.S)
    assert "FAIL</span>" in page  # some failed
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # four plots, no id shared between them


def test_the_page_is_the_same_for_the_same_run(tmp_path, written):
    again = write_load_page(tmp_path, result(), target="sip:example.com").read_bytes()
    assert again == written


def test_the_rate_of_a_short_last_interval_is_folded_into_the_one_before(written):
    # 5 successes in 10 ms would plot as 500/s; folded, the last step is 105 in 1.01 s
    page = written.decode("utf-8")
    rate = plots(page)["rate"]
    ticks = [float(t) for t in re.findall(r">(\d+(?:\.\d+)?)</text>", rate)]
    assert max(ticks) < 150
