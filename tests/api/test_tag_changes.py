"""/api/v1/tags/changes: every editor decision once, in order, behind an opaque cursor."""

from __future__ import annotations

import base64
import threading
import time

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections
from rest_framework.test import APIClient

from catalog.api.cursor import cursor_encode
from catalog.models import Genre, TrackStatus
from review.models import Decision
from tests.factories import make_analysis, make_model_version, make_track

URL = "/api/v1/tags/changes"


def test_an_empty_feed_still_gives_a_cursor(cms):
    body = cms.get(URL).json()
    assert body == {"changes": [], "next_cursor": cursor_encode(0), "has_more": False}


def test_changes_come_in_pages_in_decision_order_with_everything_a_cms_needs(cms, decided):
    editor = User.objects.create_user("ella")
    first = decided(genre="jazz", editor=editor, external_id="cms-1")
    more = [decided(genre=g) for g in ("blues", "rock", "folk")]
    correction = decided(genre="latin", track=first.track)
    page = cms.get(URL, {"limit": 2}).json()
    assert [c["id"] for c in page["changes"]] == [first.pk, more[0].pk] and page["has_more"] is True
    change = page["changes"][0]
    assert change["track_id"] == first.track_id and change["external_id"] == "cms-1"
    assert change["genre"] == {"slug": "jazz", "name": "Jazz"} and change["secondary_genre"] is None
    assert change["action"] == first.action and change["editor"] == "ella"
    assert change["proposal"]["model_version"] == "proposer" and change["proposal"]["trained"] is True
    assert len(change["proposal"]["top_k"]) == 5 and change["decided_at"]
    seen = [c["id"] for c in page["changes"]]
    while page["has_more"]:
        page = cms.get(URL, {"limit": 2, "cursor": page["next_cursor"]}).json()
        seen += [c["id"] for c in page["changes"]]
    assert seen == [first.pk, *(d.pk for d in more), correction.pk]
    tail = cms.get(URL, {"cursor": page["next_cursor"]}).json()
    assert tail["changes"] == [] and tail["next_cursor"] == page["next_cursor"] and tail["has_more"] is False
    later = decided(genre="pop")
    assert [c["id"] for c in cms.get(URL, {"cursor": page["next_cursor"]}).json()["changes"]] == [later.pk]


@pytest.mark.parametrize(
    "cursor",
    ["!!!", "42", base64.urlsafe_b64encode(b"d1:-1").decode(), base64.urlsafe_b64encode(b"hello").decode(), "ZDE6MDAx"],
)
def test_a_malformed_cursor_is_a_400(cms, cursor):
    response = cms.get(URL, {"cursor": cursor})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("limit", ["0", "1001", "many"])
def test_a_bad_limit_is_a_400(cms, limit):
    assert cms.get(URL, {"limit": limit}).status_code == 400


WRITERS, TRACKS_PER_WRITER, ROUNDS = 4, 3, 4


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite has a single writer, so "
    "concurrent decisions cannot interleave (CI runs this on PostgreSQL)",
)
def test_a_cms_pulling_while_editors_decide_sees_every_change_exactly_once(cms_token, monkeypatch):
    """Editors in several threads decide (and correct) tracks while a CMS pulls the feed with its
    cursor: the pulled ids are exactly the decisions, each once, in increasing order."""
    import random

    from review import decisions
    from review.decisions import DecisionInput, decision_submit
    from review.selectors import last_decision_id

    # Failure injection: widen the window between a decision's insert and its commit, so a later
    # id committing first (the gap the feed must never show) would happen on every run.
    original = decisions._track_follows

    def slow_follow(*args):
        time.sleep(random.uniform(0, 0.02))
        return original(*args)

    monkeypatch.setattr(decisions, "_track_follows", slow_follow)

    version = make_model_version(name="proposer")
    tracks = []
    for _ in range(WRITERS * TRACKS_PER_WRITER):
        track = make_track(status=TrackStatus.AWAITING_REVIEW)
        make_analysis(track=track, model_version=version)
        tracks.append(track)
    genres = list(Genre.objects.filter(active=True))
    editors = [User.objects.create_user(f"editor{i}") for i in range(WRITERS)]
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            mine = tracks[index * TRACKS_PER_WRITER : (index + 1) * TRACKS_PER_WRITER]
            for round_ in range(ROUNDS):
                for n, track in enumerate(mine):
                    decision_submit(
                        editor=editors[index],
                        track=track,
                        data=DecisionInput(
                            genre=genres[(index + n + round_) % len(genres)], seen_decision_id=last_decision_id(track)
                        ),
                    )
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Token {cms_token}")
    pulled: list[int] = []
    cursor = ""

    def pull() -> bool:
        nonlocal cursor
        body = reader.get(URL, {"cursor": cursor, "limit": 3}).json()
        pulled.extend(change["id"] for change in body["changes"])
        cursor = body["next_cursor"]
        return body["has_more"]

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    pulls = 0
    while any(thread.is_alive() for thread in threads):
        pull()
        pulls += 1
        time.sleep(0.005)
    for thread in threads:
        thread.join()
    while pull():
        pulls += 1
    assert not errors, errors
    expected = list(Decision.objects.order_by("pk").values_list("pk", flat=True))
    assert len(expected) == WRITERS * TRACKS_PER_WRITER * ROUNDS
    assert pulled == sorted(set(pulled)), "a change was repeated or came out of order"
    assert pulled == expected, f"missed {sorted(set(expected) - set(pulled))}"
    assert pulls > 3  # the reader really read while editors were deciding


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite has a single writer, so a later decision can never commit before an earlier one",
)
def test_a_decision_that_commits_late_is_not_skipped_by_the_feed(cms, monkeypatch):
    """Deterministic version of the race: A inserts a decision and stalls before committing, B
    decides meanwhile, the CMS pulls, then A commits. The CMS must still get A's decision."""
    from review import decisions
    from review.decisions import DecisionInput, decision_submit

    version = make_model_version(name="proposer")
    tracks = []
    for _ in range(2):
        track = make_track(status=TrackStatus.AWAITING_REVIEW)
        make_analysis(track=track, model_version=version)
        tracks.append(track)
    editors = [User.objects.create_user(name) for name in ("a", "b")]
    jazz = Genre.objects.get(name="Jazz")
    a_inside, release_a = threading.Event(), threading.Event()
    original = decisions._track_follows

    def stall_for_a(track, decision):  # failure injection: A stops between its insert and its commit
        if decision.editor.username == "a":
            a_inside.set()
            release_a.wait(10)
        return original(track, decision)

    monkeypatch.setattr(decisions, "_track_follows", stall_for_a)

    def decide(index: int) -> None:
        try:
            decision_submit(
                editor=editors[index], track=tracks[index], data=DecisionInput(genre=jazz, seen_decision_id=0)
            )
        finally:
            connections.close_all()

    a = threading.Thread(target=decide, args=(0,))
    a.start()
    assert a_inside.wait(10)
    b = threading.Thread(target=decide, args=(1,))
    b.start()
    b.join(1.0)  # without the feed lock B commits now, with a higher id than A's
    first = cms.get(URL, {"limit": 10}).json()
    release_a.set()
    a.join(10)
    b.join(10)
    second = cms.get(URL, {"cursor": first["next_cursor"], "limit": 10}).json()
    pulled = [c["id"] for c in first["changes"] + second["changes"]]
    assert pulled == list(Decision.objects.order_by("pk").values_list("pk", flat=True))
    assert len(pulled) == 2


