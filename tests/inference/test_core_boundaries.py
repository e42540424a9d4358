"""The inference core runs from a CLI or a benchmark without Django; upload checks stay light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return {name.split(".")[0] for name in out.stdout.split()}


def test_the_engine_and_every_public_name_load_without_django():
    loaded = _modules_after(
        "import inference.engine as engine\nassert all(getattr(engine, name) is not None for name in engine.__all__)"
    )
    assert "torch" in loaded
    assert not loaded & {"django", "rest_framework", "rq", "django_rq", "redis", "catalog", "review"}


def test_every_engine_module_loads_without_django():
    modules = sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for path in (REPO / "inference" / "engine").rglob("*.py")
        if path.name != "__init__.py"
    )
    assert "inference.engine.datatypes" in modules and "inference.engine.teacher.yamnet" in modules
    loaded = _modules_after("import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules))
    assert not loaded & {"django", "rest_framework", "rq", "django_rq", "redis", "catalog", "review"}


def test_the_inference_package_holds_only_django_wiring():
    """Django-free code belongs in the engine: a module at inference/'s top level that imports no
    Django (or DRF, RQ) is in the wrong place."""
    wiring = ("django", "rest_framework", "rq", "django_rq", "drf_spectacular", "catalog", "review")
    misplaced = [
        path.name
        for path in (REPO / "inference").glob("*.py")
        if path.name != "__init__.py"
        and not any(f"from {w}" in path.read_text() or f"import {w}" in path.read_text() for w in wiring)
    ]
    assert misplaced == []


def test_validating_an_upload_does_not_load_torch():
    loaded = _modules_after("import inference.engine.audio, inference.engine.errors, inference.engine.features")
    assert "numpy" in loaded and "torch" not in loaded and "librosa" not in loaded
