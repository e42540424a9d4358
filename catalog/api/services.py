"""Writes the API makes beyond `track_ingest`: the idempotent upsert by the CMS's external id, and
the genre a CMS already knows, recorded as a catalog label."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q

from catalog.api.errors import ApiErrorCode
from catalog.ingest import CHUNK, IngestErrorCode, IngestRejected, IngestResult, TrackMetadata, human_size, track_ingest
from catalog.models import Genre, Track, TrackSource
from review.decisions import CatalogLabelOutcome, catalog_label_record

METADATA_FIELDS = ("title", "artist", "album")


@dataclass(frozen=True)
class UpsertResult:
    track: Track
    created: bool
    changed: bool


def _sha256_limited(stream: BinaryIO) -> str:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > settings.MAX_UPLOAD_BYTES:
            raise IngestRejected(
                IngestErrorCode.TOO_LARGE,
                f"The file is larger than the {human_size(settings.MAX_UPLOAD_BYTES)} upload limit.",
            )
        digest.update(chunk)
    return digest.hexdigest()


def track_metadata_update(*, track: Track, metadata: dict[str, str]) -> bool:
    """Set the given metadata fields; writes (and bumps updated_at) only when a value changes."""
    changes = {name: value.strip()[:300] for name, value in metadata.items() if name in METADATA_FIELDS}
    changed = [name for name, value in changes.items() if getattr(track, name) != value]
    if not changed:
        return False
    for name in changed:
        setattr(track, name, changes[name])
    track.save(update_fields=[*changed, "updated_at"])
    return True


def _claim_external_id(*, track: Track, external_id: str) -> None:
    """Give a track that has no external id this one (the CMS found audio we already had)."""
    try:
        with transaction.atomic():
            claimed = Track.objects.filter(Q(external_id__isnull=True) | Q(external_id=""), pk=track.pk).update(
                external_id=external_id
            )
    except IntegrityError:
        claimed = 0
    if not claimed:
        holder = Track.objects.filter(external_id=external_id).exclude(pk=track.pk).values_list("pk", flat=True).first()
        raise IngestRejected(
            IngestErrorCode.EXTERNAL_ID_TAKEN,
            f"External id {external_id!r} already belongs to track {holder}; this audio is track {track.pk}."
            if holder
            else f"Track {track.pk} got another external id meanwhile; nothing was changed.",
        )
    track.external_id = external_id


def _label(track: Track, genre: Genre | None, labeller: AbstractBaseUser | None) -> bool:
    """Record the CMS's genre for the track; True when a new catalog decision was made."""
    if genre is None or labeller is None:
        return False
    return catalog_label_record(editor=labeller, track=track, genre=genre).outcome == CatalogLabelOutcome.RECORDED


def track_create_from_cms(
    *,
    stream: BinaryIO,
    filename: str,
    metadata: TrackMetadata,
    genre: Genre | None = None,
    labeller: AbstractBaseUser | None = None,
) -> IngestResult:
    """`track_ingest` (source CMS API), then the genre the CMS gave as a catalog label by `labeller`.
    Audio already held keeps its track; an external id it lacks is adopted, another one is 409.
    The genre was checked before (catalog.ingest.known_genre_resolve), so nothing is stored for a bad one."""
    result = track_ingest(stream=stream, original_filename=filename, source=TrackSource.API, metadata=metadata)
    external_id = (metadata.external_id or "").strip()
    if not result.created and external_id and result.track.external_id != external_id:
        _external_id_for_known_audio(track=result.track, external_id=external_id)
    _label(result.track, genre, labeller)
    return result


def _external_id_for_known_audio(*, track: Track, external_id: str) -> None:
    """The CMS sent audio we hold with an external id the track lacks: adopt it when the track has
    none (as the upsert does), refuse it when the track has another (never drop it unsaid)."""
    if track.external_id:
        raise IngestRejected(
            ApiErrorCode.DUPLICATE_AUDIO,
            f"This audio is already track {track.pk} with external id {track.external_id!r}, "
            f"not {external_id!r}; nothing was changed.",
        )
    _claim_external_id(track=track, external_id=external_id)


def track_upsert_by_external_id(
    *,
    external_id: str,
    metadata: dict[str, str],
    stream: BinaryIO | None = None,
    filename: str = "",
    genre: Genre | None = None,
    labeller: AbstractBaseUser | None = None,
) -> UpsertResult:
    """Create the track with this external id from `stream`, or update the metadata of the one that
    has it. Only the fields given are set; repeating a request changes nothing.

    The audio of an existing track never changes: the same bytes again are accepted and ignored,
    other bytes are refused (409 audio_differs). Audio we already hold under no external id is
    adopted; under another external id it is refused (409 duplicate_audio). A `genre` becomes a
    catalog label by `labeller` (idempotent; never over an editor's decision).
    """
    result = _upsert(
        external_id=external_id,
        metadata=metadata,
        stream=stream,
        filename=filename,
        known_genre=genre.name if genre else None,
    )
    labelled = _label(result.track, genre, labeller)
    return UpsertResult(result.track, created=result.created, changed=result.changed or labelled)


def _upsert(
    *, external_id: str, metadata: dict[str, str], stream: BinaryIO | None, filename: str, known_genre: str | None
) -> UpsertResult:
    track = Track.objects.filter(external_id=external_id).first()
    if track is None:
        if stream is None:
            raise IngestRejected(
                IngestErrorCode.MISSING_FILE,
                f"No track has external id {external_id!r} yet: send its audio in the field 'audio'.",
            )
        fields = {name: metadata.get(name, "") for name in METADATA_FIELDS}
        try:
            result = track_ingest(
                stream=stream,
                original_filename=filename,
                source=TrackSource.API,
                metadata=TrackMetadata(**fields, external_id=external_id, known_genre=known_genre),
            )
        except IngestRejected as error:
            if error.code != IngestErrorCode.EXTERNAL_ID_TAKEN:
                raise
            # Another request created it a moment ago with other audio.
            raise IngestRejected(
                ApiErrorCode.AUDIO_DIFFERS,
                f"Track with external id {external_id!r} already exists with different audio.",
            ) from None
        if result.created:
            return UpsertResult(result.track, created=True, changed=True)
        track = result.track
        if track.external_id != external_id:
            if track.external_id:
                raise IngestRejected(
                    ApiErrorCode.DUPLICATE_AUDIO,
                    f"This audio is already track {track.pk} with external id {track.external_id!r}.",
                )
            _claim_external_id(track=track, external_id=external_id)
            return UpsertResult(
                track, created=False, changed=track_metadata_update(track=track, metadata=metadata) or True
            )
    elif stream is not None and _sha256_limited(stream) != track.sha256:
        raise IngestRejected(
            ApiErrorCode.AUDIO_DIFFERS,
            f"Track {track.pk} (external id {external_id!r}) has different audio; a track's audio "
            "never changes: give new audio a new external id.",
        )
    return UpsertResult(track, created=False, changed=track_metadata_update(track=track, metadata=metadata))
