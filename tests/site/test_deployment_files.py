"""docker-compose.yml cannot run here (no Docker engine): keep it honest against the code."""

from __future__ import annotations

import re
from pathlib import Path

import dj_database_url
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
GPU = yaml.safe_load((ROOT / "docker-compose.gpu.yml").read_text())
SERVICES = COMPOSE["services"]


def settings_env_names() -> set[str]:
    """Every environment variable the settings module reads."""
    source = "".join((ROOT / "acousticsense_site" / name).read_text() for name in ("settings.py", "env.py"))
    return set(re.findall(r'(?:ENV|env)\.get\(\s*"([A-Z_]+)"', source)) | set(
        re.findall(r'env_\w+\(ENV, "([A-Z_]+)"', source)
    )


def command_words(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return command.split() if isinstance(command, str) else command


def test_the_four_services_of_a_deployment_are_there_with_healthchecks():
    assert set(SERVICES) == {"web", "worker", "redis", "postgres"}
    for name, service in SERVICES.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"


def test_every_app_variable_is_one_the_settings_read():
    known = settings_env_names()
    for name in ("web", "worker"):
        env = set(SERVICES[name]["environment"])
        assert env <= known, f"{name} sets variables the settings never read: {env - known}"
        assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "MEDIA_ROOT", "ACOUSTICSENSE_ENV"} <= env


def test_the_app_reaches_the_postgres_and_redis_services_by_name():
    env = SERVICES["web"]["environment"]
    database = dj_database_url.parse(env["DATABASE_URL"].replace("${POSTGRES_PASSWORD:-acousticsense}", "pw"))
    assert database["ENGINE"] == "django.db.backends.postgresql" and database["HOST"] == "postgres"
    assert database["NAME"] == SERVICES["postgres"]["environment"]["POSTGRES_DB"]
    assert database["USER"] == SERVICES["postgres"]["environment"]["POSTGRES_USER"]
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["ACOUSTICSENSE_ENV"] == "production"


def test_postgres_and_redis_keep_their_data_in_volumes():
    assert any(v.endswith(":/var/lib/postgresql/data") for v in SERVICES["postgres"]["volumes"])
    assert any(v.endswith(":/data") for v in SERVICES["redis"]["volumes"])
    assert "appendonly yes" in SERVICES["redis"]["command"]


def test_web_runs_gunicorn_on_our_wsgi_app_after_migrating():
    words = command_words("web")
    assert "gunicorn" in words and "acousticsense_site.wsgi:application" in words
    for command in ("migrate", "ensure_default_model"):
        assert command in words and command in get_commands()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile  # WhiteNoise serves what collectstatic gathered


def test_the_worker_runs_our_analysis_worker_and_its_healthcheck_exists():
    assert command_words("worker")[:3] == ["python", "manage.py", "run_worker"]
    healthcheck = SERVICES["worker"]["healthcheck"]["test"]
    assert healthcheck[1:3] == ["python", "manage.py"] and healthcheck[3] in get_commands()
    assert "run_worker" in get_commands()


def test_the_gpu_variant_reserves_a_gpu_for_workers_and_selects_cuda():
    worker = GPU["services"]["worker"]
    assert worker["environment"]["ACOUSTICSENSE_DEVICE"] == "cuda"
    device = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["capabilities"] == ["gpu"]
    assert "ACOUSTICSENSE_DEVICE" in settings_env_names()
