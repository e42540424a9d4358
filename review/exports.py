"""Exports of editors' final labels for training: versioned, incremental and reproducible.

One row per reviewed track, from its latest decision. A track whose latest decision rejects it
(not music / unusable) is never a genre row: it is a row of ``rejected.jsonl`` (written when
there is one) with its reason, so a model can learn "not music" later; export.json then counts
them under ``rejected``. A track whose latest decision is an undo that restored nothing (awaiting
review again) is in neither. The files hold no export id and no "now":
rows are sorted by track id, JSON keys are sorted and zip entries carry a fixed date, so the
same decisions always give the same bytes (the export's number is the folder's name).

Split (``split``): by default train/val/test 80/10/10 *stratified by genre and grouped by
artist* (inference.engine.splits: every genre with an artist is in train, one artist never spans two
splits, the split depends only on the exported labels); other fractions with e.g. "0.6,0.2,0.2".
``split="hash"`` keeps the rule of earlier exports: a hash of the artist (case-folded, whitespace
collapsed) or, when the artist is empty, of the track's SHA-256 picks the split (80/10/10),
stable as the catalogue grows but blind to genres.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from catalog.models import Genre
from inference.engine.splits import DEFAULT_FRACTIONS, parse_fractions, stratified_group_split
from review.models import Decision, LabelExport

SPLITS = (("train", 80), ("val", 10), ("test", 10))  # percent, in order (the legacy hash rule)
HASH_SPLIT = "hash"
MANIFEST_JSONL = "manifest.jsonl"
MANIFEST_CSV = "manifest.csv"
EXPORT_JSON = "export.json"
EXPORT_ZIP = "export.zip"
REJECTED_JSONL = "rejected.jsonl"
CSV_COLUMNS = [
    "track_id",
    "external_id",
    "sha256",
    "audio",
    "artist",
    "title",
    "genre",
    "secondary_genre",
    "label_index",
    "split",
    "action",
    "source",
    "model_version",
    "proposed",
    "editor",
    "decided_at",
    "decision_id",
]
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry


class ExportErrorCode(enum.Enum):
    UNKNOWN_EXPORT = "unknown_export"
    MISSING_AUDIO = "missing_audio"
    BAD_SPLIT = "bad_split"


class ExportError(Exception):
    """Something an export cannot do, with a stable code shared by the command and the admin."""

    def __init__(self, code: ExportErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def split_key(*, artist: str, sha256: str) -> str:
    normalised = " ".join((artist or "").split()).casefold()
    return f"artist:{normalised}" if normalised else f"track:{sha256}"


def split_for(*, artist: str, sha256: str) -> str:
    """train/val/test from a hash of the artist (or the track when the artist is empty)."""
    bucket = int(hashlib.sha256(split_key(artist=artist, sha256=sha256).encode()).hexdigest()[:8], 16) % 100
    edge = 0
    for name, percent in SPLITS:
        edge += percent
        if bucket < edge:
            return name
    return SPLITS[-1][0]


def _row(decision: Decision, labels: list[str]) -> dict[str, Any]:
    track = decision.track
    genre = decision.genre.name
    return {
        "track_id": track.pk,
        "external_id": track.external_id or "",
        "sha256": track.sha256,
        "audio": track.audio.name,  # relative to MEDIA_ROOT (and to the zip's root)
        "artist": track.artist,
        "title": track.title,
        "genre": genre,
        "secondary_genre": decision.secondary_genre.name if decision.secondary_genre else "",
        "label_index": labels.index(genre) if genre in labels else None,  # None: genre inactive now
        "split": "",  # filled in by _assign_splits, which sees all rows
        "action": decision.action,
        "source": decision.source,
        "model_version": decision.model_version.name if decision.model_version else "",
        "proposed": [
            {"genre": item.get("genre"), "probability": item.get("probability")} for item in decision.proposed or []
        ],
        "editor": decision.editor.get_username(),
        "decided_at": decision.created_at.isoformat(timespec="milliseconds"),
        "decision_id": decision.pk,
    }


def _rejected_row(decision: Decision) -> dict[str, Any]:
    track = decision.track
    return {
        "track_id": track.pk,
        "external_id": track.external_id or "",
        "sha256": track.sha256,
        "audio": track.audio.name,
        "artist": track.artist,
        "title": track.title,
        "rejected": True,
        "reject_reason": decision.reject_reason,
        "note": decision.note,
        "split": split_for(artist=track.artist, sha256=track.sha256),
        "action": decision.action,
        "source": decision.source,
        "model_version": decision.model_version.name if decision.model_version else "",
        "proposed": [
            {"genre": item.get("genre"), "probability": item.get("probability")} for item in decision.proposed or []
        ],
        "editor": decision.editor.get_username(),
        "decided_at": decision.created_at.isoformat(timespec="milliseconds"),
        "decision_id": decision.pk,
    }


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(_dumps(row) + "\n" for row in rows).encode()


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                **row,
                "proposed": _dumps(row["proposed"]),
                "label_index": "" if row["label_index"] is None else row["label_index"],
            }
        )
    return buffer.getvalue().encode()


def _zip(path: Path | BinaryIO, entries: list[tuple[str, bytes | Path]]) -> None:
    """Entries in the given order, fixed dates and modes: the same inputs give the same bytes.
    Written straight to disk: with audio an export can be large."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            # Audio is stored (already compressed or cheap to ship); manifests are deflated.
            info.compress_type = zipfile.ZIP_STORED if isinstance(content, Path) else zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as target:
                if isinstance(content, Path):
                    with content.open("rb") as source:
                        shutil.copyfileobj(source, target, 1 << 20)
                else:
                    target.write(content)


