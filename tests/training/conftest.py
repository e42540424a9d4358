"""Reviewed tracks with real audio files, editors, an active tiny model, and artists that land
in a chosen split."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from catalog.models import Genre, ModelVersion, Track, TrackStatus
from review.decisions import DecisionInput, decision_submit
from review.exports import split_for
from review.models import Decision
from review.selectors import last_decision_id
from tests.factories import make_analysis, make_track
from tests.fixtures import register_tiny_model
from tests.training.synthetic import write_clip

_clip_ids = itertools.count(1)


def artist_in(split: str, start: int = 0) -> str:
    """The first name "Artist N" (N ≥ start) that the export puts in ``split``."""
    for n in itertools.count(start):
        if split_for(artist=f"Artist {n}", sha256="") == split:
            return f"Artist {n}"
    raise AssertionError("unreachable")


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def active_model(db, settings, tmp_path) -> ModelVersion:
    """A tiny untrained ViT over the 16 genres, active (the model editors saw)."""
    return register_tiny_model(settings, tmp_path, name="tiny-active")


@pytest.fixture
def editor(db, django_user_model):
    return django_user_model.objects.create_user(username="erin", password="pw", is_staff=True)


@pytest.fixture
def audio_track(media, active_model) -> Callable[..., Track]:
    """A track awaiting review whose audio is a real synthetic clip under MEDIA_ROOT."""

    def make(kind: str = "low", seed: int | None = None, **fields: object) -> Track:
        n = next(_clip_ids)
        seed = n if seed is None else seed
        sha = hashlib.sha256(f"{kind}-{seed}-{n}".encode()).hexdigest()
        name = f"tracks/{sha[:2]}/{sha}.wav"
        write_clip(media / name, kind, seed)
        track = make_track(sha256=sha, audio=name, status=TrackStatus.AWAITING_REVIEW, **fields)
        make_analysis(track=track, model_version=active_model)
        return track

    return make


@pytest.fixture
def decide(editor) -> Callable[..., Decision]:
    """Record an editor's decision the way the review screen does."""

    def make(track: Track, genre: str, by=None, secondary: str | None = None) -> Decision:
        return decision_submit(
            editor=by or editor,
            track=track,
            data=DecisionInput(
                genre=Genre.objects.get(name=genre),
                secondary_genre=Genre.objects.get(name=secondary) if secondary else None,
                seen_decision_id=last_decision_id(track),
            ),
        )

    return make


@pytest.fixture
def three_genres(db) -> list[str]:
    """Only Classical, Jazz and Metal stay active, so an export's labels are those three."""
    keep = ["Classical", "Jazz", "Metal"]
    Genre.objects.exclude(name__in=keep).update(active=False)
    return keep
