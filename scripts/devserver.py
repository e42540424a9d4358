"""Run AcousticSense on one machine: Redis (if none answers), migrations, a local admin,
a default model, one RQ worker and the web server. Ctrl-C stops everything it started.

Started by scripts/run.sh after the virtual environment is ready.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from acousticsense_site.localredis import free_port, local_port, port_is_free, redis_reachable, start_redis  # noqa: E402

PYTHON = sys.executable
MANAGE = [PYTHON, str(ROOT / "manage.py")]


def log(message: str) -> None:
    print(f"[acousticsense] {message}", flush=True)


def manage(*args: str) -> None:
    subprocess.run([*MANAGE, *args], check=True, cwd=ROOT)


def ensure_redis(var_dir: Path) -> subprocess.Popen | None:
    """Use the Redis at REDIS_URL when it answers; otherwise start one we own."""
    url = os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_reachable(url):
        log(f"Using the Redis at {url}")
        return None
    port = local_port(url)
    if port is None:
        raise SystemExit(f"REDIS_URL={url} does not answer and is not on this machine; start it or unset REDIS_URL.")
    if not port_is_free(port):
        port = free_port()
        os.environ["REDIS_URL"] = url = f"redis://127.0.0.1:{port}/0"
    log(f"Starting a local Redis at {url} (data in {var_dir / 'redis'})")
    return start_redis(port=port, data_dir=var_dir / "redis", log_file=var_dir / "redis" / "redis.log")


def wait_for_http(url: str, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The web server exited with code {process.returncode}.")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"The web server did not answer at {url} within {timeout_s:.0f} s.")


def stop(processes: list[tuple[str, subprocess.Popen]]) -> None:
    """Stop children newest first: web, then worker (finishes or requeues its job), then Redis."""
    for name, process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in 20 s; killing it")
                process.kill()
                process.wait()
        log(f"Stopped {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acousticsense_site.settings")
    var_dir = Path(os.environ.setdefault("ACOUSTICSENSE_VAR_DIR", str(ROOT / "var"))).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    port = args.port if port_is_free(args.port) else free_port()
    if port != args.port:
        log(f"Port {args.port} is busy; using {port}")

    processes: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        redis_process = ensure_redis(var_dir)
        if redis_process:
            processes.append(("redis", redis_process))
        log("Applying migrations")
        manage("migrate", "--noinput", "-v", "0")
        manage("collectstatic", "--noinput", "-v", "0")
        manage("ensure_default_model")
        # Children get their own session so Ctrl-C reaches only us, and we stop them in order.
        worker = subprocess.Popen([*MANAGE, "run_worker"], cwd=ROOT, start_new_session=True)
        processes.append(("worker", worker))
        web = subprocess.Popen(
            [*MANAGE, "runserver", f"{args.host}:{port}", "--noreload", "--skip-checks"],
            cwd=ROOT,
            start_new_session=True,
        )
        processes.append(("web", web))
        url = f"http://{args.host}:{port}/"
        wait_for_http(f"{url}health", web)
        manage("ensure_local_admin", "--url", f"{url}admin/")
        log("Press Ctrl-C to stop.")
        while True:
            for name, process in processes:
                if process.poll() is not None:
                    log(f"{name} exited with code {process.returncode}; stopping everything")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        log("Stopping")
        return 0
    except subprocess.CalledProcessError as error:
        log(f"Setup step failed: {' '.join(error.cmd[1:])}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop(processes)


if __name__ == "__main__":
    sys.exit(main())
