"""Site-level views that belong to no app."""

from __future__ import annotations

import mimetypes
import os
import re
from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.template import loader
from django.utils._os import safe_join
from django.views import defaults

from catalog.api.errors import ApiErrorCode, error_body

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
EXPORTS_DIR = "exports"  # label exports name editors: only for people who may see exports


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403 in the admin's look (site header, user tools), saying why when the view said so."""
    context = {
        **admin.site.each_context(request),
        "title": "Permission denied",
        "reason": str(exception or "") or "Your account does not have the permission for this page.",
    }
    return HttpResponseForbidden(loader.render_to_string("403.html", context, request))


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: API paths answer in the API's error shape, whatever raised the 404."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(ApiErrorCode.NOT_FOUND.value, f"No API endpoint at {request.path}."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: API clients get JSON they can parse, people the plain page; the traceback is logged."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body(ApiErrorCode.SERVER_ERROR.value, "Internal server error; it has been logged."), status=500
        )
    return defaults.server_error(request)


def health(request: HttpRequest) -> JsonResponse:
    """Liveness for docker-compose healthchecks: the database answers. Also says whether this
    process has warmed the active model (never waits for it: see inference/serving.py)."""
    from inference.serving import process_status

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    status = process_status()
    return JsonResponse({"status": "ok", "model": {key: status[key] for key in HEALTH_MODEL_KEYS}})


HEALTH_MODEL_KEYS = ("pid", "warm_up", "model_version", "precision", "loads")


@staff_member_required
def media(request: HttpRequest, path: str) -> HttpResponse:
    """Uploaded audio and rendered images, for signed-in staff only (label exports only with the
    export permission), with byte ranges: browsers need them to seek in an <audio> player."""
    try:
        file = Path(safe_join(settings.MEDIA_ROOT, path))  # read per request: tests and deploys may move it
    except ValueError:  # path traversal
        raise Http404(path) from None
    top = Path(os.path.relpath(file, os.path.abspath(settings.MEDIA_ROOT))).parts[0]
    if top == EXPORTS_DIR and not request.user.has_perm("review.view_labelexport"):
        raise PermissionDenied("Label exports are for people with the export permission (editorial leads).")
    if not file.is_file():
        raise Http404(path)
    size = file.stat().st_size
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    match = RANGE.match(request.headers.get("Range", "").strip())
    if not match or not any(match.groups()):
        response = FileResponse(file.open("rb"), content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        return response
    first, last = match.groups()
    start = int(first) if first else max(0, size - int(last))
    end = min(int(last), size - 1) if first and last else size - 1
    if start >= size or start > end:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    with file.open("rb") as handle:
        handle.seek(start)
        body = handle.read(end - start + 1)
    response = HttpResponse(body, status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response
