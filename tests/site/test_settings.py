"""Settings come from the environment with safe defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from acousticsense_site.env import SettingsError, env_bool, env_int, env_list, env_megabytes, secret_key

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, acousticsense_site.settings as s; "
    "print(json.dumps({'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, 'engine': s.DATABASES['default']['ENGINE'], "
    "'db_name': str(s.DATABASES['default']['NAME']), 'db_host': s.DATABASES['default'].get('HOST'), "
    "'redis': s.REDIS_URL, 'rq': s.RQ_QUEUES['inference']['URL'], 'media': str(s.MEDIA_ROOT), "
    "'upload': s.MAX_UPLOAD_BYTES, 'checkpoint': s.MODEL_CHECKPOINT, 'key': s.SECRET_KEY}))"
)
SETTINGS_VARS = [
    "DATABASE_URL",
    "REDIS_URL",
    "MEDIA_ROOT",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "ACOUSTICSENSE_ENV",
    "ACOUSTICSENSE_MODEL_CHECKPOINT",
    "ACOUSTICSENSE_MAX_UPLOAD_MB",
]


def load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    clean["ACOUSTICSENSE_VAR_DIR"] = str(tmp_path / "var")
    return subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_defaults_are_safe_for_a_local_run(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["debug"] is False
    assert values["hosts"] == ["localhost", "127.0.0.1", "[::1]"]
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["db_name"] == str(tmp_path / "var" / "acousticsense.sqlite3")
    assert values["media"] == str(tmp_path / "var" / "media")
    assert values["redis"] == values["rq"] == "redis://127.0.0.1:6379/0"
    assert values["upload"] == 200 * 1024 * 1024


def test_a_generated_secret_key_is_kept_between_runs(tmp_path):
    first = json.loads(load_settings(tmp_path).stdout)["key"]
    second = json.loads(load_settings(tmp_path).stdout)["key"]
    assert len(first) >= 50 and first == second
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0


def test_the_environment_overrides_every_default(tmp_path):
    result = load_settings(
        tmp_path,
        DATABASE_URL="postgres://u:p@db.example:5433/as",
        REDIS_URL="redis://cache:6380/2",
        MEDIA_ROOT="/srv/media",
        DEBUG="yes",
        ALLOWED_HOSTS="a.example, b.example",
        SECRET_KEY="k" * 60,
        ACOUSTICSENSE_MODEL_CHECKPOINT="/models/genre.safetensors",
        ACOUSTICSENSE_MAX_UPLOAD_MB="50",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.postgresql"
    assert (values["db_host"], values["db_name"]) == ("db.example", "as")
    assert values["redis"] == values["rq"] == "redis://cache:6380/2"
    assert values["media"] == "/srv/media" and values["debug"] is True
    assert values["hosts"] == ["a.example", "b.example"]
    assert values["checkpoint"] == "/models/genre.safetensors"
    assert values["upload"] == 50 * 1024 * 1024 and values["key"] == "k" * 60


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = load_settings(tmp_path, ACOUSTICSENSE_ENV="production")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_a_malformed_value_names_the_setting(tmp_path):
    result = load_settings(tmp_path, DEBUG="maybe")
    assert result.returncode != 0 and "DEBUG='maybe' is not a boolean" in result.stderr


def test_an_unknown_default_model_is_refused_by_name(tmp_path):
    result = load_settings(tmp_path, ACOUSTICSENSE_DEFAULT_MODEL="pretrained")
    assert result.returncode != 0
    assert "ACOUSTICSENSE_DEFAULT_MODEL='pretrained': must be 'starter' or 'untrained'" in result.stderr


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("on", True), ("0", False), ("no", False), ("", False)]
)
def test_booleans(raw, expected):
    assert env_bool({"X": raw}, "X") is expected


def test_numbers_lists_and_sizes():
    assert env_int({}, "N", 7) == 7 and env_int({"N": "12"}, "N", 7) == 12
    with pytest.raises(SettingsError, match="not an integer"):
        env_int({"N": "twelve"}, "N", 7)
    with pytest.raises(SettingsError, match="below the minimum 1"):
        env_megabytes({"M": "0"}, "M", 10)
    assert env_list({"L": " a, ,b "}, "L", []) == ["a", "b"]
    assert env_list({}, "L", ["x"]) == ["x"]


def test_secret_key_from_the_environment_wins(tmp_path):
    assert secret_key({"SECRET_KEY": "given"}, production=True, var_dir=tmp_path) == "given"
    assert not (tmp_path / "secret_key").exists()


def test_an_unknown_inference_precision_is_refused_by_name(tmp_path):
    result = load_settings(tmp_path, ACOUSTICSENSE_INFERENCE_PRECISION="int8")
    assert result.returncode != 0
    assert "ACOUSTICSENSE_INFERENCE_PRECISION='int8': must be auto, fp32, bf16 or fp16" in result.stderr
