"""Music, speech or other: the content check editors and the CMS see next to the genres."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from inference.engine.analysis import analyze_file
from inference.engine.checkpoint import create_random_checkpoint
from inference.engine.content import content_frames, hear_content
from inference.engine.model import model_from_checkpoint


@pytest.fixture(scope="module")
def yamnet():
    from inference.engine.teacher.yamnet import load_yamnet

    return load_yamnet()


def test_frames_are_spread_over_the_track_and_capped():
    sr = 22050
    ramp = np.linspace(-1, 1, sr * 120, dtype=np.float32)  # 2 minutes
    frames = content_frames(ramp, sr, max_frames=8)
    assert frames.shape == (8, 15600) and frames.dtype == np.float32
    means = frames.mean(axis=1)
    assert means[0] < -0.9 and means[-1] > 0.9 and np.all(np.diff(means) > 0)  # start to end, in order
    assert content_frames(ramp[: sr // 4], sr).shape == (1, 15600)  # a 0.25-s clip: one padded frame


@pytest.mark.parametrize(
    "name, expected",
    [
        ("librispeech-198-209-0000.ogg", "speech"),
        ("sorohan-trumpet-loop.ogg", "music"),
        ("brahms-hungarian-dance-5.ogg", "music"),
        ("hobbs-lets-go-fishin.ogg", "music"),
    ],
)
def test_real_recordings_get_the_content_a_listener_would_name(shared_audio, yamnet, name, expected):
    import librosa

    samples, sr = librosa.load(shared_audio / name, sr=22050)
    result = hear_content(yamnet, samples, sr)
    assert result.label == expected, result.scores
    assert set(result.scores) == {"music", "speech", "other"} and 1 <= result.frames <= 32


def test_an_analysis_carries_the_verdict_and_its_cost(shared_audio, yamnet, genres):
    model = model_from_checkpoint(create_random_checkpoint(labels=genres), device="cpu")
    result = analyze_file(
        shared_audio / "librispeech-198-209-0000.ogg", model, with_attention=False, content_model=yamnet
    )
    assert result.content.label == "speech"
    assert result.to_json_dict()["content"]["label"] == "speech"
    assert result.timings_ms["content"] > 0
    assert analyze_file(shared_audio / "sorohan-trumpet-loop.ogg", model, with_attention=False).content is None


@pytest.mark.parametrize("name", ["librispeech-198-209-0000.ogg", "humpback-whale.ogg", "macleod-sugar-plum-fairy.ogg"])
def test_the_check_in_bf16_names_the_same_content_as_in_fp32(shared_audio, yamnet, genres, name):
    """Where the process runs its models in bf16 the check does too (inference.engine.precision)."""
    import torch

    fp32 = model_from_checkpoint(create_random_checkpoint(labels=genres), device="cpu", precision="fp32")
    bf16 = model_from_checkpoint(create_random_checkpoint(labels=genres), device="cpu", precision="bf16")
    assert (fp32.autocast_dtype, bf16.autocast_dtype) == (None, torch.bfloat16)
    exact, reduced = (
        analyze_file(shared_audio / name, m, with_attention=False, content_model=yamnet).content for m in (fp32, bf16)
    )
    assert reduced.label == exact.label
    assert max(abs(reduced.scores[k] - exact.scores[k]) for k in exact.scores) < 0.02, (exact.scores, reduced.scores)


def test_silence_is_not_called_music(yamnet):
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(22050 * 3, dtype=np.float32), 22050, format="WAV")
    buffer.seek(0)
    samples, sr = sf.read(buffer, dtype="float32")
    assert hear_content(yamnet, samples, sr).label != "music"


def test_bulk_accepts_weak_music_line_falls_between_the_whale_and_the_shared_music(shared_audio, yamnet):
    """Bulk accept leaves "barely music" to a person (review.selectors.WEAK_MUSIC_SCORE): every music
    recording here must clear the line, the humpback whale (which YAMNet calls music) must not."""
    import librosa

    from review.selectors import WEAK_MUSIC_SCORE

    def music_score(name: str) -> float:
        samples, sr = librosa.load(shared_audio / name, sr=22050)
        return hear_content(yamnet, samples, sr).scores["music"]

    music = [
        "brahms-hungarian-dance-5.ogg",
        "hobbs-lets-go-fishin.ogg",
        "macleod-sugar-plum-fairy.ogg",
        "macleod-vibe-ace.ogg",
        "sorohan-trumpet-loop.ogg",
    ]
    scores = {name: music_score(name) for name in music}
    assert min(scores.values()) >= WEAK_MUSIC_SCORE, scores
    assert music_score("humpback-whale.ogg") < WEAK_MUSIC_SCORE
