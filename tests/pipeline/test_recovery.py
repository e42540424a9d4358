"""Lost work is found and re-queued in seconds, and work a worker holds is never taken from it.

Real Redis and real worker processes, as in test_pipeline; the pick-up race is staged in this
process, step by step, as a worker goes through it."""

from __future__ import annotations

import io
import os
import subprocess
import time

import django_rq
import pytest
from django.urls import reverse
from rq.job import Job

from catalog.ingest import TrackMetadata, track_ingest
from catalog.models import Track, TrackStatus
from catalog.status import track_transition
from inference import pipeline
from inference.jobs import MISSING_FILE, NEEDS_DECODER
from inference.pipeline import (
    LOST_REASON,
    MAX_RECOVERIES,
    QUEUE,
    RecoveryReport,
    analysis_enqueue,
    analysis_job_id,
    tracks_recover,
)
from inference.worker import AnalysisWorker
from tests.fixtures import wait_for, wav_bytes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def status(track: Track) -> str:
    return Track.objects.values_list("status", flat=True).get(pk=track.pk)


def job_of(track: Track, model_version) -> Job:
    return Job.fetch(analysis_job_id(track.pk, model_version.pk), connection=django_rq.get_connection(QUEUE))


def test_a_job_a_worker_is_picking_up_is_left_alone_and_finishes(ingest, tiny_model_version):
    track = ingest()
    queue = django_rq.get_queue(QUEUE)
    # A worker's BLPOP: the job has left the queue and is not yet in the started registry.
    popped = queue.connection.lpop(queue.key).decode()
    assert popped == analysis_job_id(track.pk, tiny_model_version.pk)
    job = Job.fetch(popped, connection=queue.connection)

    for _ in range(2):  # e.g. a worker starting and the pipeline page's button, both mid-pick-up
        assert tracks_recover() == RecoveryReport(waiting=1)
    assert status(track) == TrackStatus.QUEUED  # not flipped to pending, nothing queued twice
    assert queue.count == 0 and job.get_status(refresh=True) == "queued"

    AnalysisWorker([queue], connection=queue.connection).execute_job(job, queue)  # the worker goes on

    assert status(track) == TrackStatus.AWAITING_REVIEW
    assert job.get_status(refresh=True) == "finished"
    assert tracks_recover() == RecoveryReport()


def test_a_job_popped_by_a_worker_that_died_is_requeued_a_heartbeat_later(ingest, run_worker, settings):
    settings.WORKER_HEARTBEAT_S = 1
    track = ingest()
    queue = django_rq.get_queue(QUEUE)
    queue.connection.lpop(queue.key)  # popped, then the worker died before registering it
    assert tracks_recover() == RecoveryReport(waiting=1)
    time.sleep(1.2)
    assert tracks_recover() == RecoveryReport(requeued=1)
    assert queue.count == 1
    run_worker()
    assert status(track) == TrackStatus.AWAITING_REVIEW


def test_an_idle_worker_requeues_analyzing_tracks_whose_jobs_redis_lost(tiny_model_version, start_worker):
    start_worker()
    connection = django_rq.get_connection(QUEUE)
    wait_for(lambda: connection.scard("rq:workers") == 1, 60, "the worker to register")
    time.sleep(1)  # past its start-up pass: only its periodic pass can find the tracks
    tracks = []
    for freq in (330.0, 550.0):  # in the catalog as analysing, with no job in Redis
        track = track_ingest(
            stream=io.BytesIO(wav_bytes(freq=freq)),
            original_filename="lost.wav",
            metadata=TrackMetadata(),
            enqueue=False,
        ).track
        track_transition(track=track, to=TrackStatus.QUEUED)
        tracks.append(track_transition(track=track, to=TrackStatus.ANALYZING))
    started = time.monotonic()
    wait_for(lambda: all(status(t) == TrackStatus.AWAITING_REVIEW for t in tracks), 60, "both tracks to finish")
    seconds = time.monotonic() - started
    print(f"\n[recovery] idle worker: 2 lost analyzing tracks finished {seconds:.1f} s after they were lost")
    assert seconds < 30  # a pass every heartbeat (3 s here), not RQ's 10-minute maintenance


