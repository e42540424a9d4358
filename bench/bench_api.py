"""Latency of `POST /api/genre` for a 30-s clip (the first request, then 1 and 4 concurrent
clients) and of the workstation for a 1-minute file (the first file, then the tenth), over loopback.

Why: the sync API and the workstation run the model inside the web process, so their latency is
what a CMS or an editor waits for, and it degrades when clients share the CPU. This bench starts
the real server the way a deployment does — gunicorn with the repository's gunicorn.conf.py, 2
sync workers (ACOUSTICSENSE_TORCH_THREADS=1 each, so two workers on two cores do not fight over
threads) — on a throwaway state folder (SQLite, the default starter model) and drives it from
this process with threads, one HTTP connection per request. Each web process loads and warms the
model when it starts (no cold start): the bench waits until /health says both are ready, then
times the very first requests before anything else has warmed them.

    .venv/bin/python bench/bench_api.py [--clients 1,4] [--requests 24] [--firsts 10] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import http.client
import http.cookies
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
from common import REPO, OtherLoad, bench_redis, cpu_description, describe, synthetic_signal

PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clip_wav(seconds: float = 30.0, sr: int = 22050) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, synthetic_signal(seconds, sr, seed=7), sr, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def multipart(audio: bytes, filename: str = "clip.wav") -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="{filename}"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    return head + audio + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def classify(port: int, token: str, body: bytes, content_type: str) -> tuple[float, dict]:
    """One request on a fresh connection; (client-side ms, JSON answer)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(
            "POST",
            "/api/genre?top_k=5",
            body=body,
            headers={"Authorization": f"Token {token}", "Content-Type": content_type},
        )
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")
    return elapsed, json.loads(payload)


def wait_until_warm(port: int, processes: int, timeout_s: float = 300) -> float:
    """Seconds until /health has answered "ready" from ``processes`` distinct web processes."""
    started = time.monotonic()
    ready: set[int] = set()
    while len(ready) < processes:
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"only {len(ready)} of {processes} web processes warmed within {timeout_s:.0f} s")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/health")
            model = json.loads(conn.getresponse().read())["model"]
        finally:
            conn.close()
        if model["warm_up"] == "ready":
            ready.add(model["pid"])
        elif model["warm_up"] in ("failed", "no_model"):
            raise RuntimeError(f"web process {model['pid']} did not warm: {model['warm_up']}")
        time.sleep(0.2)
    return time.monotonic() - started


