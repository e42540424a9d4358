"""Distillation: the student learns the teacher's genres per window, never learns uncovered
genres, and an interrupted run resumes where it stopped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import inference.engine.starter.distil as distil_module
from inference.engine.starter.distil import (
    DistilConfig,
    Recording,
    agreement,
    distil,
    sampling_weights,
    student_checkpoint,
)
from inference.engine.starter.targets import crop_target
from inference.engine.teacher.ensemble import TEACHER_WINDOW_S
from inference.engine.vit import build_vit
from tests.fixtures import TINY

N_GENRES = 4  # genre 3 plays the part of an uncovered genre: the teacher never gives it mass


def _recording(name: str, genre: int, seconds: float, rng: np.random.Generator) -> Recording:
    """Energy in a genre's own band of mel bins; the teacher says that genre (with some doubt)."""
    frames = int(seconds * TINY.sample_rate / TINY.hop_length)
    mel = rng.uniform(-1.0, -0.6, size=(TINY.n_mels, frames))
    band = slice(genre * 10, genre * 10 + 8)
    mel[band] = rng.uniform(0.3, 1.0, size=(8, frames))
    scores = np.full((max(1, int(seconds / TEACHER_WINDOW_S)), N_GENRES), 0.1)
    scores[:, genre], scores[:, 3] = 0.7, 0.0
    return Recording(name, mel.astype(np.float16), scores / scores.sum(axis=1, keepdims=True))


@pytest.fixture
def pool() -> dict[str, list[Recording]]:
    rng = np.random.default_rng(0)
    return {
        split: [_recording(f"{split}{i}", i % 3, 20.0, rng) for i in range(count)]
        for split, count in (("train", 9), ("val", 3))
    }


CONFIG = DistilConfig(epochs=2, crops_per_epoch=192, batch_size=32, lr=1e-3, seed=1, device="cpu")


def test_the_student_agrees_with_the_teacher_and_never_proposes_an_uncovered_genre(pool, tmp_path):
    run = distil(
        pool["train"], pool["val"], TINY, CONFIG, run_dir=tmp_path / "run", progress=False, say=lambda line: None
    )
    assert [e["epoch"] for e in run.history] == [1, 2] and run.best["val_loss"] <= run.history[0]["val_loss"]
    model = build_vit(CONFIG.architecture, num_classes=N_GENRES, n_mels=TINY.n_mels, window_frames=TINY.window_frames)
    model.load_state_dict(run.state_dict)
    scores = agreement(model, pool["val"], TINY, torch.device("cpu"))
    assert scores["track_top1"] == 1.0 and scores["window_top1"] > 0.9
    assert np.asarray(scores["confusion"])[:, 3].sum() == 0
    ckpt = student_checkpoint(run, ["A", "B", "C", "Uncovered"], TINY, CONFIG, teacher="test")
    assert ckpt.trained and ckpt.training["method"] == "distillation" and ckpt.training["teacher"] == "test"


def test_an_interrupted_run_resumes_after_its_last_finished_epoch(pool, tmp_path):
    lines: list[str] = []
    one = distil(
        pool["train"],
        pool["val"],
        TINY,
        DistilConfig(**{**CONFIG.__dict__, "epochs": 1}),
        run_dir=tmp_path / "a",
        progress=False,
        say=lines.append,
    )
    full = distil(pool["train"], pool["val"], TINY, CONFIG, run_dir=tmp_path / "b", progress=False, say=lines.append)
    # "Interrupt" run b after epoch 1 by restoring a's state file, made with the same settings but 1 epoch:
    # its stored config differs, so it is refused rather than mixed.
    (tmp_path / "b" / "state.pt").replace(tmp_path / "b-full.pt")
    (tmp_path / "a" / "state.pt").rename(tmp_path / "b" / "state.pt")
    with pytest.raises(ValueError, match="other settings"):
        distil(pool["train"], pool["val"], TINY, CONFIG, run_dir=tmp_path / "b", progress=False, say=lines.append)
    # A finished run asked again does no more work and returns the same best weights.
    (tmp_path / "b-full.pt").replace(tmp_path / "b" / "state.pt")
    lines.clear()
    again = distil(pool["train"], pool["val"], TINY, CONFIG, run_dir=tmp_path / "b", progress=False, say=lines.append)
    assert lines == ["[distil:random] resuming after epoch 2"]
    assert again.history == full.history and one.history[0]["epoch"] == 1
    assert all((again.state_dict[k] == full.state_dict[k]).all() for k in full.state_dict)


