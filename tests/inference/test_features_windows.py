"""Preprocessing travels with the model, so it must round-trip exactly and reject anything odd."""
from __future__ import annotations

import math

import numpy as np
import pytest

from inference.features import PreprocessingConfig, cut_windows, log_mel, normalise



def test_default_preprocessing_round_trips_through_a_dict():
    cfg = PreprocessingConfig()
    assert (cfg.sample_rate, cfg.n_mels, cfg.window_frames, cfg.normalisation) == (22050, 128, 256, "db_scaled")
    assert PreprocessingConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.seconds_per_window == pytest.approx(256 * 512 / 22050)


@pytest.mark.parametrize("bad", [
    {"n_melz": 128},                      # unknown key (a typo must not be ignored)
    {"normalisation": "per_window_max"},  # not an allowed normalisation
    {"n_mels": 0},
    {"sample_rate": 22050.0},
    {"hop_length": True},
    {"fmax": 20000.0},                    # above Nyquist at 22050 Hz
    {"window_hop_frames": 512},           # would skip audio between windows
])
def test_invalid_or_unknown_preprocessing_is_refused(bad):
    with pytest.raises(ValueError):
        PreprocessingConfig.from_dict({**PreprocessingConfig().to_dict(), **bad})


def test_log_mel_is_float32_db_below_the_tracks_peak(tiny_cfg, tone):
    mel = log_mel(tone(2.0, tiny_cfg.sample_rate), tiny_cfg)
    assert mel.dtype == np.float32
    assert mel.shape == (tiny_cfg.n_mels, 1 + 2 * tiny_cfg.sample_rate // tiny_cfg.hop_length)
    assert mel.max() == pytest.approx(0.0) and mel.min() >= -tiny_cfg.top_db


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
        np.testing.assert_array_equal(window, mel[:, start:start + tiny_cfg.window_frames])


def test_a_clip_shorter_than_one_window_is_padded_with_silence(tiny_cfg):
    mel = np.ones((tiny_cfg.n_mels, 10), np.float32)
    windows, starts = cut_windows(mel, tiny_cfg)
    assert windows.shape == (1, tiny_cfg.n_mels, tiny_cfg.window_frames) and list(starts) == [0]
    assert np.all(windows[0, :, :10] == 1.0) and np.all(windows[0, :, 10:] == tiny_cfg.floor_value)
