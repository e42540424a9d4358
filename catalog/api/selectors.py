"""Reads for the API: tracks with their latest analysis and review state, and the tag change feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from catalog.models import Analysis, Genre, Track
from review.models import Decision

# Big per-window arrays are not part of any API answer: never load them for lists.
_HEAVY_ANALYSIS_FIELDS = ("window_starts_s", "window_scores", "embedding", "attention_regions")


def genre_by_slug_or_name(value: str) -> Genre | None:
    value = value.strip()
    return Genre.objects.filter(Q(slug__iexact=value) | Q(name__iexact=value)).first() if value else None


def tracks_for_api(
    *, status: str | None = None, genre: Genre | None = None, updated_since: datetime | None = None
) -> QuerySet[Track]:
    """Tracks with `latest_analyses` (newest first) and `reviewed_at` (latest decision), oldest change first.

    `updated_since` also matches tracks with a decision since then: a correction on a reviewed
    track changes its genre without changing its status.
    """
    tracks = (
        Track.objects.select_related("reviewed_genre")
        .annotate(
            reviewed_at=Subquery(
                Decision.objects.filter(track=OuterRef("pk")).order_by("-pk").values("created_at")[:1]
            ),
        )
        .prefetch_related(
            Prefetch(
                "analyses",
                to_attr="latest_analyses",
                queryset=Analysis.objects.select_related("model_version")
                .defer(*_HEAVY_ANALYSIS_FIELDS)
                .order_by("-created_at", "-pk"),
            )
        )
    )
    if status:
        tracks = tracks.filter(status=status)
    if genre is not None:
        tracks = tracks.filter(reviewed_genre=genre)
    if updated_since is not None:
        decided = Decision.objects.filter(created_at__gte=updated_since).values("track_id")
        tracks = tracks.filter(Q(updated_at__gte=updated_since) | Q(pk__in=decided))
    return tracks.order_by("updated_at", "pk")


def track_by_external_id(external_id: str) -> Track | None:
    return tracks_for_api().filter(external_id=external_id).first()


@dataclass(frozen=True)
class ChangePage:
    changes: list[Decision]
    last_id: int
    has_more: bool


def tag_changes(*, after_id: int, limit: int) -> ChangePage:
    """Decisions with id > `after_id`, in id order. Decision ids commit in id order (see
    review.decisions), so a reader that resumes after the last id it saw never misses a row."""
    rows = list(
        Decision.objects.filter(pk__gt=after_id)
        .select_related("track", "genre", "secondary_genre", "editor", "model_version")
        .order_by("pk")[: limit + 1]
    )
    changes = rows[:limit]
    return ChangePage(changes=changes, last_id=changes[-1].pk if changes else after_id, has_more=len(rows) > limit)
