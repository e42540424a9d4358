"""Scores of a model on labelled tracks: top-1, top-3, per-genre precision/recall/F1, a confusion
matrix and its picture. Plain Python (no Django): takes ranked predictions or a loaded model.

Conventions: precision of a genre never predicted is 0 (as is recall of one never true); the
macro F1 averages over genres that are true or predicted at least once. Predictions outside the
label list (a model with another taxonomy) count as wrong and land in an "(other)" column.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OTHER = "(other)"


@dataclass(frozen=True)
class EvaluationItem:
    """One labelled track: its audio and the editors' final genre."""

    path: str | Path
    genre: str


def confusion_matrix(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Rows: true genre, columns: predicted genre, both in ``labels`` order (+ "(other)" when needed)."""
    columns = list(labels)
    if any(p not in labels for p in predicted):
        columns.append(OTHER)
    index = {name: i for i, name in enumerate(columns)}
    matrix = [[0] * len(columns) for _ in labels]
    rows = {name: i for i, name in enumerate(labels)}
    for t, p in zip(truth, predicted, strict=True):
        if t in rows:
            matrix[rows[t]][index.get(p, index.get(OTHER, 0))] += 1
    return {"labels": list(labels), "columns": columns, "matrix": matrix}


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def classification_report(truth: Sequence[str], ranked: Sequence[Sequence[str]], labels: Sequence[str]) -> dict:
    """Top-1/top-3 accuracy, per-genre precision/recall/F1 and the confusion matrix.

    ``ranked[i]`` is the model's genres for track i, best first (at least the top 3 for top-3)."""
    if len(truth) != len(ranked):
        raise ValueError("truth and ranked predictions must have the same length")
    n = len(truth)
    top1 = [r[0] if r else OTHER for r in ranked]
    per_genre: dict[str, dict[str, float | int]] = {}
    f1s = []
    for genre in labels:
        tp = sum(1 for t, p in zip(truth, top1) if t == genre and p == genre)
        support = sum(1 for t in truth if t == genre)
        predicted = sum(1 for p in top1 if p == genre)
        precision, recall = _ratio(tp, predicted), _ratio(tp, support)
        f1 = _ratio(2 * precision * recall, precision + recall) if precision + recall else 0.0
        per_genre[genre] = {"precision": precision, "recall": recall, "f1": f1, "support": support,
                            "predicted": predicted}
        if support or predicted:
            f1s.append(f1)
    return {
        "tracks": n,
        "top1": _ratio(sum(1 for t, p in zip(truth, top1) if t == p), n),
        "top3": _ratio(sum(1 for t, r in zip(truth, ranked) if t in list(r)[:3]), n),
        "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
        "per_genre": per_genre,
        "confusion": confusion_matrix(truth, top1, labels),
    }


def rank_labels(labels: Sequence[str], probabilities: Sequence[float]) -> list[str]:
    """Labels best first (stable for ties, as the analysis orders its Top-K)."""
    order = sorted(range(len(labels)), key=lambda i: -probabilities[i])
    return [labels[i] for i in order]


def evaluate_model(model: Any, items: Iterable[EvaluationItem], labels: Sequence[str], *,
                   progress: Callable[[int], None] | None = None) -> dict:
    """Run a loaded model (inference.model.LoadedModel) over each track exactly as the worker
    does (inference.analysis.analyze_file, without attention) and score it against ``labels``."""
    from .analysis import analyze_file

    truth, ranked = [], []
    for i, item in enumerate(items):
        result = analyze_file(item.path, model, top_k=1, with_attention=False)
        truth.append(item.genre)
        ranked.append(rank_labels(result.labels, result.probabilities))
        if progress:
            progress(i + 1)
    return classification_report(truth, ranked, labels)


def confusion_png_bytes(rows: Sequence[str], columns: Sequence[str], matrix: Any, *, title: str = "",
                        row_label: str = "editors' genre", column_label: str = "predicted") -> bytes:
    """A confusion-matrix heat map (counts written in, colour = share of the row) as PNG bytes,
    drawn with matplotlib's Figure API on the Agg canvas (no pyplot state, thread-safe)."""
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix, dtype=float).reshape(len(rows), len(columns))
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    size = max(4.0, 0.45 * max(len(rows), len(columns), 1) + 2.0)
    fig = Figure(figsize=(size + 1.0, size), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(shares if matrix.size else np.zeros((1, 1)), cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel(column_label)
    ax.set_ylabel(row_label)
    for r in range(len(rows)):
        for c in range(len(columns)):
            if matrix[r, c]:
                ax.text(c, r, str(int(matrix[r, c])), ha="center", va="center", fontsize=7,
                        color="white" if shares[r, c] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the row")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def render_confusion_png(confusion: dict[str, Any], path: str | Path, *, title: str = "") -> Path:
    """Write the confusion matrix of an evaluation (see `confusion_matrix`) as a PNG file."""
    rows, columns = confusion["labels"], confusion.get("columns", confusion["labels"])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(confusion_png_bytes(rows, columns, confusion["matrix"], title=title))
    return path
