"""Adaptation on unlabelled tracks: the student learns from the teacher ensemble's soft targets,
labels + adaptation beat the model it started from on held-out clips, and train_model
--adapt-on catalog trains on exactly the unlabelled catalog tracks that have a cached target."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import ModelVersion
from inference.engine.checkpoint import create_random_checkpoint
from inference.engine.evaluation import EvaluationItem, evaluate_model
from inference.engine.model import model_from_checkpoint
from inference.engine.teacher import mapping
from inference.engine.teacher.ensemble import clip_distribution, ensemble_targets, over_labels
from inference.engine.training import SoftExample, TrainingConfig, TrainingExample, train
from inference.models import TeacherTarget
from inference.retraining import _adaptation
from review.exports import export_rows, label_export_create
from tests.fixtures import TINY
from tests.training.conftest import artist_in
from tests.training.synthetic import TIMBRES, write_clip

CONFIG = TrainingConfig(
    epochs=8, batch_size=16, lr=1e-3, patience=0, crops_per_track=4, seed=0, class_weights="none", adapt_weight=1.0
)


def _teacher(label: int, right: float = 0.6) -> np.ndarray:
    """A teacher that ranks the true timbre first but is far from sure."""
    target = np.full(len(TIMBRES), (1 - right) / (len(TIMBRES) - 1), dtype=np.float32)
    target[label] = right
    return target


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, list]:
    """Per timbre: 1 labelled clip, 6 unlabelled ones (with the teacher's soft target), 4 held out."""
    root = tmp_path_factory.mktemp("adaptation")
    out: dict[str, list] = {"labelled": [], "unlabelled": [], "held_out": []}
    for label, kind in enumerate(TIMBRES):
        paths = [str(write_clip(root / f"{kind}-{i}.wav", kind, seed=500 + 100 * label + i)) for i in range(11)]
        out["labelled"].append(TrainingExample(paths[0], label, "train"))
        out["unlabelled"] += [SoftExample(p, _teacher(label)) for p in paths[1:7]]
        out["held_out"] += [EvaluationItem(p, kind) for p in paths[7:]]
    return out


def _accuracy(checkpoint, items) -> float:
    return evaluate_model(model_from_checkpoint(checkpoint, device="cpu"), items, list(TIMBRES))["top1"]


def test_labels_plus_adaptation_beat_the_base_model_on_held_out_clips(clips):
    base = create_random_checkpoint(labels=list(TIMBRES), preprocessing=TINY, seed=3)
    init = dict(base.state_dict)
    features: dict = {}

    adapted = train(
        clips["labelled"],
        list(TIMBRES),
        TINY,
        CONFIG,
        init_state=init,
        features=features,
        adaptation=clips["unlabelled"],
    )
    alone = train([], list(TIMBRES), TINY, CONFIG, init_state=init, features=features, adaptation=clips["unlabelled"])

    base_acc = _accuracy(base, clips["held_out"])
    adapted_acc = _accuracy(adapted.checkpoint(), clips["held_out"])
    alone_acc = _accuracy(alone.checkpoint(), clips["held_out"])
    assert adapted_acc > base_acc and adapted_acc >= 0.75, (base_acc, adapted_acc)
    assert alone_acc > base_acc, (base_acc, alone_acc)  # the teacher's soft targets alone teach something
    facts = adapted.metrics["adaptation"]
    assert facts == {"tracks": 18, "weight": 1.0, "target": "clip", "alone": False}
    assert alone.metrics["adaptation"]["alone"] and alone.metrics["train_tracks"] == 0
    assert all("adapt_loss" in entry for entry in adapted.history)
    assert adapted.history[-1]["adapt_loss"] < adapted.history[0]["adapt_loss"]
    assert features[clips["unlabelled"][0].path].dtype == np.float16  # a catalog is many tracks


def test_a_crop_learns_the_teacher_windows_inside_it():
    windows = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=np.float32)  # the last window: no signal
    example = SoftExample("x.wav", np.array([0.5, 0.5], dtype=np.float32), windows, window_s=3.0)
    assert example.target(0.0, 6.0).tolist() == [1.0, 0.0]  # windows 0 and 1 are centred inside
    assert example.target(4.0, 8.0).tolist() == [0.5, 0.5]  # windows 1 and 2
    assert example.target(9.5, 12.0).tolist() == [0.5, 0.5]  # no signal there: the clip's distribution
    assert example.target(100.0, 106.0).tolist() == [0.5, 0.5]  # nearest window (the last) has none either
    assert SoftExample("y.wav", np.array([0.2, 0.8])).target(0, 6).tolist() == [0.2, 0.8]


def test_the_ensemble_target_is_the_mean_of_its_windows_over_the_16_genres():
    rng = np.random.default_rng(0)
    tags = {"MSD": rng.uniform(size=(4, 50)), "MTT": rng.uniform(size=(4, 50))}
    frames = rng.uniform(size=(25, 521))
    targets = ensemble_targets(tags, frames)
    assert targets.mapping_version == mapping.ENSEMBLE_VERSION and targets.genres == list(mapping.GENRES)
    assert targets.weights == {"musicnn": 0.5, "yamnet": 0.5} and targets.windows.shape == (4, 16)
    assert np.allclose(targets.windows.sum(axis=1), 1) and np.isclose(targets.clip.sum(), 1)
    assert np.allclose(targets.clip, targets.windows.mean(axis=0))
    assert clip_distribution(np.zeros((3, 16))).sum() == 0  # no teacher signal: no target
    # A model without some genres: those are dropped and the rest renormalised.
    labels = ["Jazz", "Rock", "Not-a-genre"]
    over = over_labels(targets.clip, targets.genres, labels)
    assert np.isclose(over.sum(), 1) and over[2] == 0
    assert over_labels(targets.clip, targets.genres, ["Not-a-genre"]) is None


