"""One error shape for the whole API, `{"error": {"code": ..., "message": ...}}`, with stable codes.

Audio and ingest problems reuse inference.engine.errors.ErrorCode and catalog.ingest.IngestErrorCode so
the API, the admin and the CLI say the same thing; codes only the API can produce live here.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from catalog.ingest import IngestErrorCode
from inference.engine.errors import ErrorCode


class ApiErrorCode(str, Enum):
    INVALID_PARAMETER = "invalid_parameter"
    INVALID_CURSOR = "invalid_cursor"
    AUDIO_DIFFERS = "audio_differs"
    DUPLICATE_AUDIO = "duplicate_audio"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_DENIED = "permission_denied"
    THROTTLED = "throttled"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    NOT_ACCEPTABLE = "not_acceptable"
    PARSE_ERROR = "parse_error"
    SERVER_ERROR = "server_error"


# HTTP status for every code a sender can cause by what it uploads.
STATUS_BY_CODE: dict[str, int] = {
    ErrorCode.UNSUPPORTED_FORMAT.value: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    ErrorCode.UNDECODABLE.value: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    ErrorCode.EMPTY_FILE.value: status.HTTP_400_BAD_REQUEST,
    ErrorCode.TOO_LONG.value: status.HTTP_400_BAD_REQUEST,
    ErrorCode.TOO_SHORT.value: status.HTTP_400_BAD_REQUEST,
    ErrorCode.UNSUPPORTED_LAYOUT.value: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    IngestErrorCode.TOO_LARGE.value: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    IngestErrorCode.MISSING_FILE.value: status.HTTP_400_BAD_REQUEST,
    IngestErrorCode.UNKNOWN_GENRE.value: status.HTTP_400_BAD_REQUEST,
    IngestErrorCode.INACTIVE_GENRE.value: status.HTTP_400_BAD_REQUEST,
    IngestErrorCode.EXTERNAL_ID_TAKEN.value: status.HTTP_409_CONFLICT,
    ApiErrorCode.AUDIO_DIFFERS.value: status.HTTP_409_CONFLICT,
    ApiErrorCode.DUPLICATE_AUDIO.value: status.HTTP_409_CONFLICT,
}


class ApiError(exceptions.APIException):
    """Raised by API views; rendered by `api_exception_handler` in the common shape."""

    def __init__(self, code: str, message: str, status_code: int | None = None) -> None:
        code = code.value if isinstance(code, Enum) else code
        self.status_code = status_code or STATUS_BY_CODE.get(code, status.HTTP_400_BAD_REQUEST)
        self.error_code = code
        self.message = message
        super().__init__(detail=message, code=code)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


_DRF_CODES: list[tuple[type[exceptions.APIException], ApiErrorCode]] = [
    (exceptions.NotAuthenticated, ApiErrorCode.NOT_AUTHENTICATED),
    (exceptions.AuthenticationFailed, ApiErrorCode.AUTHENTICATION_FAILED),
    (exceptions.PermissionDenied, ApiErrorCode.PERMISSION_DENIED),
    (exceptions.Throttled, ApiErrorCode.THROTTLED),
    (exceptions.NotFound, ApiErrorCode.NOT_FOUND),
    (exceptions.MethodNotAllowed, ApiErrorCode.METHOD_NOT_ALLOWED),
    (exceptions.UnsupportedMediaType, ApiErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (exceptions.NotAcceptable, ApiErrorCode.NOT_ACCEPTABLE),
    (exceptions.ParseError, ApiErrorCode.PARSE_ERROR),
    (exceptions.ValidationError, ApiErrorCode.INVALID_PARAMETER),
]


def _message(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_message(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_message(item) for item in detail)
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, headers such as WWW-Authenticate and Retry-After), our body shape."""
    if isinstance(exc, Http404):  # as DRF's own handler does, so the code below sees DRF's classes
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API exception: a real 500, left to Django
    if isinstance(exc, ApiError):
        response.data = error_body(exc.error_code, exc.message)
        return response
    code = next((code for kind, code in _DRF_CODES if isinstance(exc, kind)), ApiErrorCode.INVALID_PARAMETER)
    extra = (
        {"fields": exc.detail} if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict) else {}
    )
    response.data = error_body(code.value, _message(getattr(exc, "detail", exc)), **extra)
    return response
