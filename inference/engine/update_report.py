"""The model update report: a candidate against the active model on the same labelled tracks.
Plain Python (no Django): takes two sets of predictions and the editors' genres.

What it holds: top-1/top-3/macro F1 and calibration (ECE with and without the temperature) of
both; per-genre precision/recall/F1 and their change; the confusion-matrix difference, read as
confusions fixed or introduced between two genres (each direction counted on its own, so a swap
— Jazz taken for Blues replaced by Blues taken for Jazz — shows as both; biggest change first);
the tracks whose top-1 changed. ``report_pdf_bytes`` lays it out on a few A4 pages with
matplotlib's PDF backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .calibration import draw_reliability
from .evaluation import OTHER, Predictions, score_predictions

SUMMARY_KEYS = ("top1", "top3", "macro_f1")


@dataclass(frozen=True)
class ConfusionChange:
    """How often genres ``a`` and ``b`` were taken for each other, before and after the update."""

    a: str
    b: str
    a_as_b: tuple[int, int]  # (active, candidate): tracks of genre a predicted as b
    b_as_a: tuple[int, int]

    @property
    def before(self) -> int:
        return self.a_as_b[0] + self.b_as_a[0]

    @property
    def after(self) -> int:
        return self.a_as_b[1] + self.b_as_a[1]

    @property
    def change(self) -> int:
        return self.after - self.before

    @property
    def fixed_count(self) -> int:
        """Confusions gone, per direction: a pair whose net count is unchanged can still hide a swap."""
        return sum(max(0, n[0] - n[1]) for n in (self.a_as_b, self.b_as_a))

    @property
    def introduced_count(self) -> int:
        return sum(max(0, n[1] - n[0]) for n in (self.a_as_b, self.b_as_a))

    @property
    def words(self) -> str:
        """E.g. "Jazz ↔ Blues: 3 → 0 confusions (3 fixed; Jazz taken for Blues 2 → 0, Blues taken for Jazz 1 → 0)"."""
        verb = ", ".join(
            f"{n} {what}" for n, what in ((self.fixed_count, "fixed"), (self.introduced_count, "introduced")) if n
        )
        parts = [
            f"{x} taken for {y} {n[0]} → {n[1]}"
            for x, y, n in ((self.a, self.b, self.a_as_b), (self.b, self.a, self.b_as_a))
            if any(n)
        ]
        return f"{self.a} ↔ {self.b}: {self.before} → {self.after} confusions ({verb}; {', '.join(parts)})"


@dataclass
class UpdateReport:
    """See the module docstring; ``tracks`` holds one reference dict per track (id, title, ...)."""

    candidate_name: str
    active_name: str
    labels: list[str]
    summary: dict[str, dict[str, Any]]  # {"candidate"|"active"|"change": {top1, top3, macro_f1, ece, ...}}
    per_genre: list[dict[str, Any]]  # {genre, support, active, candidate, change: {precision, recall, f1}}
    columns: list[str]
    confusion_active: list[list[int]]
    confusion_candidate: list[list[int]]
    fixed: list[ConfusionChange]  # fewer confusions, biggest change first
    introduced: list[ConfusionChange]  # more confusions, biggest change first
    changed_tracks: list[dict[str, Any]]  # top-1 moved: {track, genre, before, after, outcome}
    calibration: dict[str, dict[str, Any]] = field(repr=False)  # per role: temperature, ece, bins, ...
    tracks: int = 0

    @property
    def confusion_difference(self) -> list[list[int]]:
        return (np.asarray(self.confusion_candidate) - np.asarray(self.confusion_active)).tolist()

    def outcome_counts(self) -> dict[str, int]:
        counts = {"fixed": 0, "broken": 0, "changed": 0}
        for row in self.changed_tracks:
            counts[row["outcome"]] += 1
        return counts


def _aligned(matrix: dict[str, Any], labels: Sequence[str], columns: Sequence[str]) -> np.ndarray:
    out = np.zeros((len(labels), len(columns)), dtype=int)
    for r, _ in enumerate(labels):
        for c, name in enumerate(matrix["columns"]):
            out[r, columns.index(name)] += matrix["matrix"][r][c]
    return out


def confusion_changes(
    labels: Sequence[str], columns: Sequence[str], before: np.ndarray, after: np.ndarray
) -> list[ConfusionChange]:
    """One entry per pair of genres where either direction's count changed, biggest change first
    (then the larger count before, then taxonomy order)."""
    rows = {name: i for i, name in enumerate(labels)}
    changes = []
    for i, a in enumerate(columns):
        for j in range(i + 1, len(columns)):
            b = columns[j]

            def cell(m: np.ndarray, t: str, p: str) -> int:
                return int(m[rows[t], columns.index(p)]) if t in rows else 0

            change = ConfusionChange(
                a, b, (cell(before, a, b), cell(after, a, b)), (cell(before, b, a), cell(after, b, a))
            )
            if change.fixed_count or change.introduced_count:
                changes.append((change, i, j))
    changes.sort(
        key=lambda item: (-max(item[0].fixed_count, item[0].introduced_count), -item[0].before, item[1], item[2])
    )
    return [change for change, _, _ in changes]


def _rounded(value: Any) -> Any:
    return None if value is None else float(value)


def update_report(
    *,
    labels: Sequence[str],
    truth: Sequence[str],
    candidate: Predictions,
    active: Predictions,
    tracks: Sequence[Mapping[str, Any]] | None = None,
) -> UpdateReport:
    """Compare ``candidate`` with ``active`` (predictions on the same tracks, same order) against
    the editors' genres ``truth``; ``tracks`` are references shown with changed top-1s."""
    labels = list(labels)
    n = len(truth)
    if len(candidate.probabilities) != n or len(active.probabilities) != n:
        raise ValueError("both models need one prediction per labelled track")
    tracks = list(tracks) if tracks is not None else [{"index": i} for i in range(n)]
    scores = {
        "candidate": score_predictions(truth, candidate, labels),
        "active": score_predictions(truth, active, labels),
    }
    summary: dict[str, dict[str, Any]] = {}
    for role, report in scores.items():
        cal = report["calibration"]
        summary[role] = {
            **{k: report[k] for k in SUMMARY_KEYS},
            "ece": cal["ece"],
            "ece_before_temperature": cal["ece_before_temperature"],
            "nll": cal["nll"],
            "temperature": cal["temperature"],
            "tracks": n,
        }
    summary["change"] = {
        k: summary["candidate"][k] - summary["active"][k]
        for k in (*SUMMARY_KEYS, "ece")
        if summary["candidate"][k] is not None and summary["active"][k] is not None
    }
    per_genre = []
    for genre in labels:
        old, new = scores["active"]["per_genre"][genre], scores["candidate"]["per_genre"][genre]
        if not (old["support"] or old["predicted"] or new["predicted"]):
            continue
        metrics = ("precision", "recall", "f1")
        per_genre.append(
            {
                "genre": genre,
                "support": new["support"],
                "active": {m: old[m] for m in metrics},
                "candidate": {m: new[m] for m in metrics},
                "change": {m: new[m] - old[m] for m in metrics},
            }
        )
    columns = list(labels)
    for report in scores.values():
        if OTHER in report["confusion"]["columns"] and OTHER not in columns:
            columns.append(OTHER)
    before = _aligned(scores["active"]["confusion"], labels, columns)
    after = _aligned(scores["candidate"]["confusion"], labels, columns)
    changes = confusion_changes(labels, columns, before, after)
    changed = []
    for i, genre in enumerate(truth):
        old_i, new_i = int(active.probabilities[i].argmax()), int(candidate.probabilities[i].argmax())
        old_label, new_label = active.model_labels[old_i], candidate.model_labels[new_i]
        if old_label == new_label:
            continue
        outcome = "fixed" if new_label == genre else "broken" if old_label == genre else "changed"
        changed.append(
            {
                "track": dict(tracks[i]),
                "genre": genre,
                "outcome": outcome,
                "before": {"genre": old_label, "probability": float(active.probabilities[i, old_i])},
                "after": {"genre": new_label, "probability": float(candidate.probabilities[i, new_i])},
            }
        )
    rank = {"fixed": 0, "broken": 1, "changed": 2}
    changed.sort(
        key=lambda row: (
            rank[row["outcome"]],
            row["track"].get("track_id") is None,
            row["track"].get("track_id") or 0,
            str(row["track"].get("title", "")),
        )
    )
    return UpdateReport(
        candidate_name=candidate.name or "candidate",
        active_name=active.name or "active",
        labels=labels,
        summary=summary,
        per_genre=per_genre,
        columns=columns,
        confusion_active=before.tolist(),
        confusion_candidate=after.tolist(),
        fixed=sorted((c for c in changes if c.fixed_count), key=lambda c: -c.fixed_count),
        introduced=sorted((c for c in changes if c.introduced_count), key=lambda c: -c.introduced_count),
        changed_tracks=changed,
        calibration={role: report["calibration"] for role, report in scores.items()},
        tracks=n,
    )


