"""Preprocessing travels with the model, so it must round-trip exactly and reject anything odd."""

from __future__ import annotations

import math
from contextlib import nullcontext

import numpy as np
import pytest

from inference.engine.datatypes import PreprocessingConfig
from inference.engine.features import cut_windows, log_mel, normalise

# How far log_mel may be from librosa's result (the features the checkpoints were trained on):
# it differs only by summation order, ≤ 2 float32 steps (1.6e-5 dB) measured; see inference/engine/features.py.
LIBROSA_TOLERANCE_DB = 1e-4


def test_default_preprocessing_round_trips_through_a_dict():
    cfg = PreprocessingConfig()
    assert (cfg.sample_rate, cfg.n_mels, cfg.window_frames, cfg.normalisation) == (22050, 128, 256, "db_scaled")
    assert PreprocessingConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.seconds_per_window == pytest.approx(256 * 512 / 22050)


@pytest.mark.parametrize(
    "bad",
    [
        {"n_melz": 128},  # unknown key (a typo must not be ignored)
        {"normalisation": "per_window_max"},  # not an allowed normalisation
        {"n_mels": 0},
        {"sample_rate": 22050.0},
        {"hop_length": True},
        {"fmax": 20000.0},  # above Nyquist at 22050 Hz
        {"window_hop_frames": 512},  # would skip audio between windows
    ],
)
def test_invalid_or_unknown_preprocessing_is_refused(bad):
    with pytest.raises(ValueError):
        PreprocessingConfig.from_dict({**PreprocessingConfig().to_dict(), **bad})


def test_log_mel_is_float32_db_below_the_tracks_peak(tiny_cfg, tone):
    mel = log_mel(tone(2.0, tiny_cfg.sample_rate), tiny_cfg)
    assert mel.dtype == np.float32
    assert mel.shape == (tiny_cfg.n_mels, 1 + 2 * tiny_cfg.sample_rate // tiny_cfg.hop_length)
    # 0 dB at the peak up to float32 rounding, as with librosa (its float64 reference vs the float32 peak)
    assert mel.max() == pytest.approx(0.0, abs=LIBROSA_TOLERANCE_DB) and mel.min() >= -tiny_cfg.top_db


def test_loudness_of_the_master_does_not_change_the_model_input(tiny_cfg, tone):
    x = tone(1.0, tiny_cfg.sample_rate, amp=0.5) + tone(1.0, tiny_cfg.sample_rate, freq=1500, amp=0.1)
    loud, quiet = log_mel(x, tiny_cfg), log_mel(x * 0.05, tiny_cfg)
    assert np.abs(loud - quiet).max() < 0.05


def test_digital_silence_maps_to_the_floor_value(tiny_cfg):
    mel = log_mel(np.zeros(tiny_cfg.sample_rate, np.float32), tiny_cfg)
    assert np.all(mel == -tiny_cfg.top_db)
    assert np.all(normalise(mel, tiny_cfg) == tiny_cfg.floor_value) and tiny_cfg.floor_value == -1.0
    assert normalise(np.zeros(1), tiny_cfg)[0] == 1.0


def test_a_20_second_track_is_cut_into_the_expected_windows(tiny_cfg):
    frames = 1 + 20 * tiny_cfg.sample_rate // tiny_cfg.hop_length  # 1251
    mel = np.random.default_rng(0).uniform(-1, 1, (tiny_cfg.n_mels, frames)).astype(np.float32)
    windows, starts = cut_windows(mel, tiny_cfg)
    expected = math.ceil((frames - tiny_cfg.window_frames) / tiny_cfg.window_hop_frames) + 1
    assert windows.shape == (expected, tiny_cfg.n_mels, tiny_cfg.window_frames) == (20, 32, 64)
    assert list(starts[:3]) == [0, 64, 128]
    assert starts[-1] == frames - tiny_cfg.window_frames  # the tail window ends at the track end
    for window, start in zip(windows, starts):
        np.testing.assert_array_equal(window, mel[:, start : start + tiny_cfg.window_frames])


def test_a_clip_shorter_than_one_window_is_padded_with_silence(tiny_cfg):
    mel = np.ones((tiny_cfg.n_mels, 10), np.float32)
    windows, starts = cut_windows(mel, tiny_cfg)
    assert windows.shape == (1, tiny_cfg.n_mels, tiny_cfg.window_frames) and list(starts) == [0]
    assert np.all(windows[0, :, :10] == 1.0) and np.all(windows[0, :, 10:] == tiny_cfg.floor_value)


@pytest.mark.parametrize(
    "cfg",
    [
        PreprocessingConfig(),  # what the shipped models read
        PreprocessingConfig(sample_rate=16000, n_fft=512, hop_length=256, n_mels=32),
        PreprocessingConfig(n_fft=1024, hop_length=300, n_mels=96, fmin=40.0, fmax=8000.0),
        PreprocessingConfig(n_fft=1023, hop_length=511, n_mels=64),  # odd sizes
    ],
    ids=["default", "tiny", "band-limited", "odd"],
)
def test_log_mel_matches_librosa_on_music_like_audio(cfg, music_like, librosa_log_mel):
    samples = music_like(20.0, cfg.sample_rate, seed=3)
    mel, reference = log_mel(samples, cfg), librosa_log_mel(samples, cfg)
    assert mel.dtype == np.float32 and mel.shape == reference.shape
    assert np.abs(mel - reference).max() <= LIBROSA_TOLERANCE_DB
    assert (mel == reference).mean() > 0.5  # most values are bit-identical
    assert mel.min() == -cfg.top_db and mel.max() == 0.0  # the fade reaches the floor


@pytest.mark.parametrize("n_samples", [1, 700, 2047, 2048, 2049, 5000])
def test_clips_shorter_than_a_few_fft_frames_get_librosas_frames(n_samples, music_like, librosa_log_mel):
    cfg = PreprocessingConfig()
    samples = music_like(1.0, cfg.sample_rate, seed=4)[:n_samples]
    with pytest.warns(UserWarning) if n_samples < cfg.n_fft else nullcontext():  # librosa warns, log_mel does not
        reference = librosa_log_mel(samples, cfg)
    mel = log_mel(samples, cfg)
    assert mel.shape == reference.shape == (cfg.n_mels, 1 + n_samples // cfg.hop_length)
    assert np.abs(mel - reference).max() <= LIBROSA_TOLERANCE_DB


def test_windows_carry_the_normalised_values_the_checkpoints_were_trained_on(tiny_cfg, music_like):
    mel_db = log_mel(music_like(6.0, tiny_cfg.sample_rate), tiny_cfg)
    windows, starts = cut_windows(normalise(mel_db, tiny_cfg), tiny_cfg)
    assert windows.flags.c_contiguous and windows.dtype == np.float32
    half = tiny_cfg.top_db / 2
    expected = ((mel_db + half) / half).astype(np.float32)  # the formula the checkpoints were trained with
    for window, start in zip(windows, starts):
        np.testing.assert_array_equal(window, expected[:, start : start + tiny_cfg.window_frames])
