"""Evaluation numbers against hand-computed values; the confusion picture is a real PNG."""

from __future__ import annotations

import pytest
from PIL import Image

from inference.engine.evaluation import (
    OTHER,
    classification_report,
    confusion_matrix,
    rank_labels,
    render_confusion_png,
)

LABELS = ["A", "B", "C", "D"]
TRUTH = ["A", "A", "B", "B", "C", "C"]
RANKED = [
    ["A", "B", "C", "D"],
    ["B", "A", "C", "D"],
    ["B", "C", "A", "D"],
    ["B", "A", "C", "D"],
    ["C", "A", "B", "D"],
    ["A", "B", "D", "C"],
]


def test_scores_equal_the_hand_computed_values():
    report = classification_report(TRUTH, RANKED, LABELS)

    # Top-1 right on tracks 1, 3, 4, 5; the truth is outside the top 3 only on track 6.
    assert report["tracks"] == 6
    assert report["top1"] == pytest.approx(4 / 6)
    assert report["top3"] == pytest.approx(5 / 6)
    assert report["confusion"]["matrix"] == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    a, b, c, d = (report["per_genre"][g] for g in LABELS)
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((1 / 2, 1 / 2, 1 / 2))
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    assert (c["precision"], c["recall"], c["f1"]) == pytest.approx((1.0, 1 / 2, 2 / 3))
    assert (d["precision"], d["recall"], d["f1"], d["support"]) == (0.0, 0.0, 0.0, 0)
    assert (a["support"], b["predicted"]) == (2, 3)
    # D is neither true nor predicted, so it does not drag the macro average down.
    assert report["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_predictions_outside_the_labels_count_as_wrong_in_an_other_column():
    matrix = confusion_matrix(["A", "B"], ["Zydeco", "B"], ["A", "B"])
    assert matrix["columns"] == ["A", "B", OTHER]
    assert matrix["matrix"] == [[0, 0, 1], [0, 1, 0]]
    report = classification_report(["A", "B"], [["Zydeco", "A"], ["B"]], ["A", "B"])
    assert report["top1"] == 0.5 and report["top3"] == 1.0 and report["per_genre"]["A"]["recall"] == 0.0


def test_ranking_keeps_label_order_for_ties():
    assert rank_labels(["x", "y", "z"], [0.2, 0.4, 0.4]) == ["y", "z", "x"]


def test_confusion_png_is_a_valid_image(tmp_path):
    confusion = classification_report(TRUTH, RANKED, LABELS)["confusion"]
    path = render_confusion_png(confusion, tmp_path / "deep" / "confusion.png", title="tiny")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] >= 400 and image.size[1] >= 400