def headline(report: UpdateReport) -> str:
    """One sentence for the case study: the biggest confusion fixed and the top-1 change."""
    s = report.summary
    text = (
        f"{report.candidate_name} vs {report.active_name} on {report.tracks} tracks: top-1 "
        f"{s['active']['top1']:.1%} → {s['candidate']['top1']:.1%}"
    )
    if report.fixed:
        c = report.fixed[0]
        text += f"; biggest fix: {c.a} ↔ {c.b} ({c.before} → {c.after})"
    if report.introduced:
        c = report.introduced[0]
        text += f"; biggest new confusion: {c.a} ↔ {c.b} ({c.before} → {c.after})"
    return text + "."


# --- pictures and the PDF -------------------------------------------------------------------

A4 = (8.27, 11.69)


def _figure(size: tuple[float, float], canvas: str = "agg") -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    if canvas == "pdf":
        from matplotlib.backends.backend_pdf import FigureCanvasPdf

        FigureCanvasPdf(fig)
    else:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _reliability_panels(report: UpdateReport) -> list[tuple[str, list[dict[str, Any]], float]]:
    active, candidate = report.calibration["active"], report.calibration["candidate"]
    panels = [(f"{report.active_name} (active, {_t(active['temperature'])})", active["bins"], active["ece"])]
    if candidate["temperature"] != 1.0:
        panels.append(
            (
                f"{report.candidate_name} before temperature",
                candidate["bins_before_temperature"],
                candidate["ece_before_temperature"],
            )
        )
    panels.append((f"{report.candidate_name} ({_t(candidate['temperature'])})", candidate["bins"], candidate["ece"]))
    return panels


