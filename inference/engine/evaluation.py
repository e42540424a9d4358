"""Scores of a model on labelled tracks: top-1, top-3, per-genre precision/recall/F1, a confusion
matrix and its picture, and calibration (ECE and reliability bins, with the model's temperature
and without it). Plain Python (no Django): takes ranked predictions or a loaded model.

Conventions: precision of a genre never predicted is 0 (as is recall of one never true); the
macro F1 averages over genres that are true or predicted at least once. Predictions outside the
label list (a model with another taxonomy) count as wrong and land in an "(other)" column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import calibration_summary, nll, untempered

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
        per_genre[genre] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "predicted": predicted,
        }
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


@dataclass
class Predictions:
    """One model's probabilities on labelled tracks, in the model's own label order: as served
    (logits divided by ``temperature``) and untempered (T = 1)."""

    model_labels: list[str]
    probabilities: np.ndarray = field(repr=False)  # [tracks, labels]
    untempered: np.ndarray = field(repr=False)  # [tracks, labels]
    temperature: float | None = 1.0  # None: several (cross-validated predictions of fold models)
    name: str = ""

    def ranked(self, untempered_: bool = False) -> list[list[str]]:
        probs = self.untempered if untempered_ else self.probabilities
        return [rank_labels(self.model_labels, row) for row in probs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "labels": list(self.model_labels),
            "temperature": self.temperature,
            "probabilities": np.round(self.probabilities, 6).tolist(),
            "untempered": np.round(self.untempered, 6).tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Predictions:
        n = len(data["labels"])
        return cls(
            list(data["labels"]),
            np.asarray(data["probabilities"], dtype=np.float64).reshape(-1, n),
            np.asarray(data["untempered"], dtype=np.float64).reshape(-1, n),
            None if data.get("temperature") is None else float(data["temperature"]),
            str(data.get("name", "")),
        )


def predict(
    model: Any, items: Iterable[EvaluationItem], *, progress: Callable[[int], None] | None = None, name: str = ""
) -> Predictions:
    """Run a loaded model (inference.engine.model.LoadedModel) over each track exactly as the worker
    does (inference.engine.analysis.analyze_file, without attention)."""
    from .analysis import analyze_file

    temperature = float(getattr(model, "temperature", 1.0))
    served, raw = [], []
    for i, item in enumerate(items):
        result = analyze_file(item.path, model, top_k=1, with_attention=False)
        served.append(result.probabilities)
        window = untempered(np.asarray(result.window_scores), temperature)
        raw.append(window.mean(axis=0))
        if progress:
            progress(i + 1)
    n = len(model.labels)
    return Predictions(
        list(model.labels),
        np.asarray(served, dtype=np.float64).reshape(-1, n),
        np.asarray(raw, dtype=np.float64).reshape(-1, n),
        temperature,
        name,
    )


def calibration_report(truth: Sequence[str], predictions: Predictions) -> dict[str, Any]:
    """ECE, NLL and reliability bins as served and before the temperature (T = 1)."""
    index = {name: i for i, name in enumerate(predictions.model_labels)}
    known = [i for i, t in enumerate(truth) if t in index]
    out: dict[str, Any] = {"temperature": predictions.temperature}
    for suffix, probs in (("", predictions.probabilities), ("_before_temperature", predictions.untempered)):
        top1 = [predictions.model_labels[int(j)] for j in probs.argmax(axis=1)] if len(probs) else []
        summary = calibration_summary(probs, [p == t for p, t in zip(top1, truth)])
        out["ece" + suffix] = summary["ece"]
        out["mean_confidence" + suffix] = summary["mean_confidence"]
        out["bins" + suffix] = summary["bins"]
        out["nll" + suffix] = nll(probs[known], [index[truth[i]] for i in known]) if known else None
    return out


def score_predictions(truth: Sequence[str], predictions: Predictions, labels: Sequence[str]) -> dict:
    """``classification_report`` of the served probabilities plus their ``calibration``."""
    report = classification_report(truth, predictions.ranked(), labels)
    report["calibration"] = calibration_report(truth, predictions)
    return report


def evaluate_model(
    model: Any, items: Iterable[EvaluationItem], labels: Sequence[str], *, progress: Callable[[int], None] | None = None
) -> dict:
    """Run a loaded model (inference.engine.model.LoadedModel) over each track exactly as the worker
    does (inference.engine.analysis.analyze_file, without attention) and score it against ``labels``."""
    items = list(items)
    return score_predictions([item.genre for item in items], predict(model, items, progress=progress), labels)


def confusion_png_bytes(
    rows: Sequence[str],
    columns: Sequence[str],
    matrix: Any,
    *,
    title: str = "",
    row_label: str = "editors' genre",
    column_label: str = "predicted",
) -> bytes:
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
                ax.text(
                    c,
                    r,
                    str(int(matrix[r, c])),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if shares[r, c] > 0.5 else "black",
                )
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
