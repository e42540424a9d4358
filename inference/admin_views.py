"""The staff pipeline page: where the tracks are, what the queue and workers are doing, how far the
catalog's teacher targets are, and the closed loop's runs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from inference.pipeline import RecoveryReport, tracks_recover
from inference.rq_admin import can_operate_queues
from inference.selectors import pipeline_overview


def recovery_message(report: RecoveryReport) -> str:
    message = (
        f"Re-queued {report.requeued} track(s) whose jobs were lost (missing from Redis or left by a dead worker)."
    )
    if report.failed:
        message += f" {report.failed} failed: their jobs were lost too often (see the reason)."
    if report.waiting:
        message += (
            f" {report.waiting} look lost and are re-queued on the next pass if no worker has picked them up by then."
        )
    return message


def _post(request: HttpRequest) -> None:
    action = request.POST.get("action", "recover")
    if action == "teacher_targets" and request.user.has_perm("catalog.change_track"):
        from inference.teacher_targets import teacher_targets_enqueue

        done = teacher_targets_enqueue()
        messages.success(
            request,
            f"Teacher targets ({done.mapping_version}): queued {done.queued} track(s); "
            f"{done.cached} already have one, {done.already_queued} were queued already.",
        )
    elif action == "retrain" and request.user.has_perm("catalog.change_modelversion"):
        from inference.retrain import RetrainOptions, retrain_enqueue

        options = RetrainOptions(adapt_on="catalog" if request.POST.get("adapt") else None)
        if retrain_enqueue(options=options, started_by=request.user.get_username()):
            messages.success(
                request,
                "Queued a retrain run"
                + (" with adaptation on the catalog" if options.adapt_on else "")
                + ": a worker runs it; its steps show below.",
            )
        else:
            messages.warning(request, "A retrain run is already running or queued: not queueing another.")
    elif action == "recover" and request.user.has_perm("catalog.change_track"):
        messages.success(request, recovery_message(tracks_recover()))
    else:
        messages.error(request, "You do not have the permission for that.")


def can_operate_pipeline(user: object) -> bool:
    """Who sees the pipeline page and its re-queue buttons: leads and superusers, not reviewers."""
    return user.has_perm("catalog.view_track") and user.has_perm("catalog.change_track")


@staff_member_required
def pipeline_status(request: HttpRequest) -> HttpResponse:
    if not can_operate_pipeline(request.user):
        raise PermissionDenied("The pipeline page is for editorial leads and operators.")
    if request.method == "POST":
        _post(request)
        return HttpResponseRedirect(reverse("pipeline"))
    overview = pipeline_overview()
    queue_cards = [(name.replace("_", " ").capitalize(), n) for name, n in overview["queue"].items()]  # "Failed jobs"
    context = {
        **admin.site.each_context(request),
        "title": "Analysis pipeline",
        **overview,
        "queue_cards": queue_cards,
        "can_retrain": request.user.has_perm("catalog.change_modelversion"),
        "can_operate_queues": can_operate_queues(request.user),
    }
    return TemplateResponse(request, "admin/pipeline.html", context)
