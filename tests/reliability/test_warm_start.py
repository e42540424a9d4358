"""No cold start under real gunicorn: every web process loads the active model when it is forked
(gunicorn.conf.py → inference/serving.py), so no /api/genre ever pays for loading it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import requests

from acousticsense_site.localredis import free_port
from tests.fixtures import ROOT, wav_bytes
from tests.reliability.conftest import figures


def health_by_process(url: str, polls: int) -> dict[int, dict]:
    """What /health says per gunicorn worker (each answer comes from whichever worker accepted)."""
    seen: dict[int, dict] = {}
    for _ in range(polls):
        model = requests.get(f"{url}/health", timeout=10).json()["model"]
        seen[model["pid"]] = model
    return seen


def test_gunicorn_workers_hold_the_model_before_the_first_api_call(tiny_model_version, live_web, cms_headers):
    started = time.monotonic()
    deadline = started + 120
    seen = health_by_process(live_web, 8)
    while not all(m["warm_up"] == "ready" for m in seen.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        seen.update(health_by_process(live_web, 8))
    warm_s = time.monotonic() - started
    assert seen and all(m["warm_up"] == "ready" for m in seen.values()), seen
    assert all(m["loads"] == {"start": 1} and m["model_version"] == "tiny" and m["precision"] for m in seen.values())

    answers = [
        requests.post(
            f"{live_web}/api/genre",
            headers=cms_headers,
            files={"audio": ("clip.wav", wav_bytes(seconds=3.0))},
            timeout=60,
        )
        for _ in range(8)
    ]
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers if a.status_code != 200]
    after = health_by_process(live_web, 24)
    figures(
        "warm start",
        processes_seen=len(after),
        ready_after_s=round(warm_s, 1),
        precisions=sorted({m["precision"] for m in after.values()}),
        request_loads=sum(m["loads"].get("request", 0) for m in after.values()),
    )
    assert all(m["loads"] == {"start": 1} for m in after.values()), after  # no request loaded a model


def test_the_dev_server_warms_the_model_at_start_too(tiny_model_version, worker_env):
    """`manage.py runserver --noreload` as scripts/devserver.py runs it (the README run command)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline, model = time.monotonic() + 120, {}
        while model.get("warm_up") != "ready" and time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(requests.ConnectionError):
                model = requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json()["model"]
            time.sleep(0.5)
        assert model.get("warm_up") == "ready" and model["loads"] == {"start": 1}, model
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