def test_the_pipeline_pages_button_requeues_an_analyzing_track_whose_job_was_lost(
    ingest, client, django_user_model, redis_url
):
    import redis

    track = ingest()
    track_transition(track=track, to=TrackStatus.ANALYZING)
    redis.Redis.from_url(redis_url).flushdb()
    client.force_login(django_user_model.objects.create_superuser("lead", "lead@example.com", "pw"))
    page = client.post(reverse("pipeline"), {"action": "recover"}, follow=True).content.decode()
    assert "Re-queued 1 track(s) whose jobs were lost" in page  # the audit saw "Re-queued 0"
    assert status(track) == TrackStatus.ANALYZING and django_rq.get_queue(QUEUE).count == 1


def test_a_track_whose_job_keeps_getting_lost_fails_with_a_reason(ingest, tiny_model_version):
    track = ingest()
    queue = django_rq.get_queue(QUEUE)
    job_id = analysis_job_id(track.pk, tiny_model_version.pk)
    for _ in range(MAX_RECOVERIES):
        queue.connection.delete(Job.key_for(job_id), queue.key)  # lost again
        assert tracks_recover() == RecoveryReport(requeued=1)
    queue.connection.delete(Job.key_for(job_id), queue.key)
    assert tracks_recover() == RecoveryReport(failed=1)
    track.refresh_from_db()
    assert track.status == TrackStatus.FAILED and track.failure_reason == LOST_REASON

    assert analysis_enqueue(track=track)  # a manual retry starts the count again
    queue.connection.delete(Job.key_for(job_id), queue.key)
    assert tracks_recover() == RecoveryReport(requeued=1)


def test_a_missing_audio_file_is_retried_with_backoff_then_fails_with_the_reason(
    ingest, start_worker, monkeypatch, tiny_model_version
):
    monkeypatch.setattr(pipeline, "RETRY_INTERVALS_S", [1, 1, 1])  # read when the job is queued
    gone, back = ingest(), ingest()
    for track in (gone, back):  # e.g. a worker whose media folder is not mounted
        os.rename(track.audio.path, track.audio.path + ".unmounted")
    start_worker()
    wait_for(lambda: job_of(back, tiny_model_version).retries_left < 3, 60, "a first try that finds no file")
    assert status(back) == TrackStatus.ANALYZING  # waiting for its retry, not failed
    os.rename(back.audio.path + ".unmounted", back.audio.path)  # mounted again

    wait_for(
        lambda: status(gone) == TrackStatus.FAILED and status(back) == TrackStatus.AWAITING_REVIEW,
        90,
        "the missing file to fail and the restored one to finish",
    )
    gone.refresh_from_db()
    assert gone.failure_reason == MISSING_FILE
    assert job_of(gone, tiny_model_version).retries_left == 0  # tried once and retried three times


def test_an_m4a_on_a_worker_without_ffmpeg_is_retried_then_fails_naming_the_fix(
    ingest, start_worker, worker_env, monkeypatch, tmp_path, tiny_model_version
):
    source, m4a = tmp_path / "clip.wav", tmp_path / "clip.m4a"
    source.write_bytes(wav_bytes())
    try:
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-c:a", "aac", str(m4a)], check=True, timeout=60)
    except (FileNotFoundError, subprocess.CalledProcessError):
        pytest.skip("this machine's ffmpeg cannot write m4a (the web node must accept it)")
    monkeypatch.setattr(pipeline, "RETRY_INTERVALS_S", [1, 1, 1])
    track = ingest(m4a.read_bytes(), name="clip.m4a")  # accepted here: this "web node" has ffmpeg
    (tmp_path / "bin").mkdir()
    worker_env["PATH"] = str(tmp_path / "bin")  # the worker has no ffmpeg
    start_worker()
    wait_for(lambda: status(track) == TrackStatus.FAILED, 90, "the m4a to fail after its retries")
    track.refresh_from_db()
    assert track.failure_reason == NEEDS_DECODER.format(format="m4a")
    assert "install ffmpeg" in track.failure_reason
    assert job_of(track, tiny_model_version).retries_left == 0