def _target_row(track, genre: str) -> TeacherTarget:
    """A cached target whose teachers both hear ``genre`` (as a worker's job would store it)."""
    clip = [0.02] * 16
    clip[mapping.GENRES.index(genre)] = 0.7
    clip = [c / sum(clip) for c in clip]
    return TeacherTarget.objects.create(
        track=track,
        mapping_version=mapping.ENSEMBLE_VERSION,
        weights={"musicnn": 0.5, "yamnet": 0.5},
        genres=list(mapping.GENRES),
        clip=clip,
        window_s=2.992,
        windows=[clip],
        teacher_clips={"musicnn": clip, "yamnet": clip},
    )


def test_train_model_adapts_on_the_unlabelled_catalog_tracks_with_targets(
    audio_track, decide, three_genres, active_model, media, settings, tmp_path
):
    kinds = {"Classical": "low", "Jazz": "high", "Metal": "noise"}
    for i, (genre, kind) in enumerate(kinds.items()):
        for j in range(2):
            decide(audio_track(kind, artist=artist_in("train", 10 * i + 5 * j)), genre)
    unlabelled = [audio_track(kind) for kind in kinds.values() for _ in range(2)]
    for track, genre in zip(unlabelled[:4], ["Classical", "Classical", "Jazz", "Jazz"]):
        _target_row(track, genre)  # the last two tracks have no target yet
    export = label_export_create()

    call_command(
        "train_model",
        "--export",
        str(export.pk),
        "--epochs",
        "2",
        "--val-fraction",
        "0",
        "--adapt-on",
        "catalog",
        "--adapt-weight",
        "0.5",
        "--adapt-target",
        "window",
        "--name",
        "adapted",
        "--no-evaluate",
    )

    version = ModelVersion.objects.get(name="adapted")
    assert not version.is_active
    facts = version.metrics["training"]["adaptation"]
    assert facts["used"] == 4 and facts["without_targets"] == 2 and facts["unlabelled_tracks"] == 6
    assert facts["weight"] == 0.5 and facts["target"] == "window" and facts["source"] == "catalog"
    assert facts["mapping_version"] == mapping.ENSEMBLE_VERSION
    assert facts["teacher_weights"] == [{"musicnn": 0.5, "yamnet": 0.5}]
    assert "Adapted on 4 unlabelled catalog tracks" in version.notes


def test_adaptation_targets_are_recalibrated_on_the_labelled_tracks_teacher_targets(
    audio_track, decide, three_genres, active_model, media
):
    # The teachers hear every Classical track as Jazz and every Jazz track as Metal: recalibrated on
    # the labels, an unlabelled track they hear as Jazz is taught as Classical.
    heard = {"Classical": "Jazz", "Jazz": "Metal", "Metal": "Rock"}
    kinds = {"Classical": "low", "Jazz": "high", "Metal": "noise"}
    for i, (genre, kind) in enumerate(kinds.items()):
        for j in range(3):
            track = audio_track(kind, artist=artist_in("train", 10 * i + 3 * j))
            decide(track, genre)
            _target_row(track, heard[genre])
    unlabelled = audio_track("low")
    _target_row(unlabelled, "Jazz")
    export = label_export_create()

    call_command(
        "train_model",
        "--export",
        str(export.pk),
        "--epochs",
        "1",
        "--val-fraction",
        "0",
        "--adapt-on",
        "catalog",
        "--name",
        "recalibrated",
        "--no-evaluate",
    )  # recalibrated: the default

    facts = ModelVersion.objects.get(name="recalibrated").metrics["training"]["adaptation"]
    train = [
        TrainingExample(str(media / row["audio"]), export.labels.index(row["genre"]), "train")
        for row in export_rows(export)
        if row["split"] in ("train", "val")
    ]  # --val-fraction 0: all train
    recalibration = facts["recalibration"]
    assert recalibration["used"] and recalibration["without_teacher_targets"] == 0
    assert recalibration["labelled_tracks"] == len(train) and facts["used"] == 1
    examples, _ = _adaptation(export, list(export.labels), "catalog", None, 0, recalibrate_on=train)
    assert export.labels[int(np.argmax(examples[0].clip))] == "Classical"
    assert examples[0].windows is None  # recalibrated targets are clip-level


def test_train_model_says_how_to_get_teacher_targets_when_there_are_none(audio_track, decide, three_genres, media):
    for genre, kind in (("Classical", "low"), ("Jazz", "high")):
        decide(audio_track(kind, artist=artist_in("train")), genre)
    audio_track("noise")  # unlabelled, no target
    export = label_export_create()
    with pytest.raises(CommandError, match="teacher_targets --wait"):
        call_command("train_model", "--export", str(export.pk), "--epochs", "1", "--adapt-on", "catalog")
