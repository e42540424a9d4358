"""Train/val/test splits and k folds that work with few labels. Plain Python (no Django).

Every track belongs to a *group* (its artist, or itself when the artist is unknown); a group is
never split. Groups are dealt out so that each split's share of every genre comes close to the
asked fraction (stratified by genre, grouped by artist):

1. Coverage (splits only): each genre, rarest first, gets one of its groups in train, so a
   genre with at least two artists is always learnt from, and one with a single artist too.
2. The other groups, biggest first (ties by a hash of the group's key, never by track id),
   each go where they are most missing: for split s the score is
   Σ_genre n_genre·(target_s,genre − have_s,genre) / total_genre, ties to the split furthest
   below its overall size, then to the earlier split. A genre with five tracks and fractions
   0.8/0.1/0.1 thus ends 4/1/0 or 4/0/1, never 3/1/1.

The result depends only on the multiset of (group, genre) pairs, so the same labels always give
the same split. It is not stable as data grows: a new track can move an artist to another split
(the legacy hash rule in review.exports is stable, but ignores genres).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence

SPLIT_NAMES = ("train", "val", "test")
DEFAULT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
_EPS = 1e-9


def parse_fractions(value: str | Sequence[float] | Mapping[str, float]) -> dict[str, float]:
    """``"0.8,0.1,0.1"`` (or three numbers, or a mapping) → {"train", "val", "test"} fractions;
    ValueError unless they are non-negative, sum to 1 and give train a share."""
    if isinstance(value, Mapping):
        numbers = [float(value.get(name, 0.0)) for name in SPLIT_NAMES]
    else:
        parts = value.split(",") if isinstance(value, str) else list(value)
        if len(parts) != 3:
            raise ValueError(f"a split is three fractions train,val,test (e.g. 0.8,0.1,0.1), got {value!r}")
        try:
            numbers = [float(p) for p in parts]
        except (TypeError, ValueError):
            raise ValueError(f"a split is three numbers train,val,test, got {value!r}") from None
    if any(n < 0 for n in numbers) or abs(sum(numbers) - 1.0) > 1e-6 or numbers[0] <= 0:
        raise ValueError(f"split fractions must be ≥ 0, sum to 1 and give train a share, got {numbers}")
    return dict(zip(SPLIT_NAMES, numbers))


def _digest(key: Hashable) -> str:
    return hashlib.sha256(str(key).encode()).hexdigest()


def _deal(items: Sequence[tuple[Hashable, Hashable]], shares: Sequence[float], *, cover_first: bool) -> list[int]:
    """Bin index per item: groups dealt out as the module docstring says."""
    groups: dict[Hashable, Counter] = {}
    for group, genre in items:
        groups.setdefault(group, Counter())[genre] += 1
    totals: Counter = Counter(genre for _, genre in items)
    n = len(items)
    bins = range(len(shares))
    have = [Counter() for _ in bins]
    size = [0] * len(shares)
    placed: dict[Hashable, int] = {}
    order = sorted(groups, key=lambda g: (-sum(groups[g].values()), _digest(g)))

    def put(group: Hashable, b: int) -> None:
        placed[group] = b
        have[b].update(groups[group])
        size[b] += sum(groups[group].values())

    if cover_first:
        n_groups = Counter(genre for counts in groups.values() for genre in counts)
        for genre in sorted(totals, key=lambda g: (n_groups[g], totals[g], str(g))):
            if have[0][genre]:
                continue
            candidates = [g for g in order if genre in groups[g] and g not in placed]
            put(min(candidates, key=lambda g: (-groups[g][genre], _digest(g))), 0)
    open_bins = [b for b in bins if shares[b] > 0]
    for group in order:
        if group in placed:
            continue
        counts = groups[group]

        def score(b: int, counts: dict = counts) -> tuple[float, float, int]:
            need = sum(c * (shares[b] * totals[g] - have[b][g]) / totals[g] for g, c in counts.items())
            return (round(need / _EPS) * _EPS, round((shares[b] * n - size[b]) / n / _EPS) * _EPS, -b)

        put(group, max(open_bins, key=score))
    return [placed[group] for group, _ in items]


def stratified_group_split(
    items: Sequence[tuple[Hashable, Hashable]], fractions: Mapping[str, float] = DEFAULT_FRACTIONS
) -> list[str]:
    """ "train"/"val"/"test" for each (group, genre) item: stratified by genre, grouped by group,
    every genre represented in train."""
    fractions = parse_fractions(fractions)
    bins = _deal(items, [fractions[name] for name in SPLIT_NAMES], cover_first=True)
    return [SPLIT_NAMES[b] for b in bins]


def stratified_group_folds(items: Sequence[tuple[Hashable, Hashable]], k: int) -> list[int]:
    """Fold index 0..k-1 for each (group, genre) item: k folds of about equal size, stratified
    by genre, grouped by group; each item is in exactly one fold."""
    n_groups = len({group for group, _ in items})
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if k > n_groups:
        raise ValueError(f"{k} folds need at least {k} artists (groups); there are {n_groups}")
    return _deal(items, [1.0 / k] * k, cover_first=False)


def resplit(
    items: Sequence[tuple[Hashable, Hashable]],
    current: Sequence[str],
    *,
    fractions: Mapping[str, float] | str | None = None,
    val_fraction: float | None = None,
) -> list[str]:
    """The splits training uses: ``current`` (an export's column), or a fresh stratified grouped
    split with ``fractions``; then, with ``val_fraction``, the non-test tracks re-split so that
    this share of them validates (0: all of them train, for a fixed number of epochs)."""
    if len(items) != len(current):
        raise ValueError("one current split per item")
    splits = list(current) if fractions is None else stratified_group_split(items, parse_fractions(fractions))
    if val_fraction is not None:
        if not 0 <= val_fraction < 1:
            raise ValueError(f"the validation fraction must be in [0, 1), got {val_fraction}")
        pool = [i for i, name in enumerate(splits) if name != "test"]
        chosen = (
            ["train"] * len(pool)
            if val_fraction == 0
            else stratified_group_split(
                [items[i] for i in pool], {"train": 1 - val_fraction, "val": val_fraction, "test": 0.0}
            )
        )
        for i, name in zip(pool, chosen):
            splits[i] = name
    return splits
