"""Sets of labelled tracks to evaluate a model on, and the export rows training uses.

Each set has a key naming it in ``ModelVersion.metrics["evaluations"]``:

- ``export:N:test`` — export N's test split as its manifest says (``export:N:val``, ...);
  ``export:N:test@0.7,0.15,0.15`` — the test split of a fresh stratified split of export N;
- ``csv:<sha256 of the file, 12 hex>`` — a CSV of audio files with columns path,genre;
- ``decided:<since>..<until>`` — tracks whose latest decision was made in those dates (bulk
  acceptances left out: they copy the model that proposed them);
- ``cv:export:N:k<K>`` — K-fold cross-validation on export N (inference.retraining).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from catalog.models import Genre, Track
from inference.engine.evaluation import EvaluationItem
from inference.engine.splits import parse_fractions, resplit
from inference.engine.training import TrainingExample
from review.exports import export_rows, split_key
from review.models import Decision, DecisionSource, LabelExport


class TrainingSetupError(Exception):
    """The export, name, set or initial weights cannot be used (shown as is by the commands)."""


def label_export(export: LabelExport | int) -> LabelExport:
    """The export itself, or the one with that id (TrainingSetupError when there is none)."""
    if isinstance(export, LabelExport):
        return export
    found = LabelExport.objects.filter(pk=export).first()
    if found is None:
        raise TrainingSetupError(f"There is no export #{export}.")
    return found


def fractions_text(fractions: dict[str, float]) -> str:
    """{"train": 0.7, ...} → "0.7,0.15,0.15" (as keys and notes spell a split)."""
    return ",".join(f"{fractions[name]:g}" for name in ("train", "val", "test"))


def labelled_rows(export: LabelExport) -> list[dict[str, Any]]:
    """The export's manifest rows whose genre is in its label list."""
    return [row for row in export_rows(export) if row.get("label_index") is not None]


def _row_splits(
    rows: list[dict[str, Any]], *, split: str | dict[str, float] | None = None, val_fraction: float | None = None
) -> list[str]:
    items = [(split_key(artist=row["artist"], sha256=row["sha256"]), row["genre"]) for row in rows]
    try:
        return resplit(items, [row["split"] for row in rows], fractions=split, val_fraction=val_fraction)
    except ValueError as exc:
        raise TrainingSetupError(str(exc)) from exc


def export_examples(
    export: LabelExport, *, split: str | dict[str, float] | None = None, val_fraction: float | None = None
) -> list[TrainingExample]:
    """The export's rows as training examples (audio under MEDIA_ROOT); rows whose genre is not
    in the export's labels (made inactive since) are left out. ``split`` (train,val,test
    fractions) re-splits the rows stratified by genre and grouped by artist instead of using the
    manifest's column; ``val_fraction`` then re-splits the non-test rows (0: all train)."""
    media = Path(settings.MEDIA_ROOT)
    rows = labelled_rows(export)
    splits = _row_splits(rows, split=split, val_fraction=val_fraction)
    return [
        TrainingExample(path=str(media / row["audio"]), label=int(row["label_index"]), split=name)
        for row, name in zip(rows, splits)
    ]


# --- evaluation sets ---------------------------------------------------------------------------


@dataclass
class EvaluationSet:
    """Labelled tracks to score models on; ``key`` names it in ``metrics["evaluations"]``."""

    key: str
    kind: str  # "export", "csv", "decided" or "folds"
    description: str
    items: list[EvaluationItem]
    tracks: list[dict[str, Any]]  # per item: track_id (when in the catalog), title, artist, path
    labels: list[str] | None = None  # None: the candidate model's labels (+ genres only the set has)
    facts: dict[str, Any] = field(default_factory=dict)


def _track_ref(track: Track | None, path: str) -> dict[str, Any]:
    if track is None:
        return {"track_id": None, "title": Path(path).name, "artist": "", "path": path}
    return {"track_id": track.pk, "title": track.title, "artist": track.artist, "path": path}


def export_evaluation_set(
    export: LabelExport | int, subset: str = "test", *, split: str | dict[str, float] | None = None
) -> EvaluationSet:
    """Export N's ``subset`` ("train", "val", "test" or "all") as its manifest says, or as a
    fresh stratified split with ``split`` fractions says."""
    export = label_export(export)
    if subset not in ("train", "val", "test", "all"):
        raise TrainingSetupError(f"{subset!r}: the subset is train, val, test or all.")
    labels = list(export.labels)
    rows = labelled_rows(export)
    fractions = parse_fractions(split) if split is not None else None
    splits = _row_splits(rows, split=fractions)
    media = Path(settings.MEDIA_ROOT)
    chosen = [row for row, name in zip(rows, splits) if (subset == "all" or name == subset) and row["genre"] in labels]
    suffix = f"@{fractions_text(fractions)}" if fractions else ""
    what = f"{subset} split" + (f" of a stratified {fractions_text(fractions)} split" if fractions else "")
    return EvaluationSet(
        key=f"export:{export.pk}:{subset}{suffix}",
        kind="export",
        description=f"export #{export.pk}, {what}",
        items=[EvaluationItem(path=media / row["audio"], genre=row["genre"]) for row in chosen],
        tracks=[
            {"track_id": row["track_id"], "title": row["title"], "artist": row["artist"], "path": row["audio"]}
            for row in chosen
        ],
        labels=labels,
        facts={"export_id": export.pk, "split": subset, "fractions": fractions},
    )


