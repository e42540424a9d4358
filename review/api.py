"""Label exports over the API, for ML engineers (session users with the export permissions).

CMS API clients are refused: an export names editors and holds every decision.
"""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api.base import error_responses
from catalog.api.errors import ApiError, ApiErrorCode
from review.exports import ExportError, export_directory, label_export_create
from review.models import LabelExport


class CanExportLabels(permissions.BasePermission):
    message = "Exports are for people with the 'add label export' permission (editorial leads, ML engineers)."

    def has_permission(self, request: Request, view: object) -> bool:
        user = request.user
        perm = "review.add_labelexport" if request.method == "POST" else "review.view_labelexport"
        return bool(user and user.is_authenticated and hasattr(user, "has_perm") and user.has_perm(perm))


class ExportCreateSerializer(serializers.Serializer):
    since = serializers.IntegerField(required=False, min_value=1, help_text="Only decisions after this export.")
    with_audio = serializers.BooleanField(default=False, help_text="Also write a zip with the audio files.")
    split = serializers.CharField(
        required=False,
        default="",
        help_text=(
            "train,val,test fractions of a split stratified by genre and grouped by artist (default 0.8,0.1,0.1), "
            "or 'hash' for the artist-hash rule of earlier exports."
        ),
    )


class ExportFileSerializer(serializers.Serializer):
    sha256 = serializers.CharField()
    bytes = serializers.IntegerField()
    url = serializers.URLField()


class ExportSerializer(serializers.ModelSerializer):
    files = serializers.SerializerMethodField()

    class Meta:
        model = LabelExport
        fields = ["id", "created_at", "since", "rows", "labels", "counts", "split_counts", "files"]

    @extend_schema_field(serializers.DictField(child=ExportFileSerializer()))
    def get_files(self, export: LabelExport) -> dict[str, dict[str, object]]:
        request = self.context["request"]
        return {
            name: {**meta, "url": request.build_absolute_uri(reverse("api:export-file", args=[export.pk, name]))}
            for name, meta in (export.files or {}).items()
        }


class ExportListCreateView(APIView):
    permission_classes = [CanExportLabels]

    @extend_schema(
        operation_id="exports_list",
        tags=["exports"],
        summary="The latest label exports",
        responses={200: ExportSerializer(many=True), **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        exports = LabelExport.objects.order_by("-pk")[:50]
        return Response(ExportSerializer(exports, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="exports_create",
        tags=["exports"],
        request=ExportCreateSerializer,
        summary="Export reviewed labels (JSONL + CSV manifests, optionally a zip with audio)",
        responses={201: ExportSerializer, **error_responses(400, 401, 403)},
    )
    def post(self, request: Request) -> Response:
        body = ExportCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            export = label_export_create(
                created_by=request.user,
                since=body.validated_data.get("since"),
                with_audio=body.validated_data["with_audio"],
                split=body.validated_data.get("split") or None,
            )
        except ExportError as error:
            raise ApiError(error.code.value, str(error), status.HTTP_400_BAD_REQUEST) from error
        return Response(ExportSerializer(export, context={"request": request}).data, status=status.HTTP_201_CREATED)


class ExportDetailView(APIView):
    permission_classes = [CanExportLabels]

    @extend_schema(
        operation_id="exports_retrieve",
        tags=["exports"],
        summary="One export, with file links",
        responses={200: ExportSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(ExportSerializer(get_object_or_404(LabelExport, pk=pk), context={"request": request}).data)


# What FileResponse sends for each file of an export (by its name): export.json, manifest.csv,
# export.zip, manifest.jsonl.
EXPORT_FILE_TYPES = ("application/json", "text/csv", "application/zip", "application/octet-stream")


class ExportFileView(APIView):
    permission_classes = [CanExportLabels]

    @extend_schema(
        operation_id="exports_file",
        tags=["exports"],
        summary="Download one file of an export",
        responses={**{(200, media_type): bytes for media_type in EXPORT_FILE_TYPES}, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, pk: int, name: str) -> HttpResponseBase:
        export = get_object_or_404(LabelExport, pk=pk)
        if name not in (export.files or {}):
            raise ApiError(ApiErrorCode.NOT_FOUND, f"Export {pk} has no file {name!r}.", status.HTTP_404_NOT_FOUND)
        path = Path(export_directory(export)) / name
        return FileResponse(path.open("rb"), as_attachment=True, filename=name)
