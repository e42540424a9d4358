"""Shared fixtures: a tiny active model, ingest, and real worker processes against the test
database and Redis. Loaded for every test module by the root conftest (pytest_plugins)."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.contrib.auth.models import Group, Permission
from django.db import connection

from catalog.ingest import TrackMetadata, track_ingest
from catalog.models import Genre, ModelVersion, Track
from inference.engine.checkpoint import create_random_checkpoint, save_checkpoint
from inference.engine.datatypes import PreprocessingConfig
from inference.registry import model_version_register
from tests.factories import GENRES16

ROOT = Path(__file__).resolve().parents[1]
TINY = PreprocessingConfig(
    sample_rate=16000, n_fft=512, hop_length=256, n_mels=32, window_frames=64, window_hop_frames=64
)


def wav_bytes(seconds: float = 3.0, freq: float = 440.0, sr: int = 16000) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buffer = io.BytesIO()
    sf.write(buffer, (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV")
    return buffer.getvalue()


def database_url() -> str:
    """The test database as a URL, for processes the tests start."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def restore_data_migrations() -> None:
    """Transactional tests flush tables, data migrations included: put the taxonomy and roles back."""
    genres = importlib.import_module("catalog.migrations.0002_default_genres")
    for order, (name, description) in enumerate(genres.DEFAULT_GENRES, start=1):
        Genre.objects.get_or_create(
            slug=genres.slug_for(name), defaults={"name": name, "description": description, "order": order * 10}
        )
    roles = importlib.import_module("review.migrations.0002_roles")
    reviewer, _ = Group.objects.get_or_create(name="Reviewer")
    reviewer.permissions.set(
        [Permission.objects.get(content_type__app_label=app, codename=code) for app, code in roles.REVIEWER]
    )
    lead, _ = Group.objects.get_or_create(name="Editorial lead")
    lead.permissions.set(Permission.objects.filter(content_type__app_label__in=roles.LEAD_APPS))
    inference_views = importlib.import_module("inference.migrations.0003_leads_view_inference_logs")
    lead.permissions.add(
        *[
            Permission.objects.get(content_type__app_label=app, codename=code)
            for app, code in inference_views.LEAD_VIEWS
        ]
    )


def register_tiny_model(settings, tmp_path: Path, name: str = "tiny") -> ModelVersion:
    """A tiny untrained ViT over the 16 genres as the active model: a job takes well under a second."""
    settings.MODELS_DIR = tmp_path / "models"
    settings.MODELS_DIR.mkdir(exist_ok=True)
    path = settings.MODELS_DIR / f"{name}.safetensors"
    save_checkpoint(create_random_checkpoint(labels=GENRES16, preprocessing=TINY, seed=3), path)
    return model_version_register(path=path, name=name, activate=True)


@pytest.fixture
def default_genres(transactional_db) -> None:
    restore_data_migrations()


@pytest.fixture
def tiny_model_version(default_genres, settings, tmp_path) -> ModelVersion:
    return register_tiny_model(settings, tmp_path)


@pytest.fixture
def worker_env(settings, redis_url) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        ACOUSTICSENSE_MODELS_DIR=str(settings.MODELS_DIR),
        ACOUSTICSENSE_WORKER_HEARTBEAT_S="3",
    )
    return env


@pytest.fixture
def run_worker(worker_env) -> Callable[..., subprocess.CompletedProcess]:
    """Run `manage.py run_worker --burst` until the queues are empty."""

    def run(timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", "run_worker", "--burst"],
            cwd=ROOT,
            env=worker_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    return run


@pytest.fixture
def start_worker(worker_env) -> Iterator[Callable[[], subprocess.Popen]]:
    """Start long-running worker processes, each in its own process group; at the end every
    group is killed, so RQ's scheduler (forked from a worker, and left running when a test
    SIGKILLs that worker) never outlives the test holding a database connection."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--child"],
            cwd=ROOT,
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def ingest(tiny_model_version) -> Callable[..., Track]:
    def make(data: bytes | None = None, name: str = "clip.wav", **metadata: str) -> Track:
        data = data or wav_bytes(freq=float(np.random.default_rng().integers(200, 2000)))
        return track_ingest(stream=io.BytesIO(data), original_filename=name, metadata=TrackMetadata(**metadata)).track

    return make


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


REVIEWER_PASSWORD = "review-me"


@pytest.fixture
def reviewer(default_genres):
    """rita, a Reviewer (staff, review and nothing more), with a password for browser logins."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("rita", password=REVIEWER_PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Reviewer"))
    return user


def browser_log_in(page, base_url: str, next_path: str, username: str, password: str = REVIEWER_PASSWORD) -> None:
    """Sign in through the admin's login form, landing on `next_path`."""
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
