"""The staff pipeline page: where the tracks are, what the queue and workers are doing."""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from inference.pipeline import RecoveryReport, tracks_recover
from inference.selectors import pipeline_overview


def recovery_message(report: RecoveryReport) -> str:
    message = (f"Re-queued {report.requeued} track(s) whose jobs were lost (missing from Redis or left by a "
               "dead worker).")
    if report.failed:
        message += f" {report.failed} failed: their jobs were lost too often (see the reason)."
    if report.waiting:
        message += (f" {report.waiting} look lost and are re-queued on the next pass if no worker has picked them "
                    "up by then.")
    return message


@staff_member_required
def pipeline_status(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and request.user.has_perm("catalog.change_track"):
        messages.success(request, recovery_message(tracks_recover()))
        return HttpResponseRedirect(reverse("pipeline"))
    context = {**admin.site.each_context(request), "title": "Analysis pipeline", **pipeline_overview()}
    return TemplateResponse(request, "admin/pipeline.html", context)
