"""The teacher's front end: 16 kHz log-mel, non-overlapping 187-frame windows, wrap-padding."""

from __future__ import annotations

import numpy as np
import pytest

from inference.engine.teacher.preprocess import split_windows, teacher_log_mel, teacher_windows


def _tone(seconds: float, sr: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_windows_do_not_overlap_and_the_tail_is_dropped():
    log_mel = np.arange(400 * 96, dtype=np.float32).reshape(400, 96)
    windows = split_windows(log_mel)
    assert windows.shape == (2, 187, 96)
    assert np.array_equal(windows[1], log_mel[187:374])


def test_a_clip_shorter_than_one_window_is_wrap_padded():
    log_mel = np.arange(50 * 96, dtype=np.float32).reshape(50, 96)
    (window,) = split_windows(log_mel)
    assert np.array_equal(window[50:100], log_mel) and np.array_equal(window[150:187], log_mel[:37])


def test_one_second_of_audio_becomes_one_window_at_16k():
    windows = teacher_windows(_tone(1.0, 22050), sample_rate=22050)
    assert windows.shape == (1, 187, 96) and windows.dtype == np.float32
    frames = teacher_log_mel(_tone(1.0, 16000))
    assert frames.shape == (1 + 16000 // 256, 96) and frames.min() >= 0.0


def test_stereo_samples_are_averaged_like_librosa_load():
    mono = _tone(3.0, 16000)
    stereo = np.stack([mono, mono])
    assert np.allclose(teacher_windows(stereo, sample_rate=16000), teacher_windows(mono, sample_rate=16000))


def test_samples_need_their_sample_rate():
    with pytest.raises(ValueError, match="sample_rate"):
        teacher_windows(_tone(1.0, 16000))
