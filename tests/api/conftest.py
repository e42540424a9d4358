"""Fixtures for the REST API: a tiny active model, API clients, editors and staff sessions."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, Permission, User
from rest_framework.test import APIClient

from catalog.api.clients import api_client_create
from catalog.models import ApiClient, Genre, ModelVersion, Track, TrackStatus
from review.models import Decision
from tests.factories import make_analysis, make_model_version, make_track
from tests.fixtures import wav_bytes  # the fixtures themselves (tiny_model_version, ...) are global

__all__ = ["upload", "wav_bytes"]


@pytest.fixture(autouse=True)
def _taxonomy(default_genres) -> None:
    """Every API test starts with the default genres, even after a transactional flush."""


@pytest.fixture(autouse=True)
def api_settings(settings, redis_url) -> None:
    """High rates so only the throttling test is throttled; a fresh Redis (throttle counts) per test."""
    settings.API_THROTTLE_RATES = {"classify": "100000/min", "cms": "100000/min"}


@pytest.fixture
def cms_client(transactional_db) -> ApiClient:
    return api_client_create(name="Test CMS")[0]


@pytest.fixture
def cms_token(transactional_db) -> str:
    return api_client_create(name="Token CMS")[1]


@pytest.fixture
def cms(cms_token) -> APIClient:
    """An HTTP client that authenticates as an API client (token)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {cms_token}")
    return client


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def editor(transactional_db) -> User:
    """A Reviewer-group editor: not staff, no CMS API permission."""
    user = User.objects.create_user("editor", password="pw")
    group, _ = Group.objects.get_or_create(name="Reviewer")
    user.groups.add(group)
    return user


@pytest.fixture
def staff(transactional_db) -> User:
    """An editorial lead: staff in the Editorial lead group, whose session may call the CMS API."""
    user = User.objects.create_user("lead", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Editorial lead"))
    return user


@pytest.fixture
def staff_reviewer(transactional_db) -> User:
    """A reviewer as create_reviewer makes one: staff (to use the admin), in the Reviewer group."""
    user = User.objects.create_user("rita", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Reviewer"))
    return user


@pytest.fixture
def session_of() -> Callable[[User], APIClient]:
    def make(user: User) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


def grant_cms_api(user: User) -> User:
    user.user_permissions.add(Permission.objects.get(codename="use_cms_api", content_type__app_label="catalog"))
    return User.objects.get(pk=user.pk)  # fresh: permissions are cached on the instance


def upload(data: bytes, name: str = "clip.wav") -> io.BytesIO:
    """A file for APIClient's multipart encoder."""
    buffer = io.BytesIO(data)
    buffer.name = name
    return buffer


@pytest.fixture
def decided(transactional_db) -> Callable[..., Decision]:
    """Make a reviewable track (with an analysis) and record an editor's decision on it."""
    from review.decisions import DecisionInput, decision_submit
    from review.selectors import last_decision_id

    version: list[ModelVersion] = []

    def make(
        *, genre: str = "jazz", editor: User | None = None, track: Track | None = None, **track_fields: object
    ) -> Decision:
        if not version:
            version.append(make_model_version(name="proposer", trained=True))
        if track is None:
            track = make_track(status=TrackStatus.AWAITING_REVIEW, **track_fields)
            make_analysis(track=track, model_version=version[0])
        editor = editor or User.objects.get_or_create(username="decider")[0]
        return decision_submit(
            editor=editor,
            track=track,
            data=DecisionInput(genre=Genre.objects.get(slug=genre), seen_decision_id=last_decision_id(track)),
        )

    return make
