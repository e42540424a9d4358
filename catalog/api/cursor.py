"""The change feed's opaque cursor: base64url of the last decision id a client has seen.

Opaque so clients store and send it back without interpreting it, leaving room to change the
encoding (a version prefix is part of it)."""

from __future__ import annotations

import base64
import binascii
import re

_PATTERN = re.compile(r"^d1:(\d{1,18})$")


def _cursor_pattern() -> str:
    """A regular expression for exactly the cursors `cursor_encode` issues, for the schema.

    base64url of `d1:` is `ZDE6`; then each group of three decimal digits is four characters, a
    last group of one or two digits two or three. The characters a digit byte (0x30-0x39) can give
    in each position are few, and the first digit is 0 only for id 0 (ids have no leading zeros).
    """
    lead = "(?:[MN][DTjz]|O[DT])"  # the 1st digit's 6 high bits, then its low 2 + the 2nd's high 4
    lead_nonzero = "(?:M[Tjz]|N[DTjz]|O[DT])"  # the same without a first digit 0
    mid = "[AEIMQUYcgk]"  # the 2nd digit's low 4 bits + the 3rd's high 2 (always 00)
    last = "[w-z0-5]"  # the 3rd digit's low 6 bits
    one = "(?:[MN][AQgw]|O[AQ])"  # a last group of one digit
    group, first = f"{lead}{mid}{last}", f"{lead_nonzero}{mid}{last}"
    return f"^ZDE6(?:{one}|{lead_nonzero}{mid}|{first}(?:(?:{group}){{0,4}}(?:{one}|{lead}{mid})?|(?:{group}){{5}}))$"


# Ids of up to 18 digits. (The schema also allows the empty string: the beginning.)
CURSOR_PATTERN = _cursor_pattern()


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
