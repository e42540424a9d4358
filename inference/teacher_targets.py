"""Teacher targets for the catalog: the ensemble's genre distribution per unlabelled track, computed
by RQ jobs on the workers and cached per track and mapping version (``inference.models.TeacherTarget``).

Why a table and not a file per track: progress is one indexed count per mapping version; the
database's unique (track, mapping version) makes two workers that computed the same track
collide by design (the first row wins, the second writer finds it); rows go with their track;
and a target is small (16 numbers per ≈3-s window, ≈6 KB of JSON for a 3-minute track).

Jobs have ids derived from (track, mapping version), so queueing the same work twice is a no-op,
and a job first looks for a cached row, so a duplicate that runs anyway does no work. The jobs go
to the ``default`` queue: workers take analyses (the ``inference`` queue) first, teacher targets
when no analysis waits. The teachers' weights ship in inference/engine/teacher/weights, so any worker of
a fresh install can run them; each worker process loads them once (``teacher_models``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import django_rq
import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from rq import Callback, Retry
from rq.job import Job
from rq.queue import Queue
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from catalog.models import Track, TrackStatus
from inference.engine.teacher.mapping import ENSEMBLE_VERSION
from inference.models import TeacherTarget, TeacherTargetStatus

log = logging.getLogger(__name__)
TEACHER_QUEUE = "default"  # after "inference" in every worker's queue order: analyses come first
RETRY_INTERVALS_S = [10, 60]
_JOB_ID = re.compile(r"^teacher-t(\d+)-(.+)$")
_lock = threading.Lock()
_teachers: tuple[dict[str, Any], Any] | None = None


def teacher_job_id(track_id: int, mapping_version: str = ENSEMBLE_VERSION) -> str:
    return f"teacher-t{track_id}-{re.sub(r'[^A-Za-z0-9_-]', '-', mapping_version)}"


def _job_timeout_s(duration_s: float | None) -> int:
    return int(120 + (duration_s or settings.MAX_AUDIO_SECONDS))  # as analyses: 2 min + 1 s per s of audio


# --- selectors -----------------------------------------------------------------------------------


def catalog_tracks() -> QuerySet[Track]:
    """Every track that teacher targets are computed for: all but failed ones (their audio did not
    decode). Unlabelled ones are adaptation's data; labelled ones recalibrate the teachers."""
    return Track.objects.exclude(status=TrackStatus.FAILED)


def unlabelled_tracks() -> QuerySet[Track]:
    """Catalog tracks no editor or catalog label has decided: adaptation's unlabelled data."""
    return catalog_tracks().filter(decisions__isnull=True).distinct()


def tracks_without_targets(
    *, mapping_version: str = ENSEMBLE_VERSION, tracks: QuerySet[Track] | None = None
) -> QuerySet[Track]:
    """Those of ``tracks`` (default: the catalog's) with no cached target for this mapping."""
    tracks = catalog_tracks() if tracks is None else tracks
    done = TeacherTarget.objects.filter(mapping_version=mapping_version, status=TeacherTargetStatus.DONE)
    return tracks.exclude(pk__in=done.values("track_id"))


def _live_job_ids(queue: Queue) -> set[str]:
    """Job ids Redis holds as waiting or running (registries first, then the queue, then started)."""
    ids: set[str] = set()
    for registry in (ScheduledJobRegistry(queue=queue), DeferredJobRegistry(queue=queue)):
        ids.update(registry.get_job_ids())
    ids.update(queue.job_ids)
    ids.update(StartedJobRegistry(queue=queue).get_job_ids())
    return ids


def live_teacher_jobs(*, mapping_version: str = ENSEMBLE_VERSION) -> set[int]:
    """Track ids with a queued, running or retry-scheduled teacher-target job for this mapping."""
    suffix = teacher_job_id(0, mapping_version).split("-", 2)[2]
    tracks = set()
    for job_id in _live_job_ids(django_rq.get_queue(TEACHER_QUEUE)):
        match = _JOB_ID.match(job_id)
        if match and match.group(2) == suffix:
            tracks.add(int(match.group(1)))
    return tracks


