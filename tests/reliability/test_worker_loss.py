"""Workers and Redis lost mid-batch, one at a time, while the rest of the install keeps running:
a worker SIGKILLed mid-job again and again beside a second worker, and Redis restarted empty
(every queued job wiped) under a running worker supervisor. Every track is analysed once, none lost.
(tests/pipeline holds the single-kill and flushed-Redis unit cases; test_whole_node_crash.py kills
everything at once.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from catalog.models import Analysis, Track, TrackStatus
from tests.fixtures import ROOT, wait_for, wav_bytes
from tests.reliability.conftest import figures
from tests.reliability.node_redis import NodeRedis, queues_on_own_redis, worker_env_on

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
DONE = {TrackStatus.AWAITING_REVIEW, TrackStatus.FAILED}


def statuses() -> Counter:
    return Counter(Track.objects.values_list("status", flat=True))


def all_done(tracks: list[Track]) -> bool:
    return not Track.objects.filter(pk__in=[t.pk for t in tracks]).exclude(status__in=DONE).exists()


def test_a_worker_sigkilled_mid_job_again_and_again_loses_no_track(ingest, start_worker, tiny_model_version):
    tracks = [ingest(wav_bytes(seconds=20.0, freq=200.0 + 31 * i), name=f"k{i}.wav") for i in range(10)]
    steady = start_worker()  # the second worker, running throughout
    victim, kills, mid_job = start_worker(), 0, 0
    started = time.monotonic()
    while kills < 3 and not all_done(tracks) and time.monotonic() - started < 120:
        if Track.objects.filter(status=TrackStatus.ANALYZING).exists():
            time.sleep(0.15)  # let the victim be inside a job (decoding, the model)
            mid_job += Track.objects.filter(status=TrackStatus.ANALYZING).exists()
            os.killpg(victim.pid, signal.SIGKILL)  # the worker and its work horse, no clean-up
            victim.wait()
            kills += 1
            victim = start_worker()
        time.sleep(0.05)
    wait_for(lambda: all_done(tracks), 150, "every track analysed after the kills")
    seconds = time.monotonic() - started
    final = statuses()
    analyses = Counter(Analysis.objects.values_list("track_id", flat=True))
    figures(
        "worker SIGKILL",
        tried=len(tracks),
        kills=kills,
        kills_mid_job=mid_job,
        analysed=final[TrackStatus.AWAITING_REVIEW],
        failed=final[TrackStatus.FAILED],
        double_analyses=sum(n > 1 for n in analyses.values()),
        lost=len(tracks) - len(analyses),
        seconds=f"{seconds:.1f}",
    )
    assert steady.poll() is None, "the second worker kept running"
    assert kills >= 2 and mid_job >= 1
    assert final[TrackStatus.AWAITING_REVIEW] == len(tracks), final
    assert set(analyses.values()) == {1} and len(analyses) == len(tracks)


@pytest.fixture
def empty_redis(tmp_path, settings) -> Iterator[NodeRedis]:
    """A Redis of this test's own without persistence: restarted, it comes back empty."""
    yield from queues_on_own_redis(tmp_path, settings, persist=False)


@pytest.fixture
def worker_env(worker_env, empty_redis) -> dict[str, str]:
    return worker_env_on(worker_env, empty_redis)


def test_redis_restarted_empty_mid_batch_requeues_every_wiped_job(ingest, worker_env, empty_redis, tiny_model_version):
    import redis

    tracks = [ingest(wav_bytes(seconds=10.0, freq=250.0 + 29 * i), name=f"r{i}.wav") for i in range(12)]
    supervisor = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker"],
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: statuses()[TrackStatus.AWAITING_REVIEW] >= 3, 120, "the batch to be under way")
        before = redis.Redis.from_url(empty_redis.url).llen("rq:queue:inference")
        empty_redis.kill()
        restarted = time.monotonic()
        empty_redis.start()  # empty (no append-only file, no snapshot): every queued job is gone
        wiped_left = Track.objects.exclude(status__in=DONE).count()
        wait_for(lambda: all_done(tracks), 120, "every wiped job re-queued and analysed")
        seconds = time.monotonic() - restarted
    finally:
        os.killpg(supervisor.pid, signal.SIGTERM)
        try:
            supervisor.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait()
    final = statuses()
    analyses = Counter(Analysis.objects.values_list("track_id", flat=True))
    figures(
        "Redis restarted empty",
        tried=len(tracks),
        jobs_wiped=before,
        tracks_left_at_restart=wiped_left,
        analysed=final[TrackStatus.AWAITING_REVIEW],
        failed=final[TrackStatus.FAILED],
        lost=len(tracks) - len(analyses),
        seconds_after_restart=f"{seconds:.1f}",
    )
    assert before >= 1 and wiped_left >= 1
    assert final[TrackStatus.AWAITING_REVIEW] == len(tracks), final
    assert set(analyses.values()) == {1}
