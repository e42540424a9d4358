"""The committed starter model (v2): small, documented, honest about its blind spots, and right on
the real recordings a newcomer would try first."""

from __future__ import annotations

import pytest
from safetensors import safe_open

from inference.engine.checkpoint import load_checkpoint
from inference.engine.starter import POOL_MANIFEST, STARTER_CHECKPOINT
from inference.engine.starter.pool import read_manifest
from inference.engine.teacher import mapping

MODEL_CARD = STARTER_CHECKPOINT.parent / "MODEL_CARD.md"
# What a listener calls each music recording in shared/audio (its CREDITS.md).
EXPECTED = {
    "brahms-hungarian-dance-5.ogg": {"Classical"},
    "macleod-sugar-plum-fairy.ogg": {"Classical"},
    "hobbs-lets-go-fishin.ogg": {"Folk", "Country"},
    "macleod-vibe-ace.ogg": {"Jazz"},
    "macleod-vibe-ace.stereo44k.ogg": {"Jazz"},
    "sorohan-trumpet-loop.ogg": {"Jazz"},
}


def test_the_starter_checkpoint_is_small_float16_trained_and_says_what_made_it():
    assert STARTER_CHECKPOINT.stat().st_size < 16 * 1024 * 1024
    with safe_open(str(STARTER_CHECKPOINT), framework="pt") as handle:
        dtypes = {str(handle.get_tensor(name).dtype) for name in handle.keys()}
    assert dtypes == {"torch.float16"}
    ckpt = load_checkpoint(STARTER_CHECKPOINT)
    assert ckpt.trained and ckpt.architecture == "vit_tiny_patch16_224" and ckpt.labels == list(mapping.GENRES)
    facts = ckpt.training
    assert facts["method"] == "distillation" and facts["mapping_version"] == mapping.ENSEMBLE_VERSION
    assert facts["teacher_weights"] == {"musicnn": 0.5, "yamnet": 0.5} and facts["uncovered_genres"] == []
    assert set(facts["runs"]) == {"deit", "deit-no-grooves"}  # what the synthetic grooves changed, measured
    assert facts["pool_packages"] == sorted({f.package for f in read_manifest(POOL_MANIFEST)})


def test_the_model_card_names_the_blind_spots_every_package_and_no_placeholders():
    card = MODEL_CARD.read_text(encoding="utf-8")
    assert "@@" not in card and "starter-vit-tiny-v2" in card
    for blind_spot in ("Pop", "Rap", "R&B", "Latin", "Reggae", "vocals"):
        assert blind_spot in card
    for package in {f.package for f in read_manifest(POOL_MANIFEST)}:
        assert f"`{package}`" in card
    for picture in ("starter-test-confusion.png", "starter-training-curves.png"):
        assert picture in card and (STARTER_CHECKPOINT.parent / picture).read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def starter():
    from inference.engine.model import load_model

    return load_model(STARTER_CHECKPOINT, device="cpu")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_music_recording_gets_its_genre_in_the_top_3(starter, shared_audio, name):
    from inference.engine.analysis import analyze_file

    top3 = [label for label, _ in analyze_file(shared_audio / name, starter, top_k=3, with_attention=False).top_k]
    assert EXPECTED[name] & set(top3), top3


def test_the_classical_pieces_are_called_classical_first(starter, shared_audio):
    from inference.engine.analysis import analyze_file

    for name in ("brahms-hungarian-dance-5.ogg", "macleod-sugar-plum-fairy.ogg"):
        assert analyze_file(shared_audio / name, starter, top_k=1, with_attention=False).top_k[0][0] == "Classical"


def test_read_speech_is_flagged_as_speech_not_given_a_genre_silently(starter, shared_audio):
    from inference.engine.analysis import analyze_file
    from inference.engine.teacher.yamnet import load_yamnet

    result = analyze_file(
        shared_audio / "librispeech-198-209-0000.ogg", starter, with_attention=False, content_model=load_yamnet()
    )
    assert result.content.label == "speech"