def teacher_target_progress(*, mapping_version: str = ENSEMBLE_VERSION) -> dict[str, Any]:
    """For the pipeline page and ``retrain``: catalog tracks, how many have a target for this
    mapping version, how many are queued or running, how many failed, and what is left."""
    candidates = catalog_tracks()
    rows = TeacherTarget.objects.filter(mapping_version=mapping_version, track__in=candidates.values("pk"))
    done = rows.filter(status=TeacherTargetStatus.DONE).count()
    failed_ids = set(rows.filter(status=TeacherTargetStatus.FAILED).values_list("track_id", flat=True))
    total = candidates.count()
    out: dict[str, Any] = {
        "mapping_version": mapping_version,
        "tracks": total,
        "done": done,
        "failed": len(failed_ids),
        "queued": None,
        "redis_error": "",
    }
    try:
        live = live_teacher_jobs(mapping_version=mapping_version)
        done_ids = set(rows.filter(status=TeacherTargetStatus.DONE).values_list("track_id", flat=True))
        out["queued"] = len(live - done_ids)
        failed_ids -= live  # a failed track that is queued again counts as queued
        out["failed"] = len(failed_ids)
    except Exception as error:  # the page still says what the database knows
        out["redis_error"] = f"Redis is unreachable: {error}"
    out["missing"] = max(0, total - done - out["failed"] - (out["queued"] or 0))
    out["percent"] = round(100 * done / total, 1) if total else 100.0
    return out


def teacher_target_failures(*, mapping_version: str = ENSEMBLE_VERSION, limit: int = 20) -> list[TeacherTarget]:
    return list(
        TeacherTarget.objects.filter(mapping_version=mapping_version, status=TeacherTargetStatus.FAILED)
        .select_related("track")
        .order_by("-updated_at")[:limit]
    )


# --- queueing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherQueueing:
    """What ``teacher_targets_enqueue`` did."""

    queued: int
    already_queued: int
    cached: int
    mapping_version: str


def teacher_targets_enqueue(
    *, tracks: Iterable[Track] | QuerySet[Track] | None = None, mapping_version: str = ENSEMBLE_VERSION
) -> TeacherQueueing:
    """Queue a teacher-target job for every track (default: every catalog track) that has no cached
    target for this mapping version and no live job; resumable and idempotent."""
    if mapping_version != ENSEMBLE_VERSION:
        raise ValueError(f"this code computes {ENSEMBLE_VERSION} targets, not {mapping_version}")
    chosen = list(catalog_tracks().only("pk", "duration_s") if tracks is None else tracks)
    done = set(
        TeacherTarget.objects.filter(mapping_version=mapping_version, status=TeacherTargetStatus.DONE).values_list(
            "track_id", flat=True
        )
    )
    cached = sum(1 for t in chosen if t.pk in done)
    queue = django_rq.get_queue(TEACHER_QUEUE)
    live = _live_job_ids(queue)
    todo = [t for t in chosen if t.pk not in done and teacher_job_id(t.pk, mapping_version) not in live]
    for start in range(0, len(todo), 500):
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(
                [
                    Queue.prepare_data(
                        "inference.teacher_targets.teacher_target_job",
                        kwargs={"track_id": t.pk, "mapping_version": mapping_version},
                        job_id=teacher_job_id(t.pk, mapping_version),
                        timeout=_job_timeout_s(t.duration_s),
                        retry=Retry(max=len(RETRY_INTERVALS_S), interval=RETRY_INTERVALS_S),
                        on_failure=Callback("inference.teacher_targets.on_teacher_target_failure"),
                        result_ttl=3600,
                        failure_ttl=7 * 24 * 3600,
                        description=f"Teacher targets ({mapping_version}) of track {t.pk}",
                    )
                    for t in todo[start : start + 500]
                ],
                pipeline=pipe,
            )
            pipe.execute()
    return TeacherQueueing(
        queued=len(todo),
        already_queued=len(chosen) - cached - len(todo),
        cached=cached,
        mapping_version=mapping_version,
    )


# --- computing (in a job, or in the retrain process) ---------------------------------------------


