"""Test-wide fixtures: a real Redis, the shared recordings, headless Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
pytest_plugins = ["tests.fixtures"]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    """../shared/audio (real recordings) exists beside a developer's checkout and in CI only."""
    audio = Path(os.environ.get("ACOUSTICSENSE_SHARED_DIR", ROOT.parent / "shared")) / "audio"
    if not audio.is_dir():
        pytest.skip(f"real recordings not found at {audio} (set ACOUSTICSENSE_SHARED_DIR)")
    return audio


@pytest.fixture
def redis_url(settings) -> str:
    """The real Redis the tests use (see tests/settings.py), emptied for each test."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    return settings.REDIS_URL


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium; .ci/run does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def browser(chromium_path: str, tmp_path: Path) -> Iterator[object]:
    """A Playwright page in Debian's Chromium; Playwright's own browser download is never used."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )  # Playwright gives each launch a fresh, empty profile
        page = instance.new_page(viewport={"width": 1366, "height": 768})
        try:
            yield page
        finally:
            instance.close()


@pytest.fixture
def artifacts_dir() -> Path:
    """Screenshots and images tests save for people to look at (kept after the run)."""
    path = Path(os.environ.get("ACOUSTICSENSE_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
