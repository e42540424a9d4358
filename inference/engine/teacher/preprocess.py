"""Audio → the musicnn teacher's input: log-compressed mel windows of shape (B, 187, 96).

This is the teacher's own front end, not the product model's (``inference.engine.features``):
mono 16 kHz (librosa's default soxr_hq resampler), mel power spectrogram with n_fft 512,
hop 256, 96 Slaney mel bands (librosa defaults otherwise: centred frames, Hann window,
htk=False, norm='slaney', power 2), x = log10(10000·mel + 1), then non-overlapping 187-frame
windows (≈3 s) from the start; frames after the last whole window are dropped. A clip shorter
than one window is wrap-padded (repeated from its start) to exactly one window. This is what
produced ``shared/teacher/reference`` (first window within 5e-7, window counts equal).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
WINDOW_FRAMES = 187
RESAMPLER = "soxr_hq"  # librosa.load's default; the reference outputs were made with it


def load_teacher_audio(path_or_samples: str | Path | np.ndarray, sample_rate: int | None = None) -> np.ndarray:
    """Mono float32 samples at 16 kHz from a path, or from samples at ``sample_rate``.

    Arrays may be 1-D, or 2-D as librosa lays them out, (channels, samples); channels are
    averaged before resampling, as ``librosa.load`` does.
    """
    import librosa

    if isinstance(path_or_samples, (str, Path)):
        samples, _ = librosa.load(str(path_or_samples), sr=SAMPLE_RATE, mono=True, res_type=RESAMPLER)
        return samples.astype(np.float32, copy=False)
    if sample_rate is None:
        raise ValueError("sample_rate is required when passing samples")
    samples = np.asarray(path_or_samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = librosa.to_mono(samples)
    elif samples.ndim != 1:
        raise ValueError(f"expected 1-D or (channels, samples) audio, got shape {samples.shape}")
    if sample_rate != SAMPLE_RATE:
        samples = librosa.resample(samples, orig_sr=sample_rate, target_sr=SAMPLE_RATE, res_type=RESAMPLER)
    return samples.astype(np.float32, copy=False)


def teacher_log_mel(samples: np.ndarray) -> np.ndarray:
    """(frames, 96) float32 log10(10000·mel + 1) of 16 kHz mono samples."""
    import librosa

    if samples.size == 0:
        raise ValueError("no audio samples")
    mel = librosa.feature.melspectrogram(y=samples, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS)
    return np.log10(10000.0 * mel.T + 1.0).astype(np.float32, copy=False)


def split_windows(log_mel: np.ndarray, window_frames: int = WINDOW_FRAMES) -> np.ndarray:
    """(B, window_frames, mels): non-overlapping windows; a short clip is wrap-padded to one window."""
    frames = log_mel.shape[0]
    if frames == 0:
        raise ValueError("no frames to window")
    if frames < window_frames:
        log_mel = np.pad(log_mel, ((0, window_frames - frames), (0, 0)), mode="wrap")
        frames = window_frames
    count = frames // window_frames
    return np.ascontiguousarray(log_mel[: count * window_frames].reshape(count, window_frames, log_mel.shape[1]))


def teacher_windows(path_or_samples: str | Path | np.ndarray, sample_rate: int | None = None) -> np.ndarray:
    """The teacher's input windows (B, 187, 96) float32 for a recording (path or samples)."""
    return split_windows(teacher_log_mel(load_teacher_audio(path_or_samples, sample_rate)))