def teacher_models() -> tuple[dict[str, Any], Any]:
    """The process's teachers ({"MSD", "MTT"} musicnn taggers, YAMNet), loaded once from the shipped weights."""
    global _teachers
    with _lock:
        if _teachers is None:
            import torch

            from inference.engine.model import select_device
            from inference.engine.teacher.musicnn import load_shipped_musicnn
            from inference.engine.teacher.yamnet import load_yamnet

            if settings.TORCH_THREADS:
                torch.set_num_threads(settings.TORCH_THREADS)
            device = select_device(settings.INFERENCE_DEVICE or None)
            log.info("Loading the teachers (musicnn MSD/MTT, YAMNet) on %s", device)
            _teachers = (load_shipped_musicnn(device=device), load_yamnet(device=device))
        return _teachers


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def teacher_target_store_failure(*, track: Track, mapping_version: str, error: str) -> None:
    """Record that this track's target could not be computed (never over a done row)."""
    with transaction.atomic():
        row = TeacherTarget.objects.select_for_update().filter(track=track, mapping_version=mapping_version).first()
        if row is None:
            try:
                with transaction.atomic():
                    TeacherTarget.objects.create(
                        track=track,
                        mapping_version=mapping_version,
                        status=TeacherTargetStatus.FAILED,
                        error=error[:2000] or "failed",
                        worker=_worker_name(),
                    )
            except IntegrityError:
                pass  # another writer got there first
        elif row.status == TeacherTargetStatus.FAILED:
            row.error, row.worker = error[:2000] or "failed", _worker_name()
            row.save(update_fields=["error", "worker", "updated_at"])


def teacher_target_compute(*, track: Track, mapping_version: str = ENSEMBLE_VERSION) -> tuple[TeacherTarget, bool]:
    """The track's cached target, computing and storing it when there is none (True: it was
    computed now). Raises what decoding or the teachers raise."""
    from inference.engine.audio import load_audio
    from inference.engine.teacher.ensemble import TEACHER_SAMPLE_RATE, teacher_targets

    if mapping_version != ENSEMBLE_VERSION:
        raise ValueError(f"this code computes {ENSEMBLE_VERSION} targets, not {mapping_version}")
    cached = TeacherTarget.objects.filter(
        track=track, mapping_version=mapping_version, status=TeacherTargetStatus.DONE
    ).first()
    if cached is not None:
        return cached, False
    decoded = load_audio(track.audio.path, target_sr=TEACHER_SAMPLE_RATE, max_duration_s=settings.MAX_AUDIO_SECONDS)
    musicnn, yamnet = teacher_models()
    targets = teacher_targets(decoded.samples, musicnn=musicnn, yamnet=yamnet)
    fields = {
        "status": TeacherTargetStatus.DONE,
        "weights": targets.weights,
        "genres": targets.genres,
        "clip": _rounded(targets.clip),
        "window_s": targets.window_s,
        "windows": _rounded(targets.windows),
        "teacher_clips": {"musicnn": _rounded(_mean(targets.musicnn)), "yamnet": _rounded(_mean(targets.yamnet))},
        "seconds": round(targets.seconds, 3),
        "error": "",
        "worker": _worker_name(),
    }
    row, _ = TeacherTarget.objects.update_or_create(track=track, mapping_version=mapping_version, defaults=fields)
    return row, True


def _mean(rows: np.ndarray) -> np.ndarray:
    return rows.mean(axis=0) if len(rows) else np.zeros(rows.shape[-1])


def _rounded(array: np.ndarray) -> list:
    return np.round(np.asarray(array, dtype=np.float64), 5).tolist()


def teacher_target_run(*, track: Track, mapping_version: str = ENSEMBLE_VERSION, final: bool = True) -> str:
    """Compute and cache one track's target, recording a failure that retrying cannot fix (bad or
    missing audio) at once and any other failure when ``final`` (no retry left); those re-raise."""
    from inference.engine.errors import InferenceError

    try:
        _, computed = teacher_target_compute(track=track, mapping_version=mapping_version)
    except InferenceError as error:
        teacher_target_store_failure(track=track, mapping_version=mapping_version, error=error.message)
        return f"failed: {error.code.value}"
    except FileNotFoundError:
        teacher_target_store_failure(
            track=track, mapping_version=mapping_version, error="The stored audio file is missing."
        )
        return "failed: missing file"
    except Exception as error:
        if final:
            teacher_target_store_failure(
                track=track, mapping_version=mapping_version, error=f"{type(error).__name__}: {error}"
            )
        raise
    return "computed" if computed else "cached already"


def teacher_target_job(*, track_id: int, mapping_version: str) -> str:
    """RQ job: compute and cache one track's target. Safe to run again: a cached track is skipped."""
    from rq import get_current_job

    track = Track.objects.filter(pk=track_id).first()
    if track is None:
        return "track deleted"
    if mapping_version != ENSEMBLE_VERSION:
        return f"skipped: queued for {mapping_version}, this worker computes {ENSEMBLE_VERSION}"
    job = get_current_job()
    return teacher_target_run(track=track, mapping_version=mapping_version, final=job is None or not job.retries_left)


