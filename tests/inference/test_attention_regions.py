"""Attention regions as editors read them: '0:42–0:49, 2–5 kHz'."""

from __future__ import annotations

import numpy as np
import pytest

from inference.engine.attention import stitch_windows, top_regions
from inference.engine.datatypes import AttentionRegion, PreprocessingConfig


@pytest.mark.parametrize(
    "region, text",
    [
        (AttentionRegion(42.2, 48.6, 2000.0, 5000.0, 0.9), "0:42–0:49, 2–5 kHz"),
        (AttentionRegion(3.0, 5.0, 200.0, 800.0, 0.5), "0:03–0:05, 200–800 Hz"),
        (AttentionRegion(61.0, 65.2, 512.0, 2500.0, 0.5), "1:01–1:06, 510 Hz–2.5 kHz"),
        (AttentionRegion(125.0, 131.0, 1250.0, 11025.0, 0.5), "2:05–2:11, 1.2–11 kHz"),
    ],
)
def test_region_text_uses_clock_times_and_readable_frequencies(region, text):
    assert region.text == text


def test_the_strongest_blob_becomes_the_first_region_at_its_time_and_frequency():
    cfg = PreprocessingConfig()
    attn = np.zeros((128, 2000), np.float32)
    attn[60:80, 500:700] = 1.0  # mel rows 60-79, frames 500-699
    attn[10:20, 1500:1600] = 0.6  # a weaker second blob
    regions = top_regions(attn, cfg, n=3)
    first, second = regions[0], regions[1]
    edges = cfg.mel_band_edges()
    assert first.start_s == pytest.approx(cfg.frames_to_seconds(500), abs=0.01)
    assert first.end_s == pytest.approx(cfg.frames_to_seconds(700), abs=0.01)
    assert (first.low_hz, first.high_hz) == (pytest.approx(edges[60], abs=0.1), pytest.approx(edges[80], abs=0.1))
    assert second.start_s == pytest.approx(cfg.frames_to_seconds(1500), abs=0.01) and first.score > second.score
    assert len(regions) == 2  # nothing else is attended to


def test_regions_never_overlap():
    cfg = PreprocessingConfig()
    rng = np.random.default_rng(0)
    attn = np.clip(rng.normal(0.3, 0.2, (128, 800)), 0, None).astype(np.float32)
    regions = top_regions(attn, cfg, n=5)
    assert len(regions) == 5
    for i, a in enumerate(regions):
        for b in regions[i + 1 :]:
            overlap_t = min(a.end_s, b.end_s) - max(a.start_s, b.start_s)
            overlap_f = min(a.high_hz, b.high_hz) - max(a.low_hz, b.low_hz)
            assert overlap_t <= 1e-6 or overlap_f <= 1e-6


def test_stitched_attention_averages_overlapping_windows_and_spans_the_track():
    cfg = PreprocessingConfig(n_mels=4, window_frames=4, window_hop_frames=2)
    maps = np.stack([np.zeros((4, 4)), np.full((4, 4), 2.0), np.full((4, 4), 4.0)])
    stitched = stitch_windows(maps, np.array([0, 2, 4]), 8, cfg)
    assert stitched.shape == (4, 8)
    # frames 0-1: 0; 2-3: mean(0, 2) = 1; 4-5: mean(2, 4) = 3; 6-7: 4  → scaled by 4
    np.testing.assert_allclose(stitched[0], [0, 0, 0.25, 0.25, 0.75, 0.75, 1, 1])
    assert not stitch_windows(np.ones((1, 4, 4)), np.array([0]), 4, cfg).any()  # flat map: nothing stands out
