"""Splits that work with few labels: stratified by genre, grouped by artist, reproducible; k folds
that hold every track out exactly once."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from inference.engine.splits import parse_fractions, resplit, stratified_group_folds, stratified_group_split


def _catalogue(seed: int, genres: int = 8, tracks: int = 30) -> list[tuple[str, str]]:
    """(artist, genre) pairs like a first batch of labels: 1–6 tracks per genre, some artists with
    several tracks, a few artists across two genres."""
    rng = random.Random(seed)
    names = [f"G{g}" for g in range(genres)]
    items = []
    for i in range(tracks):
        genre = names[i % genres] if i < 2 * genres else rng.choice(names)
        artist = f"artist {rng.randrange(tracks // 2)}" if rng.random() < 0.5 else f"solo {i}"
        items.append((artist, genre))
    return items


@pytest.mark.parametrize("seed", range(12))
def test_every_genre_with_two_artists_is_in_train_and_no_artist_is_split(seed):
    items = _catalogue(seed)
    splits = stratified_group_split(items, parse_fractions("0.6,0.2,0.2"))

    by_artist: dict[str, set[str]] = {}
    for (artist, _), split in zip(items, splits):
        by_artist.setdefault(artist, set()).add(split)
    assert all(len(s) == 1 for s in by_artist.values())  # one artist, one split
    artists_per_genre = Counter(genre for _, genre in set(items))
    for genre, n_artists in artists_per_genre.items():
        in_train = any(s == "train" for (_, g), s in zip(items, splits) if g == genre)
        if n_artists >= 2:
            assert in_train, f"{genre} has {n_artists} artists but none in train"
    assert set(splits) == {"train", "val", "test"}


def test_small_genres_stay_in_train_and_large_ones_follow_the_fractions():
    items = [(f"a{i}", "Big") for i in range(100)] + [(f"b{i}", "Small") for i in range(3)]
    splits = stratified_group_split(items)  # 0.8 / 0.1 / 0.1
    big = Counter(s for (_, g), s in zip(items, splits) if g == "Big")
    small = Counter(s for (_, g), s in zip(items, splits) if g == "Small")
    assert big == {"train": 80, "val": 10, "test": 10}
    assert small["train"] >= 2  # three tracks: 2.4 are train's share, so never 1/1/1


def test_the_split_depends_only_on_the_labels_not_their_order():
    items = _catalogue(3)
    shuffled = items[:]
    random.Random(1).shuffle(shuffled)
    one = dict(zip(items, stratified_group_split(items)))
    two = dict(zip(shuffled, stratified_group_split(shuffled)))
    assert one == two


@pytest.mark.parametrize("k", [2, 3, 5])
def test_k_folds_hold_every_track_out_once_and_keep_artists_together(k):
    items = _catalogue(7)
    folds = stratified_group_folds(items, k)
    assert len(folds) == len(items) and set(folds) == set(range(k))  # K folds, each track in exactly one
    sizes = Counter(folds)
    assert max(sizes.values()) - min(sizes.values()) <= max(Counter(a for a, _ in items).values())
    for artist in {a for a, _ in items}:
        assert len({f for (a, _), f in zip(items, folds) if a == artist}) == 1


def test_more_folds_than_artists_is_refused():
    with pytest.raises(ValueError, match="at least 4 artists"):
        stratified_group_folds([("a", "x"), ("b", "y"), ("c", "x")], 4)


def test_val_fraction_zero_trains_on_every_non_test_track():
    items = _catalogue(5)
    splits = stratified_group_split(items)
    merged = resplit(items, splits, val_fraction=0)
    assert [s for s in merged if s != "train"] == [s for s in splits if s == "test"]
    assert resplit(items, splits, fractions="1,0,0") == ["train"] * len(items)


@pytest.mark.parametrize("bad", ["0.8,0.1", "0.5,0.5,0.5", "0,0.5,0.5", "a,b,c", "-0.1,0.6,0.5"])
def test_bad_fractions_are_refused(bad):
    with pytest.raises(ValueError):
        parse_fractions(bad)
