"""The teacher ensemble's genre distribution for one recording: what adaptation trains a student on.

musicnn (MSD + MTT, ≈3-s windows) and YAMNet (0.975-s frames every 0.48 s) run over the same
16 kHz mono samples; each teacher's scores are mapped to the 16 genres (mapping v2,
``mapping.ENSEMBLE_VERSION``) and mixed with ``TeacherWeights`` per musicnn window (the YAMNet
frames centred inside it). The clip-level target is the mean of those window distributions,
renormalised. Windows where no teacher names any genre count as no signal, not as "none of the
genres". Each teacher's own per-window genre scores are kept too, so other weights can be tried
without running the teachers again.

No Django: takes samples and loaded teachers, returns a dataclass. Torch is imported by the
teachers' modules, not here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import mapping
from .preprocess import HOP_LENGTH, SAMPLE_RATE, WINDOW_FRAMES

TEACHER_SAMPLE_RATE = 16000
TEACHER_WINDOW_S = WINDOW_FRAMES * HOP_LENGTH / SAMPLE_RATE  # 2.992 s
YAMNET_HOP_S = 7680 / SAMPLE_RATE  # 0.48 s
YAMNET_FRAME_S = 15600 / SAMPLE_RATE  # 0.975 s


def yamnet_on_windows(frame_scores: np.ndarray, n_windows: int) -> np.ndarray:
    """(n_windows, genres): per musicnn window, the mean of the YAMNet frames centred inside it
    (the nearest frame when none is)."""
    centres = np.arange(len(frame_scores)) * YAMNET_HOP_S + YAMNET_FRAME_S / 2
    out = np.zeros((n_windows, frame_scores.shape[1]), dtype=np.float64)
    for window in range(n_windows):
        t0, t1 = window * TEACHER_WINDOW_S, (window + 1) * TEACHER_WINDOW_S
        inside = (centres >= t0) & (centres < t1)
        if n_windows == 1 or not inside.any():
            inside = (
                np.ones(len(centres), dtype=bool)
                if n_windows == 1
                else (np.arange(len(centres)) == int(np.argmin(np.abs(centres - (t0 + t1) / 2))))
            )
        out[window] = frame_scores[inside].mean(axis=0)
    return out


@dataclass
class TeacherTargets:
    """One recording's ensemble target: per musicnn window and for the whole clip (rows over ``genres``)."""

    mapping_version: str
    weights: dict[str, float]
    genres: list[str]
    window_s: float  # length (and hop) of a window: 2.992 s
    clip: np.ndarray = field(repr=False)  # (genres,) sums to 1, or all 0 when no teacher named a genre
    windows: np.ndarray = field(repr=False)  # (windows, genres): the ensemble per window
    musicnn: np.ndarray = field(repr=False)  # (windows, genres): musicnn's own normalised scores
    yamnet: np.ndarray = field(repr=False)  # (windows, genres): YAMNet's, on the same windows
    seconds: float = 0.0  # time the teachers took

    @property
    def has_signal(self) -> bool:
        return bool(self.clip.sum() > 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (floats rounded to 6 places)."""

        def rows(a: np.ndarray) -> list:
            return np.round(np.asarray(a, dtype=np.float64), 6).tolist()

        return {
            "mapping_version": self.mapping_version,
            "weights": dict(self.weights),
            "genres": list(self.genres),
            "window_s": self.window_s,
            "clip": rows(self.clip),
            "windows": rows(self.windows),
            "musicnn": rows(self.musicnn),
            "yamnet": rows(self.yamnet),
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TeacherTargets:
        n = len(data["genres"])

        def array(key: str) -> np.ndarray:
            return np.asarray(data[key], dtype=np.float64).reshape(-1, n)

        return cls(
            str(data["mapping_version"]),
            dict(data["weights"]),
            list(data["genres"]),
            float(data["window_s"]),
            np.asarray(data["clip"], dtype=np.float64).reshape(n),
            array("windows"),
            array("musicnn"),
            array("yamnet"),
            float(data.get("seconds", 0.0)),
        )


def clip_distribution(window_scores: np.ndarray) -> np.ndarray:
    """Mean of the windows that carry a signal, renormalised; all zeros when none does."""
    rows = np.asarray(window_scores, dtype=np.float64)
    live = rows.sum(axis=1) > 0
    if not live.any():
        return np.zeros(rows.shape[1])
    mean = rows[live].mean(axis=0)
    return mean / mean.sum()


def ensemble_targets(
    musicnn_tags: Mapping[str, np.ndarray],
    yamnet_frames: np.ndarray,
    weights: mapping.TeacherWeights = mapping.TeacherWeights(),
) -> TeacherTargets:
    """The targets from raw teacher outputs: {"MSD", "MTT"} tag probabilities per window and
    YAMNet's 521 class scores per frame."""
    musicnn = mapping.genre_scores(musicnn_tags)
    yamnet = (
        yamnet_on_windows(mapping.yamnet_genre_scores(yamnet_frames), len(musicnn))
        if len(yamnet_frames)
        else np.zeros_like(musicnn)
    )
    windows = mapping.ensemble_scores(musicnn, yamnet, weights)
    return TeacherTargets(
        mapping.ENSEMBLE_VERSION,
        weights.as_dict(),
        list(mapping.GENRES),
        TEACHER_WINDOW_S,
        clip_distribution(windows),
        windows,
        musicnn,
        yamnet,
    )


def teacher_targets(
    samples_16k: np.ndarray,
    *,
    musicnn: Mapping[str, Any],
    yamnet: Any,
    weights: mapping.TeacherWeights = mapping.TeacherWeights(),
) -> TeacherTargets:
    """Run both teachers over mono 16 kHz samples (``musicnn``: {"MSD", "MTT"} → loaded tagger,
    as ``musicnn.load_shipped_musicnn`` gives; ``yamnet``: ``yamnet.load_yamnet()``)."""
    from .musicnn import tag_audio_both
    from .yamnet import yamnet_scores

    started = time.perf_counter()
    samples = np.asarray(samples_16k, dtype=np.float32)
    tags = tag_audio_both(samples, dict(musicnn), sample_rate=TEACHER_SAMPLE_RATE)
    _, frames = yamnet_scores(yamnet, samples)
    targets = ensemble_targets(tags, frames, weights)
    targets.seconds = time.perf_counter() - started
    return targets


def reweighted(targets: TeacherTargets, weights: mapping.TeacherWeights) -> TeacherTargets:
    """The same recording under other teacher weights (no teacher run: from the stored per-teacher scores)."""
    windows = mapping.ensemble_scores(targets.musicnn, targets.yamnet, weights)
    return TeacherTargets(
        targets.mapping_version,
        weights.as_dict(),
        list(targets.genres),
        targets.window_s,
        clip_distribution(windows),
        windows,
        targets.musicnn,
        targets.yamnet,
        targets.seconds,
    )


def over_labels(distribution: np.ndarray, genres: Sequence[str], labels: Sequence[str]) -> np.ndarray | None:
    """A distribution over ``genres`` (last axis) re-expressed over ``labels``: genres a model does not
    have are dropped, labels the teachers do not know get 0, rows are renormalised. None when no
    row keeps any mass (nothing to learn from for these labels)."""
    index = {name: i for i, name in enumerate(genres)}
    source = np.asarray(distribution, dtype=np.float64)
    out = np.zeros((*source.shape[:-1], len(labels)))
    for j, name in enumerate(labels):
        if name in index:
            out[..., j] = source[..., index[name]]
    total = out.sum(axis=-1, keepdims=True)
    if not (total > 0).any():
        return None
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


# --- the teachers recalibrated to a platform's labels ----------------------------------------
#
# On music unlike what they were trained on (synthetic MIDI grooves: 15 % top-1 over 13 genres),
# the teachers' genre mapping is a poor target, but what they hear still separates the genres:
# a multinomial logistic regression from each teacher's 16 clip-level genre scores to the
# platform's labels, fitted on the labelled tracks, gives better targets for the unlabelled ones
# (bench/bench_adaptation.py). Only the clip level is calibrated.


def teacher_features(targets: TeacherTargets) -> np.ndarray:
    """(32,): musicnn's then YAMNet's clip-level genre scores (means over the windows)."""

    def mean(rows: np.ndarray) -> np.ndarray:
        return rows.mean(axis=0) if len(rows) else np.zeros(rows.shape[-1])

    return np.concatenate([mean(targets.musicnn), mean(targets.yamnet)])


@dataclass
class TeacherCalibration:
    """softmax(((features − mean) / scale) · weights + bias) over ``labels``."""

    labels: list[str]
    mean: np.ndarray = field(repr=False)
    scale: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)  # (features, labels)
    bias: np.ndarray = field(repr=False)
    l2: float = 0.1
    tracks: int = 0

    def distribution(self, features: np.ndarray) -> np.ndarray:
        z = ((np.asarray(features, dtype=np.float64) - self.mean) / self.scale) @ self.weights + self.bias
        z = z - z.max(axis=-1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=-1, keepdims=True)

    def facts(self) -> dict[str, Any]:
        return {
            "method": "logistic regression on the teachers' clip genre scores",
            "l2": self.l2,
            "labelled_tracks": self.tracks,
            "features": int(self.mean.shape[0]),
        }


def fit_teacher_calibration(
    features: np.ndarray,
    label_index: Sequence[int],
    labels: Sequence[str],
    *,
    l2: float = 0.1,
    steps: int = 3000,
    lr: float = 0.5,
) -> TeacherCalibration:
    """Fit the calibration on labelled tracks' ``teacher_features`` (full-batch gradient descent on
    the L2-regularised cross-entropy, standardised features; deterministic)."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(label_index, dtype=np.int64)
    if x.ndim != 2 or len(x) != len(y) or not len(y):
        raise ValueError("one feature row per labelled track is needed")
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    x = (x - mean) / scale
    onehot = np.eye(len(labels))[y]
    weights, bias = np.zeros((x.shape[1], len(labels))), np.zeros(len(labels))
    for _ in range(steps):
        z = x @ weights + bias
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot) / len(x)
        weights -= lr * (x.T @ grad + l2 * weights)
        bias -= lr * grad.sum(axis=0)
    return TeacherCalibration(list(labels), mean, scale, weights, bias, l2, len(y))
