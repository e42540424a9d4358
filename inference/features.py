"""Log-mel spectrograms and the fixed-size windows a model reads.

The preprocessing travels inside each checkpoint (``PreprocessingConfig.to_dict``), so a
model is always fed exactly what it was trained on.

Normalisation ``"db_scaled"``: dB relative to the *track's* loudest mel bin
(``power_to_db(ref=track max)``), clipped ``top_db`` below it, then mapped linearly to
[-1, 1] by ``(dB + top_db/2) / (top_db/2)``. One reference per track (never per window), so
a quiet passage stays quiet next to a loud one, while the overall level of the master does
not change what the model sees. Silence maps to -1 (the floor), which is also the padding
value. ``"none"`` feeds the same clipped dB values unscaled (for experiments).

``log_mel`` is ``librosa.feature.melspectrogram`` + ``power_to_db`` (what every checkpoint was
trained on) recomputed without librosa's whole-track temporaries (a 3-min track: ≈45 ms instead
of 65–140 ms), same steps at the same precision. It is not bit-identical, only because its sparse
mel product sums in another order than librosa's dense one: on the shared recordings 64–95 % of
the dB values are identical and none differs by more than 2 float32 steps, 1.6e-5 dB (the tests
allow 1e-4 dB; 1e-4 dB is 2.5e-6 in model units, 200× below the float16 rounding of the starter
training data).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Any

import numpy as np

NORMALISATIONS = ("db_scaled", "none")
# Mel power of a full-scale sine peaks near 1e4 at n_fft 2048; pinning the dB reference no
# lower than a -60 dBFS sine keeps a (near-)silent track dark instead of amplifying its noise.
_REF_FLOOR_AT_2048 = 1e-2


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
        return float(normalise(np.array([-self.top_db], dtype=np.float32), self)[0])

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
    def from_dict(cls, data: dict[str, Any]) -> "PreprocessingConfig":
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


# Frames per STFT block: the block's float64 frames and spectrum (2 MB each) stay in the CPU cache;
# 128 measured a little faster than 64 or 256 on a busy 2-core machine, 512 clearly slower.
_STFT_BLOCK_FRAMES = 128


@lru_cache(maxsize=8)
def _stft_kernels(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> tuple[np.ndarray, Any]:
    """The periodic Hann window (float64, as librosa's) and librosa's Slaney mel filters (float32) as a
    sparse [n_mels, n_freq] matrix.

    Each triangular filter covers only a few FFT bins (≈2,000 non-zeros of 131,000 at the
    defaults), so the sparse product is ≈50× less work than librosa's dense one.
    """
    import librosa
    import scipy.signal
    import scipy.sparse

    window = scipy.signal.get_window("hann", n_fft, fftbins=True)
    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=np.float32)
    return window, scipy.sparse.csr_array(basis)


def _padded(samples: np.ndarray, start: int, stop: int) -> np.ndarray:
    """samples[start:stop], where indices outside the signal read as 0 (librosa's center padding).

    A view (no copy) everywhere but at the two ends of the track."""
    if 0 <= start and stop <= samples.size:
        return samples[start:stop]
    out = np.zeros(stop - start, np.float32)
    lo, hi = max(start, 0), min(stop, samples.size)
    if hi > lo:
        out[lo - start:hi - start] = samples[lo:hi]
    return out


def mel_power(samples: np.ndarray, cfg: PreprocessingConfig) -> np.ndarray:
    """float32 [n_mels, frames] mel power, as ``librosa.feature.melspectrogram`` computes it.

    The same steps at the same precision (centred zero-padded frames × float64 window, float64
    FFT rounded to complex64, float32 |X|² and mel filters), but one cache-sized block of frames
    at a time read through strided views of the samples (no framed copy of the track), and
    with a sparse filter product. The module docstring says how close it is.
    """
    import scipy.fft

    samples = np.ascontiguousarray(samples, dtype=np.float32)
    n_fft, hop = cfg.n_fft, cfg.hop_length
    half = n_fft // 2
    n_frames = 1 + (samples.size + 2 * half - n_fft) // hop
    window, basis = _stft_kernels(cfg.sample_rate, n_fft, cfg.n_mels, float(cfg.fmin), cfg.max_frequency)
    n_freq = n_fft // 2 + 1
    mel = np.empty((cfg.n_mels, n_frames), np.float32)
    frames_buf = np.empty((_STFT_BLOCK_FRAMES, n_fft), np.float64)
    power_buf = np.empty((n_freq, _STFT_BLOCK_FRAMES), np.float32)
    for first in range(0, n_frames, _STFT_BLOCK_FRAMES):
        count = min(_STFT_BLOCK_FRAMES, n_frames - first)
        span = _padded(samples, first * hop - half, (first + count - 1) * hop - half + n_fft)
        frames = np.lib.stride_tricks.sliding_window_view(span, n_fft)[::hop]  # [count, n_fft], a view
        np.multiply(frames, window, out=frames_buf[:count])
        spectrum = scipy.fft.rfft(frames_buf[:count], axis=-1, overwrite_x=True).astype(np.complex64)
        parts = spectrum.view(np.float32).reshape(count, n_freq, 2)
        np.square(parts, out=parts)
        power = power_buf[:, :count]
        np.add(parts[..., 0].T, parts[..., 1].T, out=power)  # |X|², frequency-major for the filter product
        mel[:, first:first + count] = basis @ power
    return mel


def log_mel(samples: np.ndarray, cfg: PreprocessingConfig) -> np.ndarray:
    """float32 [n_mels, frames] in dB relative to the track's loudest bin, in [-top_db, 0]."""
    power = mel_power(samples, cfg)
    ref = max(float(power.max()), _REF_FLOOR_AT_2048 * (cfg.n_fft / 2048) ** 2)
    # librosa.power_to_db(power, ref=ref, amin=1e-20, top_db=None): zeros reach the floor
    mel_db = np.maximum(power, np.float32(1e-20), out=power)
    np.log10(mel_db, out=mel_db)
    mel_db *= np.float32(10.0)
    mel_db -= np.float64(10.0 * np.log10(max(1e-20, ref)))
    return np.clip(mel_db, -cfg.top_db, 0.0, out=mel_db)


def normalise(mel_db: np.ndarray, cfg: PreprocessingConfig) -> np.ndarray:
    """Scale dB values to what the model reads (see the module docstring)."""
    mel_db = np.asarray(mel_db, dtype=np.float32)
    if cfg.normalisation == "db_scaled":
        half = np.float32(cfg.top_db / 2)
        scaled = np.add(mel_db, half)  # one new array, scaled in place: float32 as before, bit for bit
        scaled /= half
        return scaled
    return mel_db


def window_starts(total_frames: int, cfg: PreprocessingConfig) -> np.ndarray:
    """Start frame of each window: every ``window_hop_frames``, the last one ending at the track end."""
    span = total_frames - cfg.window_frames
    if span <= 0:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, span + 1, cfg.window_hop_frames, dtype=np.int64)
    if starts[-1] != span:
        starts = np.append(starts, span)
    return starts


def cut_windows(mel: np.ndarray, cfg: PreprocessingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Windows [n_windows, n_mels, window_frames] and their start frames.

    A partial tail is not padded: the last window is moved back to end at the track end (it
    overlaps its neighbour), so no window is mostly padding. Only a clip shorter than one
    window is padded, with the floor (silence) value.
    """
    n_mels, total = mel.shape
    if total < cfg.window_frames:
        padded = np.full((n_mels, cfg.window_frames), cfg.floor_value, dtype=np.float32)
        padded[:, :total] = mel
        return padded[None], np.zeros(1, dtype=np.int64)
    starts = window_starts(total, cfg)
    view = np.lib.stride_tricks.sliding_window_view(mel, cfg.window_frames, axis=1).transpose(1, 0, 2)
    return view[starts].astype(np.float32, copy=False), starts  # one copy, straight from the track's mel
