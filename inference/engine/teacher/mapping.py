"""From the musicnn teachers' 50 tags to the product's 16 genres (max of the naming tags, normalised).

Why max and not sum: tags overlap ("rock", "classic rock", "hard rock" fire together), so a
sum would reward genres with many synonyms; the max asks "does any tag that names this genre
fire?". The scores of the 16 genres are then divided by their sum, so they read as a
distribution a student can be distilled towards.

The table follows ``shared/teacher/README.md`` ("How it maps to genres") where it names tags
(Rock, Classical, R&B, Disco, World) and otherwise uses only tags whose name *is* the genre or a
sub-genre the taxonomy lists under it (House, techno, electro → Electronic). Tags for moods,
instruments, decades or voices are left out, and so are "alternative"/"indie" and "ambient":
they also fire on non-rock and acoustic/orchestral material. Genres no tag names get no
teacher signal (score 0) and are listed in ``UNCOVERED_GENRES``: a student must learn them
from human labels only. Bump ``MAPPING_VERSION`` whenever the table or the rule changes, and
store it next to any teacher-derived label.

No torch, no librosa, no Django: this module only needs numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import LABELS_BY_DATASET

MAPPING_VERSION = "musicnn-max-of-tags-v1"

GENRES: tuple[str, ...] = (
    "Blues",
    "Classical",
    "Country",
    "Disco",
    "Electronic",
    "Folk",
    "Hip-Hop",
    "Jazz",
    "Latin",
    "Metal",
    "Pop",
    "R&B",
    "Rap",
    "Reggae",
    "Rock",
    "World",
)

# genre → ((teacher, tag), ...). Teacher "MSD" = Last.fm top-50, "MTT" = MagnaTagATune top-50.
GENRE_TAGS: dict[str, tuple[tuple[str, str], ...]] = {
    "Blues": (("MSD", "blues"),),
    "Classical": (
        ("MTT", "classical"),
        ("MTT", "classic"),
        ("MTT", "opera"),
        ("MTT", "choral"),
        ("MTT", "harpsichord"),
    ),
    "Country": (("MSD", "country"), ("MTT", "country")),
    "Disco": (("MSD", "funk"),),
    "Electronic": (
        ("MSD", "electronic"),
        ("MSD", "electronica"),
        ("MSD", "electro"),
        ("MSD", "House"),
        ("MTT", "electronic"),
        ("MTT", "techno"),
    ),
    "Folk": (("MSD", "folk"),),
    "Hip-Hop": (("MSD", "Hip-Hop"),),
    "Jazz": (("MSD", "jazz"),),
    "Latin": (),
    "Metal": (("MSD", "metal"), ("MSD", "heavy metal"), ("MTT", "metal")),
    "Pop": (("MSD", "pop"), ("MSD", "indie pop"), ("MTT", "pop")),
    "R&B": (("MSD", "rnb"), ("MSD", "soul")),
    # "Hip-Hop" is Last.fm's catch-all for rap too, but giving Rap the same score as Hip-Hop would
    # teach a student that the two are one genre; Rap is left to human labels.
    "Rap": (),
    "Reggae": (),
    "Rock": (
        ("MSD", "rock"),
        ("MSD", "classic rock"),
        ("MSD", "hard rock"),
        ("MSD", "punk"),
        ("MSD", "Progressive rock"),
        ("MTT", "rock"),
    ),
    "World": (("MTT", "indian"), ("MTT", "sitar")),
}

# Genres that no tag of either teacher names: always 0, never a teacher target.
UNCOVERED_GENRES: tuple[str, ...] = tuple(genre for genre in GENRES if not GENRE_TAGS[genre])


def covered_genres(teachers: tuple[str, ...] = ("MSD", "MTT")) -> tuple[str, ...]:
    """Genres that get a teacher signal when only ``teachers`` are run (MTT alone covers few)."""
    return tuple(g for g in GENRES if any(teacher in teachers for teacher, _ in GENRE_TAGS[g]))


def genre_scores(tag_probs: Mapping[str, np.ndarray]) -> np.ndarray:
    """Normalised 16-genre scores (..., 16) from teacher tag probabilities ``{"MSD": (..., 50), "MTT": ...}``.

    Each genre takes the max over its tags among the teachers given; a genre with none of its
    tags available scores 0. Rows sum to 1 (a row whose covered genres are all 0 stays all 0).
    """
    if not tag_probs:
        raise ValueError("no teacher probabilities given")
    unknown = set(tag_probs) - set(LABELS_BY_DATASET)
    if unknown:
        raise ValueError(f"unknown teachers {sorted(unknown)}; expected MSD and/or MTT")
    arrays = {name: np.asarray(probs, dtype=np.float64) for name, probs in tag_probs.items()}
    batch_shapes = {a.shape[:-1] for a in arrays.values()}
    if len(batch_shapes) != 1:
        raise ValueError(f"teacher outputs disagree in shape: {[a.shape for a in arrays.values()]}")
    for name, array in arrays.items():
        if array.shape[-1] != len(LABELS_BY_DATASET[name]):
            raise ValueError(f"{name}: expected {len(LABELS_BY_DATASET[name])} tags, got {array.shape[-1]}")
    batch_shape = batch_shapes.pop()
    raw = np.zeros((*batch_shape, len(GENRES)), dtype=np.float64)
    for column, genre in enumerate(GENRES):
        columns = [
            arrays[teacher][..., LABELS_BY_DATASET[teacher].index(tag)]
            for teacher, tag in GENRE_TAGS[genre]
            if teacher in arrays
        ]
        if columns:
            raw[..., column] = np.max(np.stack(columns, axis=-1), axis=-1)
    total = raw.sum(axis=-1, keepdims=True)
    return np.divide(raw, total, out=np.zeros_like(raw), where=total > 0)


def genre_scores_dict(tag_probs: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The same scores for one recording (tag vectors of 50), keyed by genre name."""
    scores = genre_scores(tag_probs)
    if scores.ndim != 1:
        raise ValueError("genre_scores_dict takes one recording's tag vectors; use genre_scores for batches")
    return {genre: float(score) for genre, score in zip(GENRES, scores)}