def _t(temperature: float | None) -> str:
    return "T per fold" if temperature is None else f"T={temperature:g}"


def _draw_reliability_row(fig: Any, report: UpdateReport, rect: tuple[float, float, float, float]) -> None:
    panels = _reliability_panels(report)
    left, bottom, width, height = rect
    gap = 0.04
    w = (width - gap * (len(panels) - 1)) / len(panels)
    for i, (title, bins, ece) in enumerate(panels):
        draw_reliability(fig.add_axes((left + i * (w + gap), bottom, w, height)), bins, title=title, ece=ece)


def reliability_png_bytes(report: UpdateReport) -> bytes:
    """The reliability diagrams side by side (active; candidate before/after its temperature)."""
    panels = _reliability_panels(report)
    fig = _figure((3.4 * len(panels), 3.9))
    _draw_reliability_row(fig, report, (0.07, 0.14, 0.9, 0.7))
    return _png(fig)


def _draw_difference(ax: Any, report: UpdateReport) -> None:
    diff = np.asarray(report.confusion_difference, dtype=float)
    off = diff.copy()
    for r in range(len(report.labels)):
        off[r, r] = -off[r, r]  # on the diagonal more is better: colour it like fewer confusions
    limit = max(1.0, float(np.abs(off).max()) if off.size else 1.0)
    ax.imshow(off, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="equal")
    ax.set_xticks(range(len(report.columns)), report.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(report.labels)), report.labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("editors' genre")
    for r in range(diff.shape[0]):
        for c in range(diff.shape[1]):
            if diff[r, c]:
                ax.text(
                    c,
                    r,
                    f"{int(diff[r, c]):+d}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if abs(off[r, c]) > limit * 0.6 else "black",
                )
    ax.set_title(
        f"Confusion change: {report.candidate_name} − {report.active_name}\n"
        "blue: better (fewer confusions, more right), red: worse",
        fontsize=9,
    )


