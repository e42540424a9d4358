"""What an editor gets from an analysis: Top-K, per-window scores, attention, flags."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from inference.engine.analysis import analyze_file, analyze_samples
from inference.engine.datatypes import AudioInfo
from inference.engine.model import select_device


def test_select_device_honours_an_explicit_cpu_choice():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_a_gpu_fails_loudly():
    with pytest.raises(RuntimeError, match="CUDA was requested"):
        select_device("cuda")


def test_probabilities_cover_every_genre_and_top_k_is_sorted(write_audio, tiny_model, tone):
    path = write_audio("clip.wav", tone(3.0, 16000), 16000)
    result = analyze_file(path, tiny_model, top_k=5)
    assert result.labels == tiny_model.labels and len(result.probabilities) == 16
    assert math.isclose(sum(result.probabilities), 1.0, abs_tol=1e-6)
    scores = [p for _, p in result.top_k]
    assert len(result.top_k) == 5 and scores == sorted(scores, reverse=True)
    assert result.top_k[0] == (result.labels[int(np.argmax(result.probabilities))], max(result.probabilities))
    assert set(result.timings_ms) >= {"decode", "mel", "model", "attention"}
    assert not result.trained and not result.is_silent


@pytest.mark.parametrize("bad", [0, 17, -1, 2.5])
def test_top_k_outside_one_to_the_number_of_genres_is_refused(write_audio, tiny_model, tone, bad):
    path = write_audio("clip.wav", tone(1.0, 16000), 16000)
    with pytest.raises(ValueError, match="between 1 and 16"):
        analyze_file(path, tiny_model, top_k=bad)
    assert len(analyze_file(path, tiny_model, top_k=16, with_attention=False).top_k) == 16


def test_a_20_second_track_is_scored_per_window_and_averaged(tiny_model, tiny_cfg, tone):
    samples = tone(20.0, 16000) + tone(20.0, 16000, freq=3000, amp=0.2) * (np.arange(320000) > 160000)
    info = AudioInfo(20.0, 16000, 1, "wav")
    result = analyze_samples(samples, 16000, info, tiny_model, batch_size=3)  # several batches
    frames = 1 + 320000 // tiny_cfg.hop_length
    assert len(result.window_starts_s) == len(result.window_scores) == math.ceil((frames - 64) / 64) + 1 == 20
    assert result.window_starts_s[1] == pytest.approx(64 * 256 / 16000)
    window_scores = np.array(result.window_scores)
    np.testing.assert_allclose(window_scores.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(window_scores.mean(axis=0), result.probabilities, atol=1e-6)
    assert np.abs(window_scores[0] - window_scores[-1]).max() > 1e-4  # windows really differ
    assert len(result.embedding) == 192  # vit_tiny's CLS width


def test_results_do_not_depend_on_batch_size(tiny_model, tone):
    samples, info = tone(6.0, 16000), AudioInfo(6.0, 16000, 1, "wav")
    a = analyze_samples(samples, 16000, info, tiny_model, batch_size=1)
    b = analyze_samples(samples, 16000, info, tiny_model, batch_size=16)
    np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
    np.testing.assert_allclose(a.attention, b.attention, atol=1e-4)


def test_silent_audio_is_analysed_and_flagged(write_audio, tiny_model):
    result = analyze_file(write_audio("silence.wav", np.zeros(24000, np.float32), 16000), tiny_model)
    assert result.is_silent
    assert math.isclose(sum(result.probabilities), 1.0, abs_tol=1e-6)


def test_samples_at_another_rate_are_resampled_before_analysis(tiny_model, tone):
    result = analyze_samples(tone(2.0, 44100), 44100, AudioInfo(2.0, 44100, 1, "wav"), tiny_model)
    assert result.mel_db.shape[1] == 1 + 32000 // 256


def test_attention_covers_the_whole_track_and_highlights_structure(tiny_model, tiny_cfg, tone):
    sr = tiny_cfg.sample_rate
    samples = np.zeros(8 * sr, np.float32)
    samples[3 * sr : 4 * sr] = tone(1.0, sr, freq=2000)  # a tone burst in silence
    result = analyze_samples(samples, sr, AudioInfo(8.0, sr, 1, "wav"), tiny_model)
    assert result.attention.shape == result.mel_db.shape
    assert result.attention.min() == pytest.approx(0.0) and result.attention.max() == pytest.approx(1.0)
    assert result.attention.std() > 0.01
    assert 1 <= len(result.regions) <= 3
    assert all(0 <= r.start_s < r.end_s <= 8.0 + 1e-6 and 0 <= r.low_hz < r.high_hz <= 8000 for r in result.regions)


def test_attention_forward_gives_the_same_scores_and_leaves_the_model_as_it_was(tiny_model, tiny_cfg):
    x = np.random.default_rng(1).uniform(-1, 1, (4, tiny_cfg.n_mels, tiny_cfg.window_frames)).astype(np.float32)
    fused_before = [blk.attn.fused_attn for blk in tiny_model.model.blocks]
    plain = tiny_model.run_batch(x, with_attention=False)
    traced = tiny_model.run_batch(x, with_attention=True)
    np.testing.assert_allclose(plain.logits, traced.logits, atol=1e-4)
    assert traced.attention.shape == (4, tiny_cfg.n_mels, tiny_cfg.window_frames) and plain.attention is None
    assert [blk.attn.fused_attn for blk in tiny_model.model.blocks] == fused_before
    assert all(not blk.attn.attn_drop._forward_hooks for blk in tiny_model.model.blocks)


def test_json_form_is_plain_json_without_the_big_arrays(write_audio, tiny_model, tone):
    result = analyze_file(write_audio("clip.wav", tone(2.0, 16000), 16000), tiny_model, top_k=3)
    data = json.loads(json.dumps(result.to_json_dict()))
    assert "mel_db" not in data and "attention" not in data
    assert [d["genre"] for d in data["top_k"]] == [label for label, _ in result.top_k]
    assert data["audio"] == {"duration_s": 2.0, "sample_rate": 16000, "channels": 1, "format": "wav"}
    assert data["trained"] is False and len(data["model_sha256"]) == 64


def test_pipeline_warm_up_runs_without_a_file(tiny_model):
    from inference.engine.analysis import warm_up

    warm_up(tiny_model, render=False)


def test_opt_in_bf16_on_cpu_keeps_the_top_genre_and_close_scores(tiny_checkpoint_path, tone):
    from inference.engine.model import load_model

    samples, info = tone(3.0, 16000) + tone(3.0, 16000, freq=2500, amp=0.2), AudioInfo(3.0, 16000, 1, "wav")
    exact = analyze_samples(samples, 16000, info, load_model(tiny_checkpoint_path, device="cpu"))
    fast = analyze_samples(samples, 16000, info, load_model(tiny_checkpoint_path, device="cpu", cpu_bf16=True))
    assert fast.top_k[0][0] == exact.top_k[0][0]
    np.testing.assert_allclose(fast.probabilities, exact.probabilities, atol=5e-3)
    assert (
        fast.attention.dtype == np.float32 and np.corrcoef(fast.attention.ravel(), exact.attention.ravel())[0, 1] > 0.9
    )
