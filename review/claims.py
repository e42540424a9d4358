"""Claims: opening a track holds it for one editor for a limited time."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Track, TrackStatus
from review.errors import ReviewError, ReviewErrorCode
from review.models import Claim
from review.selectors import REVIEWABLE_STATUSES, QueueFilters, review_queue


def _expiry() -> tuple:
    now = timezone.now()
    return now, now + timedelta(minutes=settings.REVIEW_CLAIM_MINUTES)


def _hold(track: Track, editor: AbstractBaseUser) -> Claim:
    """Create or renew the claim on a track whose row the caller has locked."""
    now, expires = _expiry()
    claim = Claim.objects.filter(track=track).first()
    if claim and claim.editor_id != editor.pk and claim.expires_at > now:
        raise ReviewError(
            ReviewErrorCode.CLAIMED_BY_OTHER,
            f"{claim.editor} is reviewing this track (held until {timezone.localtime(claim.expires_at):%H:%M}).",
        )
    if claim:
        claim.editor, claim.claimed_at, claim.expires_at = editor, now, expires
        claim.save(update_fields=["editor", "claimed_at", "expires_at"])
        return claim
    return Claim.objects.create(track=track, editor=editor, claimed_at=now, expires_at=expires)


@transaction.atomic
def claim_next(
    *, editor: AbstractBaseUser, filters: QueueFilters = QueueFilters(), exclude_ids: Collection[int] = ()
) -> Track | None:
    """Claim the most uncertain unclaimed track; two editors asking at once get different tracks.

    Candidate rows are locked with SKIP LOCKED in queue order, so a concurrent caller skips
    the row this one is taking instead of waiting for it or taking it too.
    """
    held = (
        Track.objects.filter(
            claim__editor=editor, claim__expires_at__gt=timezone.now(), status=TrackStatus.AWAITING_REVIEW
        )
        .exclude(pk__in=exclude_ids)
        .order_by("claim__claimed_at")
        .first()
    )
    if held:  # finish what you opened before starting another
        _hold(held, editor)
        return held
    tried = set(exclude_ids)
    for _ in range(20):
        # One row at a time: FOR UPDATE locks every row a query returns, so a longer LIMIT would
        # make one editor hold (and everyone else skip) the whole head of the queue.
        track = (
            review_queue(filters=filters)
            .exclude(pk__in=tried)
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if track is None:
            return None
        try:
            with transaction.atomic():
                _hold(track, editor)
            return track
        except (ReviewError, IntegrityError):
            tried.add(track.pk)  # claimed between our read and our lock: try the next one
    return None


def ensure_reviewable(track: Track) -> None:
    """ReviewError unless the track has a proposal to review (or a decision to revisit)."""
    if track.status not in REVIEWABLE_STATUSES:
        raise ReviewError(
            ReviewErrorCode.NOT_REVIEWABLE, f"This track is {track.get_status_display().lower()}, not ready for review."
        )


def current_claim(track: Track) -> Claim | None:
    """Who holds the track now (an expired claim holds nothing)."""
    return Claim.objects.filter(track=track, expires_at__gt=timezone.now()).select_related("editor").first()


@transaction.atomic
def claim_open(*, editor: AbstractBaseUser, track: Track) -> Claim:
    """Claim a specific track (opened from a list); refused while someone else holds it."""
    locked = Track.objects.select_for_update().get(pk=track.pk)
    ensure_reviewable(locked)
    return _hold(locked, editor)


def claim_release(*, track: Track, editor: AbstractBaseUser | None = None) -> bool:
    """Release a track: an editor releases their own claim; staff (editor=None) release any."""
    claims = Claim.objects.filter(track=track)
    if editor is not None:
        claims = claims.filter(editor=editor)
    return claims.delete()[0] > 0


@transaction.atomic
def claim_reassign(*, track: Track, editor: AbstractBaseUser) -> Claim:
    """Staff hand a track to another editor, whoever held it."""
    Track.objects.select_for_update().get(pk=track.pk)
    Claim.objects.filter(track=track).delete()
    now, expires = _expiry()
    return Claim.objects.create(track=track, editor=editor, claimed_at=now, expires_at=expires)
