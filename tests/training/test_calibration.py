"""Tempered class weights, temperature scaling and calibration error: a 70 % proposal should be
right about 70 % of the time, and inference applies the fitted temperature."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from inference.engine.analysis import analyze_file
from inference.engine.calibration import (
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_bins,
    reliability_png_bytes,
    track_probabilities,
    untempered,
)
from inference.engine.checkpoint import create_random_checkpoint
from inference.engine.model import model_from_checkpoint
from inference.engine.training import WEIGHT_CAP, class_weights
from tests.fixtures import TINY
from tests.training.synthetic import write_clip


def test_tempered_class_weights_are_bounded_and_keep_the_order():
    counts = [1, 2, 5, 40, 400]  # one genre with a single example, one with hundreds
    labels = [c for c, n in enumerate(counts) for _ in range(n)]
    sqrt = class_weights(labels, 6, "sqrt")
    inverse = class_weights(labels, 6, "inverse")

    assert sqrt[5] == 1.0  # absent genre
    present = sqrt[:5]
    assert present.max() <= WEIGHT_CAP + 1e-6 and present.min() > 0
    assert list(np.argsort(-present, kind="stable")) == [0, 1, 2, 3, 4]  # rarer still weighs more
    assert present.max() / present.min() < inverse[:5].max() / inverse[:5].min() / 5  # far tamer than 1/frequency
    assert inverse[0] > 50  # what pushed predictions towards the rarest genres
    assert class_weights(labels, 6, "none").tolist() == [1.0] * 6
    balanced = class_weights([0, 0, 1, 1, 2, 2], 3, "sqrt")
    assert balanced.tolist() == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError):
        class_weights(labels, 6, "square")


def _overconfident(seed: int = 0, tracks: int = 400, classes: int = 5, scale: float = 4.0):
    """Logits of a model right ~60 % of the time but with the confidence of a far better one."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, tracks)
    logits = rng.normal(0, 1, (tracks, classes))
    logits[np.arange(tracks), labels] += 1.2
    return scale * logits, labels


def test_temperature_scaling_lowers_nll_and_ece_and_keeps_top1():
    logits, labels = _overconfident()
    owners = np.arange(len(labels))  # one window per track
    before = track_probabilities(logits, owners, len(labels))
    temperature = fit_temperature(logits, owners, labels)
    after = track_probabilities(logits, owners, len(labels), temperature)

    assert temperature > 2  # it had been made 4× too sharp
    assert nll(after, labels) < 0.8 * nll(before, labels)
    ece_before = expected_calibration_error(before, before.argmax(1) == labels)
    ece_after = expected_calibration_error(after, after.argmax(1) == labels)
    assert ece_after < 0.5 * ece_before and ece_after < 0.08
    assert (after.argmax(1) == before.argmax(1)).all()

    # Fitted on one half, it still helps on the other half.
    half = len(labels) // 2
    t_half = fit_temperature(logits[:half], np.arange(half), labels[:half])
    rest = np.arange(len(labels) - half)
    held_before = track_probabilities(logits[half:], rest, len(rest))
    held_after = track_probabilities(logits[half:], rest, len(rest), t_half)
    assert nll(held_after, labels[half:]) < nll(held_before, labels[half:])


def test_a_calibrated_model_keeps_a_temperature_near_one():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (2000, 4))
    probs = track_probabilities(logits, np.arange(2000), 2000)
    labels = np.array([rng.choice(4, p=p) for p in probs])  # labels drawn from the model's own beliefs
    assert fit_temperature(logits, np.arange(2000), labels) == pytest.approx(1.0, abs=0.15)


def test_reliability_bins_and_ece_on_hand_made_numbers():
    confidence = np.array([0.95, 0.95, 0.65, 0.65, 0.65, 0.65])
    correct = [True, False, True, True, True, False]
    bins = reliability_bins(confidence, correct, bins=10)
    assert [b["count"] for b in bins] == [0, 0, 0, 0, 0, 0, 4, 0, 0, 2]
    assert bins[6]["accuracy"] == 0.75 and bins[9]["accuracy"] == 0.5
    # (4/6)·|0.75 − 0.65| + (2/6)·|0.5 − 0.95|
    assert expected_calibration_error(confidence, correct) == pytest.approx(4 / 6 * 0.1 + 2 / 6 * 0.45)
    png = reliability_png_bytes([("before", bins, 0.2), ("after", bins, 0.1)])
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.size[0] > image.size[1]


def test_inference_divides_the_logits_by_the_checkpoints_temperature(tmp_path):
    path = write_clip(tmp_path / "clip.wav", "low", seed=1, seconds=3.0)
    plain = create_random_checkpoint(labels=["a", "b", "c", "d"], preprocessing=TINY, seed=2)
    assert model_from_checkpoint(plain, device="cpu").temperature == 1.0  # older checkpoints: no temperature
    plain.training.update(trained=True)
    warm = type(plain)(
        plain.architecture, plain.labels, plain.preprocessing, {**plain.training, "temperature": 3.0}, plain.state_dict
    )
    one = analyze_file(path, model_from_checkpoint(plain, device="cpu"), top_k=4, with_attention=False)
    three = analyze_file(path, model_from_checkpoint(warm, device="cpu"), top_k=4, with_attention=False)

    w1, w3 = np.array(one.window_scores), np.array(three.window_scores)
    assert (w1.argmax(1) == w3.argmax(1)).all()  # each window's top-1 is unchanged
    assert w3.max(1).mean() < w1.max(1).mean()  # softer
    assert untempered(w3, 3.0) == pytest.approx(w1, abs=1e-6)  # T = 1 recovered exactly
