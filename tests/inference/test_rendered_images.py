"""Pictures editors look at: valid PNGs of the requested size, with the evidence visible."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from inference.analysis import analyze_samples
from inference.audio import AudioInfo
from inference.features import PreprocessingConfig
from inference.render import render_analysis_images, render_spectrogram, render_top_k


def _png(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB")).astype(int)


def test_spectrogram_png_has_exactly_the_requested_size():
    cfg = PreprocessingConfig()
    mel = np.random.default_rng(0).uniform(-80, 0, (128, 2600)).astype(np.float32)
    assert _png(render_spectrogram(mel, cfg)).shape == (400, 1200, 3)
    assert _png(render_spectrogram(mel, cfg, width=801, height=333)).shape == (333, 801, 3)
    with pytest.raises(ValueError):
        render_spectrogram(mel, cfg, width=20)


def test_attention_overlay_visibly_changes_the_picture_where_attention_is_high():
    cfg = PreprocessingConfig()
    mel = np.full((128, 1000), -60.0, np.float32)
    attention = np.zeros_like(mel)
    attention[:, 500:] = 1.0  # right half attended
    plain = _png(render_spectrogram(mel, cfg, attention=np.zeros_like(mel)))
    heat = _png(render_spectrogram(mel, cfg, attention=attention))
    left, right = (slice(150, 250), slice(200, 400)), (slice(150, 250), slice(700, 900))
    assert np.abs(heat[left] - plain[left]).mean() < 2
    assert np.abs(heat[right] - plain[right]).mean() > 40


def test_top_k_chart_has_the_requested_size_and_flags_an_untrained_model():
    top_k = [("Jazz", 0.61), ("Blues", 0.2), ("Rock", 0.1)]
    trained, untrained = _png(render_top_k(top_k)), _png(render_top_k(top_k, untrained=True))
    assert trained.shape == untrained.shape == (300, 600, 3)
    def reddish(img):
        return ((img[..., 0] > 150) & (img[..., 1] < 80) & (img[..., 2] < 80)).sum()
    assert reddish(untrained[:30]) > 100 and reddish(trained) == 0  # the warning caption is drawn


def test_analysis_images_are_rendered_and_timed(tiny_model, tiny_cfg, tone):
    result = analyze_samples(tone(4.0, 16000), 16000, AudioInfo(4.0, 16000, 1, "wav"), tiny_model)
    images = render_analysis_images(result, tiny_cfg)
    assert set(images) == {"spectrogram", "attention", "top_k"}
    assert _png(images["spectrogram"]).shape == _png(images["attention"]).shape == (400, 1200, 3)
    assert images["spectrogram"] != images["attention"]
    assert result.timings_ms["render"] > 0
