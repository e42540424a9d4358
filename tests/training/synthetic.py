"""Tiny synthetic genres with distinct timbres: low tones, high tones and noise bursts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
TIMBRES = ("low", "high", "noise")


def timbre(kind: str, seed: int, seconds: float = 3.0, sr: int = SR) -> np.ndarray:
    """A few seconds of one timbre; the seed varies pitch, level and rhythm within the kind."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    level = rng.uniform(0.2, 0.5)
    if kind == "low":
        f0 = rng.uniform(110, 260)
        signal = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in (1, 2, 3))
    elif kind == "high":
        f0 = rng.uniform(2500, 5000)
        signal = np.sin(2 * np.pi * f0 * t) + 0.3 * np.sin(2 * np.pi * 1.5 * f0 * t)
    elif kind == "noise":
        rate = rng.uniform(2, 6)  # bursts per second
        envelope = (np.sin(2 * np.pi * rate * t + rng.uniform(0, 6)) > 0.3).astype(float)
        signal = rng.standard_normal(len(t)) * envelope
    else:
        raise ValueError(kind)
    signal = signal / (np.abs(signal).max() or 1.0)
    return (level * signal).astype(np.float32)


def write_clip(path: Path, kind: str, seed: int, seconds: float = 3.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, timbre(kind, seed, seconds), SR, format="WAV")
    return path
