"""Request bodies are bounded before anything reads them.

Django streams multipart uploads above FILE_UPLOAD_MAX_MEMORY_SIZE to temporary files without a
total limit, so a 1 GB anonymous POST to /admin/login/ wrote ≈965 MB to disk before CSRF refused
it. Only signed-in users and API callers (an Authorization header: the API views enforce the
upload limit and authenticate) may send large bodies; everyone else gets 413 from the declared
Content-Length, before a byte of the body is read.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class AnonymousBodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        limit = settings.ANONYMOUS_BODY_MAX_BYTES
        if declared > limit and "HTTP_AUTHORIZATION" not in request.META and not request.user.is_authenticated:
            message = f"Request body too large: at most {limit // (1024 * 1024)} MB without signing in."
            if request.path.startswith("/api/"):
                return JsonResponse({"error": {"code": "too_large", "message": message}}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
