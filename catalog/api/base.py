"""What every API view shares: the base view (auth, throttling), the error responses the schema
documents, and the upload's size checks made before its body is read.

The views of ``catalog.api``, ``inference.api`` and ``review.api`` all build on it, so none of
them imports another app's views.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiRequest, OpenApiResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from catalog.api.auth import CanUseCmsApi, api_client_of
from catalog.api.errors import ApiError
from catalog.api.serializers import ErrorSerializer
from catalog.api.throttling import ApiClientRateThrottle
from catalog.ingest import IngestErrorCode, declared_too_large, human_size
from inference.engine.audio import supported_formats_text


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer, description='`{"error": {"code", "message"}}`') for code in codes}


AUTH_ERRORS = (401, 403, 429)

# The server picks a decoder by the filename's extension: the schema says so, with an example
# (clients and generated tests then send a filename that names the format).
AUDIO_PART = {
    "audio": {
        "headers": {
            "Content-Disposition": {
                "description": (
                    f"The filename's extension names the format; this install accepts: {supported_formats_text()}."
                ),
                "schema": {"type": "string"},
                "example": 'form-data; name="audio"; filename="clip.wav"',
            }
        }
    }
}


def audio_form(serializer: type) -> dict[str, OpenApiRequest]:
    return {"multipart/form-data": OpenApiRequest(serializer, encoding=AUDIO_PART)}


def declared_bytes(request: Request) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def refuse_declared_too_large(request: Request) -> None:
    """413 before the body is read when Content-Length is already over the upload limit."""
    if declared_too_large(declared_bytes(request)):
        raise ApiError(
            IngestErrorCode.TOO_LARGE,
            f"The file is larger than the {human_size(settings.MAX_UPLOAD_BYTES)} upload limit.",
        )


class CmsApiView(APIView):
    """Token clients and users granted catalog.use_cms_api (leads, superusers); throttled per client."""

    permission_classes = [IsAuthenticated, CanUseCmsApi]
    throttle_classes = [ApiClientRateThrottle]
    throttle_scope = "cms"


def caller_name(request: Request) -> str:
    return "" if api_client_of(request) else request.user.get_username()
