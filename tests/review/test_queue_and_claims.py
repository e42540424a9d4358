"""The queue puts the hardest calls first, and a track is only ever in one editor's hands."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from catalog.models import Track
from review.claims import claim_next, claim_open, claim_reassign, claim_release
from review.errors import ReviewError, ReviewErrorCode
from review.models import Claim
from review.selectors import QueueFilters, queue_counts, review_queue
from tests.fixtures import restore_data_migrations

pytestmark = pytest.mark.django_db


def test_the_queue_puts_the_smallest_margin_first(awaiting):
    sure = awaiting({"Jazz": 0.9})
    split = awaiting({"Jazz": 0.41, "Blues": 0.40})
    lone = awaiting({"Rock": 0.30})
    middle = awaiting({"Pop": 0.5, "Rock": 0.3})
    assert list(review_queue()) == [split, middle, lone, sure]


def test_the_queue_filters_by_genre_band_and_batch_and_counts(awaiting):
    jazz = awaiting({"Jazz": 0.8})
    awaiting({"Rock": 0.5})
    awaiting({"Rock": 0.2})
    assert list(review_queue(filters=QueueFilters(genre="Jazz"))) == [jazz]
    assert review_queue(filters=QueueFilters(band="medium")).count() == 1
    assert review_queue(filters=QueueFilters(band="high")).get() == jazz
    counts = queue_counts()
    assert counts["total"] == 3 and counts["by_genre"] == {"Jazz": 1, "Rock": 2}
    assert counts["by_band"] == {"low": 1, "medium": 1, "high": 1}


def test_a_claimed_track_leaves_the_queue_until_its_claim_expires(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    claim_open(editor=make_editor("ann"), track=track)
    assert track not in review_queue()
    Claim.objects.update(
        claimed_at=timezone.now() - timedelta(minutes=11), expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert track in review_queue()


def test_second_editor_never_gets_a_claimed_track(awaiting, make_editor):
    first, second = awaiting({"Jazz": 0.4, "Blues": 0.39}), awaiting({"Rock": 0.9})
    ann, bob = make_editor("ann"), make_editor("bob")
    assert claim_next(editor=ann) == first
    assert claim_next(editor=bob) == second
    assert claim_next(editor=make_editor("cid")) is None
    with pytest.raises(ReviewError) as refused:
        claim_open(editor=bob, track=first)
    assert refused.value.code == ReviewErrorCode.CLAIMED_BY_OTHER and "ann is reviewing" in refused.value.message


def test_an_editor_resumes_their_open_claim_and_can_release_it(awaiting, make_editor):
    first, second = awaiting({"Jazz": 0.4, "Blues": 0.39}), awaiting({"Rock": 0.9})
    ann = make_editor("ann")
    assert claim_next(editor=ann) == first
    assert claim_next(editor=ann) == first  # still holding it: no second track
    assert claim_release(track=first, editor=ann)
    assert claim_next(editor=ann, exclude_ids=[first.pk]) == second


def test_staff_can_release_and_reassign_claims(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    ann, bob = make_editor("ann"), make_editor("bob")
    claim_open(editor=ann, track=track)
    assert not claim_release(track=track, editor=bob)  # not bob's to release
    claim_reassign(track=track, editor=bob)
    assert Claim.objects.get(track=track).editor == bob
    assert claim_release(track=track)
    assert not Claim.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_editors_never_get_the_same_track():
    if connection.vendor != "postgresql":
        pytest.skip("row locks (SELECT … FOR UPDATE SKIP LOCKED) need PostgreSQL; SQLite serialises writers")
    from tests.factories import make_analysis, make_model_version, make_track
    from tests.review.conftest import probabilities

    restore_data_migrations()
    version = make_model_version(is_active=True)
    for i in range(12):
        track = make_track(status="awaiting_review")
        make_analysis(track=track, model_version=version, probabilities=probabilities({"Jazz": 0.3 + i * 0.05}))
    from django.contrib.auth import get_user_model

    editors = [get_user_model().objects.create_user(f"editor{i}", is_staff=True) for i in range(6)]
    barrier = threading.Barrier(len(editors))
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def work(editor) -> None:
        mine = []
        try:
            barrier.wait()
            for _ in range(2):  # each editor takes two tracks and keeps holding them
                track = claim_next(editor=editor, exclude_ids=mine)
                if track is None:
                    break
                mine.append(track.pk)
                Claim.objects.filter(track=track).update(expires_at=timezone.now() + timedelta(hours=1))
        except BaseException as error:  # surfaced below: a thread's exception is otherwise lost
            errors.append(error)
        finally:
            taken[editor.username] = mine
            connections.close_all()

    threads = [threading.Thread(target=work, args=(editor,)) for editor in editors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    claimed_ids = [pk for ids in taken.values() for pk in ids]
    holders = dict(Claim.objects.values_list("track_id", "editor__username"))
    assert len(claimed_ids) == len(set(claimed_ids)), f"a track went to two editors: {taken}"
    assert all(pk in taken[username] for pk, username in holders.items())  # the database agrees
    assert len(claimed_ids) == 12  # 6 editors × 2 asks, 12 tracks: nobody was left without work
    assert Track.objects.count() == 12
