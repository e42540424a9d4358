"""Pictures for the agreement dashboard (matplotlib's Agg canvas, no pyplot state)."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

# Points are weeks (their Monday): a few weeks are shown with half a week either side, a long
# series with a twentieth of its span, so one point is not lost in matplotlib's default 2025–2029.
MIN_PAD = timedelta(days=3, hours=12)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def trend_axis_limits(days: list[date]) -> tuple[datetime, datetime] | None:
    """The time axis of the trend: the data's span, padded, never years around one point."""
    if not days:
        return None
    first, last = datetime.combine(min(days), time()), datetime.combine(max(days), time())
    pad = max(MIN_PAD, (last - first) / 20)
    return first - pad, last + pad


def agreement_trend_png(series: dict[str, dict[date, tuple[float | None, float | None]]]) -> bytes:
    """Weekly top-1 (solid) and top-3 (dashed) agreement per model version."""
    fig = Figure(figsize=(9, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for index, (name, weeks) in enumerate(series.items()):
        colour = f"C{index % 10}"
        days = sorted(weeks)
        ax.plot(days, [weeks[d][0] for d in days], "-o", color=colour, label=f"{name} top-1", markersize=4)
        ax.plot(days, [weeks[d][1] for d in days], "--x", color=colour, markersize=4, label=f"{name} top-3", alpha=0.7)
    limits = trend_axis_limits([day for weeks in series.values() for day in weeks])
    if limits:
        locator = AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.set_xlim(*limits)
        ax.set_xlabel("week of the decisions (Monday)")
    else:
        ax.set_xticks([])
    ax.set_ylim(-0.03, 1.03)  # a 0 % or 100 % week shows its whole marker
    ax.set_ylabel("agreement with editors")
    ax.yaxis.set_major_formatter(lambda value, _pos: f"{value:.0%}")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=7, loc="lower left", ncol=2)
    else:
        ax.text(0.5, 0.5, "no decisions yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return _png(fig)
