"""The change feed's opaque cursor: base64url of the last decision id a client has seen.

Opaque so clients store and send it back without interpreting it, leaving room to change the
encoding (a version prefix is part of it)."""
from __future__ import annotations

import base64
import binascii
import re

_PATTERN = re.compile(r"^d1:(\d{1,18})$")


class InvalidCursor(ValueError):
    pass


def cursor_encode(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"d1:{last_id}".encode()).decode().rstrip("=")


def cursor_decode(cursor: str | None) -> int:
    """The last seen id; 0 (the beginning) for no cursor; InvalidCursor for anything we did not issue."""
    if cursor is None or cursor == "":
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidCursor(cursor) from None
    match = _PATTERN.match(raw)
    if not match or cursor_encode(int(match.group(1))) != cursor:
        raise InvalidCursor(cursor)
    return int(match.group(1))
