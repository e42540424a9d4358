"""Evaluation on any chosen set (an export's test split, a labelled CSV, decisions in a date range),
stored under a key with the active model's figures beside; training with few labels: every
track in training for a fixed number of epochs, and a k-fold cross-validated estimate."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from catalog.models import ModelVersion
from inference.engine.checkpoint import create_random_checkpoint, load_checkpoint, save_checkpoint
from inference.registry import model_version_register
from inference.retraining import evaluation_predictions
from inference.selectors import evaluation_summary
from review.exports import export_rows, label_export_create
from tests.factories import GENRES16
from tests.fixtures import TINY
from tests.training.synthetic import TIMBRES


@pytest.fixture
def candidate(active_model, settings) -> ModelVersion:
    """An inactive tiny model beside the active one (random weights: only the plumbing is tested)."""
    path = settings.MODELS_DIR / "tiny-candidate.safetensors"
    save_checkpoint(create_random_checkpoint(labels=GENRES16, preprocessing=TINY, seed=11), path)
    return model_version_register(path=path, name="tiny-candidate", activate=False)


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "genre"])
        writer.writerows(rows)
    return path


def test_evaluate_model_on_a_labelled_csv_stores_both_models_under_the_csvs_key(
    candidate, active_model, audio_track, media, tmp_path
):
    tracks = [audio_track(kind, seed=60 + i) for i, kind in enumerate(["low", "high", "noise", "low"])]
    table = _csv(
        tmp_path / "holdout.csv",
        [(str(media / t.audio.name), g) for t, g in zip(tracks, ["Jazz", "Rock", "Metal", "Jazz"])],
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "extra.wav").write_bytes((media / tracks[0].audio.name).read_bytes())
    with table.open("a") as fh:  # a relative path, from the CSV's folder, of a file not in the catalogue
        fh.write("elsewhere/extra.wav,Blues\n")

    out = io.StringIO()
    call_command("evaluate_model", "--model", "tiny-candidate", "--csv", str(table), stdout=out)

    candidate.refresh_from_db()
    ((key, entry),) = candidate.metrics["evaluations"].items()
    assert key.startswith("csv:") and entry["key"] == key and entry["set"]["kind"] == "csv"
    assert entry["tracks"] == 5 and entry["set"]["description"] == "holdout.csv (5 files)"
    assert entry["candidate"]["model_version"] == "tiny-candidate"
    assert entry["active"]["model_version"] == active_model.name  # the active model on the same set
    for scores in (entry["candidate"], entry["active"]):
        assert scores["tracks"] == 5 and 0 <= scores["top1"] <= scores["top3"] <= 1
        cal = scores["calibration"]
        assert cal["temperature"] == 1.0 and 0 <= cal["ece"] <= 1 and len(cal["bins"]) == 10
        assert cal["ece"] == pytest.approx(cal["ece_before_temperature"])  # T = 1: nothing to change
    assert "test" not in candidate.metrics  # the export-split block is not touched by other sets
    for name in ("confusion", "confusion_active", "reliability"):
        with Image.open(media / entry["images"][name]) as image:
            assert image.format == "PNG"
    stored = evaluation_predictions(candidate, key)
    assert stored["truth"] == ["Jazz", "Rock", "Metal", "Jazz", "Blues"]
    assert [t["track_id"] for t in stored["tracks"]] == [t.pk for t in tracks] + [None]
    assert len(stored["candidate"]["probabilities"]) == 5 and len(stored["active"]["probabilities"][0]) == 16
    summary = evaluation_summary(candidate, key)
    assert summary["active"]["model_version"] == active_model.name and summary["reliability_png_url"]
    text = out.getvalue()
    assert f"(stored as '{key}')" in text and "tiny-candidate: top-1" in text and "ECE" in text

    # The same file gives the same key: evaluating again replaces that entry.
    call_command("evaluate_model", "--model", "tiny-candidate", "--csv", str(table), stdout=io.StringIO())
    candidate.refresh_from_db()
    assert list(candidate.metrics["evaluations"]) == [key]


def test_bad_csvs_and_ambiguous_sets_are_refused(candidate, tmp_path):
    header = tmp_path / "x.csv"
    header.write_text("file,label\na.wav,Jazz\n")
    with pytest.raises(CommandError, match="path,genre"):
        call_command("evaluate_model", "--model", "tiny-candidate", "--csv", str(header))
    with pytest.raises(CommandError, match="missing"):
        call_command(
            "evaluate_model",
            "--model",
            "tiny-candidate",
            "--csv",
            str(_csv(tmp_path / "y.csv", [("nowhere.wav", "Jazz")])),
        )
    with pytest.raises(CommandError, match="Choose one set"):
        call_command("evaluate_model", "--model", "tiny-candidate", "--export", "1", "--csv", "y.csv")


def test_evaluate_model_on_decisions_of_a_date_range(candidate, active_model, audio_track, decide, editor):
    decided = [audio_track(kind, seed=80 + i) for i, kind in enumerate(["low", "high", "noise"])]
    for track, genre in zip(decided, ["Jazz", "Rock", "Metal"]):
        decide(track, genre)
    today = dt.date.today()  # tests run with TIME_ZONE's today; the range includes both days
    call_command(
        "evaluate_model",
        "--model",
        "tiny-candidate",
        "--decided-since",
        str(today - dt.timedelta(days=1)),
        "--decided-until",
        str(today + dt.timedelta(days=1)),
        stdout=io.StringIO(),
    )
    candidate.refresh_from_db()
    key = f"decided:{today - dt.timedelta(days=1)}..{today + dt.timedelta(days=1)}"
    entry = candidate.metrics["evaluations"][key]
    assert entry["tracks"] == 3 and entry["set"]["kind"] == "decided"
    assert evaluation_predictions(candidate, key)["truth"] == ["Jazz", "Rock", "Metal"]
    assert entry["active"]["model_version"] == active_model.name

    call_command(
        "evaluate_model",
        "--model",
        "tiny-candidate",
        "--decided-until",
        str(today - dt.timedelta(days=2)),
        stdout=io.StringIO(),
    )
    candidate.refresh_from_db()
    assert candidate.metrics["evaluations"][f"decided:start..{today - dt.timedelta(days=2)}"]["tracks"] == 0


def _labelled(three_genres, audio_track, decide, per_genre: int) -> None:
    """``per_genre`` tracks of each of three timbres, each by its own artist."""
    for label, (genre, kind) in enumerate(zip(three_genres, TIMBRES)):
        for i in range(per_genre):
            decide(audio_track(kind, seed=100 * label + i, artist=f"{genre} artist {i}"), genre)


def test_train_model_with_no_validation_trains_on_every_non_test_track_for_fixed_epochs(
    three_genres, audio_track, decide, active_model, media
):
    _labelled(three_genres, audio_track, decide, per_genre=4)
    export = label_export_create(split="0.5,0.25,0.25")
    rows = export_rows(export)
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    test_rows = sum(r["split"] == "test" for r in rows)

    call_command(
        "train_model",
        "--export",
        str(export.pk),
        "--epochs",
        "2",
        "--patience",
        "1",
        "--val-fraction",
        "0",
        "--class-weights",
        "inverse",
        "--preprocessing",
        json.dumps(TINY.to_dict()),
        "--name",
        "all-in",
        "--verbosity",
        "0",
    )

    version = ModelVersion.objects.get(name="all-in")
    t = version.metrics["training"]
    assert t["train_tracks"] == 12 - test_rows and t["val_tracks"] == 0
    assert t["epochs_run"] == 2 and t["selected"] == "last epoch" and t["temperature"] == 1.0
    assert t["calibration"] == {"fitted": False, "reason": "no validation tracks"}
    assert t["class_weighting"] == "inverse" and t["split"]["counts"]["test"] == test_rows
    ckpt = load_checkpoint(Path(settings.MODELS_DIR) / version.checkpoint_path)
    assert ckpt.training["temperature"] == 1.0 and ckpt.training["config"]["class_weights"] == "inverse"
    assert version.metrics["test"]["tracks"] == test_rows  # still scored on the untouched test split
    assert version.metrics["evaluation_key"] == f"export:{export.pk}:test"
    assert f"export:{export.pk}:test" in version.metrics["evaluations"]


def test_train_model_folds_gives_a_cross_validated_estimate_and_trains_on_every_track(
    three_genres, audio_track, decide, active_model, media
):
    _labelled(three_genres, audio_track, decide, per_genre=3)
    export = label_export_create()
    out = io.StringIO()

    call_command(
        "train_model",
        "--export",
        str(export.pk),
        "--folds",
        "3",
        "--epochs",
        "1",
        "--lr",
        "1e-3",
        "--preprocessing",
        json.dumps(TINY.to_dict()),
        "--name",
        "cv",
        "--verbosity",
        "1",
        stdout=out,
    )

    version = ModelVersion.objects.get(name="cv")
    assert version.metrics["training"]["train_tracks"] == 9  # the registered model saw every track
    entry = version.metrics["evaluations"][f"cv:export:{export.pk}:k3"]
    assert entry["set"]["kind"] == "folds" and entry["tracks"] == 9
    folds = entry["candidate"]["folds"]
    assert [f["fold"] for f in folds] == [0, 1, 2] and sum(f["tracks"] for f in folds) == 9
    assert all(f["train_tracks"] == 9 - f["tracks"] for f in folds)
    stored = evaluation_predictions(version, entry["key"])
    assert sorted(t["fold"] for t in stored["tracks"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # one genre each per fold
    by_fold = {}
    for track, genre in zip(stored["tracks"], stored["truth"]):
        by_fold.setdefault(track["fold"], []).append(genre)
    assert all(sorted(g) == sorted(three_genres) for g in by_fold.values())
    for role in ("candidate", "active"):
        scores = entry[role]
        assert set(scores["mean"]) >= {"top1", "top3", "macro_f1"} and set(scores["std"]) >= {"top1", "macro_f1"}
    assert entry["candidate"]["mean"]["top3"] == 1.0  # three labels: the truth is always in the top 3
    assert entry["active"]["model_version"] == active_model.name
    assert "3-fold cross-validation" in out.getvalue() and "±" in out.getvalue()
    assert "fold 1: 3 held-out tracks" in out.getvalue()

    with pytest.raises(CommandError, match="at least 10 artists"):
        call_command("train_model", "--export", str(export.pk), "--folds", "10", "--name", "cv2", "--verbosity", "0")
