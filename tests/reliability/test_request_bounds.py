"""No anonymous request can make the server store more than a few MB (the audit's 1 GB POST to
/admin/login/ wrote ≈965 MB to the temp folder before the 403)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import pytest
import requests

from tests.fixtures import wav_bytes
from tests.reliability.conftest import figures

pytestmark = pytest.mark.slow


def declare_huge_body(url: str, path: str, headers: str = "") -> tuple[str, float]:
    """Send headers declaring a 1 GB body and 1 KB of it; return the status line and how long the
    server took to answer (it must answer without waiting for the rest)."""
    parts = urlparse(url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: {parts.hostname}\r\nContent-Length: {1 << 30}\r\n"
                f"Content-Type: multipart/form-data; boundary=x\r\n{headers}\r\n"
            ).encode()
            + b"x" * 1024
        )
        answer = sock.recv(4096).decode(errors="replace")
    return answer.splitlines()[0], time.monotonic() - started


def test_a_huge_anonymous_body_is_refused_from_its_declared_length(live_web):
    results = {path: declare_huge_body(live_web, path) for path in ("/admin/login/", "/api/v1/tracks/", "/api/genre")}
    figures(
        "anonymous bodies",
        tried=len(results),
        refused_413=sum(" 413 " in s for s, _ in results.values()),
        slowest_s=round(max(t for _, t in results.values()), 2),
    )
    for path, (status_line, seconds) in results.items():
        assert " 413 " in status_line, (path, status_line)
        assert seconds < 10, (path, seconds)


def test_an_api_client_may_still_upload_a_large_file(live_web, cms_headers, tiny_model_version):
    audio = wav_bytes(seconds=100.0)  # 3.2 MB, above the anonymous limit
    assert len(audio) > 3_000_000
    response = requests.post(
        f"{live_web}/api/v1/tracks/", headers=cms_headers, files={"audio": ("long.wav", audio)}, timeout=60
    )
    assert response.status_code == 201, response.text
