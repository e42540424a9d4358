"""Logging filters for the site."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """A refused request (403, 404 …) is one warning line; only server errors keep their traceback.

    Django logs PermissionDenied and Http404 on `django.request` with the exception attached,
    which prints a full traceback for what is an everyday answer, not a bug.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True
