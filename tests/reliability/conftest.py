"""Reliability tests run the product's real processes (gunicorn, `manage.py` commands, workers)
against the test database and Redis, as the audit did; each prints one line of figures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from acousticsense_site.localredis import free_port
from catalog.api.clients import api_client_create
from tests.fixtures import ROOT


@pytest.fixture(autouse=True)
def _taxonomy(default_genres) -> None:
    """Processes the tests start see the default genres, even after a transactional flush."""


def figures(name: str, **counts: object) -> None:
    """One line a person can read in the test log: what was tried, what held, what was lost."""
    print(f"\n[reliability] {name}: " + ", ".join(f"{key}={value}" for key, value in counts.items()))


@pytest.fixture
def live_web(worker_env, tmp_path) -> Iterator[str]:
    """gunicorn serving the product on a loopback port (4 sync workers), as in production."""
    port = free_port()
    env = dict(worker_env, ACOUSTICSENSE_API_RATE="100000/min", ACOUSTICSENSE_API_CLASSIFY_RATE="100000/min")
    log = tmp_path / "gunicorn.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "acousticsense_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "4",
            "--timeout",
            "120",
            "--log-level",
            "warning",
            "--error-logfile",
            str(log),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def stop() -> None:
        """The master and its workers: gracefully (database connections close), then for sure."""
        for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 30)):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=wait_s)
                return
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/admin/login/", timeout=5)
            break
        except (requests.ConnectionError, requests.Timeout) as error:
            if process.poll() is not None or time.monotonic() > deadline:
                stop()
                raise AssertionError(f"gunicorn did not start: {log.read_text() if log.exists() else ''}") from error
            time.sleep(0.3)
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def cms_headers(transactional_db) -> dict[str, str]:
    return {"Authorization": f"Token {api_client_create(name='Reliability CMS')[1]}"}


def logged_in_session(base_url: str, username: str, password: str) -> requests.Session:
    """A browser-like session signed in through the admin's login form (CSRF cookie and field)."""
    session = requests.Session()
    session.get(f"{base_url}/admin/login/", timeout=30)
    response = session.post(
        f"{base_url}/admin/login/?next=/admin/",
        timeout=30,
        allow_redirects=False,
        data={
            "username": username,
            "password": password,
            "next": "/admin/",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
    )
    assert response.status_code == 302, f"login of {username} failed: {response.status_code}"
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    return session
