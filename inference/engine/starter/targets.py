"""Per-recording cache of what distillation needs: the student's log-mel and the teachers' outputs.

Each recording is decoded twice, once through the teachers' own front end (16 kHz; musicnn
windows of ≈3 s, YAMNet frames of 0.975 s every 0.48 s) and once exactly as the product decodes
an upload, so the student learns from the features it will see in production. Tag and class
probabilities are cached raw (not as genres), so a new mapping needs no teacher run. The
ensemble target of a musicnn window takes the YAMNet frames whose centres fall inside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datatypes import PreprocessingConfig
from ..teacher import mapping
from ..teacher.ensemble import TEACHER_WINDOW_S, yamnet_on_windows


@dataclass
class RecordingTargets:
    """The student's normalised log-mel [n_mels, frames] and the teacher's per-window tags."""

    mel: np.ndarray
    msd: np.ndarray  # (teacher windows, 50)
    mtt: np.ndarray  # (teacher windows, 50)
    yamnet: np.ndarray | None = None  # (YAMNet frames, 521), frames every YAMNET_HOP_S

    def genre_scores(
        self, *, ensemble: bool = False, weights: mapping.TeacherWeights = mapping.TeacherWeights()
    ) -> np.ndarray:
        """(musicnn windows, genres): musicnn's normalised genre scores, or with ``ensemble`` the
        v2 ensemble with YAMNet (mapping v2) on the same windows."""
        musicnn = mapping.genre_scores({"MSD": self.msd, "MTT": self.mtt})
        if not ensemble:
            return musicnn.astype(np.float32)
        if self.yamnet is None:
            raise ValueError("these targets were cached without YAMNet; delete them to recompute")
        yamnet = yamnet_on_windows(mapping.yamnet_genre_scores(self.yamnet), len(musicnn))
        return mapping.ensemble_scores(musicnn, yamnet, weights).astype(np.float32)


def compute_targets(
    path: Path,
    *,
    teachers: dict[str, object],
    cfg: PreprocessingConfig,
    yamnet: object | None = None,
    max_duration_s: float = 3600.0,
    excerpt_s: float | None = None,
) -> RecordingTargets:
    """Decode ``path`` for the student and the teachers and run every teacher over the recording
    (pool recordings may be longer than the 20 minutes the product accepts).

    With ``excerpt_s``, a longer recording is cut to that many seconds from its middle first, and
    the teachers hear the same excerpt (resampled from the student's decode): the pool's cost
    then grows with its number of recordings, not their length.
    """
    from ..audio import load_audio
    from ..features import log_mel, normalise
    from ..teacher.musicnn import tag_probabilities
    from ..teacher.preprocess import load_teacher_audio, split_windows, teacher_log_mel

    decoded = load_audio(path, target_sr=cfg.sample_rate, max_duration_s=max_duration_s)
    student = decoded.samples
    excerpted = excerpt_s is not None and student.size > excerpt_s * cfg.sample_rate
    if excerpted:
        length = int(excerpt_s * cfg.sample_rate)
        start = (student.size - length) // 2
        student = student[start : start + length]
    mel = normalise(log_mel(student, cfg), cfg).astype(np.float16)
    # Once, for both teachers (both read 16 kHz).
    samples = load_teacher_audio(student, cfg.sample_rate) if excerpted else load_teacher_audio(path)
    windows = split_windows(teacher_log_mel(samples))
    frames = None
    if yamnet is not None:
        from ..teacher.yamnet import yamnet_scores

        frames = yamnet_scores(yamnet, samples)[1].astype(np.float16)
    return RecordingTargets(
        mel=mel,
        msd=tag_probabilities(teachers["MSD"], windows),
        mtt=tag_probabilities(teachers["MTT"], windows),
        yamnet=frames,
    )


def save_targets(targets: RecordingTargets, path: Path) -> None:
    """Write atomically, so an interrupted build never leaves a half cache entry behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    extra = {} if targets.yamnet is None else {"yamnet": targets.yamnet}
    np.savez(partial, mel=targets.mel, msd=targets.msd, mtt=targets.mtt, **extra)
    os.replace(partial, path)


def load_targets(path: Path) -> RecordingTargets:
    with np.load(path) as data:
        return RecordingTargets(
            mel=data["mel"], msd=data["msd"], mtt=data["mtt"], yamnet=data["yamnet"] if "yamnet" in data.files else None
        )


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
