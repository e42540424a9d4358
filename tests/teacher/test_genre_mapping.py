"""Teacher tags → the product's 16 genres: max of the naming tags, normalised, versioned."""
from __future__ import annotations

import numpy as np
import pytest

from inference.teacher import LABELS_BY_DATASET
from inference.teacher.mapping import (
    GENRE_TAGS, GENRES, MAPPING_VERSION, UNCOVERED_GENRES, covered_genres, genre_scores,
    genre_scores_dict,
)

PRODUCT_GENRES = ["Blues", "Classical", "Country", "Disco", "Electronic", "Folk", "Hip-Hop", "Jazz",
                  "Latin", "Metal", "Pop", "R&B", "Rap", "Reggae", "Rock", "World"]


def test_the_mapping_covers_the_product_taxonomy_with_real_tags():
    assert list(GENRES) == PRODUCT_GENRES and set(GENRE_TAGS) == set(GENRES)
    for genre, tags in GENRE_TAGS.items():
        for teacher, tag in tags:
            assert tag in LABELS_BY_DATASET[teacher], (genre, teacher, tag)
    assert UNCOVERED_GENRES == ("Latin", "Rap", "Reggae")
    assert MAPPING_VERSION


def test_each_genre_takes_its_loudest_tag():
    msd = np.zeros(50)
    mtt = np.zeros(50)
    msd[LABELS_BY_DATASET["MSD"].index("hard rock")] = 0.6
    msd[LABELS_BY_DATASET["MSD"].index("rock")] = 0.3
    mtt[LABELS_BY_DATASET["MTT"].index("opera")] = 0.2
    scores = genre_scores_dict({"MSD": msd, "MTT": mtt})
    assert scores["Rock"] == pytest.approx(0.75) and scores["Classical"] == pytest.approx(0.25)


def test_reference_tracks_give_16_scores_summing_to_one_with_uncovered_genres_at_zero(references):
    msd = np.stack([r["MSD_mean_probs"] for r in references.values()])
    mtt = np.stack([r["MTT_mean_probs"] for r in references.values()])
    scores = genre_scores({"MSD": msd, "MTT": mtt})
    assert scores.shape == (len(references), 16)
    assert np.allclose(scores.sum(axis=1), 1.0)
    for genre in UNCOVERED_GENRES:
        assert np.all(scores[:, GENRES.index(genre)] == 0.0)
    assert np.all(scores >= 0)


def test_with_one_teacher_only_its_genres_score():
    mtt_only = covered_genres(("MTT",))
    assert "Jazz" not in mtt_only and "Classical" in mtt_only
    scores = genre_scores_dict({"MTT": np.full(50, 0.5)})
    assert scores["Jazz"] == 0.0 and sum(scores.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="50 tags"):
        genre_scores({"MSD": np.zeros(49)})
