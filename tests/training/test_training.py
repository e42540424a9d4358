"""Training on tiny synthetic genres: the loss falls, validation beats chance, the checkpoint is
the inference format, and train_model closes the loop (export → model version → test scores)."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from catalog.models import ModelVersion
from inference.engine.analysis import analyze_file
from inference.engine.checkpoint import create_random_checkpoint, load_checkpoint, save_checkpoint
from inference.engine.model import model_from_checkpoint
from inference.engine.training import TrainingConfig, TrainingExample, class_weights, initial_state, spec_augment, train
from inference.engine.vit import build_vit
from inference.selectors import evaluation_summary
from review.exports import label_export_create
from tests.fixtures import TINY
from tests.training.conftest import artist_in
from tests.training.synthetic import TIMBRES, write_clip

REPO = Path(__file__).resolve().parents[2]
DEIT_NPZ = REPO.parent / "shared" / "model-init" / "deit_tiny_patch16_224_imagenet.npz"
FAST = TrainingConfig(epochs=8, batch_size=16, lr=1e-3, patience=4, crops_per_track=4, seed=0, temperature_min_tracks=6)


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory) -> list[TrainingExample]:
    """3 timbres × 8 clips of 3 s: 6 of each for training, 2 for validation."""
    root = tmp_path_factory.mktemp("synthetic")
    return [
        TrainingExample(
            str(write_clip(root / f"{kind}-{i}.wav", kind, seed=100 * label + i)), label, "val" if i >= 6 else "train"
        )
        for label, kind in enumerate(TIMBRES)
        for i in range(8)
    ]


def test_training_lowers_the_loss_and_beats_chance_on_validation(synthetic_set):
    epochs = []
    result = train(synthetic_set, list(TIMBRES), TINY, FAST, on_epoch=epochs.append)

    history = result.history
    assert [e["epoch"] for e in epochs] == [h["epoch"] for h in history]  # a callback (and log line) per epoch
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    best = result.metrics
    assert best["val_loss"] < math.log(3)  # better than a uniform guess
    assert best["val_accuracy"] >= 2 / 3  # chance is 1/3
    assert (best["train_tracks"], best["val_tracks"]) == (18, 6)
    assert best["class_weights"] == [1.0, 1.0, 1.0] and best["class_weighting"] == "sqrt"
    # A temperature was fitted on the validation tracks; it can only lower their NLL.
    cal = best["calibration"]
    assert cal["fitted"] and cal["tracks"] == 6 and cal["temperature"] == result.temperature > 0
    assert cal["nll_after"] <= cal["nll_before"] + 1e-6

    # The result is the one inference format: saved, loaded and run exactly like the worker does.
    ckpt = result.checkpoint(export_id=7)
    assert ckpt.training["trained"] and ckpt.training["export_id"] == 7
    assert ckpt.training["temperature"] == result.temperature
    assert ckpt.training["epochs"] == len(history) and ckpt.training["metrics"] == best
    path = Path(synthetic_set[0].path).parent / "trained.safetensors"
    save_checkpoint(ckpt, path)
    loaded = model_from_checkpoint(load_checkpoint(path), device="cpu")
    assert loaded.trained and loaded.labels == list(TIMBRES) and loaded.preprocessing == TINY
    assert loaded.temperature == result.temperature  # inference divides the logits by it
    val = [e for e in synthetic_set if e.split == "val"]
    right = sum(
        analyze_file(e.path, loaded, top_k=1, with_attention=False).top_k[0][0] == TIMBRES[e.label] for e in val
    )
    assert right / len(val) == pytest.approx(best["val_accuracy"])


def test_training_is_repeatable_with_the_same_seed(synthetic_set):
    config = TrainingConfig(epochs=1, batch_size=16, crops_per_track=1, seed=5)
    features: dict[str, np.ndarray] = {}
    one = train(synthetic_set, list(TIMBRES), TINY, config, features=features)
    two = train(synthetic_set, list(TIMBRES), TINY, config, features=features)
    assert len(features) == len(synthetic_set)  # the log-mel of each track was computed once
    # 6 validation tracks are too few to fit a temperature by default: T stays 1.
    assert one.temperature == 1.0 and one.metrics["calibration"] == {
        "fitted": False,
        "reason": "only 6 validation tracks (at least 10 needed)",
    }
    assert one.history[0]["train_loss"] == pytest.approx(two.history[0]["train_loss"], rel=1e-5)
    assert torch.allclose(one.state_dict["head.weight"], two.state_dict["head.weight"], atol=1e-6)


def test_spec_augment_masks_bands_with_silence():
    rng = np.random.default_rng(0)
    window = np.ones((TINY.n_mels, TINY.window_frames), np.float32)
    config = TrainingConfig(time_masks=1, time_mask_frames=10, freq_masks=1, freq_mask_bins=5)
    masked = [spec_augment(window.copy(), TINY, config, rng) for _ in range(20)]
    assert all(m.shape == window.shape for m in masked)
    assert any((m == TINY.floor_value).any() for m in masked)
    silent_columns = [int((m == TINY.floor_value).all(axis=0).sum()) for m in masked]
    assert max(silent_columns) <= 10 and max(silent_columns) > 0


def test_class_weights_balance_rare_genres():
    weights = class_weights([0, 0, 0, 1], 3, "inverse")
    assert weights.tolist() == pytest.approx([4 / 6, 2.0, 1.0])  # count·weight equal for present classes
    tempered = class_weights([0, 0, 0, 1], 3)  # the default: 1/sqrt(count), mean 1
    ratio = 3**0.5
    assert tempered.tolist() == pytest.approx([2 / (1 + ratio), 2 * ratio / (1 + ratio), 1.0])


def test_earlier_configs_with_a_boolean_for_class_weights_still_load():
    assert TrainingConfig(class_weights=True).class_weights == "inverse"
    assert TrainingConfig(class_weights=False).class_weights == "none"
    with pytest.raises(ValueError):
        TrainingConfig(class_weights="cube")


def test_init_from_a_checkpoint_keeps_reorders_or_reinitialises_the_head(tmp_path):
    ckpt = create_random_checkpoint(labels=["a", "b", "c"], preprocessing=TINY, seed=1)
    path = save_checkpoint(ckpt, tmp_path / "init.safetensors")
    arch = "vit_tiny_patch16"
    same, note = initial_state(path, architecture=arch, labels=["a", "b", "c"], cfg=TINY)
    assert torch.equal(same["head.weight"], ckpt.state_dict["head.weight"]) and "kept" in note
    swapped, note = initial_state(path, architecture=arch, labels=["c", "a", "b"], cfg=TINY)
    assert torch.equal(swapped["head.weight"][0], ckpt.state_dict["head.weight"][2]) and "reordered" in note
    other, note = initial_state(path, architecture=arch, labels=["a", "b", "c", "d"], cfg=TINY)
    assert "head.weight" not in other and "re-initialised" in note
    wider = TINY.__class__(**{**TINY.to_dict(), "window_frames": 128, "window_hop_frames": 128})
    resized, note = initial_state(path, architecture=arch, labels=["a", "b", "c"], cfg=wider)
    assert resized["pos_embed"].shape[1] == 1 + 2 * 8 and "resampled" in note


@pytest.mark.skipif(not DEIT_NPZ.is_file(), reason=f"{DEIT_NPZ} not present (optional initialisation)")
def test_init_from_the_imagenet_deit_tiny_npz():
    state, note = initial_state(DEIT_NPZ, architecture="vit_tiny_patch16", labels=["a", "b"], cfg=TINY)
    model = build_vit("vit_tiny_patch16_224", num_classes=2, n_mels=TINY.n_mels, window_frames=TINY.window_frames)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert set(missing) == {"head.weight", "head.bias"} and not unexpected
    assert state["patch_embed.proj.weight"].shape[1] == 1 and "adapted" in note


def test_training_and_evaluation_core_import_without_django():
    code = (
        "import inference.engine.training, inference.engine.evaluation, inference.engine.splits, "
        "inference.engine.calibration, inference.engine.update_report, sys; print(' '.join(sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    assert "django" not in {name.split(".")[0] for name in out.stdout.split()}


def test_train_model_registers_an_inactive_version_scored_next_to_the_active_one(
    three_genres, audio_track, decide, active_model, media
):
    # Per genre: 5 tracks for training, 2 for validation, 1 for test, each by its own artist.
    artists = {split: [] for split in ("train", "val", "test")}
    n = 0
    for split, count in (("train", 15), ("val", 6), ("test", 3)):
        while len(artists[split]) < count:
            artists[split].append(artist_in(split, n))
            n = int(artists[split][-1].split()[-1]) + 1
    for label, (genre, kind) in enumerate(zip(three_genres, TIMBRES)):
        seeds = iter(range(100 * label, 100 * label + 8))
        for split, per_genre in (("train", 5), ("val", 2), ("test", 1)):
            for i in range(per_genre):
                track = audio_track(kind, seed=next(seeds), artist=artists[split][label * per_genre + i])
                decide(track, genre)
    export = label_export_create(split="hash")  # the artists were chosen for the artist-hash rule
    assert export.labels == three_genres and export.split_counts == {"train": 15, "val": 6, "test": 3}

    out = io.StringIO()
    call_command(
        "train_model",
        "--export",
        str(export.pk),
        "--epochs",
        "3",
        "--lr",
        "1e-3",
        "--mixup",
        "--preprocessing",
        json.dumps(TINY.to_dict()),
        "--name",
        "candidate",
        "--verbosity",
        "0",
        stdout=out,
    )

    version = ModelVersion.objects.get(name="candidate")
    assert not version.is_active and version.trained and ModelVersion.objects.get(is_active=True) == active_model
    assert version.labels == three_genres and version.preprocessing == TINY.to_dict()
    ckpt = load_checkpoint(Path(settings.MODELS_DIR) / version.checkpoint_path)
    assert ckpt.training["export_id"] == export.pk and ckpt.training["trained"] is True
    assert ckpt.training["config"]["mixup_alpha"] == 0.2 and len(ckpt.training["history"]) >= 1
    assert {"best_epoch", "val_loss", "val_accuracy"} <= set(ckpt.training["metrics"])

    m = version.metrics
    assert m["export_id"] == export.pk and m["test"]["tracks"] == 3
    candidate, active = m["test"]["candidate"], m["test"]["active"]
    assert candidate["model_version"] == "candidate" and active["model_version"] == active_model.name
    assert active["trained"] is False
    for scores in (candidate, active):
        assert 0 <= scores["top1"] <= scores["top3"] <= 1 and set(scores["per_genre"]) == set(three_genres)
    assert candidate["top3"] == 1.0  # three labels: the truth is always in the top 3
    assert m["confusion"]["labels"] == three_genres
    assert sum(map(sum, m["confusion"]["matrix"])) == 3
    assert m["confusion_png"] == "models/candidate/confusion.png"
    with Image.open(media / m["confusion_png"]) as image:
        assert image.format == "PNG"
    summary = evaluation_summary(version)
    assert summary["candidate"]["top1"] == candidate["top1"] and summary["active"]["model_version"] == "tiny-active"
    assert summary["confusion_png_url"].endswith("models/candidate/confusion.png")
    assert "Registered candidate (inactive)" in out.getvalue() and "top-1" in out.getvalue()

    with pytest.raises(CommandError, match="exists already"):
        call_command("train_model", "--export", str(export.pk), "--name", "candidate", "--verbosity", "0")
    with pytest.raises(CommandError, match="no export #999"):
        call_command("train_model", "--export", "999", "--verbosity", "0")
