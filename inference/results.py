"""Storing an analysis: the row, its images and the status change land together or not at all."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import django_rq
from django.core.files.storage import default_storage
from django.db import transaction

from catalog.models import Analysis, ModelVersion, Track, TrackStatus
from catalog.status import track_transition
from inference.engine.datatypes import AnalysisResult

log = logging.getLogger(__name__)
CACHE_PREFIX = "acousticsense:genre:"


def _image_name(track: Track, model_version: ModelVersion, kind: str) -> str:
    return f"analyses/{track.pk}/{model_version.pk}/{kind}.png"


def _image_write(name: str, png: bytes) -> None:
    """Write a whole image or nothing: to a temporary file beside it, then moved into place, so a
    full disk or a crash mid-write never leaves a truncated PNG under the name a row points to."""
    path = Path(default_storage.path(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(png)
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def analysis_store(
    *, track: Track, model_version: ModelVersion, result: AnalysisResult, images: dict[str, bytes]
) -> Analysis:
    """Write images, then the Analysis and the status change in one transaction.

    Image names are fixed per (track, model version), so a re-run overwrites instead of
    piling up files; each is written whole or not at all, and if anything fails the images
    are removed again.
    """
    saved: list[str] = []
    try:
        for kind, png in images.items():
            name = _image_name(track, model_version, kind)
            _image_write(name, png)
            saved.append(name)
        stored = result.to_json_dict()
        ranked = sorted(zip(result.labels, result.probabilities), key=lambda pair: pair[1], reverse=True)
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        with transaction.atomic():
            analysis = Analysis.objects.create(
                track=track,
                model_version=model_version,
                probabilities=[float(p) for p in result.probabilities],
                top_label=ranked[0][0],
                top_probability=float(ranked[0][1]),
                margin=float(ranked[0][1] - second),
                window_starts_s=stored["window_starts_s"],
                window_scores=stored["window_scores"],
                embedding=stored["embedding"],
                attention_regions=stored["regions"],
                is_silent=result.is_silent,
                timings_ms=stored["timings_ms"],
                content=result.content.label if result.content else "",
                content_scores=result.content.scores if result.content else {},
                spectrogram_image=_image_name(track, model_version, "spectrogram"),
                attention_image=_image_name(track, model_version, "attention") if "attention" in images else "",
                top_k_image=_image_name(track, model_version, "top_k"),
            )
            if abs((track.duration_s or 0) - result.audio.duration_s) > 0.5:  # a truncated file's header lied
                Track.objects.filter(pk=track.pk).update(duration_s=result.audio.duration_s)
            done = TrackStatus.REVIEWED if track.reviewed_genre_id else TrackStatus.AWAITING_REVIEW
            track_transition(track=track, to=done, expected=TrackStatus.ANALYZING)
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise
    transaction.on_commit(lambda: result_cache(analysis=analysis))
    return analysis


def result_cache(*, analysis: Analysis) -> None:
    """Cache the headline result in Redis for the CMS, keyed by external id (and track id)."""
    track, version = analysis.track, analysis.model_version
    payload = json.dumps(
        {
            "track_id": track.pk,
            "external_id": track.external_id,
            "genre": analysis.top_label,
            "confidence": round(analysis.top_probability, 6),
            "model_version": version.name,
            "trained": version.trained,
            "analysed_at": analysis.created_at.isoformat(),
        }
    )
    try:
        connection = django_rq.get_connection("inference")
        keys = [f"{CACHE_PREFIX}track:{track.pk}"] + (
            [f"{CACHE_PREFIX}{track.external_id}"] if track.external_id else []
        )
        with connection.pipeline() as pipe:
            for key in keys:
                pipe.set(key, payload)
            pipe.execute()
    except Exception:  # the database is the source of truth; a cache miss is not a failure
        log.exception("Could not cache the result of analysis %s", analysis.pk)


def cached_result(key: str) -> dict | None:
    raw = django_rq.get_connection("inference").get(f"{CACHE_PREFIX}{key}")
    return json.loads(raw) if raw else None
