"""Bulk import: files, folders (recursively) or CSV manifests, through the one ingest service."""
from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.ingest import BatchSummary, IngestRejected, TrackMetadata, batch_record, track_ingest_path
from catalog.models import ImportBatch, TrackSource
from inference.audio import SUPPORTED_EXTENSIONS
from inference.pipeline import analysis_enqueue_many

MANIFEST_COLUMNS = {"path", "title", "artist", "album", "external_id", "genre"}
CHUNK = 200


def _items(paths: list[Path]) -> Iterator[tuple[Path, TrackMetadata]]:
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.suffix.lower().lstrip(".") in SUPPORTED_EXTENSIONS:
                    yield file, TrackMetadata()
        elif path.suffix.lower() == ".csv":
            yield from _manifest(path)
        else:
            yield path, TrackMetadata()


def _manifest(path: Path) -> Iterator[tuple[Path, TrackMetadata]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if "path" not in columns:
            raise CommandError(f"{path}: a manifest needs a 'path' column (optional: {', '.join(sorted(MANIFEST_COLUMNS - {'path'}))}).")
        unknown = columns - MANIFEST_COLUMNS
        if unknown:
            raise CommandError(f"{path}: unknown manifest column(s): {', '.join(sorted(unknown))}.")
        for row in reader:
            file = Path(row["path"])
            yield (file if file.is_absolute() else path.parent / file), TrackMetadata(
                title=row.get("title") or "", artist=row.get("artist") or "", album=row.get("album") or "",
                external_id=row.get("external_id") or None, known_genre=row.get("genre") or None,
            )


class Command(BaseCommand):
    help = "Import audio files, folders or CSV manifests (path,title,artist,album,external_id,genre) and queue their analysis."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--name", help="Name of the import batch (default: the first path).")
        parser.add_argument("--no-analysis", action="store_true", help="Store the tracks without queueing analyses.")

    def handle(self, *args: object, paths: list[Path], name: str | None, no_analysis: bool, **options: object) -> None:
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"No such file or folder: {', '.join(missing)}")
        items = list(_items(paths))
        batch = ImportBatch.objects.create(name=name or str(paths[0]), source=TrackSource.IMPORT)
        summary, pending = BatchSummary(), []
        for file, metadata in tqdm(items, desc="Importing", unit="file", disable=not items):
            try:
                result = track_ingest_path(path=file, source=TrackSource.IMPORT, metadata=metadata, batch=batch,
                                           enqueue=False)
            except IngestRejected as error:
                summary.rejected.append((str(file), error.message))
                continue
            if result.created:
                summary.imported.append(result.track)
                pending.append(result.track)
            else:
                summary.duplicates.append((str(file), result.track))
            if not no_analysis and len(pending) >= CHUNK:
                analysis_enqueue_many(tracks=pending)
                pending = []
        if not no_analysis and pending:
            analysis_enqueue_many(tracks=pending)
        batch_record(batch=batch, summary=summary)
        self._report(batch, summary)

    def _report(self, batch: ImportBatch, summary: BatchSummary) -> None:
        write = self.stdout.write
        write(f"Import batch {batch.pk} ({batch.name}): {len(summary.imported)} imported, "
              f"{len(summary.duplicates)} duplicates, {len(summary.rejected)} rejected")
        for file, track in summary.duplicates:
            write(f"  duplicate  {file}  (same audio as track {track.pk}: {track})")
        for file, reason in summary.rejected:
            write(self.style.WARNING(f"  rejected   {file}: {reason}"))
