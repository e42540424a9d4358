"""Not music / unusable with a reason, and a 30-second undo: append-only decisions that the queue,
bulk accept, exports, agreement and statistics all read the same way."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Genre, Track, TrackStatus
from review.agreement import version_agreement
from review.claims import claim_next, claim_open
from review.decisions import (
    UNDO_SECONDS,
    DecisionInput,
    RejectInput,
    decision_reject,
    decision_submit,
    decision_undo,
    decisions_bulk_accept,
)
from review.errors import ReviewError, ReviewErrorCode
from review.exports import (
    EXPORT_JSON,
    MANIFEST_CSV,
    MANIFEST_JSONL,
    REJECTED_JSONL,
    export_directory,
    export_rejected_rows,
    export_rows,
    label_export_create,
)
from review.models import Claim, Decision, DecisionAction, DecisionSource, RejectReason
from review.selectors import (
    QueueFilters,
    bulk_accept_candidates,
    editor_statistics,
    last_decision_id,
    review_progress,
    review_queue,
)

pytestmark = pytest.mark.django_db


def genre(name: str) -> Genre:
    return Genre.objects.get(name=name)


def decide(editor, track: Track, name: str, **kwargs) -> Decision:
    return decision_submit(
        editor=editor,
        track=track,
        data=DecisionInput(genre=genre(name), seen_decision_id=last_decision_id(track), **kwargs),
    )


def reject(editor, track: Track, reason: str = RejectReason.SPEECH, note: str = "", **kwargs) -> Decision:
    return decision_reject(
        editor=editor,
        track=track,
        data=RejectInput(reason=reason, note=note, seen_decision_id=last_decision_id(track), **kwargs),
    )


def heard(track: Track, content: str) -> Track:
    track.analyses.update(content=content)
    return track


def age(decision: Decision, seconds: float) -> None:
    """Move a decision into the past (a queryset update: the model refuses edits, the test may)."""
    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


# -- Reject -----------------------------------------------------------------------------------


def test_a_rejection_records_the_reason_no_genre_and_takes_the_track_out_of_the_queue(awaiting, make_editor):
    whale = awaiting({"Electronic": 0.77})
    ann = make_editor("ann")
    claim_open(editor=ann, track=whale)
    decision = reject(ann, whale, RejectReason.NOISE, note=" humpback ", seconds_on_screen=4.0)

    decision.refresh_from_db()
    assert (decision.action, decision.reject_reason, decision.genre, decision.note) == (
        DecisionAction.REJECTED,
        "noise",
        None,
        "humpback",
    )
    assert decision.proposed[0]["genre"] == "Electronic" and decision.model_version.is_active
    assert decision.source == DecisionSource.REVIEW and decision.seconds_on_screen == 4.0
    whale.refresh_from_db()
    assert (whale.status, whale.reviewed_genre) == (TrackStatus.REJECTED, None)
    assert not Claim.objects.filter(track=whale).exists()
    assert whale not in review_queue() and claim_next(editor=make_editor("bob")) is None


def test_a_reviewed_track_can_be_rejected_and_its_genre_is_cleared(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    ann = make_editor("ann")
    decide(ann, track, "Jazz")
    reject(make_editor("lead", "Editorial lead"), track, RejectReason.DUPLICATE)
    track.refresh_from_db()
    assert (track.status, track.reviewed_genre) == (TrackStatus.REJECTED, None)
    # ... and an editor may still give it a genre later: a rejection is a decision like any other.
    decide(ann, track, "Blues")
    track.refresh_from_db()
    assert (track.status, track.reviewed_genre.name) == (TrackStatus.REVIEWED, "Blues")


@pytest.mark.parametrize(("reason", "note"), [("other", ""), ("other", "   "), ("polka", "x"), ("", "")])
def test_a_rejection_needs_a_known_reason_and_other_needs_a_note(awaiting, make_editor, reason, note):
    track = awaiting({"Jazz": 0.5})
    with pytest.raises(ReviewError) as refused:
        reject(make_editor("ann"), track, reason, note=note)
    assert refused.value.code == ReviewErrorCode.REJECT_REASON
    assert not Decision.objects.exists() and Track.objects.get(pk=track.pk).status == TrackStatus.AWAITING_REVIEW


def test_other_with_a_note_is_a_rejection(awaiting, make_editor):
    decision = reject(make_editor("ann"), awaiting({"Jazz": 0.5}), RejectReason.OTHER, note="a ringtone")
    assert (decision.reject_reason, decision.note) == ("other", "a ringtone")


def test_a_rejection_obeys_claims_and_stale_forms_like_a_genre(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    ann, bob = make_editor("ann"), make_editor("bob")
    claim_open(editor=ann, track=track)
    with pytest.raises(ReviewError) as held:
        reject(bob, track)
    assert held.value.code == ReviewErrorCode.CLAIMED_BY_OTHER
    seen = last_decision_id(track)
    reject(ann, track)
    with pytest.raises(ReviewError) as stale:
        decision_submit(editor=bob, track=track, data=DecisionInput(genre=genre("Jazz"), seen_decision_id=seen))
    assert stale.value.code == ReviewErrorCode.STALE and "ann decided not music (speech)" in stale.value.message


@pytest.mark.parametrize(
    "fields",
    [
        {"action": DecisionAction.ACCEPTED},  # a genre decision without a genre
        {"action": DecisionAction.REJECTED},  # a rejection without a reason
        {"action": DecisionAction.REJECTED, "reject_reason": "speech", "genre_name": "Jazz"},  # rejected with a genre
        {"action": DecisionAction.ACCEPTED, "reject_reason": "speech", "genre_name": "Jazz"},  # a reason on a genre
    ],
)
def test_the_database_refuses_incoherent_decisions(awaiting, make_editor, fields):
    track = awaiting({"Jazz": 0.5})
    name = fields.pop("genre_name", None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(track=track, editor=make_editor("ann"), genre=genre(name) if name else None, **fields)


def test_an_undo_row_must_name_what_it_undid(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(track=track, editor=make_editor("ann"), action=DecisionAction.UNDONE)


# -- Queue, bulk accept ---------------------------------------------------------------------------


def test_the_queue_puts_not_music_verdicts_first_then_the_most_uncertain(awaiting):
    hard_music = heard(awaiting({"Jazz": 0.41, "Blues": 0.40}), "music")
    sure_speech = heard(awaiting({"Hip-Hop": 0.9}), "speech")
    unmeasured = awaiting({"Rock": 0.45, "Pop": 0.35})
    sure_other = heard(awaiting({"Electronic": 0.77}), "other")
    assert list(review_queue()) == [sure_other, sure_speech, hard_music, unmeasured]


@pytest.mark.parametrize(
    ("content", "expected"), [("music", ["m"]), ("speech", ["s"]), ("other", ["o"]), ("", ["s", "o", "m", "u"])]
)
def test_the_queue_filters_on_the_content_verdict(awaiting, content, expected):
    tracks = {
        "m": heard(awaiting({"Jazz": 0.5}), "music"),
        "s": heard(awaiting({"Jazz": 0.6}), "speech"),
        "o": heard(awaiting({"Jazz": 0.7}), "other"),
        "u": awaiting({"Jazz": 0.8}),
    }
    names = {t.pk: k for k, t in tracks.items()}
    assert [names[t.pk] for t in review_queue(filters=QueueFilters(content=content))] == expected


def test_bulk_accept_never_accepts_a_rejected_or_not_music_or_silent_track(awaiting, make_editor):
    lead = make_editor("lead", "Editorial lead")
    music = heard(awaiting({"Jazz": 0.95}), "music")
    unmeasured = awaiting({"Rock": 0.95})
    whale = heard(awaiting({"Electronic": 0.95}), "other")
    talk = heard(awaiting({"Hip-Hop": 0.95}), "speech")
    silent = awaiting({"Pop": 0.95})
    silent.analyses.update(is_silent=True)
    rejected = heard(awaiting({"Folk": 0.95}), "music")
    reject(make_editor("ann"), rejected, RejectReason.BROKEN)
    everything = Track.objects.all()

    assert {c.track.pk for c in bulk_accept_candidates(editor=lead, tracks=everything, threshold=0.9)} == {
        music.pk,
        unmeasured.pk,
    }
    accepted = decisions_bulk_accept(editor=lead, tracks=everything, threshold=0.9)
    assert {d.track_id for d in accepted} == {music.pk, unmeasured.pk}
    for track in (whale, talk, silent):
        assert Track.objects.get(pk=track.pk).status == TrackStatus.AWAITING_REVIEW
    assert Track.objects.get(pk=rejected.pk).status == TrackStatus.REJECTED


# -- Undo -------------------------------------------------------------------------------------


def test_undo_of_a_first_decision_puts_the_track_back_to_awaiting_review_as_a_new_decision(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    ann = make_editor("ann")
    slip = decide(ann, track, "Jazz")
    undo = decision_undo(editor=ann, decision=slip)

    assert (undo.action, undo.undoes, undo.genre, undo.reject_reason, undo.editor) == (
        DecisionAction.UNDONE,
        slip,
        None,
        "",
        ann,
    )
    assert undo.source == DecisionSource.REVIEW and undo.pk > slip.pk
    assert list(track.decisions.order_by("pk")) == [slip, undo]  # append-only: the slip is still there
    track.refresh_from_db()
    assert (track.status, track.reviewed_genre) == (TrackStatus.AWAITING_REVIEW, None)
    assert track in review_queue()


def test_undo_restores_the_previous_decisions_genre(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    ann, bob = make_editor("ann"), make_editor("bob")
    decide(ann, track, "Blues", secondary_genre=genre("Jazz"))
    slip = reject(bob, track)
    undo = decision_undo(editor=bob, decision=slip)
    assert (undo.genre.name, undo.secondary_genre.name) == ("Blues", "Jazz")
    track.refresh_from_db()
    assert (track.status, track.reviewed_genre.name) == (TrackStatus.REVIEWED, "Blues")


def test_undo_restores_a_previous_rejection(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    ann = make_editor("ann")
    reject(ann, track, RejectReason.SILENCE)
    slip = decide(ann, track, "Jazz")
    undo = decision_undo(editor=ann, decision=slip)
    assert (undo.genre, undo.reject_reason) == (None, "silence")
    track.refresh_from_db()
    assert (track.status, track.reviewed_genre) == (TrackStatus.REJECTED, None)


def test_only_the_same_editor_may_undo(awaiting, make_editor):
    slip = decide(make_editor("ann"), awaiting({"Jazz": 0.5}), "Jazz")
    with pytest.raises(ReviewError) as refused:
        decision_undo(editor=make_editor("bob"), decision=slip)
    assert refused.value.code == ReviewErrorCode.UNDO_REFUSED and Decision.objects.count() == 1


def test_undo_is_refused_after_the_window(awaiting, make_editor):
    ann = make_editor("ann")
    slip = decide(ann, awaiting({"Jazz": 0.5}), "Jazz")
    age(slip, UNDO_SECONDS + 1)
    with pytest.raises(ReviewError) as expired:
        decision_undo(editor=ann, decision=slip)
    assert expired.value.code == ReviewErrorCode.UNDO_EXPIRED and f"{UNDO_SECONDS} s" in expired.value.message
    assert Decision.objects.count() == 1


def test_undo_is_refused_once_someone_decided_the_track_since(awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    ann = make_editor("ann")
    slip = decide(ann, track, "Jazz")
    decide(make_editor("lead", "Editorial lead"), track, "Blues")
    with pytest.raises(ReviewError) as refused:
        decision_undo(editor=ann, decision=slip)
    assert refused.value.code == ReviewErrorCode.UNDO_REFUSED and "after you" in refused.value.message
    assert Track.objects.get(pk=track.pk).reviewed_genre.name == "Blues"


def test_a_decision_is_undone_once_and_an_undo_is_not_undone(awaiting, make_editor):
    ann = make_editor("ann")
    slip = decide(ann, awaiting({"Jazz": 0.5}), "Jazz")
    undo = decision_undo(editor=ann, decision=slip)
    for target in (slip, undo):
        with pytest.raises(ReviewError) as refused:
            decision_undo(editor=ann, decision=target)
        assert refused.value.code == ReviewErrorCode.UNDO_REFUSED
    assert Decision.objects.count() == 2


def test_bulk_acceptances_are_not_undone_from_the_review_screen(awaiting, make_editor):
    lead = make_editor("lead", "Editorial lead")
    heard(awaiting({"Jazz": 0.95}), "music")
    (accepted,) = decisions_bulk_accept(editor=lead, tracks=Track.objects.all(), threshold=0.9)
    with pytest.raises(ReviewError):
        decision_undo(editor=lead, decision=accepted)


# -- Statistics, progress, agreement -------------------------------------------------------------


def test_editor_statistics_count_rejections_apart_and_leave_undone_decisions_out(awaiting, make_editor):
    ann = make_editor("ann")
    decide(ann, awaiting({"Jazz": 0.5}), "Jazz", seconds_on_screen=10)  # accepted
    decide(ann, awaiting({"Jazz": 0.5}), "Rock", seconds_on_screen=20)  # corrected
    reject(ann, awaiting({"Jazz": 0.5}), seconds_on_screen=4)  # rejected
    slip = decide(ann, awaiting({"Jazz": 0.5}), "Pop", seconds_on_screen=1)  # undone
    decision_undo(editor=ann, decision=slip)

    (row,) = editor_statistics()
    assert (row.editor, row.decisions, row.rejected, row.undone) == ("ann", 3, 1, 1)
    assert row.correction_rate == pytest.approx(0.5)  # Rock of (Jazz, Rock): the rejection judges no genre
    assert row.median_seconds == 10


def test_the_progress_line_counts_what_is_left_and_the_editors_day(awaiting, make_editor):
    ann, bob = make_editor("ann"), make_editor("bob")
    tracks = [awaiting({"Jazz": 0.5}) for _ in range(5)]
    decide(ann, tracks[0], "Jazz", seconds_on_screen=8)
    reject(ann, tracks[1], seconds_on_screen=2)
    decision_undo(editor=ann, decision=decide(ann, tracks[2], "Rock", seconds_on_screen=100))
    decide(bob, tracks[3], "Jazz", seconds_on_screen=50)
    claim_open(editor=ann, track=tracks[4])  # the track open now is not "left"

    progress = review_progress(editor=ann)
    assert (progress.left, progress.done_today, progress.median_seconds) == (1, 2, 5)  # tracks[2] is back
    assert review_progress(editor=make_editor("cy")) == type(progress)(left=1, done_today=0, median_seconds=None)
    yesterday = ann.decisions.exclude(action=DecisionAction.UNDONE)
    yesterday.update(created_at=timezone.now() - timedelta(days=1))
    assert review_progress(editor=ann).done_today == 0


def test_agreement_ignores_rejections_undos_and_what_was_undone(awaiting, make_editor, model_version):
    ann = make_editor("ann")
    decide(ann, awaiting({"Jazz": 0.5}), "Jazz")
    reject(ann, awaiting({"Jazz": 0.5}))
    decision_undo(editor=ann, decision=decide(ann, awaiting({"Jazz": 0.5}), "Rock"))
    result = version_agreement(model_version=model_version)
    assert result.overall.decisions == 1 and result.overall.top1 == 1


# -- Exports ----------------------------------------------------------------------------------


def test_exports_list_rejected_tracks_apart_and_never_as_genre_rows(awaiting, make_editor, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    ann = make_editor("ann")
    jazz = awaiting({"Jazz": 0.5})
    decide(ann, jazz, "Jazz")
    whale = awaiting({"Electronic": 0.77}, external_id="cms-whale")
    decide(ann, whale, "Electronic")
    rejection = reject(ann, whale, RejectReason.NOISE, note="humpback")  # the latest decision stands
    talk = awaiting({"Hip-Hop": 0.6})
    reject(ann, talk, RejectReason.SPEECH)
    undone = awaiting({"Rock": 0.5})
    decision_undo(editor=ann, decision=decide(ann, undone, "Rock"))  # awaiting again: in neither

    export = label_export_create(created_by=ann)

    assert [row["track_id"] for row in export_rows(export)] == [jazz.pk]
    assert export.rows == 1 and export.counts == {"Jazz": 1}
    assert set(export.files) == {MANIFEST_JSONL, MANIFEST_CSV, EXPORT_JSON, REJECTED_JSONL}
    rows = export_rejected_rows(export)
    assert [(r["track_id"], r["reject_reason"], r["rejected"]) for r in rows] == [
        (whale.pk, "noise", True),
        (talk.pk, "speech", True),
    ]
    assert rows[0]["external_id"] == "cms-whale" and rows[0]["note"] == "humpback"
    assert rows[0]["decision_id"] == rejection.pk and rows[0]["proposed"][0]["genre"] == "Electronic"
    assert "genre" not in rows[0] and rows[0]["split"] in {"train", "val", "test"}
    meta = json.loads((export_directory(export) / EXPORT_JSON).read_text())
    assert meta["rejected"] == {"file": REJECTED_JSONL, "rows": 2, "counts": {"noise": 1, "speech": 1}}
    assert meta["counts"] == {"Jazz": 1} and meta["rows"] == 1
    csv_text = (export_directory(export) / MANIFEST_CSV).read_text()
    assert str(whale.sha256) not in csv_text and str(talk.sha256) not in csv_text


def test_an_export_without_rejections_has_exactly_the_files_it_always_had(awaiting, make_editor, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    decide(make_editor("ann"), awaiting({"Jazz": 0.5}), "Jazz")
    export = label_export_create()
    assert set(export.files) == {MANIFEST_JSONL, MANIFEST_CSV, EXPORT_JSON} and export_rejected_rows(export) == []
    assert "rejected" not in json.loads((export_directory(export) / EXPORT_JSON).read_text())


def test_an_undo_back_to_a_genre_exports_that_genre(awaiting, make_editor, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    ann = make_editor("ann")
    track = awaiting({"Jazz": 0.5})
    decide(ann, track, "Blues")
    decision_undo(editor=ann, decision=reject(ann, track))
    (row,) = export_rows(label_export_create())
    assert (row["track_id"], row["genre"], row["action"]) == (track.pk, "Blues", "undone")


def test_a_catalog_label_after_an_undo_to_nothing_is_recorded(awaiting, make_editor):
    from review.decisions import CatalogLabelOutcome, catalog_label_record

    track = awaiting({"Jazz": 0.5})
    ann = make_editor("ann")
    decision_undo(editor=ann, decision=decide(ann, track, "Rock"))
    label = catalog_label_record(editor=make_editor("importer"), track=track, genre=genre("Folk"))
    assert label.outcome == CatalogLabelOutcome.RECORDED
    track.refresh_from_db()
    assert (track.status, track.reviewed_genre.name) == (TrackStatus.REVIEWED, "Folk")


def test_a_catalog_label_never_overrides_a_rejection(awaiting, make_editor):
    from review.decisions import CatalogLabelOutcome, catalog_label_record

    track = awaiting({"Jazz": 0.5})
    rejection = reject(make_editor("ann"), track)
    label = catalog_label_record(editor=make_editor("importer"), track=track, genre=genre("Folk"))
    assert (label.outcome, label.editor_decision) == (CatalogLabelOutcome.KEPT_EDITOR, rejection)
    assert Track.objects.get(pk=track.pk).status == TrackStatus.REJECTED


# -- At the same moment (row locks: PostgreSQL) -------------------------------------------------


def _at_once(*jobs) -> list[object]:
    """Run the jobs in threads released together; each returns its result or the error it raised."""
    import threading

    from django.db import connections

    barrier, results = threading.Barrier(len(jobs)), [None] * len(jobs)

    def run(index: int, job) -> None:
        try:
            barrier.wait()
            results[index] = job()
        except BaseException as error:  # returned: the caller asserts on it
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _needs_row_locks() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite serialises writers")


@pytest.mark.django_db(transaction=True)
def test_four_undos_of_one_decision_at_once_record_one(awaiting, make_editor):
    _needs_row_locks()
    ann = make_editor("ann")
    track = awaiting({"Jazz": 0.6})
    decision = decide(ann, track, "Jazz")
    results = _at_once(*[lambda: decision_undo(editor=ann, decision=decision)] * 4)
    undos = [r for r in results if isinstance(r, Decision)]
    refused = [r for r in results if isinstance(r, ReviewError)]
    assert len(undos) == 1 and len(refused) == 3, results
    assert all(r.code == ReviewErrorCode.UNDO_REFUSED for r in refused)
    assert Decision.objects.filter(action=DecisionAction.UNDONE).count() == 1
    track.refresh_from_db()
    assert (track.status, track.reviewed_genre) == (TrackStatus.AWAITING_REVIEW, None)


@pytest.mark.django_db(transaction=True)
def test_a_rejection_and_a_genre_at_once_on_one_track_keep_exactly_one(awaiting, make_editor):
    _needs_row_locks()
    ann, bob = make_editor("ann"), make_editor("bob")
    track = awaiting({"Jazz": 0.6})
    jazz = genre("Jazz")
    results = _at_once(
        lambda: decision_reject(editor=ann, track=track, data=RejectInput(reason=RejectReason.NOISE)),
        lambda: decision_submit(editor=bob, track=track, data=DecisionInput(genre=jazz)),
    )
    saved = [r for r in results if isinstance(r, Decision)]
    stale = [r for r in results if isinstance(r, ReviewError)]
    assert len(saved) == 1 and len(stale) == 1 and stale[0].code == ReviewErrorCode.STALE, results
    winner = Decision.objects.get()
    track.refresh_from_db()
    expected = (TrackStatus.REJECTED, None) if winner.reject_reason else (TrackStatus.REVIEWED, winner.genre)
    assert (track.status, track.reviewed_genre) == expected
