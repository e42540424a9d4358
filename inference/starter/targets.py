"""Per-recording cache of what distillation needs: the student's log-mel and the teacher's tags.

Each recording is decoded twice, once through the teacher's own front end (16 kHz, musicnn
windows of ≈3 s) and once exactly as the product decodes an upload, so the student learns from
the features it will see in production. Tag probabilities are cached raw (not as genres), so a
new tag → genre mapping needs no teacher run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..features import PreprocessingConfig
from ..teacher import mapping
from ..teacher.preprocess import HOP_LENGTH, SAMPLE_RATE, WINDOW_FRAMES

TEACHER_WINDOW_S = WINDOW_FRAMES * HOP_LENGTH / SAMPLE_RATE  # 2.992 s


@dataclass
class RecordingTargets:
    """The student's normalised log-mel [n_mels, frames] and the teacher's per-window tags."""

    mel: np.ndarray
    msd: np.ndarray  # (teacher windows, 50)
    mtt: np.ndarray  # (teacher windows, 50)

    def genre_scores(self) -> np.ndarray:
        """(teacher windows, genres) normalised genre scores under the current mapping."""
        return mapping.genre_scores({"MSD": self.msd, "MTT": self.mtt}).astype(np.float32)


def compute_targets(path: Path, *, teachers: dict[str, object], cfg: PreprocessingConfig,
                    max_duration_s: float = 3600.0) -> RecordingTargets:
    """Decode ``path`` for both models and run both teachers over every ≈3-s window (pool
    recordings may be longer than the 20 minutes the product accepts from an upload)."""
    from ..audio import load_audio
    from ..features import log_mel, normalise
    from ..teacher.musicnn import tag_probabilities
    from ..teacher.preprocess import teacher_windows

    decoded = load_audio(path, target_sr=cfg.sample_rate, max_duration_s=max_duration_s)
    mel = normalise(log_mel(decoded.samples, cfg), cfg).astype(np.float16)
    windows = teacher_windows(path)
    return RecordingTargets(mel=mel, msd=tag_probabilities(teachers["MSD"], windows),
                            mtt=tag_probabilities(teachers["MTT"], windows))


def save_targets(targets: RecordingTargets, path: Path) -> None:
    """Write atomically, so an interrupted build never leaves a half cache entry behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, mel=targets.mel, msd=targets.msd, mtt=targets.mtt)
    os.replace(partial, path)


def load_targets(path: Path) -> RecordingTargets:
    with np.load(path) as data:
        return RecordingTargets(mel=data["mel"], msd=data["msd"], mtt=data["mtt"])


def crop_target(scores: np.ndarray, start_frame: int, cfg: PreprocessingConfig) -> np.ndarray:
    """The teacher's genre distribution for the student window starting at ``start_frame``:
    the mean over the teacher windows whose centres fall inside it (the nearest one if none)."""
    t0 = cfg.frames_to_seconds(start_frame)
    t1 = cfg.frames_to_seconds(start_frame + cfg.window_frames)
    centres = (np.arange(len(scores)) + 0.5) * TEACHER_WINDOW_S
    inside = (centres >= t0) & (centres < t1)
    if not inside.any():
        inside = np.zeros(len(scores), dtype=bool)
        inside[int(np.argmin(np.abs(centres - (t0 + t1) / 2)))] = True
    return scores[inside].mean(axis=0)
