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

from inference.engine.checkpoint import create_random_checkpoint, save_checkpoint
from inference.engine.datatypes import PreprocessingConfig
from inference.engine.features import _REF_FLOOR_AT_2048
from inference.engine.model import LoadedModel, load_model
from tests.factories import GENRES16

# 32 mel rows × 64 frames (≈1 s at 16 kHz / hop 256): a 2×4 patch grid keeps vit_tiny fast.
TINY = PreprocessingConfig(
    sample_rate=16000, n_fft=512, hop_length=256, n_mels=32, window_frames=64, window_hop_frames=64
)


def _tone(seconds: float, sr: int, *, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="session")
def tone() -> Callable[..., np.ndarray]:
    """tone(seconds, sr, freq=440, amp=0.5) -> float32 sine."""
    return _tone


def _librosa_log_mel(samples: np.ndarray, cfg: PreprocessingConfig) -> np.ndarray:
    """The features every checkpoint was trained on, as librosa computes them (the reference)."""
    import librosa

    power = librosa.feature.melspectrogram(
        y=np.asarray(samples, dtype=np.float32),
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.max_frequency,
    )
    ref = max(float(power.max()), _REF_FLOOR_AT_2048 * (cfg.n_fft / 2048) ** 2)
    mel_db = librosa.power_to_db(power, ref=ref, amin=1e-20, top_db=None)
    return np.clip(mel_db, -cfg.top_db, 0.0).astype(np.float32)


def _music_like(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Chords changing every 2 s, a pulse, noise bursts and a quiet fade: every level from loud to silent."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    roots = 110.0 * 2 ** (rng.integers(0, 24, size=int(seconds // 2) + 1) / 12)[(t // 2.0).astype(int)]
    signal = sum(
        gain * np.sin(2 * np.pi * roots * ratio * t)
        for ratio, gain in ((1.0, 0.30), (1.26, 0.20), (1.5, 0.20), (2.0, 0.10), (4.0, 0.05))
    )
    signal = signal + np.exp(-30 * (t % 0.5)) * rng.standard_normal(t.size) * 0.25
    return (0.5 * signal * np.minimum(1.0, 4 * (1 - t / seconds)) ** 3).astype(np.float32)


@pytest.fixture(scope="session")
def librosa_log_mel() -> Callable[[np.ndarray, PreprocessingConfig], np.ndarray]:
    """librosa_log_mel(samples, cfg) -> float32 [n_mels, frames] dB: the reference for log_mel."""
    return _librosa_log_mel


@pytest.fixture(scope="session")
def music_like() -> Callable[..., np.ndarray]:
    """music_like(seconds, sr, seed=0) -> float32 chords + pulse + noise, fading to silence."""
    return _music_like


@pytest.fixture(scope="session")
def genres() -> list[str]:
    return list(GENRES16)


@pytest.fixture(scope="session")
def tiny_cfg() -> PreprocessingConfig:
    return TINY


@pytest.fixture(scope="session")
def tiny_checkpoint_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_checkpoint(create_random_checkpoint(labels=GENRES16, preprocessing=TINY, seed=1), path)
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
