"""How numbers read in the admin: 41.6 %, 2:13, 212 ms, Yes/No — never a raw float."""

from __future__ import annotations

EMPTY = "–"


def percent(value: float | None) -> str:
    """A probability (0–1) as a percentage with one decimal: 0.41597 → "41.6 %"."""
    return EMPTY if value is None else f"{value * 100:.1f} %"


def clock(seconds: float | None) -> str:
    """A duration as minutes:seconds (h:mm:ss past an hour): 132.989 → "2:13"."""
    if seconds is None:
        return EMPTY
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def milliseconds(value: float | None) -> str:
    return EMPTY if value is None else f"{value:,.0f} ms"


def seconds_short(value: float | None) -> str:
    """A short time (a job, an editor's look at a track): "3.4 s"."""
    return EMPTY if value is None else f"{value:.1f} s"


def yes_no(value: bool | None) -> str:
    """A flag as words: a red ✖ for "not silent" reads as an error."""
    return EMPTY if value is None else ("Yes" if value else "No")
