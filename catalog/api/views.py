"""API views: parse the request, call one service or selector, shape the answer."""

from __future__ import annotations

import re

from django.http import FileResponse, HttpRequest, HttpResponseBase, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api import selectors
from catalog.api.auth import api_client_of
from catalog.api.base import AUTH_ERRORS, CmsApiView, audio_form, error_responses, refuse_declared_too_large
from catalog.api.cursor import InvalidCursor, cursor_decode, cursor_encode
from catalog.api.errors import ApiError, ApiErrorCode, error_body
from catalog.api.pagination import ApiPagination
from catalog.api.schema import EXTERNAL_ID, SPACES, BodyRequiredSchema
from catalog.api.serializers import (
    IMAGE_KINDS,
    ChangesQuerySerializer,
    TagChangesPageSerializer,
    TrackCreateSerializer,
    TrackFilterSerializer,
    TrackMetadataSerializer,
    TrackSerializer,
    TrackUpsertJsonSerializer,
    TrackUpsertSerializer,
)
from catalog.api.services import track_create_from_cms, track_upsert_by_external_id
from catalog.ingest import IngestErrorCode, IngestRejected, TrackMetadata, known_genre_resolve
from catalog.models import Genre
from inference.engine.errors import ErrorCode
from review.system_users import api_client_user


