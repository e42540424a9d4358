"""One way in for audio: admin upload, the upload page, the API and `import_tracks` all call
`track_ingest`. It validates, deduplicates by checksum, stores, and queues the analysis."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q

from catalog.models import Genre, ImportBatch, Track, TrackSource, track_upload_path
from catalog.selectors import active_model_version
from inference.engine.audio import probe_audio
from inference.engine.errors import AudioError

CHUNK = 1024 * 1024
MULTIPART_SLACK_BYTES = 64 * 1024  # room for a multipart body's framing around the file


class IngestErrorCode(str, Enum):
    """Stable codes for what a sender can get wrong; audio problems use inference's codes."""

    TOO_LARGE = "too_large"
    EXTERNAL_ID_TAKEN = "external_id_taken"
    UNKNOWN_GENRE = "unknown_genre"
    INACTIVE_GENRE = "inactive_genre"
    MISSING_FILE = "missing_file"


class IngestRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TrackMetadata:
    title: str = ""
    artist: str = ""
    album: str = ""
    external_id: str | None = None
    known_genre: str | None = None


@dataclass
class IngestResult:
    track: Track
    created: bool


@dataclass
class BatchSummary:
    """What an import run did, for the command's summary and the batch record."""

    imported: list[Track] = field(default_factory=list)
    duplicates: list[tuple[str, Track]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def declared_too_large(declared_bytes: int | None) -> bool:
    """True when the request's Content-Length alone exceeds the limit (plus room for the multipart
    framing): such a request is refused before its body is read."""
    return declared_bytes is not None and declared_bytes > settings.MAX_UPLOAD_BYTES + MULTIPART_SLACK_BYTES


def human_size(n_bytes: int) -> str:
    if n_bytes >= 1024 * 1024:
        return f"{n_bytes / (1024 * 1024):.0f} MB"
    return f"{n_bytes / 1024:.0f} KB" if n_bytes >= 10 * 1024 else f"{n_bytes} bytes"


def _copy_hashing(stream: BinaryIO, target: Path, limit: int) -> str:
    """Copy while hashing, refusing to read past the size limit (no trust in Content-Length)."""
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise IngestRejected(
                    IngestErrorCode.TOO_LARGE,
                    f"The file is larger than the {human_size(limit)} upload limit.",
                )
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _genre_named(name: str | None) -> Genre | None:
    if not name or not name.strip():
        return None
    genre = Genre.objects.filter(Q(name__iexact=name.strip()) | Q(slug__iexact=name.strip())).first()
    if genre is None:
        raise IngestRejected(IngestErrorCode.UNKNOWN_GENRE, f"Unknown genre {name.strip()!r}.")
    return genre


def known_genre_resolve(name: str | None) -> Genre | None:
    """The genre (name or slug, any case) a sender says a track has, or None when it says none.

    Checked before anything is stored, also for audio already held: a known genre becomes a
    catalog label (a decision), so it must be one editors could choose."""
    genre = _genre_named(name)
    if genre is not None and not genre.active:
        raise IngestRejected(
            IngestErrorCode.INACTIVE_GENRE, f"Genre {genre.name!r} is inactive: it cannot be given as a track's genre."
        )
    return genre


def _incoming_path(suffix: str) -> Path:
    """A unique name under MEDIA_ROOT for bytes not yet owned by any track.

    Beside the stored files (same file system), so the move into place is one atomic rename.
    """
    incoming = Path(settings.MEDIA_ROOT) / "tracks" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    return incoming / f"{uuid.uuid4().hex}{suffix}"


def _place(incoming: Path, stored_name: str) -> None:
    """Move verified bytes to their content-addressed name.

    Whatever is already there holds the same bytes (the name is their SHA-256), so replacing it
    is harmless; deleting it never is, since a committed row may point to it.
    """
    target = Path(default_storage.path(stored_name))
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(incoming, target)


def _existing_track(sha256: str, incoming: Path) -> Track | None:
    """The track that already holds these bytes; a missing stored file is repaired from them."""
    track = Track.objects.filter(sha256=sha256).first()
    if track is not None and track.audio.name and not default_storage.exists(track.audio.name):
        _place(incoming, track.audio.name)
    return track


def track_ingest(
    *,
    stream: BinaryIO,
    original_filename: str,
    source: str = TrackSource.UPLOAD,
    metadata: TrackMetadata = TrackMetadata(),
    batch: ImportBatch | None = None,
    enqueue: bool = True,
) -> IngestResult:
    """Store one audio file as a track, or find the track that already has these bytes.

    Safe under concurrency: the bytes are written under a unique name and moved to their
    content-addressed place only inside the transaction whose row wins the checksum's unique
    constraint. No request deletes anything but its own unique file.
    Raises IngestRejected (with a stable code) for anything a sender can fix; nothing is
    stored in that case.
    """
    suffix = Path(original_filename).suffix.lower()
    external_id = (metadata.external_id or "").strip() or None
    incoming = _incoming_path(suffix)
    try:
        sha256 = _copy_hashing(stream, incoming, settings.MAX_UPLOAD_BYTES)
        if existing := _existing_track(sha256, incoming):
            return IngestResult(existing, created=False)
        try:
            info = probe_audio(incoming, max_duration_s=settings.MAX_AUDIO_SECONDS)
        except AudioError as error:
            raise IngestRejected(error.code.value, error.message) from error
        known_genre = _genre_named(metadata.known_genre)
        if external_id and Track.objects.filter(external_id=external_id).exists():
            if existing := _existing_track(sha256, incoming):  # the same bytes and id just arrived
                return IngestResult(existing, created=False)
            raise IngestRejected(
                IngestErrorCode.EXTERNAL_ID_TAKEN, f"External id {external_id!r} already belongs to another track."
            )
        track = Track(
            title=metadata.title.strip()[:300] or Path(original_filename).stem[:300],
            artist=metadata.artist.strip()[:300],
            album=metadata.album.strip()[:300],
            external_id=external_id,
            original_filename=Path(original_filename).name[:300],
            sha256=sha256,
            duration_s=info.duration_s,
            sample_rate=info.sample_rate,
            channels=info.channels,
            format=info.format,
            source=source,
            known_genre=known_genre,
            import_batch=batch,
        )
        track.audio.name = track_upload_path(track, original_filename or f"audio{suffix}")
        try:
            with transaction.atomic():
                track.save()  # a concurrent insert of the same checksum waits here for our commit
                _place(incoming, track.audio.name)
                if enqueue and active_model_version() is not None:  # else pending: a worker queues it later
                    from inference.pipeline import analysis_enqueue  # no RQ import for torch-free callers

                    transaction.on_commit(lambda: analysis_enqueue(track=track))
        except IntegrityError:
            if winner := _existing_track(sha256, incoming):  # the same bytes arrived concurrently
                return IngestResult(winner, created=False)
            raise IngestRejected(
                IngestErrorCode.EXTERNAL_ID_TAKEN, f"External id {external_id!r} already belongs to another track."
            ) from None
    finally:
        incoming.unlink(missing_ok=True)  # ours alone: moved into place, or not needed
    return IngestResult(track, created=True)


def track_ingest_path(*, path: Path, **kwargs: object) -> IngestResult:
    """`track_ingest` for a file on disk (bulk import)."""
    if not path.is_file():
        raise IngestRejected(IngestErrorCode.MISSING_FILE, f"No such file: {path}")
    with path.open("rb") as stream:
        return track_ingest(stream=stream, original_filename=path.name, **kwargs)


def batch_record(*, batch: ImportBatch, summary: BatchSummary) -> ImportBatch | None:
    """Store the batch's counts. A batch that imported nothing (every file rejected or already
    held) is deleted and None returned: an empty batch would only clutter the filters."""
    if not summary.imported and not batch.tracks.exists():
        batch.delete()
        return None
    batch.imported = len(summary.imported)
    batch.duplicates = len(summary.duplicates)
    batch.rejected = len(summary.rejected)
    batch.rejections = [{"name": name, "reason": reason} for name, reason in summary.rejected][:1000]
    batch.save(update_fields=["imported", "duplicates", "rejected", "rejections"])
    return batch
