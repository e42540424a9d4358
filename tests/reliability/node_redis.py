"""A redis-server of one test's own, for tests that kill or restart Redis (never the shared test
Redis: other tests' queues would go with it)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from acousticsense_site.localredis import free_port, start_redis


class NodeRedis:
    """Append-only in ``data_dir`` when ``persist`` (a restart keeps the queues), else in memory
    (a restart comes back empty)."""

    def __init__(self, data_dir: Path, *, persist: bool = True) -> None:
        self.port, self.data_dir, self.persist = free_port(), data_dir, persist
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = start_redis(
            port=self.port, data_dir=self.data_dir, persist=self.persist, log_file=self.data_dir / "redis.log"
        )

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def queues_on_own_redis(tmp_path: Path, settings: object, *, persist: bool) -> Iterator[NodeRedis]:
    """Body of a fixture: start the node, make this process (the web node that ingests) queue on it."""
    node = NodeRedis(tmp_path / "redis", persist=persist)
    node.start()
    settings.RQ_QUEUES = {name: {"URL": node.url, "DEFAULT_TIMEOUT": 600} for name in ("default", "inference")}
    yield node
    node.kill()


def worker_env_on(worker_env: dict[str, str], node: NodeRedis) -> dict[str, str]:
    # Both: tests/settings.py gives ACOUSTICSENSE_TEST_REDIS_URL precedence in every process it loads in.
    return dict(worker_env, REDIS_URL=node.url, ACOUSTICSENSE_TEST_REDIS_URL=node.url)
