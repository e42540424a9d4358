"""The latency histogram staff see next to the classification call log. Plain matplotlib (Agg),
no Django, so it can be tested and reused on its own."""
from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def render_latency_histogram(latencies_ms: Sequence[float], *, width: int = 900, height: int = 300,
                             title: str = "POST /api/genre latency") -> bytes:
    """A PNG histogram of latencies with p50/p95 marked; says so when there is nothing to show."""
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)  # no pyplot: thread-safe, no global state
    ax = fig.add_subplot()
    values = np.asarray([v for v in latencies_ms if v is not None and np.isfinite(v)], dtype=float)
    if values.size == 0:
        ax.text(0.5, 0.5, "No calls yet", ha="center", va="center", fontsize=14, transform=ax.transAxes)
        ax.set_axis_off()
    else:
        ax.hist(values, bins=min(40, max(5, int(np.sqrt(values.size)) * 2)), color="#417690")
        for q, style in ((50, "--"), (95, ":")):
            value = float(np.percentile(values, q))
            ax.axvline(value, color="#ba2121", linestyle=style, label=f"p{q} {value:.0f} ms")
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("calls")
        ax.legend(loc="upper right")
    ax.set_title(f"{title} — {values.size} calls")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
