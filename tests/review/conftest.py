"""Editors, leads and tracks awaiting review with known analyses."""
from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, Permission

from catalog.models import Genre, ModelVersion, Track, TrackStatus
from tests.factories import GENRES16, make_analysis, make_model_version, make_track


def restore_roles_and_genres() -> None:
    """Transactional tests flush tables, data migrations included: put taxonomy and roles back."""
    genres = importlib.import_module("catalog.migrations.0002_default_genres")
    for order, (name, description) in enumerate(genres.DEFAULT_GENRES, start=1):
        Genre.objects.get_or_create(slug=genres.slug_for(name), defaults={"name": name, "order": order * 10,
                                                                          "description": description})
    roles = importlib.import_module("review.migrations.0002_roles")
    reviewer, _ = Group.objects.get_or_create(name="Reviewer")
    reviewer.permissions.set([Permission.objects.get(content_type__app_label=app, codename=code)
                              for app, code in roles.REVIEWER])
    lead, _ = Group.objects.get_or_create(name="Editorial lead")
    lead.permissions.set(Permission.objects.filter(content_type__app_label__in=roles.LEAD_APPS))


@pytest.fixture
def make_editor(db, django_user_model) -> Callable[..., object]:
    def make(username: str, role: str = "Reviewer"):
        if not Group.objects.filter(name=role).exists():
            restore_roles_and_genres()
        user = django_user_model.objects.create_user(username=username, password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def model_version(db) -> ModelVersion:
    if not Genre.objects.exists():
        restore_roles_and_genres()
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
