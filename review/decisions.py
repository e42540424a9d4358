"""Decisions: append-only records of what an editor chose, and the track's genre that follows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from catalog.models import Analysis, Genre, Track, TrackStatus
from catalog.status import track_transition
from review.errors import ReviewError, ReviewErrorCode
from review.models import Claim, Decision, DecisionAction, DecisionSource, RejectReason
from review.selectors import REVIEWABLE_STATUSES, bulk_accept_candidates, last_decision_id, latest_analysis

FEED_LOCK_KEY = 0x61636F75  # any constant: serialises decision inserts on PostgreSQL
UNDO_SECONDS = 30  # how long an editor may take back their own decision from the next track


@dataclass(frozen=True)
class DecisionInput:
    genre: Genre
    secondary_genre: Genre | None = None
    note: str = ""
    analysis_id: int | None = None  # the analysis the editor was shown
    seen_decision_id: int = 0  # the track's latest decision when the form was opened
    seconds_on_screen: float | None = None


def _lock_feed() -> None:
    """Hold a transaction-wide lock while inserting, so decision ids commit in id order and a
    CMS reading the feed by id never skips a row that commits late. SQLite already serialises
    writers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FEED_LOCK_KEY])


def _proposal(analysis: Analysis | None) -> list[dict[str, object]]:
    if analysis is None:
        return []
    return [{"genre": label, "probability": round(p, 6)} for label, p in analysis.top_k(5)]


def _action(genre: Genre, proposed: list[dict[str, object]]) -> str:
    labels = [item["genre"] for item in proposed]
    if labels and genre.name == labels[0]:
        return DecisionAction.ACCEPTED
    return DecisionAction.CORRECTED if genre.name in labels else DecisionAction.OTHER


def _check_genres(data: DecisionInput) -> None:
    for genre in filter(None, (data.genre, data.secondary_genre)):
        if not genre.active:
            raise ReviewError(ReviewErrorCode.GENRE_UNAVAILABLE, f"{genre} is not an active genre any more.")
    if data.secondary_genre and data.secondary_genre.pk == data.genre.pk:
        raise ReviewError(ReviewErrorCode.SAME_SECONDARY, "The secondary genre must differ from the main genre.")


def _locked_for_decision(*, editor: AbstractBaseUser, track: Track, seen_decision_id: int) -> Track:
    """Lock the track and refuse a decision that would silently overwrite a colleague's work."""
    track = Track.objects.select_for_update().get(pk=track.pk)
    if track.status not in REVIEWABLE_STATUSES:
        raise ReviewError(
            ReviewErrorCode.NOT_REVIEWABLE,
            f"This track is {track.get_status_display().lower()}; it cannot be decided now.",
        )
    claim = Claim.objects.filter(track=track).select_related("editor").first()
    if claim and claim.editor_id != editor.pk and claim.expires_at > timezone.now():
        raise ReviewError(
            ReviewErrorCode.CLAIMED_BY_OTHER,
            f"{claim.editor} is reviewing this track now; your decision was not saved.",
        )
    if last_decision_id(track) != seen_decision_id:
        latest = (
            track.decisions.exclude(source=DecisionSource.CATALOG)
            .select_related("editor", "genre")
            .order_by("-pk")
            .first()
        )
        raise ReviewError(
            ReviewErrorCode.STALE,
            f"{latest.editor} decided {latest.outcome} on this track after you opened it; "
            "your decision was not saved. Reload to see it.",
        )
    return track


def _shown_analysis(track: Track, analysis_id: int | None) -> Analysis | None:
    return (
        Analysis.objects.select_related("model_version").filter(track=track, pk=analysis_id).first()
        if analysis_id
        else latest_analysis(track)
    )


@transaction.atomic
def decision_submit(
    *, editor: AbstractBaseUser, track: Track, data: DecisionInput, source: str = DecisionSource.REVIEW
) -> Decision:
    """Record a decision, refusing one that would silently overwrite a colleague's work."""
    _check_genres(data)
    track = _locked_for_decision(editor=editor, track=track, seen_decision_id=data.seen_decision_id)
    analysis = _shown_analysis(track, data.analysis_id)
    proposed = _proposal(analysis)
    _lock_feed()
    decision = Decision.objects.create(
        track=track,
        analysis=analysis,
        model_version=analysis.model_version if analysis else None,
        proposed=proposed,
        genre=data.genre,
        secondary_genre=data.secondary_genre,
        action=_action(data.genre, proposed),
        source=source,
        note=data.note.strip(),
        editor=editor,
        seconds_on_screen=data.seconds_on_screen,
    )
    _track_follows(track, decision)
    return decision


