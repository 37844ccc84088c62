"""Draw a range query as a PNG line chart (matplotlib's Agg canvas; blocking: run it in a
worker thread)."""

from __future__ import annotations

import io
import textwrap
from datetime import UTC, datetime

from responders.prometheus.models import Series

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 5.0, 100
TITLE_WIDTH = 90
TITLE_LINES = 3
LEGEND_LABEL = 80
TICK_S = 600


def series_label(labels: dict[str, str]) -> str:
    """``name{a="b", c="d"}`` (cut to a legend-sized length)."""
    name = labels.get("__name__", "")
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    text = f"{name}{{{inner}}}" if inner or not name else name
    return text if len(text) <= LEGEND_LABEL else text[: LEGEND_LABEL - 1] + "…"


def render_png(
    *,
    title: str,
    expression: str,
    series: list[Series],
    omitted: int,
    start: datetime,
    end: datetime,
) -> bytes:
    """One line per series (legend: its labels), titled by ``title`` and ``expression``;
    ``omitted`` more series are named in the legend but not drawn."""
    # matplotlib loads lazily, in the worker thread: importing it (and its font cache) costs
    # seconds that Medic's start-up and the event loop should not pay.
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter, MultipleLocator  # noqa: PLC0415

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    wrapped = textwrap.wrap(expression, TITLE_WIDTH, max_lines=TITLE_LINES, placeholder=" …")
    axes.set_title("\n".join([title, *wrapped]), fontsize=10, loc="left")
    for item in series:
        times = [t for t, _ in item.points]
        values = [v for _, v in item.points]
        axes.plot(
            times,
            values,
            label=series_label(item.labels),
            marker="o" if len(item.points) < 3 else None,
            markersize=3,
            linewidth=1.2,
        )
    axes.set_xlim(start.timestamp(), end.timestamp())
    axes.xaxis.set_major_locator(MultipleLocator(TICK_S))
    axes.xaxis.set_major_formatter(FuncFormatter(_clock))
    axes.set_xlabel(f"UTC, {start:%Y-%m-%d %H:%M} to {end:%H:%M}")
    axes.grid(visible=True, alpha=0.3)
    if not series:
        axes.text(
            0.5, 0.5, "no data in this hour", transform=axes.transAxes, ha="center", va="center"
        )
    else:
        handles, labels = axes.get_legend_handles_labels()
        if omitted:
            (extra,) = axes.plot([], [], linestyle="none")
            handles.append(extra)
            labels.append(f"… {omitted} more series not shown")
        axes.legend(handles, labels, fontsize=7, loc="upper left", framealpha=0.8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _clock(seconds: float, _position: int | None = None) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M")
