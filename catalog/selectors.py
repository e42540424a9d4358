"""Reads from the catalog."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from catalog.models import Genre, ModelVersion, Track, TrackStatus


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def active_genres() -> QuerySet[Genre]:
    return Genre.objects.filter(active=True)


def track_counts_by_status() -> dict[str, int]:
    """Every status with its count, zeros included, in lifecycle order."""
    counts = dict(Track.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in TrackStatus.values}