def _track_follows(track: Track, decision: Decision) -> None:
    """The track takes the decision's outcome (a genre: reviewed; a rejection: rejected; neither:
    awaiting review again) and is released."""
    Track.objects.filter(pk=track.pk).update(reviewed_genre=decision.genre)
    if decision.genre_id:
        target = TrackStatus.REVIEWED
    elif decision.reject_reason:
        target = TrackStatus.REJECTED
    else:
        target = TrackStatus.AWAITING_REVIEW
    if track.status != target:
        track_transition(track=track, to=target)
    Claim.objects.filter(track=track).delete()


@dataclass(frozen=True)
class RejectInput:
    reason: str  # a RejectReason value
    note: str = ""  # required when the reason is "other"
    analysis_id: int | None = None
    seen_decision_id: int = 0
    seconds_on_screen: float | None = None


@transaction.atomic
def decision_reject(*, editor: AbstractBaseUser, track: Track, data: RejectInput) -> Decision:
    """Record that the track is not music / unusable: it leaves the queue and bulk accept, and is
    exported as a rejected row (never a genre row). Same claim and staleness rules as a genre."""
    if data.reason not in RejectReason.values:
        raise ReviewError(ReviewErrorCode.REJECT_REASON, "Pick why the track is unusable.")
    if data.reason == RejectReason.OTHER and not data.note.strip():
        raise ReviewError(ReviewErrorCode.REJECT_REASON, "Say in the note why the track is unusable (reason “other”).")
    track = _locked_for_decision(editor=editor, track=track, seen_decision_id=data.seen_decision_id)
    analysis = _shown_analysis(track, data.analysis_id)
    _lock_feed()
    decision = Decision.objects.create(
        track=track,
        analysis=analysis,
        model_version=analysis.model_version if analysis else None,
        proposed=_proposal(analysis),
        genre=None,
        action=DecisionAction.REJECTED,
        reject_reason=data.reason,
        source=DecisionSource.REVIEW,
        note=data.note.strip(),
        editor=editor,
        seconds_on_screen=data.seconds_on_screen,
    )
    _track_follows(track, decision)
    return decision


def undo_deadline(decision: Decision) -> datetime:
    return decision.created_at + timedelta(seconds=UNDO_SECONDS)


@transaction.atomic
def decision_undo(*, editor: AbstractBaseUser, decision: Decision) -> Decision:
    """Take back the editor's own decision within UNDO_SECONDS, as a new append-only decision
    (action undone) that restores what the track had before: the previous decision's genre or
    rejection, else awaiting review. Refused once anyone decided the track since."""
    track = Track.objects.select_for_update().get(pk=decision.track_id)
    decision = Decision.objects.select_related("genre").get(pk=decision.pk)
    if decision.editor_id != editor.pk or decision.source != DecisionSource.REVIEW:
        raise ReviewError(ReviewErrorCode.UNDO_REFUSED, "Only the editor who made a decision can undo it.")
    if decision.action == DecisionAction.UNDONE or Decision.objects.filter(undoes=decision).exists():
        raise ReviewError(ReviewErrorCode.UNDO_REFUSED, "This decision has already been undone.")
    if timezone.now() > undo_deadline(decision):
        raise ReviewError(
            ReviewErrorCode.UNDO_EXPIRED,
            f"Undo is possible for {UNDO_SECONDS} s after saving; open the track and decide it again.",
        )
    if track.decisions.filter(pk__gt=decision.pk).exists():
        raise ReviewError(
            ReviewErrorCode.UNDO_REFUSED, "Someone decided this track after you; your decision can no longer be undone."
        )
    previous = track.decisions.filter(pk__lt=decision.pk).select_related("genre").order_by("-pk").first()
    _lock_feed()
    undo = Decision.objects.create(
        track=track,
        analysis=decision.analysis,
        model_version=decision.model_version,
        proposed=decision.proposed,
        genre=previous.genre if previous else None,
        secondary_genre=previous.secondary_genre if previous else None,
        reject_reason=previous.reject_reason if previous else "",
        action=DecisionAction.UNDONE,
        undoes=decision,
        source=DecisionSource.REVIEW,
        editor=editor,
        note=f"Undid decision #{decision.pk} ({decision.outcome})",
    )
    _track_follows(track, undo)
    return undo


