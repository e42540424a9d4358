"""Teacher tags and classes → the product's 16 genres: max of the naming tags, normalised, versioned;
the v2 ensemble of musicnn and YAMNet; the content families."""

from __future__ import annotations

import numpy as np
import pytest

from inference.engine.teacher import LABELS_BY_DATASET
from inference.engine.teacher.mapping import (
    ENSEMBLE_UNCOVERED_GENRES,
    ENSEMBLE_VERSION,
    GENRE_TAGS,
    GENRES,
    MAPPING_VERSION,
    UNCOVERED_GENRES,
    YAMNET_GENRE_CLASSES,
    TeacherWeights,
    covered_genres,
    ensemble_scores,
    genre_scores,
    genre_scores_dict,
    yamnet_genre_scores,
)
from tests.factories import GENRES16

from .conftest import shared_dir


def test_the_mapping_covers_the_product_taxonomy_with_real_tags():
    assert list(GENRES) == GENRES16 and set(GENRE_TAGS) == set(GENRES)
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


# --- mapping v2: musicnn + YAMNet ---------------------------------------------------------------


def yamnet_class_names() -> list[str]:
    import csv
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "inference" / "engine" / "teacher" / "weights" / "yamnet_class_map.csv"
    if not path.is_file():
        path = shared_dir() / "teacher" / "yamnet" / "yamnet_class_map.csv"
    if not path.is_file():
        pytest.skip("no YAMNet class map (shipped or in ../shared)")
    with path.open(newline="") as handle:
        return [row["display_name"] for row in csv.DictReader(handle)]


def test_v2_gives_every_genre_a_signal_from_classes_that_name_it():
    names = yamnet_class_names()
    assert set(YAMNET_GENRE_CLASSES) == set(GENRES) and ENSEMBLE_UNCOVERED_GENRES == ()
    assert [names[i] for i in YAMNET_GENRE_CLASSES["Latin"]] == ["Music of Latin America", "Salsa music", "Flamenco"]
    assert [names[i] for i in YAMNET_GENRE_CLASSES["Reggae"]] == ["Reggae", "Ska"]
    assert [names[i] for i in YAMNET_GENRE_CLASSES["Rap"]] == ["Rapping"]
    assert [names[i] for i in YAMNET_GENRE_CLASSES["Hip-Hop"]] == ["Hip hop music"]
    used = [i for classes in YAMNET_GENRE_CLASSES.values() for i in classes]
    assert len(used) == len(set(used)), "a class names one genre only"
    assert ENSEMBLE_VERSION != MAPPING_VERSION


def test_a_salsa_frame_is_latin_and_a_rapped_beat_scores_rap_and_hip_hop():
    frame = np.zeros((2, 521))
    frame[0, 244] = 0.8  # Salsa music
    frame[0, 232] = 0.2  # Classical music
    frame[1, 212] = 0.6  # Hip hop music
    frame[1, 31] = 0.3  # Rapping
    scores = yamnet_genre_scores(frame)
    assert np.allclose(scores.sum(axis=1), 1.0)
    assert scores[0, GENRES.index("Latin")] == pytest.approx(0.8)
    assert scores[1, GENRES.index("Hip-Hop")] == pytest.approx(2 / 3)
    assert scores[1, GENRES.index("Rap")] == pytest.approx(1 / 3)


def test_the_ensemble_is_the_weighted_mean_and_a_silent_teacher_drops_out():
    musicnn = np.zeros((2, 16))
    yamnet = np.zeros((2, 16))
    musicnn[0, GENRES.index("Jazz")] = 1.0
    yamnet[0, GENRES.index("Blues")] = 1.0
    yamnet[1, GENRES.index("Reggae")] = 1.0  # musicnn has nothing for window 1
    even = ensemble_scores(musicnn, yamnet)
    assert even[0, GENRES.index("Jazz")] == pytest.approx(0.5) and even[0, GENRES.index("Blues")] == pytest.approx(0.5)
    assert even[1, GENRES.index("Reggae")] == pytest.approx(1.0)
    leaning = ensemble_scores(musicnn, yamnet, TeacherWeights(musicnn=0.25, yamnet=0.75))
    assert leaning[0, GENRES.index("Blues")] == pytest.approx(0.75)
    assert np.allclose(ensemble_scores(musicnn, None), musicnn)
    with pytest.raises(ValueError):
        TeacherWeights(musicnn=0, yamnet=0)
    with pytest.raises(ValueError, match="521"):
        yamnet_genre_scores(np.zeros(520))


def test_content_families_name_speech_music_and_other():
    from inference.engine.teacher.content import content_scores, content_verdict

    frames = np.zeros((3, 521))
    frames[:, 0] = 0.9  # Speech
    frames[:, 132] = 0.2  # Music
    assert content_verdict(content_scores(frames)) == "speech"
    frames[:, 132] = 0.95
    assert content_verdict(content_scores(frames)) == "music"
    frames[:] = 0
    frames[:, 494] = 0.7  # Silence
    assert content_verdict(content_scores(frames)) == "other"
