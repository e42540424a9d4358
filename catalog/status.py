"""The track lifecycle. Every status change goes through `track_transition`."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from catalog.models import Track, TrackStatus

S = TrackStatus
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.QUEUED, S.FAILED}),
    # No way back from queued or analyzing: a lost job is queued again with the track's status
    # left as it is (inference.pipeline.tracks_recover), so a track a worker has just moved
    # forward can never be moved back by a recovery that saw it a moment earlier.
    S.QUEUED: frozenset({S.ANALYZING, S.FAILED}),
    S.ANALYZING: frozenset({S.AWAITING_REVIEW, S.REVIEWED, S.FAILED}),
    S.AWAITING_REVIEW: frozenset({S.REVIEWED, S.QUEUED, S.REJECTED}),
    # reviewed -> queued: re-analysis under a new model version; the editor's genre is kept.
    S.REVIEWED: frozenset({S.QUEUED, S.AWAITING_REVIEW, S.REJECTED}),
    # An editor rejected it (not music / unusable). It stays out of the pipeline's re-analysis
    # (inference.selectors.REANALYSIS_STATUSES): a new model has no genre to find in it. An
    # editor's later decision or an undo takes it back to reviewed or awaiting review.
    S.REJECTED: frozenset({S.REVIEWED, S.AWAITING_REVIEW}),
    S.FAILED: frozenset({S.QUEUED, S.PENDING}),
}


class IllegalStatusTransition(Exception):
    """A status change the lifecycle does not allow, or one based on a stale status."""


def track_transition(*, track: Track, to: str, reason: str = "", expected: str | None = None) -> Track:
    """Move a track to `to`, refusing transitions the lifecycle forbids.

    The update is conditional on the status the caller saw (`expected`, default the
    in-memory one), so two workers racing on one track cannot both win.
    """
    to = TrackStatus(to)
    current = TrackStatus(expected or track.status)
    if to not in ALLOWED_TRANSITIONS[current]:
        raise IllegalStatusTransition(f"A track cannot go from {current.label!r} to {to.label!r}.")
    if to == TrackStatus.FAILED and not reason.strip():
        raise IllegalStatusTransition("A failed track needs a failure reason.")
    now = timezone.now()
    failure_reason = reason.strip() if to == TrackStatus.FAILED else ""
    with transaction.atomic():
        updated = Track.objects.filter(pk=track.pk, status=current).update(
            status=to, failure_reason=failure_reason, status_changed_at=now, updated_at=now
        )
    if updated != 1:
        fresh = Track.objects.filter(pk=track.pk).values_list("status", flat=True).first()
        raise IllegalStatusTransition(
            f"Track {track.pk} is no longer {current.label!r} (now {fresh!r}); nothing was changed."
        )
    track.status, track.failure_reason, track.status_changed_at = to, failure_reason, now
    return track
