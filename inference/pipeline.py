"""Queueing analyses on RQ: one job per (track, model version), retries, recovery.

The database is the source of truth for a track's status; Redis holds the work. Every path
that could lose work (a flushed Redis, a killed worker, a whole node restarted) is repaired by
`tracks_recover`, which every worker runs on start and at each maintenance pass while it runs.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

import django_rq
from django.conf import settings
from redis.client import Pipeline
from redis.exceptions import WatchError
from rq import Callback, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.queue import Queue

from catalog.models import ModelVersion, Track, TrackStatus
from catalog.selectors import active_model_version
from catalog.status import IllegalStatusTransition, track_transition

log = logging.getLogger(__name__)
QUEUE = "inference"
ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
RETRY_INTERVALS_S = [10, 60, 300]
ENQUEUABLE = {TrackStatus.PENDING, TrackStatus.FAILED, TrackStatus.AWAITING_REVIEW, TrackStatus.REVIEWED}
# Workers look for lost work this often at most (more often when the heartbeat is shorter).
RECOVERY_INTERVAL_S = 30
# A lost job is re-queued this many times per track and model version; the next loss fails the track.
MAX_RECOVERIES = len(RETRY_INTERVALS_S)
# Recovery counts live in Redis beside the jobs they count (no schema change). They survive
# Redis restarts with persistence; a Redis that loses everything loses them too, which grants
# at most one more round per such loss. A manual retry starts the count again.
RECOVERY_KEY = "acousticsense:recovery:"
RECOVERIES_TTL_S = 7 * 24 * 3600
LOST_REASON = (
    f"Its analysis job was lost {MAX_RECOVERIES + 1} times (a worker or Redis stopped before it "
    "finished); retry it once the workers are healthy."
)


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


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


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
        django_rq.get_connection(QUEUE).delete(f"{RECOVERY_KEY}count:{job_id}")  # asked for anew: a fresh count
    elif track.status not in (TrackStatus.QUEUED, TrackStatus.ANALYZING):
        return False
    return _enqueue_unless_alive(track=track, model_version=model_version)


def analysis_enqueue_many(*, tracks: Iterable[Track], model_version: ModelVersion | None = None) -> int:
    """Queue many tracks; returns how many were newly queued."""
    model_version = model_version or active_model_version()
    return sum(analysis_enqueue(track=track, model_version=model_version) for track in tracks)


def _enqueue_call(
    queue: Queue, track: Track, model_version: ModelVersion, pipeline: Pipeline, at_front: bool = False
) -> None:
    queue.enqueue_call(
        "inference.jobs.analyze_track",
        kwargs={"track_id": track.pk, "model_version_id": model_version.pk},
        job_id=analysis_job_id(track.pk, model_version.pk),
        timeout=job_timeout_s(track.duration_s),
        retry=Retry(max=len(RETRY_INTERVALS_S), interval=RETRY_INTERVALS_S),
        on_failure=Callback("inference.jobs.on_analysis_failure"),
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        description=f"Analyse track {track.pk} with {model_version.name}",
        pipeline=pipeline,
        at_front=at_front,
    )


def _forget(pipe: Pipeline, queue: Queue, job_id: str, executions: Iterable[bytes] = ()) -> None:
    """Queue the removal of every trace of a job (hash, queue entry, registries) on `pipe`."""
    pipe.delete(Job.key_for(job_id))
    pipe.lrem(queue.key, 0, job_id)
    for registry in (queue.scheduled_job_registry, queue.failed_job_registry, queue.finished_job_registry):
        pipe.zrem(registry.key, job_id)
    for member in executions:
        pipe.zrem(queue.started_job_registry.key, member)


def _enqueue_unless_alive(*, track: Track, model_version: ModelVersion) -> bool:
    """Replace a finished, failed or missing job by a queued one, atomically: of two callers
    racing on one job, exactly one enqueues it (the other's transaction sees the job change)."""
    queue = django_rq.get_queue(QUEUE)
    job_id = analysis_job_id(track.pk, model_version.pk)
    with queue.connection.pipeline() as pipe:
        try:
            pipe.watch(Job.key_for(job_id))
            if _text(pipe.hget(Job.key_for(job_id), "status")) in ALIVE:
                return False
            pipe.multi()
            _forget(pipe, queue, job_id)
            _enqueue_call(queue, track, model_version, pipe)
            pipe.execute()
        except WatchError:
            return False  # someone else queued or started it a moment ago
    return True


def _tracks_with_live_jobs(queue: Queue, grace_s: float) -> set[int]:
    """Track ids whose analysis job Redis visibly holds, read in one pass (no per-track round
    trips): queued, scheduled (not overdue), deferred, or running with a fresh heartbeat.
    Registries are read before the queue, the queue before the running jobs, so a job moving
    between them while we read is still seen once. The rest are candidates, checked one by one."""
    connection, now_s = queue.connection, time.time()
    job_ids: set[str] = set()
    scheduled = connection.zrangebyscore(queue.scheduled_job_registry.key, now_s - grace_s, "+inf")  # not overdue
    job_ids.update(_text(m) for m in scheduled)
    job_ids.update(_text(m) for m in connection.zrange(queue.deferred_job_registry.key, 0, -1))
    job_ids.update(_text(m) for m in connection.lrange(queue.key, 0, -1))
    job_ids.update(
        _text(m).split(":", 1)[0] for m in connection.zrangebyscore(queue.started_job_registry.key, now_s, "+inf")
    )
    return {int(match.group(1)) for job_id in job_ids if (match := JOB_ID.match(job_id))}


# What Redis says about one job: alive; lost (act now): Redis no longer has it, its worker's
# heartbeat expired (as RQ judges a dead worker, but re-queued now instead of a retry RQ's
# scheduler may not run: after a crash the dead scheduler's lock holds for a minute), or a retry
# overdue by a heartbeat; or suspect: it looks lost, but a worker may be in the middle of moving
# it (popped from the queue and not yet registered as started, finishing), so it is lost only if
# it still looks exactly the same a heartbeat later.
LIVE, LOST, SUSPECT = "alive", "lost", "suspect"


def _judge(pipe: Pipeline, queue: Queue, job_id: str, grace_s: float) -> tuple[str, str, list[bytes]]:
    """(verdict, signature, started-registry entries) of one job, read on a watching pipeline."""
    now_s = time.time()
    fields = [
        _text(v)
        for v in pipe.hmget(Job.key_for(job_id), "status", "enqueued_at", "started_at", "ended_at", "last_heartbeat")
    ]
    status, signature = fields[0], "|".join(str(field) for field in fields)
    entries = [
        (member, score)
        for member, score in pipe.zrange(queue.started_job_registry.key, 0, -1, withscores=True)
        if _text(member).split(":", 1)[0] == job_id
    ]
    executions = [member for member, _ in entries]
    if any(score > now_s for _, score in entries):  # a worker holds it and beats (or is starting it)
        verdict = LIVE
    elif status is None:
        verdict = LOST
    elif status == JobStatus.QUEUED:
        verdict = LIVE if pipe.lpos(queue.key, job_id) is not None else SUSPECT
    elif status == JobStatus.STARTED:
        verdict = LOST if entries else SUSPECT
    elif status == JobStatus.SCHEDULED:
        due = pipe.zscore(queue.scheduled_job_registry.key, job_id)
        verdict = SUSPECT if due is None else LIVE if due > now_s - grace_s else LOST
    elif status == JobStatus.DEFERRED:
        verdict = LIVE
    else:  # finished or failed while the catalog still waits for it: its last step may be in flight
        verdict = SUSPECT
    return verdict, signature, executions


@dataclass(frozen=True)
class RecoveryReport:
    requeued: int = 0
    failed: int = 0
    waiting: int = 0  # looked lost once; re-queued on a later pass if they still look the same


def _recover_one(queue: Queue, track: Track, model_version: ModelVersion, grace_s: float) -> str | None:
    """Re-queue (or, retries spent, fail) one queued/analyzing track whose job is not alive.

    Everything is decided and done in one Redis transaction watching the job and the running
    registry: if a worker touches either meanwhile, nothing happens. The track's status is never
    changed except to failed, so a track a worker just moved to analyzing is never moved back.
    """
    job_id = analysis_job_id(track.pk, model_version.pk)
    seen_key, count_key = f"{RECOVERY_KEY}seen:{job_id}", f"{RECOVERY_KEY}count:{job_id}"
    with queue.connection.pipeline() as pipe:
        try:
            pipe.watch(Job.key_for(job_id), queue.started_job_registry.key, count_key)
            verdict, signature, executions = _judge(pipe, queue, job_id, grace_s)
            if verdict == LIVE:
                return None
            if verdict == SUSPECT:
                seen = _text(pipe.get(seen_key)) or ""
                first_signature, _, first_s = seen.rpartition("@")
                if first_signature != signature:
                    pipe.set(seen_key, f"{signature}@{time.time()}", ex=3600)
                    return "waiting"
                if time.time() - float(first_s) < grace_s:
                    return "waiting"
            recoveries = int(pipe.get(count_key) or 0)
            pipe.multi()
            _forget(pipe, queue, job_id, executions)
            pipe.delete(seen_key)
            if recoveries < MAX_RECOVERIES:
                pipe.incr(count_key)
                pipe.expire(count_key, RECOVERIES_TTL_S)
                _enqueue_call(queue, track, model_version, pipe, at_front=True)  # it was in line before the rest
            pipe.execute()
        except WatchError:
            return None  # a worker moved it meanwhile: alive after all, or judged again next pass
    if recoveries < MAX_RECOVERIES:
        log.warning("Re-queued track %s: its job %s was lost (%s)", track.pk, job_id, signature)
        return "requeued"
    try:
        track_transition(track=track, to=TrackStatus.FAILED, reason=LOST_REASON, expected=track.status)
    except IllegalStatusTransition:
        return None
    log.warning("Track %s failed: its job %s was lost %d times", track.pk, job_id, recoveries + 1)
    return "failed"


def _job_of(queue: Queue, track_id: int, versions: dict[int, ModelVersion], default: ModelVersion) -> ModelVersion:
    """The model version of the track's latest job Redis still has (any version), else `default`."""
    with queue.connection.pipeline(transaction=False) as pipe:
        for version_id in versions:
            pipe.hget(Job.key_for(analysis_job_id(track_id, version_id)), "enqueued_at")
        enqueued = [_text(value) for value in pipe.execute()]
    latest = max(((at, version_id) for at, version_id in zip(enqueued, versions) if at), default=None)
    return versions[latest[1]] if latest else default


def tracks_recover() -> RecoveryReport:
    """Re-queue tracks whose work Redis no longer runs: jobs Redis lost, jobs of dead workers,
    jobs popped by a worker that died before starting them, retries no scheduler runs; fail a
    track whose job was lost more than MAX_RECOVERIES times; queue pending tracks. Safe to run
    from several processes at once (every change is a checked Redis transaction)."""
    model_version = active_model_version()
    if model_version is None:
        return RecoveryReport()
    queue = django_rq.get_queue(QUEUE)
    grace_s = float(settings.WORKER_HEARTBEAT_S)
    live = _tracks_with_live_jobs(queue, grace_s)
    versions = {version.pk: version for version in ModelVersion.objects.all()}
    outcomes: list[str | None] = []
    waiting = Track.objects.filter(status__in=[TrackStatus.QUEUED, TrackStatus.ANALYZING, TrackStatus.PENDING])
    candidates = [pk for pk in waiting.values_list("pk", flat=True).iterator() if pk not in live]
    for start in range(0, len(candidates), 500):  # no query with thousands of ids after a flush
        for track in waiting.filter(pk__in=candidates[start : start + 500]).only("pk", "status", "duration_s"):
            if track.status == TrackStatus.PENDING:  # never queued (e.g. Redis was down at upload)
                outcomes.append("requeued" if analysis_enqueue(track=track, model_version=model_version) else None)
            else:
                version = _job_of(queue, track.pk, versions, model_version)
                outcomes.append(_recover_one(queue, track, version, grace_s))
    return RecoveryReport(
        requeued=outcomes.count("requeued"), failed=outcomes.count("failed"), waiting=outcomes.count("waiting")
    )
