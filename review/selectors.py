"""Reads for reviewing: the uncertainty-first queue, a track's evidence and history, editor stats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from statistics import median

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.models import Analysis, Genre, Track, TrackStatus
from review.models import Claim, Decision, DecisionAction, DecisionSource

# Uncertainty = the margin between the top-1 and top-2 probabilities of the latest analysis:
# a 0.41/0.40 split is a harder call than a lone 0.30 over fifteen 0.05s, which the top-1
# probability alone would rank first.
CONFIDENCE_BANDS = {"low": (0.0, 0.4), "medium": (0.4, 0.7), "high": (0.7, 1.01)}
# Tracks whose genre the catalog already gave (their latest decision is a catalog label):
# left out of the queue, taken in too, or the only ones shown.
LABELLED_CHOICES = {"skip": "skip (default)", "include": "include", "only": "only these"}
# The content verdict of the latest analysis (Analysis.content; empty: not measured).
CONTENT_CHOICES = {"music": "music", "speech": "speech", "other": "other (not music)"}
NOT_MUSIC = ("speech", "other")
# Below this mean music score YAMNet called a recording music only for want of anything better
# (music on the shared recordings scores 0.59-0.96, a 5-s trumpet loop lowest; the NPS humpback
# whale 0.19; the threshold sits between, with room either side): bulk accept
# leaves such tracks to a person, whatever the genre model's confidence.
WEAK_MUSIC_SCORE = 0.4
# Statuses in which an editor may decide a track (again): a rejection can be revisited too.
REVIEWABLE_STATUSES = (TrackStatus.AWAITING_REVIEW, TrackStatus.REVIEWED, TrackStatus.REJECTED)


@dataclass(frozen=True)
class QueueFilters:
    genre: str = ""  # predicted top-1 label
    band: str = ""  # key of CONFIDENCE_BANDS
    model_version: int | None = None
    batch: int | None = None
    since: date | None = None
    until: date | None = None
    labelled: str = "skip"  # key of LABELLED_CHOICES
    content: str = ""  # key of CONTENT_CHOICES: the latest analysis's content verdict


def _latest(field: str) -> Subquery:
    return Subquery(Analysis.objects.filter(track=OuterRef("pk")).order_by("-created_at", "-pk").values(field)[:1])


def _latest_decision_source() -> Subquery:
    return Subquery(Decision.objects.filter(track=OuterRef("pk")).order_by("-pk").values("source")[:1])


def _labelled() -> Q:
    return Q(latest_source=DecisionSource.CATALOG)


def review_queue(*, filters: QueueFilters = QueueFilters(), now: datetime | None = None) -> QuerySet[Track]:
    """Tracks awaiting review that nobody holds: those the content verdict calls not music first
    (they need a reject-or-confirm), then most uncertain first (then oldest id).

    A catalog-labelled track (its latest decision is a catalog label) is reviewed by status; it
    is left out unless ``filters.labelled`` takes it in, so editors can verify catalog labels."""
    now = now or timezone.now()
    awaiting = Q(status=TrackStatus.AWAITING_REVIEW)
    labelled = Q(status__in=(TrackStatus.AWAITING_REVIEW, TrackStatus.REVIEWED)) & _labelled()
    unlabelled = Q(latest_source__isnull=True) | ~_labelled()
    wanted = {"include": awaiting | labelled, "only": labelled}.get(filters.labelled, awaiting & unlabelled)
    tracks = (
        Track.objects.annotate(latest_source=_latest_decision_source())
        .filter(wanted)
        .exclude(claim__expires_at__gt=now)
        .annotate(
            margin=_latest("margin"),
            top_label=_latest("top_label"),
            top_probability=_latest("top_probability"),
            analysis_model=_latest("model_version_id"),
            content=_latest("content"),
        )
        .filter(margin__isnull=False)
    )
    if filters.content in CONTENT_CHOICES:
        tracks = tracks.filter(content=filters.content)
    if filters.genre:
        tracks = tracks.filter(top_label=filters.genre)
    if filters.band in CONFIDENCE_BANDS:
        low, high = CONFIDENCE_BANDS[filters.band]
        tracks = tracks.filter(top_probability__gte=low, top_probability__lt=high)
    if filters.model_version:
        tracks = tracks.filter(analysis_model=filters.model_version)
    if filters.batch:
        tracks = tracks.filter(import_batch_id=filters.batch)
    if filters.since:
        tracks = tracks.filter(created_at__date__gte=filters.since)
    if filters.until:
        tracks = tracks.filter(created_at__date__lte=filters.until)
    not_music_first = Case(When(content__in=NOT_MUSIC, then=Value(0)), default=Value(1), output_field=IntegerField())
    return tracks.order_by(not_music_first, F("margin").asc(nulls_last=True), "pk")


def queue_counts(*, filters: QueueFilters = QueueFilters()) -> dict[str, object]:
    """Counts for the queue page: the filtered total and how it splits by predicted genre and band."""
    tracks = review_queue(filters=filters)
    by_genre = dict(tracks.order_by().values_list("top_label").annotate(n=Count("pk")).values_list("top_label", "n"))
    bands = {
        name: tracks.filter(top_probability__gte=low, top_probability__lt=high).count()
        for name, (low, high) in CONFIDENCE_BANDS.items()
    }
    claimed = Track.objects.filter(status=TrackStatus.AWAITING_REVIEW, claim__expires_at__gt=timezone.now()).count()
    labelled = review_queue(filters=QueueFilters(labelled="only")).count()
    return {
        "total": tracks.count(),
        "by_genre": dict(sorted(by_genre.items())),
        "by_band": bands,
        "claimed": claimed,
        "labelled": labelled,
    }


def latest_analysis(track: Track) -> Analysis | None:
    return track.analyses.select_related("model_version").order_by("-created_at", "-pk").first()


@dataclass(frozen=True)
class BulkCandidate:
    track: Track
    analysis: Analysis
    genre: Genre


@dataclass(frozen=True)
class BulkVerdict:
    """One awaiting track on the bulk-accept page: accepted (``left_alone`` empty) or why not."""

    track: Track
    analysis: Analysis | None
    genre: Genre | None
    left_alone: str = ""


def bulk_accept_verdicts(*, editor: AbstractBaseUser, tracks: QuerySet[Track], threshold: float) -> list[BulkVerdict]:
    """Every awaiting track among `tracks`, with what bulk accept does to it at `threshold`. The
    confirmation page shows these, and the service accepts exactly the accepted ones.

    Left alone: a track another editor holds; one whose latest analysis heard no music (content
    speech/other), music only weakly (below WEAK_MUSIC_SCORE) or silence, since a confident genre
    for a whale or a talk is exactly what needs a human reject-or-confirm; a top-1 below the
    threshold or not an active genre. Rejected tracks are never awaiting, so never accepted."""
    held = set(
        Claim.objects.filter(expires_at__gt=timezone.now())
        .exclude(editor_id=editor.pk)
        .values_list("track_id", flat=True)
    )
    genres = {genre.name: genre for genre in Genre.objects.filter(active=True)}
    verdicts = []
    for track in tracks.filter(status=TrackStatus.AWAITING_REVIEW).order_by("pk"):
        analysis = latest_analysis(track)
        if track.pk in held:
            reason = "another editor holds it"
        elif analysis is None:
            reason = "no analysis yet"
        elif analysis.content in NOT_MUSIC:
            reason = f"heard {analysis.content}, not music: needs a person to reject or confirm"
        elif analysis.is_silent:
            reason = "silent audio: needs a person"
        elif analysis.content == "music" and (analysis.content_scores or {}).get("music", 1.0) < WEAK_MUSIC_SCORE:
            score = analysis.content_scores["music"]
            reason = f"barely heard as music ({score:.2f}): needs a person to reject or confirm"
        elif analysis.top_probability < threshold:
            reason = "below the threshold"
        elif analysis.top_label not in genres:
            reason = f"{analysis.top_label} is not an active genre"
        else:
            reason = ""
        genre = genres[analysis.top_label] if not reason else None
        verdicts.append(BulkVerdict(track, analysis, genre, reason))
    return verdicts


def bulk_accept_candidates(
    *, editor: AbstractBaseUser, tracks: QuerySet[Track], threshold: float
) -> list[BulkCandidate]:
    """What bulk accept would accept (see bulk_accept_verdicts)."""
    return [
        BulkCandidate(v.track, v.analysis, v.genre)
        for v in bulk_accept_verdicts(editor=editor, tracks=tracks, threshold=threshold)
        if not v.left_alone
    ]


def track_history(track: Track) -> QuerySet[Decision]:
    return track.decisions.select_related("editor", "genre", "secondary_genre", "model_version").order_by("-pk")


def last_decision_id(track: Track) -> int:
    """The track's latest editor decision, which a review form must have seen. Catalog labels
    are left out: an editor's decision always wins over them, so they never make a form stale."""
    return (
        track.decisions.exclude(source=DecisionSource.CATALOG).order_by("-pk").values_list("pk", flat=True).first() or 0
    )


