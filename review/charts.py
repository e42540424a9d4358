"""Pictures for the agreement dashboard (matplotlib's Agg canvas, no pyplot state)."""
from __future__ import annotations

import io
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def agreement_trend_png(series: dict[str, dict[date, tuple[float | None, float | None]]]) -> bytes:
    """Weekly top-1 (solid) and top-3 (dashed) agreement per model version."""
    fig = Figure(figsize=(9, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for index, (name, weeks) in enumerate(series.items()):
        colour = f"C{index % 10}"
        days = sorted(weeks)
        ax.plot(days, [weeks[d][0] for d in days], "-o", color=colour, label=f"{name} top-1", markersize=4)
        ax.plot(days, [weeks[d][1] for d in days], "--", color=colour, label=f"{name} top-3", alpha=0.7)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("agreement with editors")
    ax.yaxis.set_major_formatter(lambda value, _pos: f"{value:.0%}")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=7, loc="lower left", ncol=2)
    else:
        ax.text(0.5, 0.5, "no decisions yet", ha="center", va="center", transform=ax.transAxes)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)
