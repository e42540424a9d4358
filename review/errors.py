"""Stable codes for what an editor (or a stale form) can get wrong, shared by the UI and the API."""

from __future__ import annotations

from enum import Enum


class ReviewErrorCode(str, Enum):
    CLAIMED_BY_OTHER = "claimed_by_other"
    STALE = "stale"
    NOT_REVIEWABLE = "not_reviewable"
    GENRE_UNAVAILABLE = "genre_unavailable"
    SAME_SECONDARY = "same_secondary"
    REJECT_REASON = "reject_reason"
    UNDO_EXPIRED = "undo_expired"
    UNDO_REFUSED = "undo_refused"


class ReviewError(Exception):
    def __init__(self, code: ReviewErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
