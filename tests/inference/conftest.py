"""Fixtures for the Django-free inference core: tiny configs, tiny models, synthetic audio.

Helpers are fixtures (not importable modules) so the tests work whether or not tests/ is a
package.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from inference.checkpoint import create_random_checkpoint, save_checkpoint
from inference.features import PreprocessingConfig
from inference.model import LoadedModel, load_model

GENRES = ["Blues", "Classical", "Country", "Disco", "Electronic", "Folk", "Hip-Hop", "Jazz",
          "Latin", "Metal", "Pop", "R&B", "Rap", "Reggae", "Rock", "World"]
# 32 mel rows × 64 frames (≈1 s at 16 kHz / hop 256): a 2×4 patch grid keeps vit_tiny fast.
TINY = PreprocessingConfig(sample_rate=16000, n_fft=512, hop_length=256, n_mels=32,
                           window_frames=64, window_hop_frames=64)


def _tone(seconds: float, sr: int, *, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="session")
def tone() -> Callable[..., np.ndarray]:
    """tone(seconds, sr, freq=440, amp=0.5) -> float32 sine."""
    return _tone


@pytest.fixture(scope="session")
def genres() -> list[str]:
    return list(GENRES)


@pytest.fixture(scope="session")
def tiny_cfg() -> PreprocessingConfig:
    return TINY


@pytest.fixture(scope="session")
def tiny_checkpoint_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_checkpoint(create_random_checkpoint(labels=GENRES, preprocessing=TINY, seed=1), path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint_path: Path) -> LoadedModel:
    return load_model(tiny_checkpoint_path, device="cpu")


@pytest.fixture
def write_audio(tmp_path: Path) -> Callable[..., Path]:
    """write_audio(name, samples [n] or [n, ch], sr, **soundfile kwargs) -> path in tmp_path."""

    def write(name: str, samples: np.ndarray, sr: int, **kwargs: object) -> Path:
        path = tmp_path / name
        sf.write(str(path), samples, sr, **kwargs)
        return path

    return write


@pytest.fixture(scope="session")
def recordings_dir() -> Path:
    """The real recordings: $ACOUSTICSENSE_SHARED_DIR/audio or <repo>/../shared/audio; skips if absent."""
    env = os.environ.get("ACOUSTICSENSE_SHARED_DIR")
    shared = Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared"
    audio = (shared / "audio").resolve()
    if not audio.is_dir():
        pytest.skip(f"real recordings not found at {audio} (set ACOUSTICSENSE_SHARED_DIR)")
    return audio
