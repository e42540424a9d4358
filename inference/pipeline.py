"""Queueing analyses on RQ: one job per (track, model version), retries, recovery.

The database is the source of truth for a track's status; Redis holds the work. Every path
that could lose work (a flushed Redis, a killed worker) is repaired by `tracks_recover`.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import django_rq
from django.conf import settings
from rq import Callback, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from catalog.models import ModelVersion, Track, TrackStatus
from catalog.selectors import active_model_version
from catalog.status import IllegalStatusTransition, track_transition

log = logging.getLogger(__name__)
QUEUE = "inference"
ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
RETRY_INTERVALS_S = [10, 60, 300]
ENQUEUABLE = {TrackStatus.PENDING, TrackStatus.FAILED, TrackStatus.AWAITING_REVIEW, TrackStatus.REVIEWED}


JOB_ID = re.compile(r"^analysis-t(\d+)-m(\d+)$")


def analysis_job_id(track_id: int, model_version_id: int) -> str:
    return f"analysis-t{track_id}-m{model_version_id}"


def job_timeout_s(duration_s: float | None) -> int:
    """Generous for slow CPUs, but bounded so a wedged job is noticed: 2 min + 1 s per s of audio."""
    return int(120 + (duration_s or settings.MAX_AUDIO_SECONDS))


def _job_status(job_id: str) -> JobStatus | None:
    try:
        return Job.fetch(job_id, connection=django_rq.get_connection(QUEUE)).get_status(refresh=True)
    except NoSuchJobError:
        return None


def analysis_enqueue(*, track: Track, model_version: ModelVersion | None = None) -> bool:
    """Queue the analysis of `track` by `model_version` (default: the active one).

    Returns False and does nothing when that job is already queued or running.
    """
    model_version = model_version or active_model_version()
    if model_version is None:
        raise RuntimeError("No active model version: run `manage.py ensure_default_model`.")
    job_id = analysis_job_id(track.pk, model_version.pk)
    if _job_status(job_id) in ALIVE:
        return False
    track.refresh_from_db(fields=["status"])
    if track.status in ENQUEUABLE:
        try:
            track_transition(track=track, to=TrackStatus.QUEUED)
        except IllegalStatusTransition:
            return False  # someone else queued it a moment ago
    elif track.status not in (TrackStatus.QUEUED, TrackStatus.ANALYZING):
        return False
    queue = django_rq.get_queue(QUEUE)
    queue.enqueue_call(
        "inference.jobs.analyze_track",
        kwargs={"track_id": track.pk, "model_version_id": model_version.pk},
        job_id=job_id,
        timeout=job_timeout_s(track.duration_s),
        retry=Retry(max=len(RETRY_INTERVALS_S), interval=RETRY_INTERVALS_S),
        on_failure=Callback("inference.jobs.on_analysis_failure"),
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        description=f"Analyse track {track.pk} with {model_version.name}",
    )
    return True


def analysis_enqueue_many(*, tracks: Iterable[Track], model_version: ModelVersion | None = None) -> int:
    """Queue many tracks; returns how many were newly queued."""
    model_version = model_version or active_model_version()
    return sum(analysis_enqueue(track=track, model_version=model_version) for track in tracks)


def _tracks_with_live_jobs() -> set[int]:
    """Track ids that have an analysis job Redis still holds, read in one pass (no per-track
    round trips). Registries are read before the queue, the queue before the running jobs, so a
    job moving between them while we read is still seen once."""
    queue = django_rq.get_queue(QUEUE)
    job_ids: set[str] = set()
    for registry in (ScheduledJobRegistry(queue=queue), DeferredJobRegistry(queue=queue)):
        job_ids.update(registry.get_job_ids())
    job_ids.update(queue.job_ids)
    job_ids.update(StartedJobRegistry(queue=queue).get_job_ids())  # also retries abandoned jobs
    return {int(match.group(1)) for job_id in job_ids if (match := JOB_ID.match(job_id))}


def tracks_recover() -> int:
    """Re-queue tracks whose work Redis no longer holds (flushed Redis, a job lost between a
    worker's death and its retry). Returns how many were re-queued."""
    model_version = active_model_version()
    if model_version is None:
        return 0
    live = _tracks_with_live_jobs()
    recovered = 0
    waiting = Track.objects.filter(status__in=[TrackStatus.QUEUED, TrackStatus.PENDING]).exclude(pk__in=live)
    for track in waiting.iterator():
        if track.status == TrackStatus.QUEUED:
            try:
                track_transition(track=track, to=TrackStatus.PENDING)
            except IllegalStatusTransition:
                continue
        if analysis_enqueue(track=track, model_version=model_version):
            log.warning("Re-queued track %s: its job was missing from Redis", track.pk)
            recovered += 1
    return recovered