class CatalogLabelOutcome(str, Enum):
    RECORDED = "recorded"  # a new catalog decision: the track takes the genre
    UNCHANGED = "unchanged"  # the catalog said this before, or an editor decided the same
    KEPT_EDITOR = "kept_editor"  # an editor decided another genre: theirs stands


@dataclass(frozen=True)
class CatalogLabel:
    outcome: CatalogLabelOutcome
    decision: Decision | None = None  # the catalog decision recorded
    editor_decision: Decision | None = None  # with KEPT_EDITOR: the editor's decision that stands


@transaction.atomic
def catalog_label_record(*, editor: AbstractBaseUser, track: Track, genre: Genre) -> CatalogLabel:
    """Record a genre the catalog already knows (import manifest, CMS) as a decision of source
    catalog, so exports and training use it.

    Idempotent: the genre the catalog gave last time records nothing. A catalog label never
    overrides an editor: once an editor has decided the track, a different catalog genre is not
    recorded (KEPT_EDITOR; the caller reports it) and the track's known genre notes it. Unlike
    an editor's decision it needs no analysis and no claim, and leaves claims alone.
    """
    if not genre.active:
        raise ReviewError(ReviewErrorCode.GENRE_UNAVAILABLE, f"{genre} is not an active genre any more.")
    track = Track.objects.select_for_update().get(pk=track.pk)
    history = track.decisions.select_related("editor", "genre").order_by("-pk")
    last_catalog = history.filter(source=DecisionSource.CATALOG).first()
    latest = history.first()
    if last_catalog is not None and last_catalog.genre_id == genre.pk:
        return CatalogLabel(CatalogLabelOutcome.UNCHANGED)
    # An undo that left the track with nothing (awaiting review) decided nothing an editor stands by.
    editor_stands = (
        latest is not None
        and latest.source != DecisionSource.CATALOG
        and (latest.genre_id is not None or latest.reject_reason)
    )
    if editor_stands:
        Track.objects.filter(pk=track.pk).update(known_genre=genre)
        if latest.genre_id == genre.pk:
            return CatalogLabel(CatalogLabelOutcome.UNCHANGED)
        return CatalogLabel(CatalogLabelOutcome.KEPT_EDITOR, editor_decision=latest)
    _lock_feed()
    decision = Decision.objects.create(
        track=track,
        analysis=None,
        model_version=None,
        proposed=[],
        genre=genre,
        action=DecisionAction.LABELLED,
        source=DecisionSource.CATALOG,
        editor=editor,
        note="Known genre from the catalog",
    )
    Track.objects.filter(pk=track.pk).update(reviewed_genre=genre, known_genre=genre)
    if track.status == TrackStatus.AWAITING_REVIEW:  # as the worker does for a track with a genre
        track_transition(track=track, to=TrackStatus.REVIEWED)
    return CatalogLabel(CatalogLabelOutcome.RECORDED, decision=decision)


def decisions_bulk_accept(*, editor: AbstractBaseUser, tracks: QuerySet[Track], threshold: float) -> list[Decision]:
    """Accept the top-1 of every awaiting track whose latest analysis is at least `threshold` sure;
    each acceptance is a decision by `editor`. Tracks held by someone else are left alone."""
    decisions = []
    for candidate in bulk_accept_candidates(editor=editor, tracks=tracks, threshold=threshold):
        track, analysis = candidate.track, candidate.analysis
        try:
            decisions.append(
                decision_submit(
                    editor=editor,
                    track=track,
                    source=DecisionSource.BULK,
                    data=DecisionInput(
                        genre=candidate.genre,
                        analysis_id=analysis.pk,
                        seen_decision_id=last_decision_id(track),
                        note=f"Bulk-accepted at top-1 ≥ {threshold:.0%}",
                    ),
                )
            )
        except ReviewError:
            continue
    return decisions
