"""Fixtures for the musicnn teacher port: the shared teacher files, loaded once per session.

``shared/teacher`` (the Keras HDF5 files and reference outputs) and ``shared/audio`` sit beside
a developer's checkout and CI's; elsewhere these tests skip and say where they looked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
TEACHERS = ("MSD", "MTT")


def shared_dir() -> Path:
    return Path(os.environ.get("ACOUSTICSENSE_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def teacher_dir() -> Path:
    teacher = shared_dir() / "teacher"
    if not (teacher / "MSD_musicnn.h5").is_file() or not (teacher / "MTT_musicnn.h5").is_file():
        pytest.skip(f"musicnn teacher files not found in {teacher} (set ACOUSTICSENSE_SHARED_DIR)")
    return teacher


@pytest.fixture(scope="session")
def references(teacher_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    """NAME → the reference arrays computed with the original Keras models."""
    paths = sorted((teacher_dir / "reference").glob("*.npz"))
    if not paths:
        pytest.skip(f"no reference outputs in {teacher_dir / 'reference'}")
    out = {}
    for path in paths:
        with np.load(path) as data:
            out[path.stem] = {key: data[key] for key in data.files}
    return out


@pytest.fixture(scope="session")
def teachers(teacher_dir: Path) -> dict[str, tuple[object, list[str]]]:
    """ "MSD"/"MTT" → (fast model, labels) from the HDF5 releases, each loaded once."""
    from inference.engine.teacher.musicnn import load_musicnn

    return {name: load_musicnn(teacher_dir / f"{name}_musicnn.h5") for name in TEACHERS}


@pytest.fixture(scope="session")
def replayed_teachers(teacher_dir: Path) -> dict[str, object]:
    """ "MSD"/"MTT" → the node-by-node KerasGraph replay: the reference the fast module must match."""
    from inference.engine.teacher.musicnn import load_musicnn

    return {name: load_musicnn(teacher_dir / f"{name}_musicnn.h5", replay=True)[0] for name in TEACHERS}


@pytest.fixture(scope="session")
def recording_windows() -> Callable[[str], np.ndarray]:
    """NAME → teacher windows of shared/audio/NAME.ogg, computed once per recording."""
    from inference.engine.teacher.preprocess import teacher_windows

    cache: dict[str, np.ndarray] = {}

    def windows(name: str) -> np.ndarray:
        if name not in cache:
            path = shared_dir() / "audio" / f"{name}.ogg"
            if not path.is_file():
                pytest.skip(f"recording {path} not found")
            cache[name] = teacher_windows(path)
        return cache[name]

    return windows