def csv_evaluation_set(path: str | Path) -> EvaluationSet:
    """A CSV with a header and columns ``path,genre`` (relative paths: from the CSV's folder).
    Files already in the catalog (a track's stored audio, or the same SHA-256) link to their track."""
    path = Path(path)
    if not path.is_file():
        raise TrainingSetupError(f"{path}: no such file.")
    data = path.read_bytes()
    reader = csv.DictReader(data.decode("utf-8-sig").splitlines())
    if not reader.fieldnames or not {"path", "genre"} <= {name.strip() for name in reader.fieldnames}:
        raise TrainingSetupError(f"{path.name}: the CSV needs a header with the columns path,genre.")
    items, tracks, missing = [], [], []
    for row in reader:
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if not row.get("path") or not row.get("genre"):
            continue
        audio = Path(row["path"])
        audio = audio if audio.is_absolute() else path.parent / audio
        if not audio.is_file():
            missing.append(row["path"])
            continue
        items.append(EvaluationItem(path=audio, genre=row["genre"]))
        tracks.append(_track_ref(_catalogued(audio), row["path"]))
    if missing:
        raise TrainingSetupError(f"{len(missing)} file(s) listed in {path.name} are missing, e.g. {missing[0]}")
    return EvaluationSet(
        key=f"csv:{hashlib.sha256(data).hexdigest()[:12]}",
        kind="csv",
        description=f"{path.name} ({len(items)} files)",
        items=items,
        tracks=tracks,
        facts={"csv": str(path), "sha256": hashlib.sha256(data).hexdigest()},
    )


def _catalogued(audio: Path) -> Track | None:
    """The track whose stored audio this file is (by its place under MEDIA_ROOT, else its bytes)."""
    media = Path(settings.MEDIA_ROOT).resolve()
    resolved = audio.resolve()
    if resolved.is_relative_to(media):
        found = Track.objects.filter(audio=resolved.relative_to(media).as_posix()).first()
        if found is not None:
            return found
    return Track.objects.filter(sha256=hashlib.sha256(audio.read_bytes()).hexdigest()).first()


def decided_evaluation_set(*, since: dt.date | None = None, until: dt.date | None = None) -> EvaluationSet:
    """Tracks whose latest decision was made between ``since`` and ``until`` (both days
    included), labelled with it; bulk acceptances and tracks without their audio left out."""
    tz = timezone.get_current_timezone()
    # A rejected track (or one an undo left without a genre) has no genre to evaluate against.
    decisions = Decision.objects.filter(pk__in=_latest_ids(), genre__isnull=False).exclude(source=DecisionSource.BULK)
    if since:
        decisions = decisions.filter(created_at__gte=dt.datetime.combine(since, dt.time.min, tzinfo=tz))
    if until:
        decisions = decisions.filter(
            created_at__lt=dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        )
    labels = list(Genre.objects.filter(active=True).order_by("order", "name").values_list("name", flat=True))
    items, tracks, skipped = [], [], 0
    for decision in decisions.select_related("track", "genre").order_by("track_id"):
        track = decision.track
        audio = Path(settings.MEDIA_ROOT) / track.audio.name if track.audio else None
        if audio is None or not audio.is_file():
            skipped += 1
            continue
        items.append(EvaluationItem(path=audio, genre=decision.genre.name))
        tracks.append(_track_ref(track, track.audio.name))
    span = f"{since or 'start'}..{until or 'now'}"
    return EvaluationSet(
        key=f"decided:{span}",
        kind="decided",
        description=f"decisions made {span}",
        items=items,
        tracks=tracks,
        labels=labels,
        facts={
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "skipped_without_audio": skipped,
        },
    )


def _latest_ids() -> Any:
    return Decision.objects.order_by().values("track").annotate(latest=Max("pk")).values("latest")


def parse_date(value: str) -> dt.date:
    """YYYY-MM-DD, for the command's date options."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise TrainingSetupError(f"{value!r} is not a date (YYYY-MM-DD).") from None
