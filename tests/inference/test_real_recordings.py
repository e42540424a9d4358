"""The pipeline on real, openly licensed recordings (see ../shared/audio/CREDITS.md)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from inference.engine.analysis import analyze_file, analyze_samples
from inference.engine.audio import load_audio, probe_audio
from inference.engine.checkpoint import create_random_checkpoint
from inference.engine.model import load_model, model_from_checkpoint
from inference.engine.render import render_analysis_images
from inference.engine.starter import STARTER_DIR


def test_stereo_44k_recording_reports_its_source_and_decodes_to_mono_22k(recordings_dir):
    path = recordings_dir / "macleod-vibe-ace.stereo44k.ogg"
    info = probe_audio(path)
    assert (info.channels, info.sample_rate, info.format) == (2, 44100, "ogg")
    assert 61 < info.duration_s < 62
    decoded = load_audio(path, target_sr=22050)
    assert decoded.samples.ndim == 1 and abs(len(decoded.samples) / 22050 - info.duration_s) < 0.01
    assert not decoded.is_silent


def test_brahms_is_analysed_end_to_end_with_the_default_preprocessing(recordings_dir, genres):
    model = model_from_checkpoint(create_random_checkpoint(labels=genres), device="cpu")
    result = analyze_file(recordings_dir / "brahms-hungarian-dance-5.ogg", model, top_k=5)
    cfg = model.preprocessing
    frames = result.mel_db.shape[1]
    assert result.mel_db.shape[0] == 128 and frames == 1 + math.floor(result.audio.duration_s * 22050) // 512
    assert len(result.window_scores) == math.ceil((frames - 256) / 256) + 1
    assert math.isclose(sum(result.probabilities), 1.0, abs_tol=1e-6) and len(result.top_k) == 5
    assert result.attention.shape == result.mel_db.shape and result.attention.std() > 0.01
    assert result.regions and all(r.end_s <= result.audio.duration_s + 0.1 for r in result.regions)
    images = render_analysis_images(result, cfg)
    for name, size in (("spectrogram", (1200, 400)), ("attention", (1200, 400)), ("top_k", (600, 300))):
        assert Image.open(io.BytesIO(images[name])).size == size


def test_a_five_second_loop_shorter_than_a_window_still_gets_one_padded_window(recordings_dir, genres):
    model = model_from_checkpoint(create_random_checkpoint(labels=genres), device="cpu")
    result = analyze_file(recordings_dir / "sorohan-trumpet-loop.ogg", model, with_attention=False)
    assert result.audio.duration_s < model.preprocessing.seconds_per_window
    assert result.window_starts_s == [0.0] and result.attention is None
    assert np.isclose(sum(result.probabilities), 1.0)


@pytest.mark.parametrize("checkpoint", sorted(STARTER_DIR.glob("*.safetensors")), ids=lambda p: p.stem)
def test_the_starter_models_give_the_same_top_5_as_with_librosas_features(
    checkpoint, recordings_dir, librosa_log_mel, monkeypatch
):
    """log_mel is a faster re-implementation of librosa's features: no shipped model may notice."""
    import inference.engine.analysis

    model = load_model(checkpoint, device="cpu")
    for path in sorted(recordings_dir.glob("*.ogg")):
        decoded = load_audio(path, target_sr=model.preprocessing.sample_rate)

        def analyse(decoded=decoded):
            return analyze_samples(
                decoded.samples,
                decoded.sample_rate,
                decoded.info,
                model,
                with_attention=False,
                silent=decoded.is_silent,
            )

        ours = analyse()
        with monkeypatch.context() as patch:
            patch.setattr(inference.engine.analysis, "log_mel", librosa_log_mel)
            reference = analyse()
        assert [label for label, _ in ours.top_k] == [label for label, _ in reference.top_k], path.name
        assert np.abs(np.array(ours.probabilities) - reference.probabilities).max() < 1e-6, path.name
