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

from functools import lru_cache
from typing import Any

import numpy as np

from .datatypes import PreprocessingConfig

# Mel power of a full-scale sine peaks near 1e4 at n_fft 2048; pinning the dB reference no
# lower than a -60 dBFS sine keeps a (near-)silent track dark instead of amplifying its noise.
_REF_FLOOR_AT_2048 = 1e-2


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
    if start >= 0 and stop <= samples.size:
        return samples[start:stop]
    out = np.zeros(stop - start, np.float32)
    lo, hi = max(start, 0), min(stop, samples.size)
    if hi > lo:
        out[lo - start : hi - start] = samples[lo:hi]
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
        mel[:, first : first + count] = basis @ power
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
