"""The inference core runs from a CLI or a benchmark without Django; upload checks stay light."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
                         cwd=REPO, capture_output=True, text=True, check=True, timeout=120)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_the_whole_core_imports_without_django():
    loaded = _modules_after("import inference.analysis, inference.render, inference.checkpoint, inference.compat")
    assert "torch" in loaded and "django" not in loaded and "rest_framework" not in loaded


def test_validating_an_upload_does_not_load_torch():
    loaded = _modules_after("import inference.audio, inference.errors, inference.features")
    assert "numpy" in loaded and "torch" not in loaded and "librosa" not in loaded
