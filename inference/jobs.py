"""RQ jobs. Thin: fetch rows, call the engine and the store, record failures clearly."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from django.conf import settings
from rq import get_current_job

from catalog.models import Analysis, ModelVersion, Track, TrackStatus
from catalog.status import IllegalStatusTransition, track_transition
from inference.engine.errors import ErrorCode, InferenceError

log = logging.getLogger(__name__)
WORKER_LOST = "The worker analysing this track stopped (killed or out of memory) and no retries were left."
MISSING_FILE = "The stored audio file is missing."
NEEDS_DECODER = (
    "This {format} file needs ffmpeg, which the analysis workers do not have: install ffmpeg "
    "(with ffprobe) on every worker, then retry the track."
)


def analyze_track(*, track_id: int, model_version_id: int) -> str:
    """Analyse one track with one model version. Safe to run again: it finishes or repairs."""
    from inference.engine.analysis import analyze_file  # torch stays out of processes that only enqueue
    from inference.engine.render import render_analysis_images
    from inference.results import analysis_store
    from inference.runtime import content_model, model_for

    track = Track.objects.filter(pk=track_id).first()
    if track is None:
        return "track deleted"
    model_version = ModelVersion.objects.get(pk=model_version_id)
    if Analysis.objects.filter(track=track, model_version=model_version).exists():
        if track.status in (TrackStatus.QUEUED, TrackStatus.ANALYZING):  # a crash after commit
            _finish_without_analysis(track)
        return "already analysed"
    if track.status != TrackStatus.ANALYZING:  # ANALYZING: a dead worker's job, run again
        track_transition(track=track, to=TrackStatus.ANALYZING)
    try:
        model = model_for(model_version)
        started = time.perf_counter()
        result = analyze_file(
            track.audio.path, model, max_duration_s=settings.MAX_AUDIO_SECONDS, content_model=content_model()
        )
        images = render_analysis_images(result, model.preprocessing)
        result.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 1)
        analysis_store(track=track, model_version=model_version, result=result, images=images)
    except InferenceError as error:
        if (needs := _decoder_missing_here(track, error)) is None:  # bad audio or checkpoint: retrying cannot help
            track_transition(track=track, to=TrackStatus.FAILED, reason=error.message, expected=TrackStatus.ANALYZING)
            return f"failed: {error.code.value}"
        _retry_or_fail(track, NEEDS_DECODER.format(format=needs), error)
        return f"failed: needs {needs}"
    except FileNotFoundError as error:  # e.g. a worker whose media folder is not mounted (yet)
        _retry_or_fail(track, MISSING_FILE, error)
        return "failed: missing file"
    except Exception as error:
        job = get_current_job()
        if job is None or not job.retries_left:
            reason = f"Analysis failed after retries: {type(error).__name__}: {error}"
            track_transition(track=track, to=TrackStatus.FAILED, reason=reason[:2000], expected=TrackStatus.ANALYZING)
        raise
    return "analysed"


class RetryLater(Exception):
    """A failure this worker, or another one, may not hit next time; RQ retries with backoff."""


def _retry_or_fail(track: Track, reason: str, error: Exception) -> None:
    """Raise for RQ to retry the job (RETRY_INTERVALS_S) while it has retries; then fail the track."""
    job = get_current_job()
    if job is not None and job.retries_left:
        raise RetryLater(f"{reason} Retrying ({job.retries_left} left).") from error
    track_transition(track=track, to=TrackStatus.FAILED, reason=reason, expected=TrackStatus.ANALYZING)


def _decoder_missing_here(track: Track, error: InferenceError) -> str | None:
    """The format, when this worker rejected the file only for lacking ffmpeg (another worker,
    or this one once ffmpeg is installed, can decode it)."""
    from inference.engine.audio import FFMPEG_EXTENSIONS, ffmpeg_available

    ext = Path(track.audio.name).suffix.lower().lstrip(".")
    if error.code == ErrorCode.UNSUPPORTED_FORMAT and ext in FFMPEG_EXTENSIONS and not ffmpeg_available():
        return ext
    return None


def _finish_without_analysis(track: Track) -> None:
    try:
        if track.status == TrackStatus.QUEUED:
            track_transition(track=track, to=TrackStatus.ANALYZING)
        done = TrackStatus.REVIEWED if track.reviewed_genre_id else TrackStatus.AWAITING_REVIEW
        track_transition(track=track, to=done, expected=TrackStatus.ANALYZING)
    except IllegalStatusTransition:
        pass


def on_analysis_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """Called by RQ for failures, including a worker that vanished mid-job (AbandonedJobError).
    Marks the track failed once no retry is left, so it never stays 'analyzing' forever."""
    if job.retries_left:
        return
    track = Track.objects.filter(pk=job.kwargs.get("track_id")).first()
    if track is None or track.status in (TrackStatus.FAILED, TrackStatus.AWAITING_REVIEW, TrackStatus.REVIEWED):
        return
    reason = WORKER_LOST if exc_type.__name__ == "AbandonedJobError" else f"{exc_type.__name__}: {exc_value}"
    try:
        track_transition(track=track, to=TrackStatus.FAILED, reason=reason[:2000])
    except IllegalStatusTransition:
        log.warning("Track %s changed status while its failure was being recorded", track.pk)