def test_resuming_mid_run_gives_the_same_weights_as_an_uninterrupted_run(pool, tmp_path, monkeypatch):
    straight = distil(
        pool["train"], pool["val"], TINY, CONFIG, run_dir=tmp_path / "straight", progress=False, say=lambda line: None
    )
    real_agreement = distil_module.agreement
    calls = {"n": 0}

    def crash_after_first_epoch(*args, **kwargs):  # failure injection: the process dies in epoch 2
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_agreement(*args, **kwargs)

    monkeypatch.setattr(distil_module, "agreement", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        distil(
            pool["train"],
            pool["val"],
            TINY,
            CONFIG,
            run_dir=tmp_path / "resumed",
            progress=False,
            say=lambda line: None,
        )
    monkeypatch.setattr(distil_module, "agreement", real_agreement)
    resumed = distil(
        pool["train"], pool["val"], TINY, CONFIG, run_dir=tmp_path / "resumed", progress=False, say=lambda line: None
    )
    assert [e["train_loss"] for e in resumed.history] == pytest.approx([e["train_loss"] for e in straight.history])


def test_crop_targets_average_the_teacher_windows_inside_the_crop():
    scores = np.eye(4)[[0, 1, 2, 3]].astype(np.float32)  # 4 teacher windows of ≈3 s, one genre each
    frames_per_s = TINY.sample_rate / TINY.hop_length
    assert crop_target(scores, 0, TINY).argmax() == 0  # a 1-s crop at 0 s: nearest centre is window 0
    start = int(round(4.0 * frames_per_s))  # a 1-s crop from 4 s holds the centre of window 1 (4.49 s)
    assert crop_target(scores, start, TINY).argmax() == 1


def test_rare_teacher_genres_are_drawn_more_often_per_hour(pool):
    rng = np.random.default_rng(1)
    lopsided = pool["train"][:3] + [_recording(f"extra{i}", 0, 20.0, rng) for i in range(6)]
    weights = sampling_weights(lopsided, power=0.5)
    genre0 = sum(w for r, w in zip(lopsided, weights) if r.scores.mean(0).argmax() == 0)
    assert genre0 < 7 / 9  # 7 of 9 recordings are genre 0, but they get less than 7/9 of the draws
    assert sampling_weights(lopsided, power=0.0) == pytest.approx(np.full(9, 1 / 9))


def test_synthetic_grooves_get_exactly_their_share_of_draws_and_manifest_weights_count(pool):
    real = pool["train"][:4]
    grooves = [Recording(f"groove{i}", r.mel, r.scores, synthetic=True) for i, r in enumerate(pool["train"][:2])]
    weights = sampling_weights(real + grooves, power=0.0, synthetic_share=0.15)
    assert weights[4:].sum() == pytest.approx(0.15) and weights.sum() == pytest.approx(1.0)
    assert sampling_weights(real + grooves, power=0.0, synthetic_share=0.0)[4:].sum() == 0.0
    heavy = [Recording(r.file_id, r.mel, r.scores, weight=3.0 if i == 0 else 1.0) for i, r in enumerate(real)]
    drawn = sampling_weights(heavy, power=0.0)
    durations = np.array([r.mel.shape[1] for r in heavy], dtype=float)
    expected = durations * np.array([3.0, 1.0, 1.0, 1.0])
    assert drawn == pytest.approx(expected / expected.sum())