def export_directory(export: LabelExport) -> Path:
    """The folder holding an export's files."""
    directory = Path(export.directory)
    return directory if directory.is_absolute() else Path(settings.MEDIA_ROOT) / directory


def export_file(export: LabelExport, name: str) -> Path | None:
    """The path of one of the export's recorded files, or None when it has no such file."""
    if name not in (export.files or {}):
        return None
    path = export_directory(export) / name
    return path if path.is_file() else None


def export_archive_name(export: LabelExport) -> str:
    return f"acousticsense-export-{export.pk}.zip"


def export_archive(export: LabelExport) -> BinaryIO:
    """The whole export as one zip, for a download: its export.zip when it was made with the
    audio, else a zip of its files built now (a temporary file, gone once closed)."""
    if (audio_zip := export_file(export, EXPORT_ZIP)) is not None:
        return audio_zip.open("rb")
    archive = tempfile.TemporaryFile()  # noqa: SIM115 - returned open: the FileResponse closes it
    _zip(
        archive,
        [(name, path) for name in sorted(export.files or {}) if (path := export_file(export, name)) is not None],
    )
    archive.seek(0)
    return archive


def export_rows(export: LabelExport) -> list[dict[str, Any]]:
    """The manifest rows of an export, read back from its JSONL file."""
    path = export_directory(export) / MANIFEST_JSONL
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def export_rejected_rows(export: LabelExport) -> list[dict[str, Any]]:
    """The rejected (not music / unusable) rows of an export; none when it has no rejected.jsonl."""
    path = export_file(export, REJECTED_JSONL)
    if path is None:
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _decisions(*, after: int, upto: int) -> list[Decision]:
    latest = (
        Decision.objects.filter(pk__lte=upto).order_by().values("track").annotate(latest=Max("pk")).values("latest")
    )
    return list(
        Decision.objects.filter(pk__in=latest, pk__gt=after)
        .select_related("track", "genre", "secondary_genre", "model_version", "editor")
        .order_by("track_id")
    )


@dataclass(frozen=True)
class _Written:
    name: str
    sha256: str
    size: int


def _write(directory: Path, name: str, data: bytes) -> _Written:
    (directory / name).write_bytes(data)
    return _Written(name, hashlib.sha256(data).hexdigest(), len(data))


def _written(path: Path) -> _Written:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return _Written(path.name, digest.hexdigest(), path.stat().st_size)


def split_rule(split: str | dict[str, float] | None) -> str | dict[str, float]:
    """``"hash"`` (the legacy rule) or the train/val/test fractions of a stratified split;
    ExportError (bad_split) when neither."""
    if split is None or (isinstance(split, str) and not split.strip()):
        return dict(DEFAULT_FRACTIONS)
    if isinstance(split, str) and split.strip().lower() == HASH_SPLIT:
        return HASH_SPLIT
    try:
        return parse_fractions(split)
    except ValueError as exc:
        raise ExportError(ExportErrorCode.BAD_SPLIT, f"{exc} (or 'hash' for the artist-hash rule)") from exc


def _assign_splits(rows: list[dict[str, Any]], rule: str | dict[str, float]) -> dict[str, Any]:
    """Fill each row's split; returns the split rule as export.json records it."""
    if rule == HASH_SPLIT:
        for row in rows:
            row["split"] = split_for(artist=row["artist"], sha256=row["sha256"])
        # Byte-for-byte what earlier exports wrote, so they re-run identically.
        return {
            "key": "sha256 of the artist (case-folded, whitespace collapsed), else of the track's sha256",
            "percent": dict(SPLITS),
        }
    items = [(split_key(artist=row["artist"], sha256=row["sha256"]), row["genre"]) for row in rows]
    for row, name in zip(rows, stratified_group_split(items, rule)):
        row["split"] = name
    return {
        "rule": "stratified",
        "fractions": dict(rule),
        "stratify": "genre",
        "group": "artist (case-folded, whitespace collapsed), else the track's sha256",
        "note": "every genre with an artist has one in train; one artist never spans two splits",
    }


