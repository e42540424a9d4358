"""Bulk import: files, folders (recursively) or CSV manifests, through the one ingest service.

A manifest's `genre` is a known label: it is recorded as a decision of source catalog (by
--editor, default the system user catalog-import), so exports and training use it."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.ingest import (
    BatchSummary,
    IngestRejected,
    TrackMetadata,
    batch_record,
    known_genre_resolve,
    track_ingest_path,
)
from catalog.models import ImportBatch, Track, TrackSource
from inference.engine.audio import supported_extensions
from inference.pipeline import analysis_enqueue_many
from review.decisions import CatalogLabelOutcome, catalog_label_record
from review.system_users import catalog_import_user

MANIFEST_COLUMNS = {"path", "title", "artist", "album", "external_id", "genre"}
CHUNK = 200


def _items(paths: list[Path]) -> Iterator[tuple[Path, TrackMetadata]]:
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.suffix.lower().lstrip(".") in supported_extensions():
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
            optional = ", ".join(sorted(MANIFEST_COLUMNS - {"path"}))
            raise CommandError(f"{path}: a manifest needs a 'path' column (optional: {optional}).")
        unknown = columns - MANIFEST_COLUMNS
        if unknown:
            raise CommandError(f"{path}: unknown manifest column(s): {', '.join(sorted(unknown))}.")
        for row in reader:
            file = Path(row["path"])
            yield (
                (file if file.is_absolute() else path.parent / file),
                TrackMetadata(
                    title=row.get("title") or "",
                    artist=row.get("artist") or "",
                    album=row.get("album") or "",
                    external_id=row.get("external_id") or None,
                    known_genre=row.get("genre") or None,
                ),
            )


class Command(BaseCommand):
    help = (
        "Import audio files, folders or CSV manifests (path,title,artist,album,external_id,genre) and queue their "
        "analysis; a manifest's genre is recorded as a catalog label."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--name", help="Name of the import batch (default: the first path).")
        parser.add_argument("--no-analysis", action="store_true", help="Store the tracks without queueing analyses.")
        parser.add_argument(
            "--editor",
            metavar="USERNAME",
            help="Who the manifest's genres are recorded by (default: the system user catalog-import).",
        )

    def handle(
        self,
        *args: object,
        paths: list[Path],
        name: str | None,
        no_analysis: bool,
        editor: str | None,
        **options: object,
    ) -> None:
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise CommandError(f"No such file or folder: {', '.join(missing)}")
        labeller = self._editor(editor)
        items = list(_items(paths))
        batch = ImportBatch.objects.create(
            name=name or str(paths[0]), source=TrackSource.IMPORT, created_by=labeller if editor else None
        )
        summary, pending = BatchSummary(), []
        labels: dict[CatalogLabelOutcome, list[tuple[str, Track, str]]] = {o: [] for o in CatalogLabelOutcome}
        for file, metadata in tqdm(items, desc="Importing", unit="file", disable=not items):
            try:
                genre = known_genre_resolve(metadata.known_genre)  # before storing: a bad genre rejects the row
                result = track_ingest_path(
                    path=file, source=TrackSource.IMPORT, metadata=metadata, batch=batch, enqueue=False
                )
            except IngestRejected as error:
                summary.rejected.append((str(file), error.message))
                continue
            if genre is not None:
                label = catalog_label_record(editor=labeller, track=result.track, genre=genre)
                standing = label.editor_decision
                labels[label.outcome].append(
                    (
                        str(file),
                        result.track,
                        (
                            f"{standing.editor} decided {standing.outcome}; the manifest says {genre}"
                            if standing
                            else ""
                        ),
                    )
                )
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
        self._report(batch_record(batch=batch, summary=summary), summary, labels)

    @staticmethod
    def _editor(username: str | None) -> AbstractBaseUser:
        if not username:
            return catalog_import_user()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"--editor: no user named {username!r}.")
        return user

    def _report(
        self,
        batch: ImportBatch | None,
        summary: BatchSummary,
        labels: dict[CatalogLabelOutcome, list[tuple[str, Track, str]]],
    ) -> None:
        write = self.stdout.write
        counts = (
            f"{len(summary.imported)} imported, {len(summary.duplicates)} duplicates, {len(summary.rejected)} rejected"
        )
        write(
            f"Import batch {batch.pk} ({batch.name}): {counts}"
            if batch is not None
            else f"Nothing new imported, so no import batch was kept: {counts}"
        )
        if any(labels.values()):
            write(
                f"Catalog labels: {len(labels[CatalogLabelOutcome.RECORDED])} recorded, "
                f"{len(labels[CatalogLabelOutcome.UNCHANGED])} unchanged, "
                f"{len(labels[CatalogLabelOutcome.KEPT_EDITOR])} kept an editor's decision"
            )
        for file, track in summary.duplicates:
            write(f"  duplicate  {file}  (same audio as track {track.pk}: {track})")
        for file, track, why in labels[CatalogLabelOutcome.KEPT_EDITOR]:
            write(self.style.WARNING(f"  kept       {file}: track {track.pk}: {why}; the editor's genre stands"))
        for file, reason in summary.rejected:
            write(self.style.WARNING(f"  rejected   {file}: {reason}"))
