"""The workstation: the case study's one-file page, inside the admin."""

from __future__ import annotations

import base64

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from catalog.api.throttling import ApiClientRateThrottle
from catalog.forms import accept_attribute
from inference.engine.audio import supported_formats_text
from inference.sync import ClassifyRejected, classify_upload
from review.views import require_reviewer


def workstation(request: HttpRequest) -> HttpResponse:
    """The case study's workstation: drop one file, see the Top-5, spectrogram and attention."""
    require_reviewer(request)
    context = {
        **admin.site.each_context(request),
        "title": "Workstation",
        "max_mb": settings.MAX_UPLOAD_BYTES // (1024 * 1024),
        "formats": supported_formats_text(),
        "accept": accept_attribute(),
    }
    return TemplateResponse(request, "admin/review/workstation.html", context)


class _ClassifyScope:
    """The workstation spends what /api/genre spends: it shares that rate, per signed-in user."""

    throttle_scope = "classify"


@require_POST
def workstation_analyse(request: HttpRequest) -> JsonResponse:
    """Analyse the dropped file now, in this process, with the active model (same service as /api/genre)."""
    require_reviewer(request)
    throttle = ApiClientRateThrottle()
    if not throttle.allow_request(request, _ClassifyScope()):
        wait = max(1, round(throttle.wait() or 1))
        response = JsonResponse(
            {"error": {"code": "throttled", "message": f"Too many analyses; try again in {wait} s."}}, status=429
        )
        response["Retry-After"] = str(wait)
        return response
    upload = request.FILES.get("audio")
    try:
        result = classify_upload(
            stream=upload,
            filename=upload.name if upload else "",
            top_k=5,
            client=None,
            caller=f"workstation:{request.user}",
            with_images=True,
        )
    except ClassifyRejected as rejected:
        return JsonResponse(
            {"error": {"code": rejected.code, "message": rejected.message}}, status=rejected.status_code
        )
    images = {kind: "data:image/png;base64," + base64.b64encode(png).decode() for kind, png in result.images.items()}
    return JsonResponse(
        {
            "results": [{"genre": r.genre, "confidence": r.confidence} for r in result.results],
            "model_version": result.model_version,
            "trained": result.trained,
            "warning": result.warning,
            "duration_s": result.duration_s,
            "latency_ms": result.latency_ms,
            "regions": result.regions,
            "images": images,
        }
    )
