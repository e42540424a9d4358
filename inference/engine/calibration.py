"""Calibration: temperature scaling, expected calibration error, reliability diagrams. Plain
Python and numpy (no Django, no torch).

A track's probabilities are the mean over its windows of softmax(logits / T). T is one scalar
fitted on the validation split by minimising the negative log-likelihood of those track
probabilities (T > 1 softens an over-confident model). Dividing every window's logits by the
same T never changes a window's top-1; the track's top-1 (a mean over windows) moves only when
its windows disagree and their margins are close.

ECE: top-1 confidences in ``bins`` equal-width bins; the gap |accuracy − mean confidence| of
each bin, weighted by its share of the tracks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

T_BOUNDS = (0.05, 20.0)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def track_probabilities(
    window_logits: np.ndarray, owners: np.ndarray, n_tracks: int, temperature: float = 1.0
) -> np.ndarray:
    """[n_tracks, L]: per track, the mean of its windows' softmax(logits / T) (as analysis does)."""
    window_probs = softmax(window_logits, temperature)
    out = np.zeros((n_tracks, window_probs.shape[1]))
    np.add.at(out, owners, window_probs)
    return out / np.maximum(np.bincount(owners, minlength=n_tracks), 1)[:, None]


def untempered(window_probs: np.ndarray, temperature: float) -> np.ndarray:
    """Window probabilities at T = 1 from ones served at T: softmax(T·log p) (exact up to
    float rounding, since log p = z/T − const per window)."""
    logp = np.log(np.clip(np.asarray(window_probs, dtype=np.float64), 1e-300, None))
    return softmax(logp * float(temperature))


def nll(probabilities: np.ndarray, labels: Sequence[int]) -> float:
    """Mean negative log-likelihood of the true labels."""
    labels = np.asarray(labels, dtype=np.int64)
    picked = np.asarray(probabilities)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, 1e-12, None)).mean()) if len(labels) else 0.0


def fit_temperature(
    window_logits: np.ndarray, owners: np.ndarray, labels: Sequence[int], bounds: tuple[float, float] = T_BOUNDS
) -> float:
    """The T in ``bounds`` minimising the NLL of the track probabilities: a grid over log T,
    then a golden-section search around the best grid point. Deterministic."""
    labels = np.asarray(labels, dtype=np.int64)
    n_tracks = len(labels)
    if n_tracks == 0:
        return 1.0

    def loss(log_t: float) -> float:
        return nll(track_probabilities(window_logits, owners, n_tracks, math.exp(log_t)), labels)

    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    grid = np.linspace(lo, hi, 41)
    values = [loss(x) for x in grid]
    best = int(np.argmin(values))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(40):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(d)
    log_t = (a + b) / 2
    if values[best] < loss(log_t):  # the grid point was better (flat or edge): keep it
        log_t = float(grid[best])
    return round(math.exp(log_t), 4)


def reliability_bins(probabilities: np.ndarray, correct: Sequence[bool], bins: int = 10) -> list[dict[str, Any]]:
    """Per equal-width bin of top-1 confidence: its edges, track count, mean confidence and accuracy."""
    confidence = np.asarray(probabilities, dtype=np.float64)
    confidence = confidence.max(axis=1) if confidence.ndim == 2 else confidence
    correct = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        rows.append(
            {
                "lower": round(float(edges[b]), 4),
                "upper": round(float(edges[b + 1]), 4),
                "count": count,
                "confidence": float(confidence[mask].mean()) if count else None,
                "accuracy": float(correct[mask].mean()) if count else None,
            }
        )
    return rows


def expected_calibration_error(probabilities: np.ndarray, correct: Sequence[bool], bins: int = 10) -> float:
    """Σ_bins (tracks in bin / tracks) · |accuracy − mean confidence|; 0 for no tracks."""
    rows = reliability_bins(probabilities, correct, bins)
    total = sum(r["count"] for r in rows)
    if not total:
        return 0.0
    return float(sum(r["count"] / total * abs(r["accuracy"] - r["confidence"]) for r in rows if r["count"]))


def calibration_summary(probabilities: np.ndarray, correct: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """ECE, mean top-1 confidence, accuracy and the reliability bins, as stored in metrics."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    confidence = probabilities.max(axis=1) if len(probabilities) else np.zeros(0)
    return {
        "ece": expected_calibration_error(probabilities, correct, bins),
        "mean_confidence": float(confidence.mean()) if len(confidence) else None,
        "accuracy": float(correct.mean()) if len(correct) else None,
        "bins": reliability_bins(probabilities, correct, bins),
    }


def draw_reliability(ax: Any, bins: Sequence[dict[str, Any]], *, title: str = "", ece: float | None = None) -> None:
    """One reliability diagram on a matplotlib Axes: accuracy per confidence bin against the diagonal."""
    width = bins[0]["upper"] - bins[0]["lower"] if bins else 0.1
    filled = [b for b in bins if b["count"]]
    ax.plot([0, 1], [0, 1], linestyle="--", color="#888888", linewidth=1, label="perfectly calibrated")
    ax.bar(
        [b["lower"] for b in filled],
        [b["accuracy"] for b in filled],
        width=width,
        align="edge",
        color="#4a7fb0",
        edgecolor="#1f3f5f",
        alpha=0.85,
        label="accuracy",
    )
    ax.bar(
        [b["lower"] for b in filled],
        [b["confidence"] - b["accuracy"] for b in filled],
        width=width,
        bottom=[b["accuracy"] for b in filled],
        align="edge",
        color="#e06c5a",
        alpha=0.35,
        edgecolor="none",
        label="gap to confidence",
    )
    for b in filled:
        ax.text(b["lower"] + width / 2, 0.02, str(b["count"]), ha="center", va="bottom", fontsize=6, color="white")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-1 confidence")
    ax.set_ylabel("share right")
    ax.set_aspect("equal")
    heading = title + (f"\nECE {ece:.3f}" if ece is not None else "")
    if heading:
        ax.set_title(heading, fontsize=9)
    ax.legend(loc="upper left", fontsize=6)


def reliability_png_bytes(panels: Sequence[tuple[str, Sequence[dict[str, Any]], float | None]]) -> bytes:
    """Reliability diagrams side by side, one per (title, bins, ece), as PNG bytes (Agg canvas)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.6 * max(len(panels), 1), 3.9), dpi=100)
    FigureCanvasAgg(fig)
    for i, (title, bins, ece) in enumerate(panels, start=1):
        draw_reliability(fig.add_subplot(1, len(panels), i), bins, title=title, ece=ece)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