def confusion_difference_png_bytes(report: UpdateReport) -> bytes:
    """The confusion-matrix difference (candidate − active) as a heat map, PNG bytes."""
    size = max(4.5, 0.42 * max(len(report.columns), 1) + 2.5)
    fig = _figure((size, size))
    ax = fig.add_subplot(1, 1, 1)
    _draw_difference(ax, report)
    fig.tight_layout()
    return _png(fig)


def _table(
    ax: Any,
    rows: Sequence[Sequence[str]],
    header: Sequence[str],
    *,
    widths: Sequence[float] | None = None,
    font: float = 7.5,
    urls: Sequence[str | None] | None = None,
) -> None:
    ax.axis("off")
    if not rows:
        ax.text(0, 1, "none", va="top", fontsize=font)
        return
    table = ax.table(
        cellText=[list(r) for r in rows],
        colLabels=list(header),
        loc="upper left",
        cellLoc="left",
        colLoc="left",
        colWidths=list(widths) if widths else None,
    )
    table.auto_set_font_size(False)
    table.set_fontsize(font)
    table.scale(1, 1.25)
    for (r, _), cell in table.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if r == 0:
            cell.set_facecolor("#e8eef4")
            cell.set_text_props(weight="bold")
    if urls:
        for r, url in enumerate(urls, start=1):
            if url:
                table[r, 0].get_text().set_url(url)
                table[r, 0].get_text().set_color("#205493")


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if pct else f"{value:.3f}"


def _signed(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.1%}" if pct else f"{value:+.3f}"