def label_export_create(
    *,
    created_by: AbstractBaseUser | None = None,
    since: int | LabelExport | None = None,
    with_audio: bool = False,
    out: str | Path | None = None,
    split: str | dict[str, float] | None = None,
) -> LabelExport:
    """Export the latest decision of every reviewed track (only those decided after export
    ``since`` when given) to MEDIA_ROOT/exports/<id>/ (or ``out``) and record it. ``split``:
    train,val,test fractions of a stratified split (default 0.8,0.1,0.1) or "hash"."""
    rule = split_rule(split)
    if since is not None and not isinstance(since, LabelExport):
        found = LabelExport.objects.filter(pk=since).first()
        if found is None:
            raise ExportError(ExportErrorCode.UNKNOWN_EXPORT, f"There is no export #{since}.")
        since = found
    # Decision ids commit in id order (review.decisions holds a lock), so a cut-off id is a
    # consistent snapshot: later decisions belong to the next export.
    upto = Decision.objects.aggregate(m=Max("pk"))["m"] or 0
    after = since.last_decision_id if since else 0
    labels = list(Genre.objects.filter(active=True).order_by("order", "name").values_list("name", flat=True))
    latest = _decisions(after=after, upto=upto)
    rows = [_row(decision, labels) for decision in latest if decision.genre_id]
    rejected = [_rejected_row(decision) for decision in latest if not decision.genre_id and decision.reject_reason]
    recorded_rule = _assign_splits(rows, rule)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["genre"]] = counts.get(row["genre"], 0) + 1
    order = {name: i for i, name in enumerate(labels)}
    counts = dict(sorted(counts.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
    split_counts = {name: sum(1 for row in rows if row["split"] == name) for name, _ in SPLITS}
    summary = {
        "labels": labels,
        "rows": len(rows),
        "counts": counts,
        "split_counts": split_counts,
        "split_rule": recorded_rule,
        "since_export": since.pk if since else None,
        "after_decision_id": after,
        "last_decision_id": upto,
        "columns": CSV_COLUMNS,
    }
    if rejected:  # only then, so an export without rejections reads as exports always did
        reasons: dict[str, int] = {}
        for row in rejected:
            reasons[row["reject_reason"]] = reasons.get(row["reject_reason"], 0) + 1
        summary["rejected"] = {"file": REJECTED_JSONL, "rows": len(rejected), "counts": dict(sorted(reasons.items()))}
    if with_audio:
        media = Path(settings.MEDIA_ROOT)
        audio_missing = [row["audio"] for row in rows + rejected if not (media / row["audio"]).is_file()]
        if audio_missing:
            raise ExportError(
                ExportErrorCode.MISSING_AUDIO,
                f"{len(audio_missing)} audio file(s) are missing, e.g. {audio_missing[0]}.",
            )
    with transaction.atomic():
        export = LabelExport.objects.create(
            created_by=created_by,
            since=since,
            after_decision_id=after,
            last_decision_id=upto,
            labels=labels,
            rows=len(rows),
            counts=counts,
            split_counts=split_counts,
        )
        directory = Path(out).resolve() if out else Path(settings.MEDIA_ROOT) / "exports" / str(export.pk)
        directory.mkdir(parents=True, exist_ok=True)
        jsonl, csv_bytes, meta = _jsonl(rows), _csv(rows), (_dumps(summary) + "\n").encode()
        written = [
            _write(directory, MANIFEST_JSONL, jsonl),
            _write(directory, MANIFEST_CSV, csv_bytes),
            _write(directory, EXPORT_JSON, meta),
        ]
        extra: list[tuple[str, bytes | Path]] = []
        if rejected:
            written.append(_write(directory, REJECTED_JSONL, rejected_jsonl := _jsonl(rejected)))
            extra.append((REJECTED_JSONL, rejected_jsonl))
        if with_audio:
            media = Path(settings.MEDIA_ROOT)
            audio = sorted({row["audio"] for row in rows + rejected})
            entries: list[tuple[str, bytes | Path]] = [
                (MANIFEST_JSONL, jsonl),
                (MANIFEST_CSV, csv_bytes),
                (EXPORT_JSON, meta),
                *extra,
            ]
            entries += [(name, media / name) for name in audio]
            _zip(directory / EXPORT_ZIP, entries)
            written.append(_written(directory / EXPORT_ZIP))
        export.directory = str(directory) if out else f"exports/{export.pk}"
        export.files = {w.name: {"sha256": w.sha256, "bytes": w.size} for w in written}
        export.save(update_fields=["directory", "files"])
    return export
