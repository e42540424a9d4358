"""Editors, leads and tracks awaiting review with known analyses."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group

from catalog.models import Genre, ModelVersion, Track, TrackStatus
from tests.factories import GENRES16, make_analysis, make_model_version, make_track
from tests.fixtures import restore_data_migrations


@pytest.fixture
def make_editor(db, django_user_model) -> Callable[..., object]:
    def make(username: str, role: str = "Reviewer"):
        if not Group.objects.filter(name=role).exists():
            restore_data_migrations()
        user = django_user_model.objects.create_user(username=username, password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def model_version(db) -> ModelVersion:
    if not Genre.objects.exists():
        restore_data_migrations()
    return make_model_version(is_active=True)


def probabilities(top: dict[str, float]) -> list[float]:
    """A full distribution over the 16 genres with the given head; the rest share what is left."""
    rest = (1 - sum(top.values())) / (len(GENRES16) - len(top))
    return [top.get(name, rest) for name in GENRES16]


@pytest.fixture
def awaiting(model_version) -> Callable[..., Track]:
    def make(top: dict[str, float], **fields: object) -> Track:
        track = make_track(status=TrackStatus.AWAITING_REVIEW, **fields)
        make_analysis(track=track, model_version=model_version, probabilities=probabilities(top))
        return track

    return make
