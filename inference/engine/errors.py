"""Stable error codes for what users can get wrong, shared by the API, admin and CLI.

Each code has one message template, so the same problem reads the same everywhere.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(str, Enum):
    EMPTY_FILE = "empty_file"
    UNDECODABLE = "undecodable"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_LONG = "too_long"
    TOO_SHORT = "too_short"
    UNSUPPORTED_LAYOUT = "unsupported_layout"
    BAD_CHECKPOINT = "bad_checkpoint"

    @property
    def template(self) -> str:
        return _TEMPLATES[self]

    def format(self, **params: Any) -> str:
        """The user-facing message for this code; missing parameters fall back to the bare text."""
        try:
            return self.template.format(**params)
        except (KeyError, IndexError, ValueError):
            return _FALLBACKS[self]


_TEMPLATES: dict[ErrorCode, str] = {
    ErrorCode.EMPTY_FILE: "The file is empty ({detail}).",
    ErrorCode.UNDECODABLE: "The file could not be decoded as audio ({detail}).",
    ErrorCode.UNSUPPORTED_FORMAT: "Unsupported audio format '{format}'. Supported: {supported}.",
    ErrorCode.TOO_LONG: "The audio is too long ({duration}; the limit is {limit}).",
    ErrorCode.TOO_SHORT: "The audio is too short ({duration}; the minimum is {limit}).",
    ErrorCode.UNSUPPORTED_LAYOUT: "The audio's layout is beyond what is analysed ({detail}).",
    ErrorCode.BAD_CHECKPOINT: "The model checkpoint is not usable: {detail}.",
}

_FALLBACKS: dict[ErrorCode, str] = {
    ErrorCode.EMPTY_FILE: "The file is empty.",
    ErrorCode.UNDECODABLE: "The file could not be decoded as audio.",
    ErrorCode.UNSUPPORTED_FORMAT: "Unsupported audio format.",
    ErrorCode.TOO_LONG: "The audio is too long.",
    ErrorCode.TOO_SHORT: "The audio is too short.",
    ErrorCode.UNSUPPORTED_LAYOUT: "The audio's layout (sample rate, channels) is beyond what is analysed.",
    ErrorCode.BAD_CHECKPOINT: "The model checkpoint is not usable.",
}


class InferenceError(Exception):
    """An error with a stable ``code`` and a user-facing ``message`` (also ``str(e)``)."""

    def __init__(self, code: ErrorCode, message: str | None = None, **params: Any) -> None:
        self.code = ErrorCode(code)
        self.message = message if message is not None else self.code.format(**params)
        self.params = params
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form for API error bodies."""
        return {"code": self.code.value, "message": self.message}


class AudioError(InferenceError):
    """The uploaded audio cannot be analysed."""


class CheckpointError(InferenceError):
    """A model checkpoint is missing, malformed or inconsistent."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.BAD_CHECKPOINT, detail=detail)


def format_duration(seconds: float) -> str:
    """'4:05' style for messages; sub-minute values keep one decimal ('7.5 s'), sub-second two digits."""
    if seconds < 1:  # a 10-ms clip is '0.01 s', not '0.0 s'
        return f"{seconds:.2g} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = int(round(seconds))
    return f"{total // 60}:{total % 60:02d}"
