"""The catalog's invariants hold in the database itself, not only in code."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from catalog.models import ModelVersion, Track, TrackStatus
from catalog.services import model_version_promote
from tests.factories import make_analysis, make_model_version, make_track

pytestmark = pytest.mark.django_db


def test_the_same_audio_bytes_cannot_be_stored_twice():
    first = make_track()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_track(sha256=first.sha256)
    assert Track.objects.count() == 1


def test_an_external_id_belongs_to_one_track_only():
    make_track(external_id="cms-42")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_track(external_id="cms-42")


def test_many_tracks_may_have_no_external_id():
    make_track(external_id=None)
    make_track(external_id=None)
    make_track(external_id="")
    make_track(external_id="")
    assert Track.objects.count() == 4


def test_the_database_refuses_a_second_active_model_version():
    make_model_version(is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_model_version(is_active=True)
    assert ModelVersion.objects.filter(is_active=True).count() == 1


def test_activating_a_version_deactivates_the_previous_one():
    old = make_model_version(is_active=True)
    new = make_model_version()
    model_version_promote(model_version=new, override_reason="neither is evaluated: the gate is tested elsewhere")
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.is_active, new.is_active) == (False, True)
    assert new.activated_at is not None


def test_a_track_has_one_analysis_per_model_version():
    track, version = make_track(), make_model_version()
    make_analysis(track=track, model_version=version)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_analysis(track=track, model_version=version)
    make_analysis(track=track, model_version=make_model_version())
    assert track.analyses.count() == 2


def test_a_failed_track_must_say_why():
    with pytest.raises(IntegrityError), transaction.atomic():
        make_track(status=TrackStatus.FAILED, failure_reason="")


def test_an_unknown_status_is_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        make_track(status="lost")


def test_a_checksum_must_be_a_sha256_hex_digest():
    with pytest.raises(IntegrityError), transaction.atomic():
        make_track(sha256="not-a-checksum")


def test_analysis_top_k_is_ordered_by_probability():
    version = make_model_version(labels=["A", "B", "C"])
    analysis = make_analysis(track=make_track(), model_version=version, probabilities=[0.2, 0.5, 0.3])
    assert analysis.top_k(2) == [("B", 0.5), ("C", 0.3)]
