"""The engine's shared types: plain data that crosses module boundaries.

Nothing here imports the rest of the engine, so every engine module can depend on these types
without depending on each other (``render`` reads an ``AnalysisResult`` without importing the
analysis that makes one; ``checkpoint`` and ``model`` share ``ModelCheckpoint``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

NORMALISATIONS = ("db_scaled", "none")


@dataclass(frozen=True)
class PreprocessingConfig:
    """Everything that turns samples into model input. Validated on creation."""

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None  # None: sample_rate / 2
    window_frames: int = 256  # ≈ 5.9 s at the defaults
    window_hop_frames: int = 256
    top_db: float = 80.0
    normalisation: str = "db_scaled"

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels", "window_frames", "window_hop_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"preprocessing.{name} must be a positive integer, got {value!r}")
        for name in ("fmin", "top_db") + (("fmax",) if self.fmax is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"preprocessing.{name} must be a number, got {value!r}")
        if self.fmin < 0 or self.fmin >= self.max_frequency:
            raise ValueError(f"preprocessing.fmin must be in [0, fmax), got {self.fmin!r}")
        if self.max_frequency > self.sample_rate / 2:
            raise ValueError(f"preprocessing.fmax must be at most sample_rate/2, got {self.fmax!r}")
        if self.window_hop_frames > self.window_frames:
            raise ValueError("preprocessing.window_hop_frames must not exceed window_frames (audio would be skipped)")
        if self.top_db <= 0:
            raise ValueError(f"preprocessing.top_db must be positive, got {self.top_db!r}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"preprocessing.normalisation must be one of {NORMALISATIONS}, got {self.normalisation!r}")

    @property
    def max_frequency(self) -> float:
        return float(self.fmax) if self.fmax is not None else self.sample_rate / 2

    @property
    def floor_value(self) -> float:
        """The normalised value of silence; used to pad windows."""
        # features.normalise of -top_db, in its float32 steps: (-t + t/2) / (t/2) is -1 exactly.
        floor = np.float32(-self.top_db)
        if self.normalisation == "db_scaled":
            half = np.float32(self.top_db / 2)
            floor = (floor + half) / half
        return float(floor)

    def frames_to_seconds(self, frames: float) -> float:
        return frames * self.hop_length / self.sample_rate

    def seconds_to_frames(self, seconds: float) -> int:
        return int(round(seconds * self.sample_rate / self.hop_length))

    @property
    def seconds_per_window(self) -> float:
        return self.frames_to_seconds(self.window_frames)

    def mel_band_edges(self) -> np.ndarray:
        """n_mels + 1 frequencies in Hz, evenly spaced on the mel scale: row r spans edges[r]..edges[r+1].

        Used for both the image's frequency axis and attention regions, so they always agree.
        """
        import librosa

        return librosa.mel_frequencies(n_mels=self.n_mels + 1, fmin=self.fmin, fmax=self.max_frequency)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessingConfig:
        """Strict: unknown keys or invalid values raise ValueError (a model must get its exact input)."""
        if not isinstance(data, dict):
            raise ValueError(f"preprocessing must be an object, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown preprocessing keys: {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc


@dataclass(frozen=True)
class AudioInfo:
    """What the file is, before any resampling or mixing."""

    duration_s: float
    sample_rate: int
    channels: int
    format: str


def _format_clock(seconds: float) -> str:
    total = int(seconds)
    return f"{total // 60}:{total % 60:02d}"


def _format_hz(value: float) -> str:
    if value < 1000:
        return f"{int(round(value, -1))}"
    khz = value / 1000
    return f"{khz:.0f}" if khz >= 10 or abs(khz - round(khz)) < 0.05 else f"{khz:.1f}"


@dataclass
class AttentionRegion:
    """A box on the spectrogram the model attended to most."""

    start_s: float
    end_s: float
    low_hz: float
    high_hz: float
    score: float

    @property
    def text(self) -> str:
        """Editor-facing, e.g. '0:42–0:49, 2–5 kHz' or '0:03–0:05, 200–800 Hz'."""
        times = f"{_format_clock(self.start_s)}–{_format_clock(np.ceil(self.end_s))}"
        if self.high_hz < 1000:
            band = f"{_format_hz(self.low_hz)}–{_format_hz(self.high_hz)} Hz"
        elif self.low_hz >= 1000:
            band = f"{_format_hz(self.low_hz)}–{_format_hz(self.high_hz)} kHz"
        else:
            band = f"{_format_hz(self.low_hz)} Hz–{_format_hz(self.high_hz)} kHz"
        return f"{times}, {band}"

    def to_dict(self) -> dict[str, float | str]:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "low_hz": self.low_hz,
            "high_hz": self.high_hz,
            "score": self.score,
            "text": self.text,
        }


@dataclass(frozen=True)
class ContentResult:
    label: str  # "music", "speech" or "other"
    scores: dict[str, float]  # each family's mean score over the frames heard
    frames: int
    version: str

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "scores": dict(self.scores), "frames": self.frames, "version": self.version}


@dataclass
class ModelCheckpoint:
    """Everything needed to rebuild a model and feed it correctly."""

    architecture: str
    labels: list[str]
    preprocessing: PreprocessingConfig
    training: dict[str, Any] = field(default_factory=dict)
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def trained(self) -> bool:
        return bool(self.training.get("trained", False))


@dataclass
class AnalysisResult:
    """Everything one analysis produced; ``to_json_dict`` gives the storable part."""

    labels: list[str]
    probabilities: list[float]
    top_k: list[tuple[str, float]]
    window_starts_s: list[float]
    window_scores: list[list[float]]
    embedding: list[float]
    mel_db: np.ndarray = field(repr=False)
    attention: np.ndarray | None = field(repr=False)
    regions: list[AttentionRegion]
    audio: AudioInfo
    is_silent: bool
    timings_ms: dict[str, float]
    trained: bool
    model_sha256: str = ""
    architecture: str = ""
    content: ContentResult | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types only; leaves out the big arrays (mel_db, attention)."""
        return {
            "labels": list(self.labels),
            "probabilities": [float(p) for p in self.probabilities],
            "top_k": [{"genre": label, "confidence": float(p)} for label, p in self.top_k],
            "window_starts_s": [float(s) for s in self.window_starts_s],
            "window_scores": [[float(p) for p in row] for row in self.window_scores],
            "embedding": [float(v) for v in self.embedding],
            "regions": [r.to_dict() for r in self.regions],
            "audio": {
                "duration_s": float(self.audio.duration_s),
                "sample_rate": int(self.audio.sample_rate),
                "channels": int(self.audio.channels),
                "format": self.audio.format,
            },
            "is_silent": bool(self.is_silent),
            "timings_ms": {k: float(v) for k, v in self.timings_ms.items()},
            "trained": bool(self.trained),
            "model_sha256": self.model_sha256,
            "architecture": self.architecture,
            "content": self.content.to_dict() if self.content else None,
        }
