"""Reads for the staff pipeline page: the database for tracks, Redis for the queue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from rq import Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.utils import as_text

from catalog.models import Analysis, ImportBatch, ModelVersion, Track, TrackStatus
from catalog.selectors import track_counts_by_status
from inference.pipeline import QUEUE
from inference.serving import process_status
from inference.worker import PRECISION_FIELD, PRECISION_REASON_FIELD


@dataclass(frozen=True)
class WorkerRow:
    name: str
    hostname: str
    pid: int | None
    state: str
    current_job: str
    successful_jobs: int
    failed_jobs: int
    last_heartbeat: object
    precision: str = ""  # the kernel it chose (inference.engine.precision), and why
    precision_reason: str = ""


def queue_stats() -> dict[str, int]:
    queue = django_rq.get_queue(QUEUE)
    return {
        "queued": queue.count,
        "running": StartedJobRegistry(queue=queue).count,
        "scheduled_retries": ScheduledJobRegistry(queue=queue).count,
        "failed_jobs": FailedJobRegistry(queue=queue).count,
    }


def live_workers() -> list[WorkerRow]:
    queue = django_rq.get_queue(QUEUE)
    rows = []
    for worker in Worker.all(queue=queue):
        job = worker.get_current_job()
        precision, reason = (
            as_text(v) if v else "" for v in queue.connection.hmget(worker.key, PRECISION_FIELD, PRECISION_REASON_FIELD)
        )
        rows.append(
            WorkerRow(
                name=worker.name,
                hostname=worker.hostname or "",
                pid=worker.pid,
                state=str(worker.get_state()),
                current_job=job.description if job else "",
                successful_jobs=worker.successful_job_count,
                failed_jobs=worker.failed_job_count,
                last_heartbeat=worker.last_heartbeat,
                precision=precision,
                precision_reason=reason,
            )
        )
    return sorted(rows, key=lambda row: row.name)


def analysed_since(*, minutes: int = 60) -> int:
    return Analysis.objects.filter(created_at__gte=timezone.now() - timedelta(minutes=minutes)).count()


def failed_tracks(*, limit: int = 50) -> list[Track]:
    return list(Track.objects.filter(status=TrackStatus.FAILED).order_by("-status_changed_at")[:limit])


def recent_batches(*, limit: int = 10) -> list[ImportBatch]:
    """Latest import batches with how many of their tracks are in each stage."""
    counts = {status: Count("tracks", filter=Q(tracks__status=status)) for status in TrackStatus.values}
    return list(ImportBatch.objects.annotate(**{f"n_{s}": c for s, c in counts.items()})[:limit])


REANALYSIS_STATUSES = (TrackStatus.AWAITING_REVIEW, TrackStatus.REVIEWED, TrackStatus.FAILED)


def tracks_without_analysis(
    *, model_version: ModelVersion, statuses: Iterable[str] = REANALYSIS_STATUSES
) -> QuerySet[Track]:
    """Tracks in these statuses that this model version has not analysed yet (re-analysis candidates)."""
    return Track.objects.filter(status__in=list(statuses)).exclude(analyses__model_version=model_version)


def pipeline_overview() -> dict[str, object]:
    try:
        queue, workers, redis_error = queue_stats(), live_workers(), ""
    except Exception as error:  # the page must still say what the database knows
        queue, workers, redis_error = {}, [], f"Redis is unreachable: {error}"
    return {
        "status_counts": [(TrackStatus(s).label, s, n) for s, n in track_counts_by_status().items()],
        "queue": queue,
        "workers": workers,
        "redis_error": redis_error,
        "analysed_last_hour": (done := analysed_since(minutes=60)),
        "throughput": done / 60,
        "failed": failed_tracks(),
        "batches": recent_batches(),
        "web_process": process_status(),
        **adaptation_overview(),
    }


def adaptation_overview() -> dict[str, object]:
    """The pipeline page's closed-loop part: teacher-target progress for the current mapping
    version, the latest failures, and the latest retrain runs."""
    from inference.models import RetrainRun
    from inference.teacher_targets import teacher_target_failures, teacher_target_progress

    return {
        "teacher_targets": teacher_target_progress(),
        "teacher_failures": teacher_target_failures(limit=10),
        "retrain_runs": list(RetrainRun.objects.select_related("candidate", "export")[:5]),
    }


def evaluation_summary(model_version: ModelVersion, key: str | None = None) -> dict[str, Any] | None:
    """What a comparison page shows: test top-1/top-3/macro F1 (and ECE) of the version and of the
    model it was compared with, per-genre rows and the pictures' URLs; None if never evaluated.
    Without ``key``: the latest evaluation on an export's test split (``metrics["test"]``); with
    it, that entry of ``metrics["evaluations"]`` (see inference.retraining.model_version_evaluate)."""
    metrics = model_version.metrics or {}
    evaluations = metrics.get("evaluations") or {}
    if key is None:
        test = metrics.get("test")
        if not test or not test.get("candidate"):
            return None
        candidate, active, tracks = test["candidate"], test.get("active"), test["tracks"]
        confusion, export_id = metrics.get("confusion"), metrics.get("export_id")
        key = metrics.get("evaluation_key") or (f"export:{export_id}:test" if export_id else None)
        entry = evaluations.get(key) or {}
        images = {
            "confusion": metrics.get("confusion_png"),
            "confusion_active": metrics.get("confusion_active_png"),
            "reliability": (entry.get("images") or {}).get("reliability"),
        }
        description = (entry.get("set") or {}).get("description") or f"export #{export_id}, test split"
    else:
        entry = evaluations.get(key)
        if not entry or not entry.get("candidate"):
            return None
        candidate, active, tracks = entry["candidate"], entry.get("active"), entry["tracks"]
        confusion, export_id = candidate.get("confusion"), entry["set"].get("export_id")
        images, description = entry.get("images") or {}, entry["set"].get("description", key)
    keys = ("model_version", "trained", "tracks", "top1", "top3", "macro_f1")

    def brief(scores: dict[str, Any]) -> dict[str, Any]:
        cal = scores.get("calibration") or {}
        return {
            **{k: scores.get(k) for k in keys},
            "ece": cal.get("ece"),
            "ece_before_temperature": cal.get("ece_before_temperature"),
            "temperature": cal.get("temperature"),
            "mean": scores.get("mean"),
            "std": scores.get("std"),
        }

    genres = [
        {"genre": genre, "candidate": scores, "active": active["per_genre"].get(genre) if active else None}
        for genre, scores in candidate["per_genre"].items()
    ]

    def url(name: str) -> str | None:
        return settings.MEDIA_URL + images[name] if images.get(name) else None

    return {
        "export_id": export_id,
        "tracks": tracks,
        "evaluation_key": key,
        "description": description,
        "candidate": brief(candidate),
        "active": brief(active) if active else None,
        "per_genre": genres,
        "confusion": confusion,
        "confusion_png_url": url("confusion"),
        "confusion_active_png_url": url("confusion_active"),
        "reliability_png_url": url("reliability"),
        "evaluations": sorted(evaluations, key=lambda k: evaluations[k].get("evaluated_at") or "", reverse=True),
    }
