"""The picture of the training runs compared: validation loss and agreement per epoch."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any


def training_curves_png(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes:
    """Two panels (validation loss; window top-1 agreement with the teacher), one line per
    run, drawn with the Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    loss_ax, agree_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for name, history in histories.items():
        epochs = [entry["epoch"] for entry in history]
        loss_ax.plot(epochs, [entry["val_loss"] for entry in history], marker="o", label=name)
        agree_ax.plot(epochs, [100 * entry["val_window_top1"] for entry in history], marker="o", label=name)
    loss_ax.set(title="validation loss (cross-entropy to the teachers)", xlabel="epoch")
    agree_ax.set(title="validation windows: top-1 = ensemble's (%)", xlabel="epoch")
    for ax in (loss_ax, agree_ax):
        ax.grid(alpha=0.3)
        ax.legend(title="run", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
