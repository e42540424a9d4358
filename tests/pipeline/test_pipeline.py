"""The batch path with a real Redis and real worker processes."""

from __future__ import annotations

import signal
import subprocess
import sys
from io import StringIO

import django_rq
import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from rq.job import Job

from catalog.models import Analysis, Track, TrackStatus
from catalog.status import track_transition
from inference.pipeline import QUEUE, analysis_enqueue, analysis_job_id, tracks_recover
from inference.results import cached_result
from tests.fixtures import ROOT, wait_for, wav_bytes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def status(track: Track) -> str:
    return Track.objects.values_list("status", flat=True).get(pk=track.pk)


def test_an_ingested_track_is_queued_then_analysed_by_a_worker(ingest, run_worker, tiny_model_version):
    track = ingest(external_id="cms-1")
    assert status(track) == TrackStatus.QUEUED
    queue = django_rq.get_queue(QUEUE)
    assert queue.job_ids == [analysis_job_id(track.pk, tiny_model_version.pk)]

    run_worker()

    # queued -> awaiting_review is not an allowed transition: reaching it means it went through analyzing.
    assert status(track) == TrackStatus.AWAITING_REVIEW
    analysis = Analysis.objects.get(track=track, model_version=tiny_model_version)
    assert len(analysis.probabilities) == 16 and abs(sum(analysis.probabilities) - 1) < 1e-4
    assert analysis.window_scores and analysis.embedding
    for image in (analysis.spectrogram_image, analysis.attention_image, analysis.top_k_image):
        assert default_storage.exists(image.name) and default_storage.open(image.name).read(8) == b"\x89PNG\r\n\x1a\n"
    assert {"decode", "mel", "model", "attention", "render"} <= set(analysis.timings_ms)
    cached = cached_result("cms-1")
    assert cached["genre"] == analysis.top_label and cached["model_version"] == "tiny" and cached["trained"] is False


def test_a_corrupt_file_fails_with_a_reason_and_does_not_block_the_tracks_behind_it(ingest, run_worker):
    broken = ingest()
    with default_storage.open(broken.audio.name, "wb") as handle:  # damaged on disk after upload
        handle.write(b"RIFF\x00\x00 this is not audio any more")
    healthy = [ingest() for _ in range(2)]

    run_worker()

    broken.refresh_from_db()
    assert broken.status == TrackStatus.FAILED
    assert "could not be decoded" in broken.failure_reason
    assert [status(t) for t in healthy] == [TrackStatus.AWAITING_REVIEW] * 2


def test_enqueueing_the_same_analysis_twice_is_a_no_op(ingest, tiny_model_version):
    track = ingest()
    assert analysis_enqueue(track=track, model_version=tiny_model_version) is False
    assert analysis_enqueue(track=Track.objects.get(pk=track.pk)) is False
    assert django_rq.get_queue(QUEUE).count == 1


def test_running_a_finished_job_again_changes_nothing(ingest, run_worker, tiny_model_version):
    track = ingest()
    run_worker()
    first = Analysis.objects.get(track=track)
    from inference.jobs import analyze_track

    assert analyze_track(track_id=track.pk, model_version_id=tiny_model_version.pk) == "already analysed"
    assert list(Analysis.objects.filter(track=track)) == [first]
    assert status(track) == TrackStatus.AWAITING_REVIEW


def test_tracks_whose_jobs_vanished_from_redis_are_queued_again(ingest, run_worker, redis_url):
    import redis

    tracks = [ingest(), ingest()]
    assert tracks_recover().requeued == 0  # their jobs are queued: nothing to repair
    track_transition(track=tracks[1], to=TrackStatus.ANALYZING)  # a worker had started this one
    redis.Redis.from_url(redis_url).flushdb()  # e.g. a Redis restarted without persistence
    assert tracks_recover().requeued == 2  # what the pipeline page's button does
    assert [status(t) for t in tracks] == [TrackStatus.QUEUED, TrackStatus.ANALYZING]  # never moved back
    run_worker()
    assert [status(t) for t in tracks] == [TrackStatus.AWAITING_REVIEW] * 2


def test_a_worker_killed_mid_job_loses_nothing(ingest, start_worker, tiny_model_version):
    # Long enough that the kill lands mid-job even on a fast machine: 10 minutes of audio.
    long_track = ingest(wav_bytes(seconds=600, freq=330.0), name="long.wav")
    first = start_worker()
    wait_for(lambda: status(long_track) == TrackStatus.ANALYZING, 60, "the first worker to start the job")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert status(long_track) == TrackStatus.ANALYZING  # stranded: its worker is gone

    start_worker()
    wait_for(lambda: status(long_track) == TrackStatus.AWAITING_REVIEW, 90, "another worker to finish the job")
    assert Analysis.objects.filter(track=long_track).count() == 1


def test_the_worker_is_recycled_after_max_jobs_and_reports_healthy(ingest, worker_env, tiny_model_version):
    tracks = [ingest(), ingest()]
    supervisor = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--max-jobs", "1"],
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: all(status(t) == TrackStatus.AWAITING_REVIEW for t in tracks), 120, "both tracks")
        connection = django_rq.get_connection(QUEUE)
        workers = {
            Job.fetch(analysis_job_id(t.pk, tiny_model_version.pk), connection=connection).worker_name for t in tracks
        }
        assert len(workers) == 2, "each job should have run in a fresh worker process"
        wait_for(worker_is_healthy, 60, "a registered worker")
    finally:
        supervisor.terminate()
        supervisor.wait(timeout=60)
    assert supervisor.returncode == 0


def worker_is_healthy() -> bool:
    try:
        call_command("worker_health", stdout=StringIO())
        return True
    except CommandError:
        return False


def test_real_recordings_go_through_the_pipeline(shared_audio, ingest, run_worker):
    stereo = ingest((shared_audio / "macleod-vibe-ace.stereo44k.ogg").read_bytes(), name="vibe-ace.ogg")
    short = ingest((shared_audio / "sorohan-trumpet-loop.ogg").read_bytes(), name="trumpet.ogg")
    speech = ingest((shared_audio / "librispeech-198-209-0000.ogg").read_bytes(), name="speech.ogg")
    assert (stereo.channels, stereo.sample_rate, stereo.format) == (2, 44100, "ogg")
    assert 61 < stereo.duration_s < 62 and 5 < short.duration_s < 6

    run_worker()

    for track in (stereo, short):
        assert status(track) == TrackStatus.AWAITING_REVIEW
        analysis = Analysis.objects.get(track=track)
        assert len(analysis.window_scores) == len(analysis.window_starts_s) >= 1
        assert analysis.attention_regions and all("text" in region for region in analysis.attention_regions)
        assert analysis.content == "music" and analysis.content_scores["music"] > 0.5
    assert Analysis.objects.get(track=speech).content == "speech"  # the worker says so; editors see it
