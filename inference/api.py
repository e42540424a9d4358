"""The synchronous genre endpoint (``POST /api/genre``): the CMS API's one door into the model.

It lives with the inference wiring, not in ``catalog.api``, so the catalog never imports torch:
the catalog's endpoints store and read tracks, this one runs the loaded model in the request.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api.auth import api_client_of
from catalog.api.base import AUTH_ERRORS, CmsApiView, audio_form, caller_name, declared_bytes, error_responses
from catalog.api.errors import ApiError
from catalog.api.serializers import ClassificationSerializer, ClassifyQuerySerializer, ClassifyRequestSerializer
from catalog.ingest import declared_too_large
from inference.sync import ClassifyRejected, classify_upload


class GenreClassifyView(CmsApiView):
    throttle_scope = "classify"
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="classify_genre",
        tags=["classify"],
        summary="Top-K genres of an uploaded clip, answered synchronously",
        parameters=[ClassifyQuerySerializer],
        request=audio_form(ClassifyRequestSerializer),
        responses={200: ClassificationSerializer, **error_responses(400, 413, 415, *AUTH_ERRORS, 503)},
    )
    def post(self, request: Request) -> Response:
        # Declared too large: classify_upload refuses it (413) without the body being parsed.
        upload = None if declared_too_large(declared_bytes(request)) else request.FILES.get("audio")
        try:
            result = classify_upload(
                stream=upload,
                filename=getattr(upload, "name", "") or "",
                top_k=request.query_params.get("top_k"),
                client=api_client_of(request),
                caller=caller_name(request),
                declared_bytes=declared_bytes(request),
            )
        except ClassifyRejected as error:
            raise ApiError(error.code, error.message, error.status_code) from None
        return Response(ClassificationSerializer(result).data)
