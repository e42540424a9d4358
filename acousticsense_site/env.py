"""Parsing of environment settings, kept free of Django so it can be tested on its own."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A setting in the environment cannot be understood; the message names it."""


def env_bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off).")


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer.") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} is below the minimum {minimum}.")
    return value


def env_list(env: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    raw = env.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_megabytes(env: Mapping[str, str], name: str, default_mb: int) -> int:
    """Size limits are given in MB in the environment and used in bytes."""
    return env_int(env, name, default_mb, minimum=1) * 1024 * 1024


def secret_key(env: Mapping[str, str], *, production: bool, var_dir: Path) -> str:
    """SECRET_KEY from the environment; local runs generate one once and keep it in var/."""
    key = env.get("SECRET_KEY", "").strip()
    if key:
        return key
    if production:
        raise SettingsError("SECRET_KEY must be set when ACOUSTICSENSE_ENV=production.")
    key_file = var_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # Write-then-rename so two processes starting at once never read a half-written key.
    tmp = key_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(key)
    tmp.chmod(0o600)
    if key_file.exists():  # another process won the race: use its key
        tmp.unlink()
        return key_file.read_text().strip()
    tmp.replace(key_file)
    return key
