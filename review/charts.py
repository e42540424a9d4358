"""Pictures for the agreement dashboard (matplotlib's Agg canvas, no pyplot state)."""
from __future__ import annotations

import io
from datetime import date

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def confusion_png(labels: list[str], matrix: list[list[int]], *, title: str, x_label: str = "editor's genre",
                  y_label: str = "model's top-1") -> bytes:
    """Counts as a heat map with the numbers written in; rows are what the model said."""
    size = max(4.0, 0.45 * len(labels) + 2.2)
    fig = Figure(figsize=(size + 1, size), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    counts = np.array(matrix, dtype=float) if labels else np.zeros((1, 1))
    image = ax.imshow(counts, cmap="Blues", vmin=0)
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=10)
    high = counts.max() if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        if value:
            ax.text(col, row, f"{int(value)}", ha="center", va="center", fontsize=8,
                    color="white" if value > high / 2 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _png(fig)


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