@dataclass(frozen=True)
class EditorDay:
    editor: str
    day: date
    decisions: int
    correction_rate: float | None
    median_seconds: float | None
    rejected: int = 0  # of `decisions`: not music / unusable
    undone: int = 0  # decisions the editor took back (not counted in `decisions`)


def editor_statistics(*, since: date | None = None, include_catalog: bool = False) -> list[EditorDay]:
    """Decisions per editor per day, the share that changed the model's top-1, median time per track.

    Catalog labels are left out unless ``include_catalog``; they had no proposal, so they never
    count towards the correction rate (None when a day has only those). Rejections count as
    decisions (and apart) but not towards the correction rate: they judge the audio, not the
    genre. An undone decision and the undo itself are not decisions: they are counted apart."""
    decisions = Decision.objects.all()
    if not include_catalog:
        decisions = decisions.exclude(source=DecisionSource.CATALOG)
    if since:
        decisions = decisions.filter(created_at__date__gte=since)
    counted = Q(undone_by__isnull=True) & ~Q(action=DecisionAction.UNDONE)
    proposed = counted & ~Q(action__in=(DecisionAction.LABELLED, DecisionAction.REJECTED))
    rows = (
        decisions.annotate(day=TruncDate("created_at"))
        .values("editor__username", "day")
        .annotate(
            n=Count("pk", filter=counted),
            compared=Count("pk", filter=proposed),
            changed=Count("pk", filter=proposed & ~Q(action=DecisionAction.ACCEPTED)),
            rejected=Count("pk", filter=counted & Q(action=DecisionAction.REJECTED)),
            undone=Count("pk", filter=Q(action=DecisionAction.UNDONE)),
        )
        .order_by("-day", "editor__username")
    )
    seconds: dict[tuple[str, date], list[float]] = {}
    for username, day, value in (
        decisions.filter(counted)
        .annotate(day=TruncDate("created_at"))
        .exclude(seconds_on_screen=None)
        .values_list("editor__username", "day", "seconds_on_screen")
    ):
        seconds.setdefault((username, day), []).append(value)
    return [
        EditorDay(
            editor=row["editor__username"],
            day=row["day"],
            decisions=row["n"],
            correction_rate=row["changed"] / row["compared"] if row["compared"] else None,
            median_seconds=median(seconds[key]) if (key := (row["editor__username"], row["day"])) in seconds else None,
            rejected=row["rejected"],
            undone=row["undone"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class ReviewProgress:
    left: int  # tracks left in this (filtered) queue, besides the one open
    done_today: int  # this editor's decisions today (undone ones and undos left out)
    median_seconds: float | None  # their median time on screen today


def review_progress(
    *, editor: AbstractBaseUser, filters: QueueFilters = QueueFilters(), now: datetime | None = None
) -> ReviewProgress:
    """The review screen's progress line: how much is left here and how the editor's day goes."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    mine = Decision.objects.filter(
        editor=editor, source=DecisionSource.REVIEW, created_at__date=today, undone_by__isnull=True
    ).exclude(action=DecisionAction.UNDONE)
    seconds = list(mine.exclude(seconds_on_screen=None).values_list("seconds_on_screen", flat=True))
    return ReviewProgress(
        left=review_queue(filters=filters, now=now).count(),
        done_today=mine.count(),
        median_seconds=median(seconds) if seconds else None,
    )


def can_review(user: AbstractBaseUser) -> bool:
    return user.is_active and user.has_perm("review.add_decision")