def test_the_feed_names_top_k_scores_confidence_and_tells_bulk_acceptances_from_human_ones(cms, decided):
    from review.decisions import decisions_bulk_accept

    human = decided(genre="jazz")
    version = human.model_version
    sure = make_track(status=TrackStatus.AWAITING_REVIEW)
    probabilities = [0.9] + [0.1 / (len(version.labels) - 1)] * (len(version.labels) - 1)
    make_analysis(track=sure, model_version=version, probabilities=probabilities)
    lead = User.objects.create_user("lead")
    [bulk] = decisions_bulk_accept(editor=lead, tracks=type(sure).objects.filter(pk=sure.pk), threshold=0.8)
    changes = cms.get(URL).json()["changes"]
    assert [(c["id"], c["source"]) for c in changes] == [(human.pk, "review"), (bulk.pk, "bulk")]
    top = changes[1]["proposal"]["top_k"][0]
    assert top == {"genre": version.labels[0], "confidence": 0.9}  # the same keys as /api/genre
    assert all(set(item) == {"genre", "confidence"} for c in changes for item in c["proposal"]["top_k"])


def test_a_rejection_and_its_undo_reach_the_feed_with_a_null_genre_and_the_reason(cms, decided):
    from review.decisions import RejectInput, decision_reject, decision_undo
    from review.selectors import last_decision_id

    first = decided(genre="electronic", external_id="cms-whale")
    track, editor = first.track, first.editor
    rejection = decision_reject(
        editor=editor,
        track=track,
        data=RejectInput(reason="noise", note="a whale", seen_decision_id=last_decision_id(track)),
    )
    undo = decision_undo(editor=editor, decision=rejection)
    changes = cms.get(URL).json()["changes"]
    assert [c["id"] for c in changes] == [first.pk, rejection.pk, undo.pk]
    genre_row, rejected_row, undo_row = changes
    assert (genre_row["rejected"], genre_row["reject_reason"], genre_row["undoes"]) == (False, None, None)
    assert rejected_row["external_id"] == "cms-whale" and rejected_row["genre"] is None
    assert (rejected_row["action"], rejected_row["rejected"], rejected_row["reject_reason"]) == (
        "rejected",
        True,
        "noise",
    )
    assert rejected_row["proposal"]["top_k"] and rejected_row["source"] == "review"
    # The undo restores the genre it had before: the CMS files Electronic again.
    assert (undo_row["action"], undo_row["undoes"], undo_row["genre"]["slug"], undo_row["rejected"]) == (
        "undone",
        rejection.pk,
        "electronic",
        False,
    )
    track.refresh_from_db()
    assert track.status == TrackStatus.REVIEWED and track.reviewed_genre.slug == "electronic"


def test_a_rejected_track_reads_as_rejected_with_no_genre_in_the_tracks_api(cms, decided):
    from review.decisions import RejectInput, decision_reject
    from review.selectors import last_decision_id

    track = decided(genre="rap", external_id="cms-talk").track
    decision_reject(
        editor=User.objects.get(username="decider"),
        track=track,
        data=RejectInput(reason="speech", seen_decision_id=last_decision_id(track)),
    )
    body = cms.get("/api/v1/tracks/by-external-id/cms-talk").json()
    assert body["status"] == "rejected" and body["reviewed_genre"] is None
    listed = cms.get("/api/v1/tracks/", {"status": "rejected"}).json()
    assert [t["external_id"] for t in listed["results"]] == ["cms-talk"]