@csrf_exempt  # it changes nothing; else a PUT with a session cookie would get Django's HTML 403 page
def no_such_endpoint(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """404 in the API's error shape for any URL under /api/ that matches no endpoint."""
    return JsonResponse(error_body(ApiErrorCode.NOT_FOUND.value, f"No API endpoint at {request.path}."), status=404)


def _upload(request: Request, field: str = "audio"):
    """The uploaded file, or 413 before the body is read when Content-Length is already too big;
    400 `empty_file` for an empty one (DRF's FileField would call it `invalid_parameter`, and an
    existing track's upsert `audio_differs`)."""
    refuse_declared_too_large(request)
    upload = request.FILES.get(field)
    if upload is not None and upload.size == 0:
        raise ApiError(ErrorCode.EMPTY_FILE, ErrorCode.EMPTY_FILE.format(detail="0 bytes"))
    return upload


def _form(request: Request, upload: object) -> dict[str, object]:
    """The form fields (last value of each) plus the upload, for a serializer."""
    fields = {key: request.data.get(key) for key in request.data if key != "audio"}
    return {**fields, **({"audio": upload} if upload is not None else {})}


def _query(request: Request) -> dict[str, str]:
    """The query parameters as plain values: DRF reads an empty `?status=` from a QueryDict as
    absent; the schema does not allow it, so the serializer must see it (and refuse it)."""
    return request.query_params.dict()


def _rejected(error: IngestRejected) -> ApiError:
    return ApiError(error.code, error.message)


def _known_genre(fields: dict[str, object]) -> Genre | None:
    """The `genre` field, checked before anything is stored (400 unknown_genre / inactive_genre)."""
    try:
        return known_genre_resolve(fields.get("genre"))
    except IngestRejected as error:
        raise _rejected(error) from None


def _labeller(request: Request):
    """Who a catalog label is by: the signed-in person, or the API client's system user."""
    client = api_client_of(request)
    return api_client_user(client) if client is not None else request.user


class TrackListCreateView(CmsApiView, GenericAPIView):
    serializer_class = TrackSerializer
    pagination_class = ApiPagination
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        return selectors.tracks_for_api()

    @extend_schema(
        operation_id="tracks_list",
        tags=["tracks"],
        summary="Tracks, filtered, oldest change first",
        description="404 for a page past the end.",
        parameters=[TrackFilterSerializer],
        responses={200: TrackSerializer(many=True), **error_responses(400, 404, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        filters = TrackFilterSerializer(data=_query(request))
        filters.is_valid(raise_exception=True)
        genre = None
        if name := filters.validated_data.get("genre"):
            genre = selectors.genre_by_slug_or_name(name)
            if genre is None:
                raise ApiError(IngestErrorCode.UNKNOWN_GENRE, f"Unknown genre {name!r}.")
        tracks = selectors.tracks_for_api(
            status=filters.validated_data.get("status"),
            genre=genre,
            updated_since=filters.validated_data.get("updated_since"),
        )
        page = self.paginate_queryset(tracks)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="tracks_create",
        tags=["tracks"],
        summary="Upload a track; its analysis is queued",
        description="201 with the new track; 200 with the existing track when the same audio "
        "(same bytes) is already there (its metadata is left as it is). A `genre` is "
        "recorded as a catalog label in both cases (see the field).",
        request=audio_form(TrackCreateSerializer),
        responses={201: TrackSerializer, 200: TrackSerializer, **error_responses(400, 409, 413, 415, *AUTH_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        upload = _upload(request)
        data = TrackCreateSerializer(data=_form(request, upload))
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        audio = fields["audio"]
        genre = _known_genre(fields)
        try:
            result = track_create_from_cms(
                stream=audio,
                filename=audio.name,
                genre=genre,
                labeller=_labeller(request) if genre else None,
                metadata=TrackMetadata(
                    title=fields.get("title", ""),
                    artist=fields.get("artist", ""),
                    album=fields.get("album", ""),
                    external_id=fields.get("external_id") or None,
                    known_genre=genre.name if genre else None,
                ),
            )
        except IngestRejected as error:
            raise _rejected(error) from None
        track = selectors.tracks_for_api().get(pk=result.track.pk)
        return Response(
            self.get_serializer(track).data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )


class TrackDetailView(CmsApiView, GenericAPIView):
    serializer_class = TrackSerializer

    def get_queryset(self):
        return selectors.tracks_for_api()

    @extend_schema(
        operation_id="tracks_retrieve",
        tags=["tracks"],
        summary="One track with its latest analysis",
        responses={200: TrackSerializer, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(self.get_serializer(self.get_object()).data)


EXTERNAL_ID_PARAMETER = OpenApiParameter("external_id", EXTERNAL_ID, OpenApiParameter.PATH)


def _external_id(raw: str) -> str:
    """The path's external id, stripped; 400 for what the schema does not allow."""
    if len(raw) > 200 or not re.fullmatch(EXTERNAL_ID["pattern"], raw):
        raise ApiError(
            ApiErrorCode.INVALID_PARAMETER, "The external id must be 1 to 200 characters, not only spaces, without NUL."
        )
    return raw.strip(SPACES)


def _json_metadata(request: Request) -> dict[str, object]:
    """A JSON upsert's body: an object of metadata strings; audio and anything else is 400."""
    body = request.data
    if not isinstance(body, dict):
        raise ApiError(ApiErrorCode.INVALID_PARAMETER, 'A JSON body must be an object such as {"title": "..."}.')
    allowed = set(TrackMetadataSerializer().fields)
    if "audio" in body:
        raise ApiError(
            ApiErrorCode.INVALID_PARAMETER,
            "Audio cannot be sent as JSON: send it as multipart/form-data in the field 'audio'.",
        )
    if unknown := sorted(set(body) - allowed):
        raise ApiError(
            ApiErrorCode.INVALID_PARAMETER,
            f"Unknown field(s) {', '.join(unknown)}: a JSON upsert sets {', '.join(sorted(allowed))}.",
        )
    if not_text := sorted(name for name, value in body.items() if not isinstance(value, str)):
        raise ApiError(ApiErrorCode.INVALID_PARAMETER, f"{', '.join(not_text)}: must be a string.")
    return dict(body)


class TrackByExternalIdView(CmsApiView, GenericAPIView):
    serializer_class = TrackSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    lookup_field = "external_id"  # also what OPTIONS (DRF's metadata) looks the track up by
    schema = BodyRequiredSchema()

    def get_queryset(self):
        return selectors.tracks_for_api()

    @extend_schema(
        operation_id="tracks_by_external_id_retrieve",
        tags=["tracks"],
        summary="The track with this external id",
        parameters=[EXTERNAL_ID_PARAMETER],
        responses={200: TrackSerializer, **error_responses(400, 404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, external_id: str) -> Response:
        self.kwargs["external_id"] = _external_id(external_id)
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        operation_id="tracks_by_external_id_upsert",
        tags=["tracks"],
        summary="Create or update the track with this external id (idempotent)",
        description=(
            "Creates the track from `audio` when no track has this external id (201), else sets the metadata "
            "fields that are sent (200); fields not sent are left as they are. Repeating a request changes "
            "nothing. A track's audio never changes: the same audio again is ignored, other audio is refused "
            "(409 `audio_differs`). Audio already held without an external id is adopted; audio held under "
            "another external id is refused (409 `duplicate_audio`). Without `audio` for an external id no "
            "track has yet: 404 `missing_file`. A `genre` is recorded as a catalog label (see the field): the "
            "same genre again records nothing. Metadata alone may also be sent as JSON (`application/json`, "
            'e.g. `{"title": "..."}`); audio only as multipart.'
        ),
        request={**audio_form(TrackUpsertSerializer), "application/json": TrackUpsertJsonSerializer},
        parameters=[EXTERNAL_ID_PARAMETER],
        responses={
            201: TrackSerializer,
            200: TrackSerializer,
            **error_responses(400, 404, 409, 413, 415, *AUTH_ERRORS),
        },
    )
    def put(self, request: Request, external_id: str) -> Response:
        external_id = _external_id(external_id)
        refuse_declared_too_large(request)  # before request.data reads the body
        if isinstance(request.data, QueryDict):  # multipart or a form
            upload = _upload(request)
            form, nothing = _form(request, upload), upload is None and not request.data
        else:  # JSON (or no body at all)
            upload, form = None, _json_metadata(request)
            nothing = not form
        if nothing:
            raise ApiError(ApiErrorCode.INVALID_PARAMETER, "Nothing to set: send audio, title, artist, album or genre.")
        data = TrackUpsertSerializer(data=form)
        data.is_valid(raise_exception=True)
        metadata = {name: value for name, value in data.validated_data.items() if name not in ("audio", "genre")}
        genre = _known_genre(data.validated_data)
        try:
            result = track_upsert_by_external_id(
                external_id=external_id,
                metadata=metadata,
                stream=upload,
                filename=getattr(upload, "name", "") or "",
                genre=genre,
                labeller=_labeller(request) if genre else None,
            )
        except IngestRejected as error:
            if error.code == IngestErrorCode.MISSING_FILE:  # metadata for a track that is not there
                raise ApiError(error.code, error.message, status.HTTP_404_NOT_FOUND) from None
            raise _rejected(error) from None
        track = selectors.tracks_for_api().get(pk=result.track.pk)
        return Response(
            self.get_serializer(track).data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )


class TrackImageView(CmsApiView):
    @extend_schema(
        operation_id="tracks_image",
        tags=["tracks"],
        summary="A PNG of the track's latest analysis",
        parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(IMAGE_KINDS))],
        responses={(200, "image/png"): OpenApiTypes.BINARY, **error_responses(404, *AUTH_ERRORS)},
    )
    def get(self, request: Request, pk: int, kind: str) -> HttpResponseBase:
        track = get_object_or_404(selectors.tracks_for_api(), pk=pk)
        analysis = track.latest_analyses[0] if track.latest_analyses else None
        image = getattr(analysis, IMAGE_KINDS.get(kind, ""), None) if analysis else None
        if not image:
            raise ApiError(ApiErrorCode.NOT_FOUND, f"Track {pk} has no {kind} image.", status.HTTP_404_NOT_FOUND)
        return FileResponse(image.open("rb"), content_type="image/png")


class TagChangesView(CmsApiView):
    @extend_schema(
        operation_id="tag_changes",
        tags=["tags"],
        summary="Reviewed-genre changes since your cursor, in order",
        description="Each editor decision once, in the order they were made. Keep `next_cursor` and send it "
        "back; while `has_more` is true ask again at once. A change made while you read is never "
        "skipped: it comes on a later page.",
        parameters=[ChangesQuerySerializer],
        responses={200: TagChangesPageSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        query = ChangesQuerySerializer(data=_query(request))
        query.is_valid(raise_exception=True)
        try:
            after_id = cursor_decode(query.validated_data.get("cursor"))
        except InvalidCursor:
            raise ApiError(
                ApiErrorCode.INVALID_CURSOR,
                "The cursor is not one this API issued: send back "
                "next_cursor exactly, or omit it to start at the beginning.",
            ) from None
        page = selectors.tag_changes(after_id=after_id, limit=query.validated_data["limit"])
        return Response(
            TagChangesPageSerializer(
                {"changes": page.changes, "next_cursor": cursor_encode(page.last_id), "has_more": page.has_more}
            ).data
        )
