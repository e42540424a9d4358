"""Synchronous classification for `POST /api/genre`: upload in, Top-K out, in the web process.

The model comes from `runtime.model_for`, so each web process loads it once. Every call,
successful or not, is recorded as a ClassificationCall (latency, audio duration, mean confidence,
model version, status and error code) for the staff dashboard.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from catalog.api.errors import STATUS_BY_CODE
from catalog.api.schema import DEFAULT_TOP_K
from catalog.ingest import CHUNK, IngestErrorCode, declared_too_large, human_size
from catalog.models import ApiClient, ModelVersion
from catalog.selectors import active_model_version
from inference.engine.errors import AudioError
from inference.models import ClassificationCall

log = logging.getLogger(__name__)
UNTRAINED_WARNING = (
    "The active model version is untrained: these genres are random placeholders, "
    "not predictions. Do not store or show them as tags."
)


class SyncErrorCode(str, Enum):
    INVALID_TOP_K = "invalid_top_k"
    NO_ACTIVE_MODEL = "no_active_model"


class ClassifyRejected(Exception):
    """A call that cannot be answered with genres; `status_code` is the HTTP status to send."""

    def __init__(self, code: str, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code.value if isinstance(code, Enum) else code
        self.message = message
        self.status_code = status_code or STATUS_BY_CODE.get(self.code, 400)


@dataclass(frozen=True)
class GenreScore:
    genre: str
    confidence: float


@dataclass(frozen=True)
class Classification:
    results: list[GenreScore]
    model_version: str
    trained: bool
    duration_s: float
    latency_ms: float
    warning: str | None
    images: dict[str, bytes] | None = None  # spectrogram, attention, top_k PNGs (workstation only)
    regions: list[str] | None = None  # most-attended regions as text (with images)
    content: dict[str, object] | None = None  # music / speech / other with scores (None when the check is off)
    is_silent: bool = False  # the same flag a track's analysis carries


def parse_top_k(raw: object, n_labels: int) -> int:
    """`?top_k=` as given (None, text or int) → 1..n_labels, else ClassifyRejected (400). An empty
    `?top_k=` is not an integer (the schema says one): refused, not read as the default."""
    if raw is None:
        return min(DEFAULT_TOP_K, n_labels)
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= n_labels:
        raise ClassifyRejected(
            SyncErrorCode.INVALID_TOP_K,
            f"top_k must be an integer from 1 to {n_labels} (the active model's labels), got {str(raw)[:20]!r}.",
            400,
        )
    return int(text)


def _copy_limited(stream: BinaryIO, target: Path, limit: int) -> None:
    size = 0
    with target.open("wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise ClassifyRejected(
                    IngestErrorCode.TOO_LARGE, f"The file is larger than the {human_size(limit)} upload limit."
                )
            out.write(chunk)


def _classify(
    *, model_version: ModelVersion, stream: BinaryIO, filename: str, top_k: int, with_images: bool = False
) -> tuple[list[GenreScore], float, dict[str, bytes] | None, list[str] | None, dict[str, object] | None, bool]:
    from inference.engine.analysis import analyze_file  # torch only in processes that classify
    from inference.runtime import content_model, model_for

    model = model_for(model_version, trigger="request")  # loaded at process start (inference.serving)
    with tempfile.TemporaryDirectory(prefix="classify-") as tmp:
        # The extension picks the decoder, so keep the sender's (an unknown one is refused as such).
        path = Path(tmp) / f"upload{Path(filename).suffix.lower()[:16]}"
        _copy_limited(stream, path, settings.MAX_UPLOAD_BYTES)
        try:
            result = analyze_file(
                path,
                model,
                top_k=top_k,
                with_attention=with_images,
                max_duration_s=settings.MAX_AUDIO_SECONDS,
                content_model=content_model(),
            )
        except AudioError as error:
            raise ClassifyRejected(error.code, error.message) from error
    images = regions = None
    if with_images:
        from inference.engine.render import render_analysis_images

        # the workstation shows each picture at its column's width, with no scrolling pane
        images = render_analysis_images(result, model.preprocessing, zoom_long_tracks=False)
        regions = [region.text for region in result.regions]
    scores = [GenreScore(label, round(float(p), 6)) for label, p in result.top_k]
    content = result.content.to_dict() if result.content else None
    return scores, float(result.audio.duration_s), images, regions, content, bool(result.is_silent)


def classify_upload(
    *,
    stream: BinaryIO | None,
    filename: str,
    top_k: object,
    client: ApiClient | None,
    caller: str = "",
    declared_bytes: int | None = None,
    with_images: bool = False,
) -> Classification:
    """Classify one uploaded file with the active model; record the call whatever happens.

    `with_images` also computes attention and renders the pictures (the editors' workstation page).

    Raises ClassifyRejected (stable code, HTTP status) for anything the sender can fix.
    """
    started = time.perf_counter()
    record = ClassificationCall(client=client, caller=caller[:150], filename=(filename or "")[:300])
    try:
        model_version = active_model_version()
        if model_version is None:
            raise ClassifyRejected(SyncErrorCode.NO_ACTIVE_MODEL, "No model version is active; try again later.", 503)
        record.model_version = model_version
        if declared_too_large(declared_bytes):
            raise ClassifyRejected(
                IngestErrorCode.TOO_LARGE,
                f"The file is larger than the {human_size(settings.MAX_UPLOAD_BYTES)} upload limit.",
            )
        if stream is None:
            raise ClassifyRejected(
                IngestErrorCode.MISSING_FILE, "No audio: send the file as the multipart form field 'audio'."
            )
        record.top_k = top_k = parse_top_k(top_k, len(model_version.labels))
        results, duration_s, images, regions, content, silent = _classify(
            model_version=model_version, stream=stream, filename=filename, top_k=top_k, with_images=with_images
        )
    except ClassifyRejected as rejected:
        record.status_code, record.error_code = rejected.status_code, rejected.code
        _save(record, started)
        raise
    except Exception:
        record.status_code, record.error_code = 500, "internal_error"
        _save(record, started)
        raise
    record.status_code, record.duration_s = 200, duration_s
    record.mean_confidence = sum(r.confidence for r in results) / len(results)
    _save(record, started)
    return Classification(
        results=results,
        model_version=model_version.name,
        trained=model_version.trained,
        duration_s=round(duration_s, 3),
        latency_ms=record.latency_ms,
        warning=None if model_version.trained else UNTRAINED_WARNING,
        images=images,
        regions=regions,
        content=content,
        is_silent=silent,
    )


def _save(record: ClassificationCall, started: float) -> None:
    record.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    try:
        record.save()
    except Exception:  # the log must never turn an answer into a 500
        log.exception("Could not record a classification call")
