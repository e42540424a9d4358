"""Status changes follow the track lifecycle and never overwrite a change made meanwhile."""

from __future__ import annotations

import pytest

from catalog.models import Track, TrackStatus
from catalog.status import ALLOWED_TRANSITIONS, IllegalStatusTransition, track_transition
from tests.factories import make_track

pytestmark = pytest.mark.django_db
S = TrackStatus


def test_a_track_walks_the_happy_path_to_reviewed():
    track = make_track()
    for status in (S.QUEUED, S.ANALYZING, S.AWAITING_REVIEW, S.REVIEWED):
        track_transition(track=track, to=status)
        assert Track.objects.get(pk=track.pk).status == status


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (S.PENDING, S.REVIEWED),
        (S.PENDING, S.AWAITING_REVIEW),
        (S.QUEUED, S.REVIEWED),
        (S.FAILED, S.REVIEWED),
        (S.AWAITING_REVIEW, S.ANALYZING),
    ],
)
def test_an_illegal_transition_is_refused_and_nothing_changes(start, target):
    track = make_track(status=start, failure_reason="boom" if start == S.FAILED else "")
    with pytest.raises(IllegalStatusTransition, match="cannot go from"):
        track_transition(track=track, to=target)
    assert Track.objects.get(pk=track.pk).status == start


def test_every_status_can_be_left_and_reached():
    reachable = set().union(*ALLOWED_TRANSITIONS.values())
    assert set(ALLOWED_TRANSITIONS) == set(S.values)
    assert reachable == set(S.values)


def test_failing_records_the_reason_and_a_retry_clears_it():
    track = make_track(status=S.QUEUED)
    track_transition(track=track, to=S.FAILED, reason="The file is empty (0 bytes).")
    assert Track.objects.get(pk=track.pk).failure_reason == "The file is empty (0 bytes)."
    track_transition(track=track, to=S.QUEUED)
    assert Track.objects.get(pk=track.pk).failure_reason == ""


def test_failing_without_a_reason_is_refused():
    track = make_track(status=S.QUEUED)
    with pytest.raises(IllegalStatusTransition, match="reason"):
        track_transition(track=track, to=S.FAILED, reason="  ")


def test_a_stale_copy_cannot_overwrite_a_newer_status():
    track = make_track(status=S.QUEUED)
    stale = Track.objects.get(pk=track.pk)
    track_transition(track=track, to=S.ANALYZING)  # another worker got there first
    with pytest.raises(IllegalStatusTransition, match="no longer"):
        track_transition(track=stale, to=S.ANALYZING)
    assert Track.objects.get(pk=track.pk).status == S.ANALYZING