def on_teacher_target_failure(
    job: Job, connection: Any, exc_type: type, exc_value: BaseException, traceback: Any
) -> None:
    """RQ failure callback, also for a worker that died mid-job: record the failure once no retry is left."""
    if job.retries_left:
        return
    track = Track.objects.filter(pk=job.kwargs.get("track_id")).first()
    if track is not None:
        reason = (
            "The worker computing it stopped (killed or out of memory)."
            if exc_type.__name__ == "AbandonedJobError"
            else f"{exc_type.__name__}: {exc_value}"
        )
        teacher_target_store_failure(track=track, mapping_version=job.kwargs.get("mapping_version", ""), error=reason)


# --- what training reads -------------------------------------------------------------------------


def _features(row: TeacherTarget) -> np.ndarray | None:
    """The teachers' clip genre scores (musicnn's, then YAMNet's): what recalibration reads."""
    clips = row.teacher_clips or {}
    if not clips.get("musicnn") or not clips.get("yamnet"):
        return None
    return np.concatenate(
        [np.asarray(clips["musicnn"], dtype=np.float64), np.asarray(clips["yamnet"], dtype=np.float64)]
    )


def teacher_features_of(track_ids: Iterable[int], *, mapping_version: str = ENSEMBLE_VERSION) -> dict[int, np.ndarray]:
    """Track id → the teachers' clip genre scores, for the tracks that have a cached target."""
    rows = TeacherTarget.objects.filter(
        mapping_version=mapping_version, status=TeacherTargetStatus.DONE, track_id__in=list(track_ids)
    ).only("track_id", "teacher_clips")
    return {row.track_id: f for row in rows if (f := _features(row)) is not None}


def _spread(sha256: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{sha256}".encode()).hexdigest()


def adaptation_examples(
    *,
    labels: Sequence[str],
    exclude_track_ids: Iterable[int] = (),
    mapping_version: str = ENSEMBLE_VERSION,
    limit: int | None = None,
    seed: int = 0,
) -> tuple[list[Any], dict[str, Any]]:
    """Unlabelled catalog tracks with a cached target, as ``inference.engine.training.SoftExample``s over
    ``labels`` (teacher genres a model lacks are dropped, the rest renormalised), and facts for
    the training record. ``limit``: at most that many, a fixed pseudo-random choice per seed."""
    from pathlib import Path

    from inference.engine.teacher.ensemble import over_labels
    from inference.engine.training import SoftExample

    exclude = set(exclude_track_ids)
    candidates = unlabelled_tracks().exclude(pk__in=exclude)
    cached = TeacherTarget.objects.filter(
        mapping_version=mapping_version, status=TeacherTargetStatus.DONE, track__in=candidates.values("pk")
    )
    # Order by a hash first (ids and checksums only), then read the targets of those used.
    order = sorted(cached.values_list("pk", "track__sha256"), key=lambda r: _spread(r[1], seed))
    examples, no_signal, missing_audio, weights = [], 0, 0, set()
    for start in range(0, len(order), 200):
        if limit is not None and len(examples) >= limit:
            break
        chunk = [pk for pk, _ in order[start : start + 200]]
        by_pk = {row.pk: row for row in TeacherTarget.objects.filter(pk__in=chunk).select_related("track")}
        for row in (by_pk[pk] for pk in chunk):
            if limit is not None and len(examples) >= limit:
                break
            clip = over_labels(np.asarray(row.clip, dtype=np.float64), row.genres, labels)
            if clip is None or clip.sum() <= 0:
                no_signal += 1
                continue
            path = Path(settings.MEDIA_ROOT) / row.track.audio.name
            if not path.is_file():
                missing_audio += 1
                continue
            windows = (
                over_labels(np.asarray(row.windows, dtype=np.float64).reshape(-1, len(row.genres)), row.genres, labels)
                if row.windows
                else None
            )
            examples.append(
                SoftExample(
                    path=str(path),
                    clip=clip.astype(np.float32),
                    windows=None if windows is None else windows.astype(np.float32),
                    window_s=row.window_s,
                    features=_features(row),
                )
            )
            weights.add(tuple(sorted(row.weights.items())))
    total = candidates.count()
    facts = {
        "source": "catalog",
        "mapping_version": mapping_version,
        "unlabelled_tracks": total,
        "with_targets": len(order),
        "without_targets": total - len(order),
        "used": len(examples),
        "no_signal": no_signal,
        "missing_audio": missing_audio,
        "limit": limit,
        "teacher_weights": [dict(w) for w in sorted(weights)],
    }
    return examples, facts
