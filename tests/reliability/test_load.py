"""A bounded load test: concurrent clients on the sync `/api/genre` (a short clip) and the tracks
list against a live gunicorn for ~20 s. No 5xx, and the web processes' memory stays bounded."""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from tests.fixtures import wav_bytes
from tests.reliability.conftest import figures

pytestmark = pytest.mark.slow
CLASSIFY_CLIENTS, LIST_CLIENTS = 4, 2
WARM_UP_S, LOAD_S = 4.0, 20.0
GROWTH_LIMIT_MB = 300  # per web process, over its warm RSS (model loaded)


def web_processes(port: int) -> list[int]:
    """The gunicorn master bound to `port` and its workers (forked: the same command line), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"gunicorn" in part for part in cmdline) and f"127.0.0.1:{port}".encode() in cmdline:
                found.append(int(entry.name))
    assert len(found) >= 2, f"the gunicorn master and its workers: {found}"
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Client(threading.Thread):
    def __init__(self, call, until: list[float]):
        super().__init__()
        self.call, self.until = call, until
        self.latencies: list[tuple[float, float, int]] = []  # (started at, seconds, status)
        self.errors: list[str] = []

    def run(self) -> None:
        session = requests.Session()
        while time.monotonic() < self.until[0]:
            started = time.monotonic()
            try:
                status = self.call(session).status_code
            except requests.RequestException as error:
                self.errors.append(f"{type(error).__name__}: {error}")
                continue
            self.latencies.append((started, time.monotonic() - started, status))


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else (values or [0])[0]


def test_concurrent_clients_on_genre_and_tracks_get_no_5xx_with_bounded_memory(
    tiny_model_version, live_web, cms_headers
):
    clip = wav_bytes(seconds=5.0, freq=440.0)
    for i in range(20):  # a list with something in it
        requests.post(
            f"{live_web}/api/v1/tracks/",
            headers=cms_headers,
            timeout=60,
            files={"audio": (f"t{i}.wav", wav_bytes(seconds=1.0, freq=300.0 + 7 * i))},
        )
    pids = web_processes(urlparse(live_web).port)

    def classify(session: requests.Session) -> requests.Response:
        return session.post(
            f"{live_web}/api/genre", headers=cms_headers, files={"audio": ("clip.wav", clip)}, timeout=60
        )

    def track_list(session: requests.Session) -> requests.Response:
        return session.get(f"{live_web}/api/v1/tracks/", headers=cms_headers, timeout=60)

    def run(seconds: float, peaks: dict[int, float]) -> list[Client]:
        until = [time.monotonic() + seconds]
        clients = [Client(classify, until) for _ in range(CLASSIFY_CLIENTS)]
        clients += [Client(track_list, until) for _ in range(LIST_CLIENTS)]
        for client in clients:
            client.start()
        while any(client.is_alive() for client in clients):
            for pid in pids:
                peaks[pid] = max(peaks.get(pid, 0.0), rss_mb(pid))
            time.sleep(0.1)
        return clients

    run(WARM_UP_S, {})  # every worker loads the model once
    warm = {pid: rss_mb(pid) for pid in pids}
    peaks: dict[int, float] = {}
    started = time.monotonic()
    clients = run(LOAD_S, peaks)
    seconds = time.monotonic() - started

    genre = [lat for c in clients[:CLASSIFY_CLIENTS] for _, lat, _ in c.latencies]
    listing = [lat for c in clients[CLASSIFY_CLIENTS:] for _, lat, _ in c.latencies]
    statuses = [status for c in clients for _, _, status in c.latencies]
    growth = max(peaks[pid] - warm[pid] for pid in pids)
    figures(
        "load",
        clients=len(clients),
        seconds=f"{seconds:.0f}",
        requests=len(statuses),
        rps=f"{len(statuses) / seconds:.1f}",
        genre_n=len(genre),
        genre_p50_ms=round(percentile(genre, 50) * 1000),
        genre_p95_ms=round(percentile(genre, 95) * 1000),
        list_n=len(listing),
        list_p50_ms=round(percentile(listing, 50) * 1000),
        list_p95_ms=round(percentile(listing, 95) * 1000),
        non_2xx=sum(not 200 <= s < 300 for s in statuses),
        **{"5xx": sum(s >= 500 for s in statuses)},
        errors=sum(len(c.errors) for c in clients),
        web_processes=len(pids),
        peak_rss_mb=round(max(peaks.values())),
        peak_growth_mb=round(growth),
        cpus=os.cpu_count(),
    )
    assert [e for c in clients for e in c.errors] == []
    assert set(statuses) == {200}, sorted(set(statuses))
    assert genre and listing
    assert growth < GROWTH_LIMIT_MB, (warm, peaks)
