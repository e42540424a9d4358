"""The committed starter model: small, documented, honest about its blind spots, and right on
the real recordings a newcomer would try first."""
from __future__ import annotations

from pathlib import Path

import pytest
from safetensors import safe_open

from inference.checkpoint import load_checkpoint
from inference.starter import POOL_MANIFEST, STARTER_CHECKPOINT
from inference.starter.pool import read_manifest
from inference.teacher import mapping

MODEL_CARD = STARTER_CHECKPOINT.parent / "MODEL_CARD.md"


def test_the_starter_checkpoint_is_small_float16_trained_and_says_what_made_it():
    assert STARTER_CHECKPOINT.stat().st_size < 16 * 1024 * 1024
    with safe_open(str(STARTER_CHECKPOINT), framework="pt") as handle:
        dtypes = {str(handle.get_tensor(name).dtype) for name in handle.keys()}
    assert dtypes == {"torch.float16"}
    ckpt = load_checkpoint(STARTER_CHECKPOINT)
    assert ckpt.trained and ckpt.architecture == "vit_tiny_patch16_224" and ckpt.labels == list(mapping.GENRES)
    facts = ckpt.training
    assert facts["method"] == "distillation" and facts["mapping_version"] == mapping.MAPPING_VERSION
    assert set(facts["uncovered_genres"]) == {"Latin", "Rap", "Reggae"}
    assert set(facts["init_comparison"]) == {"random", "deit"} and facts["init"] in {"random", "deit"}
    assert facts["pool_packages"] == sorted({f.package for f in read_manifest(POOL_MANIFEST)})


def test_the_model_card_names_the_blind_spots_every_package_and_no_placeholders():
    card = MODEL_CARD.read_text(encoding="utf-8")
    assert "@@" not in card
    for genre in mapping.UNCOVERED_GENRES:
        assert genre in card
    for package in {f.package for f in read_manifest(POOL_MANIFEST)}:
        assert f"`{package}`" in card
    for picture in ("starter-test-confusion.png", "starter-training-curves.png"):
        assert picture in card and (STARTER_CHECKPOINT.parent / picture).read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def starter():
    from inference.model import load_model

    return load_model(STARTER_CHECKPOINT, device="cpu")


def _top(starter, path: Path, k: int = 3) -> list[str]:
    from inference.analysis import analyze_file

    return [label for label, _ in analyze_file(path, starter, top_k=k, with_attention=False).top_k]


def test_classical_recordings_are_called_classical(starter, shared_audio):
    for name in ("brahms-hungarian-dance-5.ogg", "macleod-sugar-plum-fairy.ogg"):
        assert _top(starter, shared_audio / name)[0] == "Classical", name


def test_an_uncovered_genre_is_never_proposed(starter, shared_audio):
    from inference.analysis import analyze_file

    for path in sorted(shared_audio.glob("*.ogg")):
        result = analyze_file(path, starter, top_k=16, with_attention=False)
        probabilities = dict(zip(result.labels, result.probabilities))
        assert max(probabilities[g] for g in mapping.UNCOVERED_GENRES) < 0.02, path.name


def test_jazz_recordings_have_jazz_among_the_first_two(starter, shared_audio):
    for name in ("macleod-vibe-ace.ogg", "macleod-vibe-ace.stereo44k.ogg", "sorohan-trumpet-loop.ogg"):
        assert "Jazz" in _top(starter, shared_audio / name, k=2), name
