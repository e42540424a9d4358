"""The staff pipeline page: where the tracks are, what the queue and workers are doing."""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from inference.pipeline import tracks_recover
from inference.selectors import pipeline_overview


@staff_member_required
def pipeline_status(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and request.user.has_perm("catalog.change_track"):
        recovered = tracks_recover()
        messages.success(request, f"Re-queued {recovered} track(s) whose jobs were missing from Redis.")
        return HttpResponseRedirect(reverse("pipeline"))
    context = {**admin.site.each_context(request), "title": "Analysis pipeline", **pipeline_overview()}
    return TemplateResponse(request, "admin/pipeline.html", context)
