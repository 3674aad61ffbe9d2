"""Plots as inline SVG, drawn by matplotlib offline (its SVG backend, no pyplot state).

Each plot is a :class:`matplotlib.figure.Figure` rendered to an ``<svg>`` element that a
page embeds as is: text stays text (``svg.fonttype: none``, so the page's fonts draw it
and a browser can search it), the output carries no date, and the ids inside are salted
with the plot's name so that several plots on one page never share one (``svg.hashsalt``
for the clip paths, a prefix for the rest).

matplotlib (with numpy) takes a second or more to import: :func:`plot` imports it when a
page first draws, so that every other command (``testbed run``, ``list``, ``serve``...)
starts without paying for it. It is the one import made inside a function, for that
reason only: the layers are the same either way (this module is the report layer's).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH, HEIGHT = 7.2, 3.0  # inches at 100 dpi: 720 x 300 px
STYLE: dict[str, Any] = {
    "svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.35,
    "axes.spines.top": False, "axes.spines.right": False, "legend.fontsize": 8,
    "legend.frameon": False}


@contextmanager
def plot(name: str, title: str, out: dict[str, str]) -> Iterator[Axes]:
    """Draw on the axes yielded; on exit the figure is stored as SVG in ``out[name]``."""
    from matplotlib import rc_context  # a second to import: only when a page draws
    from matplotlib.figure import Figure

    with rc_context({**STYLE, "svg.hashsalt": name}):  # type: ignore[dict-item]
        figure = Figure(figsize=(WIDTH, HEIGHT), dpi=100, layout="constrained")
        axes = figure.add_subplot()
        axes.set_title(title, loc="left", fontsize=10)
        yield axes
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = _ID.sub(lambda m: f"{m.group(1)}{name}-{m.group(2)}", text[text.index("<svg"):])
    out[name] = text.replace(
        "<svg ", f'<svg class="plot" id="plot-{name}" role="img" aria-label="{title}" ', 1)


_ID = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')
"""An id in a plot, or a reference to one: matplotlib numbers its groups from 1 in every
figure (``figure_1``, ``axes_1``), so each plot's are prefixed with its name."""


def log_axis_ms(axes: Axes) -> None:
    """A logarithmic x axis of milliseconds labelled in plain numbers (1, 10, 100)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter  # see plot()

    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("latency (ms)")