class Session:
    """A signed-in admin user over plain HTTP: the cookies and the CSRF token a browser would send."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.port, self.cookies = port, http.cookies.SimpleCookie()
        page = self._request("GET", "/admin/login/").decode()
        token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"}
        ).encode()
        self._request("POST", "/admin/login/", form, {"Content-Type": "application/x-www-form-urlencoded"})
        if "sessionid" not in self.cookies:
            raise RuntimeError("could not sign in to the admin")

    def _request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            cookie = "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())
            conn.request(method, path, body=body, headers={**(headers or {}), "Cookie": cookie})
            response = conn.getresponse()
            payload = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                self.cookies.load(header)
        finally:
            conn.close()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {payload[:300]!r}")
        return payload

    def workstation(self, body: bytes, content_type: str) -> float:
        """One workstation analysis (Top-5 and the three images); client-side ms."""
        started = time.perf_counter()
        answer = json.loads(
            self._request(
                "POST",
                "/admin/review/workstation/analyse/",
                body,
                {"Content-Type": content_type, "X-CSRFToken": self.cookies["csrftoken"].value},
            )
        )
        if len(answer.get("images", {})) != 3:
            raise RuntimeError(f"the workstation answered without its images: {sorted(answer)}")
        return (time.perf_counter() - started) * 1000


def firsts(timed: Callable[[], float], n: int) -> dict[str, float]:
    """The first of ``n`` requests in a row, the tenth (or last), and the median of the others."""
    ms = [timed() for _ in range(n)]
    return {"first": ms[0], "tenth": ms[min(9, n - 1)], "others_p50": statistics.median(ms[1:]) if n > 1 else ms[0]}


def run_level(port: int, token: str, body: bytes, content_type: str, clients: int, total: int) -> dict:
    client_ms: list[float] = []
    server_ms: list[float] = []
    lock = threading.Lock()
    per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]

    def client(n: int) -> None:
        for _ in range(n):
            elapsed, answer = classify(port, token, body, content_type)
            with lock:
                client_ms.append(elapsed)
                server_ms.append(answer["latency_ms"])

    # The server's workers are our children but not reaped, so OtherLoad would count them as
    # "others" during the run: sample the neighbours for a second just before, with the server idle.
    with OtherLoad() as load:
        time.sleep(1.0)
    threads = [threading.Thread(target=client, args=(n,)) for n in per_client]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if len(client_ms) != total:
        raise RuntimeError("some requests failed")
    return {
        "clients": clients,
        "requests": total,
        "p50": float(np.percentile(client_ms, 50)),
        "p95": float(np.percentile(client_ms, 95)),
        "server_p50": statistics.median(server_ms),
        "rps": total / wall,
        "other": describe(load.cores).replace(" meanwhile", ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--requests", type=int, default=24, help="timed requests per concurrency level")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--firsts", type=int, default=10, help="requests in a row timed from the very first")
    parser.add_argument(
        "--redis-url",
        default=None,
        help="a Redis DB the bench may use (default: a redis-server of its own on a free port)",
    )
    args = parser.parse_args()
    print(cpu_description())
    with bench_redis(args.redis_url) as redis_url:
        bench(args, redis_url)


def bench(args: argparse.Namespace, redis_url: str) -> None:

    state = Path(tempfile.mkdtemp(prefix="bench-api-"))
    port = free_port()
    env = {
        **os.environ,
        "ACOUSTICSENSE_VAR_DIR": str(state),
        "DATABASE_URL": f"sqlite:///{state / 'db.sqlite3'}",
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "acousticsense_site.settings",
        "ACOUSTICSENSE_TORCH_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        "DEBUG": "0",
        "ACOUSTICSENSE_API_CLASSIFY_RATE": "100000/min",
        "ALLOWED_HOSTS": "127.0.0.1",
        "HTTPS": "0",
    }

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PYTHON, "manage.py", *args], cwd=REPO, env=env, check=True, capture_output=True, text=True
        )

    manage("migrate", "-v", "0")
    manage("ensure_default_model")
    token = (
        manage(
            "shell",
            "-c",
            "from catalog.api.clients import api_client_create; print(api_client_create(name='bench')[1])",
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; User.objects.create_superuser('bench', password='bench-pw')",
    )
    server = subprocess.Popen(
        [
            GUNICORN,
            "acousticsense_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.3)
        warm_s = wait_until_warm(port, args.workers)
        print(
            f"{args.workers} web processes warmed their model {warm_s:.1f} s after /health first answered",
            file=sys.stderr,
        )
        body, content_type = multipart(clip_wav())
        api_firsts = firsts(lambda: classify(port, token, body, content_type)[0], args.firsts)
        minute, minute_type = multipart(clip_wav(60.0), "minute.wav")
        session = Session(port, "bench", "bench-pw")
        workstation_firsts = firsts(lambda: session.workstation(minute, minute_type), args.firsts)
        rows = [
            run_level(port, token, body, content_type, clients=int(c), total=args.requests)
            for c in args.clients.split(",")
        ]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(
        f"\nServer: gunicorn {args.workers} sync workers (gunicorn.conf.py: the model warmed at start), torch "
        f"threads 1 per worker, the default model (the starter vit_tiny), loopback. POST /api/genre: a 30-s "
        f"22.05 kHz mono WAV (1.3 MB), top_k=5; the workstation: a 1-min one. Client-side ms per request:\n"
    )
    print(f"| from process start ({args.firsts} in a row, 1 client) | first ms | tenth ms | p50 of the others ms |")
    print("|---|---:|---:|---:|")
    for name, r in (
        ("`POST /api/genre`, 30-s clip", api_firsts),
        ("workstation, 1-min file (Top-5 + 3 images)", workstation_firsts),
    ):
        print(f"| {name} | {r['first']:.0f} | {r['tenth']:.0f} | {r['others_p50']:.0f} |")
    print()
    print("| concurrent clients | requests | p50 ms | p95 ms | server-side p50 ms | requests/s | just before |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['clients']} | {r['requests']} | {r['p50']:.0f} | {r['p95']:.0f} | {r['server_p50']:.0f} | "
            f"{r['rps']:.2f} | {r['other']} |"
        )


if __name__ == "__main__":
    main()
