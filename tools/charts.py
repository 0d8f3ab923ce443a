"""Charts for answers better seen than read: a trend as a line, a ranking as bars (PNG bytes,
sent as a WhatsApp image or returned by the API)."""

import io
import math
from collections.abc import Sequence
from typing import Literal

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

from matplotlib import pyplot  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, FuncFormatter, MaxNLocator  # noqa: E402

ChartKind = Literal["trend", "ranking"]
MAX_BARS = 15


def _indian(value: float, _position=None) -> str:
    """1,20,000 reads better to our users as 1.2L; 25,00,00,000 as 25Cr."""
    if abs(value) >= 1e7:
        return f"{value / 1e7:.1f}Cr"
    if abs(value) >= 1e5:
        return f"{value / 1e5:.1f}L"
    if abs(value) >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:g}"


def render_chart(
    kind: ChartKind, labels: Sequence[str], values: Sequence[float], title: str, value_name: str
) -> bytes:
    figure, axes = pyplot.subplots(figsize=(8, 4.5), dpi=100)
    try:
        if kind == "trend":
            axes.plot(list(labels), list(values), marker="o", color="#1f6f4a")
            axes.fill_between(range(len(values)), list(values), alpha=0.08, color="#1f6f4a")
            step = max(1, len(labels) // 10)
            axes.set_xticks(range(0, len(labels), step))
            axes.set_xticklabels(list(labels)[::step], rotation=30, ha="right")
            axes.set_ylabel(value_name)
        else:
            shown_labels = [str(label)[:28] for label in labels[:MAX_BARS]][::-1]
            shown = list(values[:MAX_BARS])[::-1]
            axes.barh(shown_labels, shown, color="#1f6f4a")
            axes.set_xlabel(value_name)
            axes.xaxis.set_major_formatter(FuncFormatter(_indian))
        if kind == "trend":
            axes.yaxis.set_major_formatter(FuncFormatter(_indian))
        axes.set_title(title[:80])
        axes.grid(axis="x" if kind == "ranking" else "y", alpha=0.3)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        pyplot.close(figure)


def render_route_map(
    start: tuple[float, float],
    stops: Sequence[tuple[float, float]],
    left_out: Sequence[tuple[float, float]],
    title: str,
) -> bytes:
    """The day's route on a plain map (no tiles offline): start ★, stops numbered in order,
    stores left out as grey crosses."""
    return render_routes_map(start, [stops], left_out, title)


ROUTE_COLOURS = ("#1f6f4a", "#2c5d9e", "#b35c1e", "#7a3f98", "#a1283b", "#4f6b1a")


def render_routes_map(
    start: tuple[float, float],
    routes: Sequence[Sequence[tuple[float, float]]],
    left_out: Sequence[tuple[float, float]],
    title: str,
) -> bytes:
    """Routes from one depot ★ on a plain map, a colour each, stops numbered in order."""
    figure, axes = pyplot.subplots(figsize=(6, 6), dpi=100)
    try:
        for index, stops in enumerate(routes):
            colour = ROUTE_COLOURS[index % len(ROUTE_COLOURS)]
            path = [start, *stops, start]
            axes.plot([p[1] for p in path], [p[0] for p in path], color=colour, alpha=0.7)
            for number, (lat, lng) in enumerate(stops, 1):
                axes.scatter([lng], [lat], s=160, color=colour, zorder=3)
                axes.annotate(str(number), (lng, lat), ha="center", va="center", color="white",
                              fontsize=8, zorder=4)  # fmt: skip
        axes.scatter([start[1]], [start[0]], marker="*", s=220, color="#c0392b", zorder=3)
        if left_out:
            axes.scatter([p[1] for p in left_out], [p[0] for p in left_out], marker="x",
                         color="#888888", zorder=2, label="left out")  # fmt: skip
            axes.legend(loc="best")
        axes.set_aspect(1 / max(0.1, math.cos(math.radians(start[0]))))
        axes.set_title(title[:80])
        axes.set_xlabel("longitude")
        axes.set_ylabel("latitude")
        for axis in (axes.xaxis, axes.yaxis):  # plain degrees, not an offset like "+7.908e1"
            axis.set_major_locator(MaxNLocator(4))
            axis.set_major_formatter(FormatStrFormatter("%.4f"))
        axes.grid(alpha=0.3)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        pyplot.close(figure)
