"""Decisions are complete, append-only records; stale or colliding submissions are refused."""

from __future__ import annotations

import pytest

from catalog.models import Genre, Track, TrackStatus
from review.claims import claim_open
from review.decisions import DecisionInput, decision_submit, decisions_bulk_accept
from review.errors import ReviewError, ReviewErrorCode
from review.models import Claim, Decision, DecisionAction, DecisionSource
from review.selectors import editor_statistics, last_decision_id

pytestmark = pytest.mark.django_db


def genre(name: str) -> Genre:
    return Genre.objects.get(name=name)


def decide(editor, track: Track, name: str, **kwargs) -> Decision:
    data = DecisionInput(genre=genre(name), seen_decision_id=kwargs.pop("seen", last_decision_id(track)), **kwargs)
    return decision_submit(editor=editor, track=track, data=data)


def test_a_decision_records_what_was_proposed_what_was_chosen_who_and_how_long(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5, "Blues": 0.3})
    ann = make_editor("ann")
    claim_open(editor=ann, track=track)
    decision = decide(
        ann, track, "Blues", secondary_genre=genre("Jazz"), note="  walking bass  ", seconds_on_screen=12.5
    )

    decision.refresh_from_db()
    assert decision.action == DecisionAction.CORRECTED and decision.source == DecisionSource.REVIEW
    assert [p["genre"] for p in decision.proposed][:2] == ["Jazz", "Blues"] and len(decision.proposed) == 5
    assert decision.proposed[0]["probability"] == pytest.approx(0.5)
    assert decision.analysis == track.analyses.get() and decision.model_version.is_active
    assert (decision.genre.name, decision.secondary_genre.name, decision.note) == ("Blues", "Jazz", "walking bass")
    assert (decision.editor, decision.seconds_on_screen) == (ann, 12.5) and decision.created_at
    track.refresh_from_db()
    assert (track.status, track.reviewed_genre.name) == (TrackStatus.REVIEWED, "Blues")
    assert not Claim.objects.filter(track=track).exists()


@pytest.mark.parametrize(
    ("choice", "action"),
    [("Jazz", DecisionAction.ACCEPTED), ("Rock", DecisionAction.CORRECTED), ("Reggae", DecisionAction.OTHER)],
)
def test_the_action_says_how_the_choice_relates_to_the_proposal(awaiting, make_editor, choice, action):
    track = awaiting({"Jazz": 0.4, "Blues": 0.2, "Rock": 0.1, "Pop": 0.08, "Folk": 0.07})
    assert decide(make_editor("ann"), track, choice).action == action


def test_the_reviewed_genre_follows_the_latest_decision_and_history_is_kept(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    ann, lead = make_editor("ann"), make_editor("lead", "Editorial lead")
    decide(ann, track, "Jazz")
    decide(lead, track, "Blues")  # a correction is a new decision, not an edit
    track.refresh_from_db()
    assert track.reviewed_genre.name == "Blues"
    assert list(track.decisions.order_by("pk").values_list("genre__name", flat=True)) == ["Jazz", "Blues"]


def test_a_decision_can_never_be_edited(awaiting, make_editor):
    decision = decide(make_editor("ann"), awaiting({"Jazz": 0.5}), "Jazz")
    decision.note = "changed my mind"
    with pytest.raises(ValueError, match="append-only"):
        decision.save()


def test_a_decision_on_a_track_someone_else_holds_is_refused(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    claim_open(editor=make_editor("ann"), track=track)
    with pytest.raises(ReviewError) as refused:
        decide(make_editor("bob"), track, "Rock")
    assert refused.value.code == ReviewErrorCode.CLAIMED_BY_OTHER and "ann is reviewing" in refused.value.message
    assert not Decision.objects.exists() and Track.objects.get(pk=track.pk).status == TrackStatus.AWAITING_REVIEW


def test_a_stale_form_cannot_overwrite_a_newer_decision(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    ann, bob = make_editor("ann"), make_editor("bob")
    seen = last_decision_id(track)  # both opened the track before anyone decided
    decide(ann, track, "Jazz", seen=seen)
    with pytest.raises(ReviewError) as refused:
        decide(bob, track, "Rock", seen=seen)
    assert refused.value.code == ReviewErrorCode.STALE and "ann decided Jazz" in refused.value.message
    assert Track.objects.get(pk=track.pk).reviewed_genre.name == "Jazz"


def test_submitting_the_same_form_twice_records_one_decision(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    ann = make_editor("ann")
    seen = last_decision_id(track)
    decide(ann, track, "Jazz", seen=seen)
    with pytest.raises(ReviewError, match="after you opened it"):
        decide(ann, track, "Jazz", seen=seen)  # a double click
    assert Decision.objects.count() == 1


def test_inactive_genres_and_a_duplicate_secondary_are_refused(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    Genre.objects.filter(name="Disco").update(active=False)
    with pytest.raises(ReviewError, match="not an active genre"):
        decide(make_editor("ann"), track, "Disco")
    with pytest.raises(ReviewError, match="must differ"):
        decide(make_editor("bob"), track, "Jazz", secondary_genre=genre("Jazz"))
    assert not Decision.objects.exists()


def test_tracks_not_awaiting_review_cannot_be_decided(make_editor):
    from tests.factories import make_track

    with pytest.raises(ReviewError) as refused:
        decide(make_editor("ann"), make_track(status=TrackStatus.QUEUED), "Jazz")
    assert refused.value.code == ReviewErrorCode.NOT_REVIEWABLE


def test_bulk_accept_records_a_decision_per_confident_track_by_that_user(awaiting, make_editor):
    sure, unsure, held = awaiting({"Jazz": 0.95}), awaiting({"Rock": 0.6}), awaiting({"Pop": 0.97})
    claim_open(editor=make_editor("ann"), track=held)
    lead = make_editor("lead", "Editorial lead")
    decisions = decisions_bulk_accept(editor=lead, tracks=Track.objects.all(), threshold=0.9)
    assert [d.track for d in decisions] == [sure]
    decision = decisions[0]
    assert (decision.editor, decision.action, decision.source, decision.genre.name) == (
        lead,
        DecisionAction.ACCEPTED,
        DecisionSource.BULK,
        "Jazz",
    )
    assert Track.objects.get(pk=unsure.pk).status == TrackStatus.AWAITING_REVIEW
    assert Track.objects.get(pk=held.pk).status == TrackStatus.AWAITING_REVIEW


def test_editor_statistics_count_decisions_corrections_and_median_time(awaiting, make_editor):
    ann = make_editor("ann")
    for top, choice, seconds in [
        ({"Jazz": 0.5}, "Jazz", 10.0),
        ({"Rock": 0.5}, "Pop", 20.0),
        ({"Folk": 0.5}, "Folk", 40.0),
    ]:
        decide(ann, awaiting(top), choice, seconds_on_screen=seconds)
    (row,) = editor_statistics()
    assert (row.editor, row.decisions, row.median_seconds) == ("ann", 3, 20.0)
    assert row.correction_rate == pytest.approx(1 / 3)