# --- Mapping v2: the musicnn taggers and YAMNet together --------------------------------------
#
# YAMNet (AudioSet, Apache-2.0) names genres musicnn cannot: Latin (Music of Latin America,
# Salsa, Flamenco), Reggae (Reggae, Ska). Each teacher's 16 scores are normalised on their own
# (same max-of-naming-classes rule as above), then the ensemble is their weighted mean. A
# teacher that gives a window no genre signal at all (all zeros) drops out of that window's mean
# rather than pulling every genre down.
#
# Rap vs Hip-Hop: AudioSet's "Hip hop music" is the style (beats, production); "Rapping" is the
# vocal delivery. Hip-Hop takes musicnn's Hip-Hop tag and YAMNet's Hip hop music; Rap takes
# YAMNet's Rapping only, so a beat without a rapper leans Hip-Hop and a rapped track scores both.
# Funk goes to Disco (as musicnn's "funk" does above); Traditional music goes to World, Folk music
# to Folk. Ambient, New-age, soundtrack and mood classes name no genre and are left out.

ENSEMBLE_VERSION = "ensemble-musicnn-yamnet-v2"

YAMNET_GENRE_CLASSES: dict[str, tuple[int, ...]] = {
    "Blues": (246,),  # Blues
    "Classical": (232, 233),  # Classical music, Opera
    "Country": (224, 226),  # Country, Bluegrass
    "Disco": (231, 227),  # Disco, Funk
    "Electronic": (
        234,
        235,
        236,
        237,
        238,
        239,
        240,
        242,
    ),  # Electronic, House, Techno, Dubstep, DnB, Electronica, EDM, Trance
    "Folk": (228,),  # Folk music
    "Hip-Hop": (212,),  # Hip hop music
    "Jazz": (230, 225),  # Jazz, Swing music
    "Latin": (243, 244, 245),  # Music of Latin America, Salsa, Flamenco
    "Metal": (215,),  # Heavy metal
    "Pop": (211,),  # Pop music
    "R&B": (221, 222),  # Rhythm and blues, Soul music
    "Rap": (31,),  # Rapping
    "Reggae": (223, 258),  # Reggae, Ska
    "Rock": (214, 216, 217, 218, 219, 220),  # Rock, Punk, Grunge, Progressive, Rock and roll, Psychedelic
    "World": (
        229,
        251,
        252,
        255,
        256,
        257,
        259,
    ),  # Middle Eastern, Africa, Afrobeat, Asia, Carnatic, Bollywood, Traditional
}
YAMNET_CLASSES = 521


@dataclass(frozen=True)
class TeacherWeights:
    """How much each teacher counts in the ensemble; stored with every teacher-derived target."""

    musicnn: float = 0.5
    yamnet: float = 0.5

    def __post_init__(self) -> None:
        if self.musicnn < 0 or self.yamnet < 0 or self.musicnn + self.yamnet <= 0:
            raise ValueError(f"teacher weights must be ≥ 0 and not both 0, got {self}")

    def as_dict(self) -> dict[str, float]:
        return {"musicnn": self.musicnn, "yamnet": self.yamnet}


def _normalise(raw: np.ndarray) -> np.ndarray:
    total = raw.sum(axis=-1, keepdims=True)
    return np.divide(raw, total, out=np.zeros_like(raw), where=total > 0)


def yamnet_genre_scores(scores: np.ndarray) -> np.ndarray:
    """Normalised 16-genre scores (..., 16) from YAMNet class scores (..., 521)."""
    array = np.asarray(scores, dtype=np.float64)
    if array.shape[-1] != YAMNET_CLASSES:
        raise ValueError(f"YAMNet: expected {YAMNET_CLASSES} classes, got {array.shape[-1]}")
    raw = np.stack([array[..., list(YAMNET_GENRE_CLASSES[genre])].max(axis=-1) for genre in GENRES], axis=-1)
    return _normalise(raw)


def ensemble_scores(
    musicnn: np.ndarray | None, yamnet: np.ndarray | None, weights: TeacherWeights = TeacherWeights()
) -> np.ndarray:
    """The ensemble's 16-genre distribution (..., 16) from each teacher's normalised genre scores
    (``genre_scores`` and ``yamnet_genre_scores``, same leading shape); either may be None."""
    parts = [(weights.musicnn, musicnn), (weights.yamnet, yamnet)]
    parts = [(w, np.asarray(s, dtype=np.float64)) for w, s in parts if s is not None and w > 0]
    if not parts:
        raise ValueError("the ensemble needs at least one teacher with a positive weight")
    total = np.zeros_like(parts[0][1])
    weight_sum = np.zeros((*parts[0][1].shape[:-1], 1))
    for weight, scores in parts:
        present = scores.sum(axis=-1, keepdims=True) > 0  # a silent teacher drops out, it does not vote 0
        total += weight * scores * present
        weight_sum += weight * present
    return np.divide(total, weight_sum, out=np.zeros_like(total), where=weight_sum > 0)


ENSEMBLE_UNCOVERED_GENRES: tuple[str, ...] = tuple(
    genre for genre in GENRES if not GENRE_TAGS[genre] and not YAMNET_GENRE_CLASSES[genre]
)
