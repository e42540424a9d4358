"""A whole node dies at once (both workers and Redis, SIGKILL) mid-batch and is started again as
the README says: Redis on its append-only data, then the workers. Every track ends analysed or
failed with a reason, within a minute of the restart, with no one pressing a button."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from catalog.models import Track, TrackStatus
from tests.fixtures import wait_for, wav_bytes
from tests.reliability.conftest import figures
from tests.reliability.node_redis import NodeRedis, queues_on_own_redis, worker_env_on

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
TRACKS = 20
RECOVERY_BOUND_S = 60


@pytest.fixture
def node_redis(tmp_path, settings) -> Iterator[NodeRedis]:
    yield from queues_on_own_redis(tmp_path, settings, persist=True)


@pytest.fixture
def worker_env(worker_env, node_redis) -> dict[str, str]:
    return worker_env_on(worker_env, node_redis)


def statuses() -> Counter:
    return Counter(Track.objects.values_list("status", flat=True))


def test_a_whole_node_killed_mid_batch_finishes_every_track_after_restart(
    ingest, start_worker, node_redis, tiny_model_version
):
    tracks = [ingest(wav_bytes(seconds=2.0, freq=200.0 + 37 * i), name=f"t{i}.wav") for i in range(TRACKS)]
    workers = [start_worker(), start_worker()]
    wait_for(lambda: statuses()[TrackStatus.AWAITING_REVIEW] >= 3, 180, "the batch to be under way")

    for process in workers:  # the node dies: every process at once, workers with their schedulers
        os.killpg(process.pid, signal.SIGKILL)
    node_redis.kill()
    for process in workers:
        process.wait()
    at_kill = statuses()
    stranded = set(Track.objects.filter(status=TrackStatus.ANALYZING).values_list("pk", flat=True))
    left = set(Track.objects.exclude(status=TrackStatus.AWAITING_REVIEW).values_list("pk", flat=True))

    restarted = time.monotonic()
    node_redis.start()  # on its append-only file
    start_worker(), start_worker()
    done = {TrackStatus.AWAITING_REVIEW, TrackStatus.FAILED}
    finished_at: dict[int, float] = {}  # seconds after the restart
    deadline = restarted + 3 * RECOVERY_BOUND_S
    while len(finished_at) < TRACKS and time.monotonic() < deadline:
        for pk, status in Track.objects.values_list("pk", "status"):
            if status in done and pk not in finished_at:
                finished_at[pk] = time.monotonic() - restarted
        time.sleep(0.2)
    seconds = max(finished_at.values(), default=0.0) if len(finished_at) == TRACKS else time.monotonic() - restarted
    final = statuses()
    figures(
        "whole-node crash",
        tried=TRACKS,
        finished_before_kill=at_kill[TrackStatus.AWAITING_REVIEW],
        analyzing_at_kill=len(stranded),
        queued_at_kill=at_kill[TrackStatus.QUEUED],
        finished=final[TrackStatus.AWAITING_REVIEW],
        failed=final[TrackStatus.FAILED],
        stuck=TRACKS - len(finished_at),
        first_after_restart_s=f"{min((finished_at.get(pk, seconds) for pk in left), default=0.0):.1f}",
        stranded_done_s=f"{max((finished_at.get(pk, seconds) for pk in stranded), default=0.0):.1f}",
        seconds=f"{seconds:.1f}",
    )
    assert len(finished_at) == TRACKS, f"stuck: {final}"
    assert seconds <= RECOVERY_BOUND_S
    failed = Track.objects.filter(pk__in=[t.pk for t in tracks], status=TrackStatus.FAILED)
    assert all(track.failure_reason for track in failed)
    assert not [t.failure_reason for t in failed if "IllegalStatusTransition" in t.failure_reason]
