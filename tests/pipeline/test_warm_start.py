"""No cold start: a serving process holds the active model before its first request, and again
after a promotion; the kernel it runs in follows ACOUSTICSENSE_INFERENCE_PRECISION."""

from __future__ import annotations

import time
from functools import partial

import pytest
from django.urls import reverse

from catalog.api.clients import api_client_create
from catalog.services import model_version_promote
from inference import runtime, serving
from inference.apps import serving_runserver
from inference.engine.checkpoint import create_random_checkpoint, save_checkpoint
from inference.engine.precision import choose_precision
from inference.registry import checkpoint_file, model_version_register
from inference.worker import AnalysisWorker
from tests.fixtures import GENRES16, TINY, register_tiny_model, wav_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def _forget_everything() -> None:
    serving.stop_warming()
    runtime._cached = None
    runtime._precisions.clear()
    serving._loads.clear()
    serving._loaded.clear()
    serving._precision.clear()
    serving._warm.update(state="off", error="", key=None)


@pytest.fixture(autouse=True)
def fresh_process(settings):
    """Each test is a process that has loaded nothing; fp32 unless a test says otherwise (fast)."""
    settings.INFERENCE_PRECISION = "fp32"
    settings.CONTENT_CHECK = False
    _forget_everything()
    yield
    _forget_everything()


@pytest.fixture
def api(redis_url):
    from rest_framework.test import APIClient

    return APIClient(), api_client_create(name="Warm CMS")[1]


def test_after_the_start_warm_up_the_first_request_loads_nothing(tiny_model_version, api):
    assert serving.warm_active_model(trigger="start") is True
    assert serving.process_status()["loads"] == {"start": 1}
    client, token = api
    for _ in range(3):
        response = client.post("/api/genre", {"audio": _upload()}, HTTP_AUTHORIZATION=f"Token {token}")
        assert response.status_code == 200, response.content
    status = serving.process_status()
    assert status["loads"] == {"start": 1} and status["warm_up"] == "ready"
    assert status["model_version"] == tiny_model_version.name and status["precision"] == "fp32"


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("clip.wav", wav_bytes(seconds=2.0), content_type="audio/wav")


def test_without_a_warm_up_the_first_request_pays_for_the_load(tiny_model_version, api):
    client, token = api
    assert client.post("/api/genre", {"audio": _upload()}, HTTP_AUTHORIZATION=f"Token {token}").status_code == 200
    assert serving.process_status()["loads"] == {"request": 1}


def test_no_active_model_or_a_missing_checkpoint_is_logged_and_the_process_serves_on(
    settings, tmp_path, client, caplog
):
    assert serving.warm_active_model(trigger="start") is False
    assert serving.process_status()["warm_up"] == "no_model"
    version = register_tiny_model(settings, tmp_path)
    checkpoint_file(version).unlink()
    with caplog.at_level("WARNING", logger="inference.serving"):
        assert serving.warm_active_model(trigger="start") is False
    assert "Could not warm the active model" in caplog.text
    status = serving.process_status()
    assert status["warm_up"] == "failed" and status["warm_up_error"] and status["loads"] == {}
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["model"]["warm_up"] == "failed"


def test_a_promotion_is_loaded_in_the_background_before_anyone_asks(settings, tmp_path, tiny_model_version):
    thread = serving.warm_on_start(server="test", interval_s=120)  # only the promotion's wake-up can load it
    assert serving.warm_on_start(server="test") is thread  # once per process
    assert serving.wait_until_warm(60) == "ready"
    path = settings.MODELS_DIR / "next.safetensors"
    save_checkpoint(create_random_checkpoint(labels=GENRES16, preprocessing=TINY, seed=9), path)
    following = model_version_register(path=path, name="next")
    model_version_promote(model_version=following, override_reason="test: untrained on purpose")
    deadline = time.monotonic() + 60
    while serving.process_status()["model_version"] != "next" and time.monotonic() < deadline:
        time.sleep(0.1)
    status = serving.process_status()
    assert status["model_version"] == "next" and status["loads"] == {"start": 1, "promotion": 1}


@pytest.mark.parametrize("forced", ["fp32", "bf16"])
def test_the_setting_forces_the_precision_of_every_model_the_process_loads(settings, tiny_model_version, forced):
    settings.INFERENCE_PRECISION = forced
    model = runtime.model_for(tiny_model_version)
    assert model.precision == forced
    choice = runtime.inference_precision()
    assert (choice.precision, choice.reason) == (forced, "forced by the setting")


def test_auto_on_a_cpu_without_bf16_instructions_loads_fp32(settings, tiny_model_version, monkeypatch):
    settings.INFERENCE_PRECISION = "auto"
    monkeypatch.setattr(runtime, "choose_precision", partial(choose_precision, has_bf16=lambda: False))
    assert runtime.model_for(tiny_model_version).precision == "fp32"
    assert "no avx512_bf16" in runtime.inference_precision().reason


def test_each_workers_precision_is_in_its_registry_entry_and_on_the_pipeline_page(
    settings, redis_url, client, django_user_model
):
    import django_rq

    settings.INFERENCE_PRECISION = "bf16"
    runtime.inference_precision()
    queue = django_rq.get_queue("inference")
    worker = AnalysisWorker([queue], connection=queue.connection)
    worker.register_birth()
    try:
        client.force_login(django_user_model.objects.create_superuser("lead", "lead@example.com", "pw"))
        page = client.get(reverse("pipeline")).content.decode()
    finally:
        worker.register_death()
    row = page[page.index('id="workers"') : page.index('id="web-process"')]
    assert worker.name in row and "<strong>bf16</strong>" in row and "forced by the setting" in row
    web = page[page.index('id="web-process"') :]
    assert "precision <strong>bf16</strong> (forced by the setting)" in web and "model not loaded" in web


def test_health_answers_at_once_and_says_what_this_process_holds(client, tiny_model_version):
    assert client.get("/health").json()["model"]["warm_up"] == "off"
    serving.warm_active_model(trigger="start")
    model = client.get("/health").json()["model"]
    assert model["warm_up"] == "ready" and model["model_version"] == "tiny" and model["loads"] == {"start": 1}


@pytest.mark.parametrize(
    ("argv", "environ", "serving_here"),
    [
        (["manage.py", "runserver", "--noreload"], {}, True),
        (["manage.py", "runserver", "0:8000"], {"RUN_MAIN": "true"}, True),  # the autoreloader's child
        (["manage.py", "runserver", "0:8000"], {}, False),  # the autoreloader itself serves nothing
        (["manage.py", "migrate"], {}, False),
        (["manage.py", "shell"], {"RUN_MAIN": "true"}, False),
        (["pytest", "tests"], {}, False),
    ],
)
def test_only_the_dev_servers_serving_process_warms_at_start(argv, environ, serving_here):
    assert serving_runserver(argv, environ) is serving_here