def report_pdf_bytes(
    report: UpdateReport, *, title: str = "", subtitle: str = "", track_url: Any = None, rows_per_page: int = 34
) -> bytes:
    """A few A4 pages: summary and confusions in words; per-genre table and reliability
    diagrams; the confusion difference; tracks whose top-1 changed (``track_url(track) -> str``
    links them)."""
    import io

    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    s = report.summary
    with PdfPages(
        buffer, metadata={"Title": title or "Model update report", "Creator": "AcousticSense", "CreationDate": None}
    ) as pdf:
        fig = _figure(A4, "pdf")
        fig.text(0.07, 0.95, title or f"Model update: {report.candidate_name}", fontsize=15, weight="bold")
        fig.text(
            0.07,
            0.925,
            subtitle or f"{report.candidate_name} against {report.active_name} on {report.tracks} labelled tracks",
            fontsize=9,
        )
        counts = report.outcome_counts()
        rows = [
            [
                "top-1",
                _fmt(s["active"]["top1"], True),
                _fmt(s["candidate"]["top1"], True),
                _signed(s["change"].get("top1"), True),
            ],
            [
                "top-3",
                _fmt(s["active"]["top3"], True),
                _fmt(s["candidate"]["top3"], True),
                _signed(s["change"].get("top3"), True),
            ],
            [
                "macro F1",
                _fmt(s["active"]["macro_f1"]),
                _fmt(s["candidate"]["macro_f1"]),
                _signed(s["change"].get("macro_f1")),
            ],
            ["ECE (as served)", _fmt(s["active"]["ece"]), _fmt(s["candidate"]["ece"]), _signed(s["change"].get("ece"))],
            [
                "ECE before temperature",
                _fmt(s["active"]["ece_before_temperature"]),
                _fmt(s["candidate"]["ece_before_temperature"]),
                "",
            ],
            ["temperature", _t(s["active"]["temperature"]), _t(s["candidate"]["temperature"]), ""],
            [
                "top-1 changed",
                "",
                f"{len(report.changed_tracks)} tracks",
                f"{counts['fixed']} fixed, {counts['broken']} broken",
            ],
        ]
        _table(
            fig.add_axes((0.07, 0.7, 0.86, 0.2)),
            rows,
            ["", f"active: {_short(report.active_name)}", f"candidate: {_short(report.candidate_name)}", "change"],
            widths=[0.25, 0.27, 0.27, 0.21],
            font=8.5,
        )
        y = 0.69
        for heading, changes in (("Confusions fixed", report.fixed), ("Confusions introduced", report.introduced)):
            fig.text(0.07, y, heading, fontsize=11, weight="bold")
            y -= 0.022
            for change in changes[:12] or [None]:
                fig.text(0.09, y, change.words if change else "none", fontsize=7.5, wrap=True)
                y -= 0.019
            if len(changes) > 12:
                fig.text(0.09, y, f"… and {len(changes) - 12} more", fontsize=7.5, style="italic")
                y -= 0.019
            y -= 0.012
        pdf.savefig(fig)

        fig = _figure(A4, "pdf")
        fig.text(0.07, 0.95, "Per genre: precision / recall / F1", fontsize=13, weight="bold")
        rows = [
            [
                g["genre"],
                str(g["support"]),
                " / ".join(_fmt(g["active"][m]) for m in ("precision", "recall", "f1")),
                " / ".join(_fmt(g["candidate"][m]) for m in ("precision", "recall", "f1")),
                _signed(g["change"]["f1"]),
            ]
            for g in report.per_genre
        ]
        _table(
            fig.add_axes((0.07, 0.4, 0.86, 0.52)),
            rows,
            ["genre", "tracks", f"{report.active_name} P / R / F1", f"{report.candidate_name} P / R / F1", "ΔF1"],
            widths=[0.2, 0.1, 0.3, 0.3, 0.1],
        )
        fig.text(
            0.07,
            0.34,
            "Calibration: reliability diagrams (a 70 % proposal should be right 70 % of the time)",
            fontsize=11,
            weight="bold",
        )
        _draw_reliability_row(fig, report, (0.07, 0.06, 0.88, 0.24))
        pdf.savefig(fig)

        fig = _figure(A4, "pdf")
        _draw_difference(fig.add_axes((0.17, 0.3, 0.76, 0.62)), report)
        pdf.savefig(fig)

        changed = report.changed_tracks
        for start in range(0, max(len(changed), 1), rows_per_page):
            page = changed[start : start + rows_per_page]
            fig = _figure(A4, "pdf")
            fig.text(
                0.07,
                0.95,
                f"Tracks whose top-1 changed ({len(changed)})"
                + (f", {start + 1}–{start + len(page)}" if len(changed) > rows_per_page else ""),
                fontsize=13,
                weight="bold",
            )
            rows = [
                [
                    _track_label(row["track"]),
                    row["genre"],
                    f"{row['before']['genre']} {row['before']['probability']:.0%}",
                    f"{row['after']['genre']} {row['after']['probability']:.0%}",
                    row["outcome"],
                ]
                for row in page
            ]
            urls = [track_url(row["track"]) if track_url else None for row in page]
            _table(
                fig.add_axes((0.07, 0.05, 0.86, 0.87)),
                rows,
                ["track", "editors' genre", f"{report.active_name}", f"{report.candidate_name}", "outcome"],
                widths=[0.36, 0.16, 0.18, 0.18, 0.12],
                urls=urls,
            )
            pdf.savefig(fig)
    return buffer.getvalue()


def _short(name: str, width: int = 17) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _track_label(track: Mapping[str, Any]) -> str:
    name = " – ".join(str(track[k]) for k in ("artist", "title") if track.get(k)) or str(track.get("path", ""))
    prefix = f"#{track['track_id']} " if track.get("track_id") else ""
    text = prefix + name
    return text if len(text) <= 48 else text[:47] + "…"
