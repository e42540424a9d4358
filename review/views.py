"""Review pages. Thin: parse input, call one service or selector, render."""
from __future__ import annotations

import base64
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from catalog.models import Genre, ModelPromotion, ModelVersion, Track
from catalog.services import model_version_promote
from inference.pipeline import analysis_enqueue_many
from inference.selectors import evaluation_summary, tracks_without_analysis
from inference.sync import ClassifyRejected, classify_upload
from inference.render import SPECTROGRAM_PLOT_AREA
from review.agreement import agreement_overview, version_agreement
from inference.evaluation import confusion_png_bytes
from review.charts import agreement_trend_png
from review.claims import claim_next, claim_open, claim_release
from review.decisions import DecisionInput, decision_submit
from review.errors import ReviewError, ReviewErrorCode
from review.forms import DecisionForm, QueueFilterForm
from review.selectors import (QueueFilters, can_review, editor_statistics, last_decision_id, latest_analysis,
                              queue_counts, review_queue, track_history)

SKIPPED = "review_skipped_track_ids"
OTHER = "__other__"


def _require_reviewer(request: HttpRequest) -> None:
    if not can_review(request.user):
        raise PermissionDenied("Reviewing needs the Reviewer role.")


def _filters(request: HttpRequest) -> tuple[QueueFilterForm, QueueFilters]:
    form = QueueFilterForm(request.GET or None)
    if not form.is_valid():
        return form, QueueFilters()
    data = form.cleaned_data
    return form, QueueFilters(genre=data["genre"], band=data["band"],
                              model_version=data["model_version"].pk if data["model_version"] else None,
                              batch=data["batch"].pk if data["batch"] else None,
                              since=data["since"], until=data["until"])


def queue(request: HttpRequest) -> HttpResponse:
    _require_reviewer(request)
    form, filters = _filters(request)
    request.session.pop(SKIPPED, None)  # back at the queue: skipped tracks come round again
    context = {**admin.site.each_context(request), "title": "Review queue", "form": form,
               "tracks": review_queue(filters=filters).select_related("import_batch")[:25],
               "counts": queue_counts(filters=filters), "query": request.GET.urlencode()}
    return TemplateResponse(request, "admin/review/queue.html", context)


def next_track(request: HttpRequest) -> HttpResponse:
    _require_reviewer(request)
    _, filters = _filters(request)
    track = claim_next(editor=request.user, filters=filters, exclude_ids=request.session.get(SKIPPED, []))
    if track is None:
        messages.info(request, "Nothing left to review with these filters.")
        return HttpResponseRedirect(reverse("review_queue") + (f"?{request.GET.urlencode()}" if request.GET else ""))
    suffix = f"?{request.GET.urlencode()}" if request.GET else ""
    return HttpResponseRedirect(reverse("review_track", args=[track.pk]) + suffix)


def _context(request: HttpRequest, track: Track, form: DecisionForm) -> dict[str, object]:
    analysis = latest_analysis(track)
    top = analysis.top_k(5) if analysis else []
    top_names = {label for label, _ in top}
    return {
        **admin.site.each_context(request), "title": str(track), "track": track, "analysis": analysis, "form": form,
        "top": [(rank, label, f"{p:.1%}", round(p * 100)) for rank, (label, p) in enumerate(top, start=1)],
        "other_genres": [g.name for g in Genre.objects.filter(active=True) if g.name not in top_names],
        "all_genres": list(Genre.objects.filter(active=True).values_list("name", flat=True)),
        "history": track_history(track)[:5], "claim": getattr(track, "claim", None),
        "plot_area": SPECTROGRAM_PLOT_AREA, "query": request.GET.urlencode(),
        "claim_minutes": settings.REVIEW_CLAIM_MINUTES,
    }


def review_track(request: HttpRequest, track_id: int) -> HttpResponse:
    _require_reviewer(request)
    track = get_object_or_404(Track.objects.select_related("import_batch", "known_genre", "reviewed_genre"),
                              pk=track_id)
    if request.method == "POST":
        return _submit(request, track)
    try:
        claim_open(editor=request.user, track=track)
    except ReviewError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("review_queue"))
    analysis = latest_analysis(track)
    form = DecisionForm(initial={"seen_decision_id": last_decision_id(track),
                                 "analysis_id": analysis.pk if analysis else None})
    track.refresh_from_db()
    return TemplateResponse(request, "admin/review/track.html", _context(request, track, form))


def _submit(request: HttpRequest, track: Track) -> HttpResponse:
    data = request.POST.copy()
    if data.get("genre") == OTHER:
        data["genre"] = data.get("other_genre", "").strip()
    form = DecisionForm(data)
    if form.is_valid():
        clean = form.cleaned_data
        try:
            decision = decision_submit(editor=request.user, track=track, data=DecisionInput(
                genre=clean["genre"], secondary_genre=clean["secondary_genre"], note=clean["note"],
                analysis_id=clean["analysis_id"], seen_decision_id=clean["seen_decision_id"],
                seconds_on_screen=clean["seconds_on_screen"]))
        except ReviewError as error:
            form.add_error(None, error.message)
            if error.code == ReviewErrorCode.STALE:
                track.refresh_from_db()
        else:
            messages.success(request, f"Saved {decision.genre} for “{track}”.")
            suffix = f"?{request.GET.urlencode()}" if request.GET else ""
            return HttpResponseRedirect(reverse("review_next") + suffix)
    response = TemplateResponse(request, "admin/review/track.html", _context(request, track, form))
    response.status_code = 409 if form.non_field_errors() else 400
    return response


@require_POST
def skip_track(request: HttpRequest, track_id: int) -> HttpResponse:
    _require_reviewer(request)
    track = get_object_or_404(Track, pk=track_id)
    claim_release(track=track, editor=request.user)
    request.session[SKIPPED] = [*request.session.get(SKIPPED, []), track.pk][-500:]
    suffix = f"?{request.GET.urlencode()}" if request.GET else ""
    return HttpResponseRedirect(reverse("review_next") + suffix)


def editor_stats(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("review.view_editor_statistics"):
        raise PermissionDenied
    context = {**admin.site.each_context(request), "title": "Editor statistics", "rows": editor_statistics()}
    return TemplateResponse(request, "admin/review/stats.html", context)


def _require_lead(request: HttpRequest) -> None:
    if not request.user.has_perm("review.view_editor_statistics"):
        raise PermissionDenied("This dashboard is for editorial leads.")


def agreement(request: HttpRequest) -> HttpResponse:
    """Agreement between each model version and the editors: the case study's confusion analysis,
    produced by the review loop itself."""
    _require_lead(request)
    overview = agreement_overview()
    chosen = next((a for a in overview if str(a.model_version.pk) == request.GET.get("model_version")),
                  next((a for a in overview if a.model_version.is_active), overview[0] if overview else None))
    context = {**admin.site.each_context(request), "title": "Model–editor agreement", "overview": overview,
               "chosen": chosen}
    return TemplateResponse(request, "admin/review/agreement.html", context)


def agreement_trend_image(request: HttpRequest) -> HttpResponse:
    _require_lead(request)
    series = {a.model_version.name: {week: (g.top1_rate, g.top3_rate) for week, g in a.by_week.items()}
              for a in agreement_overview()}
    return HttpResponse(agreement_trend_png(series), content_type="image/png")


def agreement_confusion_image(request: HttpRequest, model_version_id: int) -> HttpResponse:
    _require_lead(request)
    result = version_agreement(model_version=get_object_or_404(ModelVersion, pk=model_version_id))
    png = confusion_png_bytes(result.labels, result.labels, result.confusion, column_label="model's top-1",
                              title=f"{result.model_version.name}: model vs editors ({result.overall.decisions} decisions)")
    return HttpResponse(png, content_type="image/png")


def _require_model_admin(request: HttpRequest) -> None:
    if not request.user.has_perm("catalog.change_modelversion"):
        raise PermissionDenied("Comparing and promoting models is for editorial leads.")


def model_versions(request: HttpRequest) -> HttpResponse:
    """Compare model versions side by side (offline metrics, live agreement) and promote one."""
    _require_model_admin(request)
    versions = list(ModelVersion.objects.all())
    picked = [v for v in versions if str(v.pk) in request.GET.getlist("v")][:2] or [v for v in versions[:2]]
    columns = [{"version": v, "offline": evaluation_summary(v), "live": version_agreement(model_version=v).overall,
                "pending": tracks_without_analysis(model_version=v).count()} for v in picked]
    context = {**admin.site.each_context(request), "title": "Model versions", "versions": versions,
               "columns": columns, "promotions": ModelPromotion.objects.select_related(
                   "from_version", "to_version", "promoted_by")[:10]}
    return TemplateResponse(request, "admin/review/model_versions.html", context)


@require_POST
def model_promote(request: HttpRequest, model_version_id: int) -> HttpResponse:
    _require_model_admin(request)
    version = get_object_or_404(ModelVersion, pk=model_version_id)
    model_version_promote(model_version=version, user=request.user, note=request.POST.get("note", ""))
    pending = tracks_without_analysis(model_version=version).count()
    messages.success(request, f"{version} is now the active model: new analyses use it. {pending} track(s) have no "
                     "analysis by it yet; queue their re-analysis below if you want it.")
    return HttpResponseRedirect(reverse("review_model_versions") + f"?v={version.pk}")


@require_POST
def model_reanalyze(request: HttpRequest, model_version_id: int) -> HttpResponse:
    _require_model_admin(request)
    version = get_object_or_404(ModelVersion, pk=model_version_id)
    queued = analysis_enqueue_many(tracks=tracks_without_analysis(model_version=version), model_version=version)
    messages.success(request, f"Queued {queued} track(s) for analysis with {version}.")
    return HttpResponseRedirect(reverse("review_model_versions") + f"?v={version.pk}")


def workstation(request: HttpRequest) -> HttpResponse:
    """The case study's workstation: drop one file, see the Top-5, spectrogram and attention."""
    _require_reviewer(request)
    context = {**admin.site.each_context(request), "title": "Workstation",
               "max_mb": settings.MAX_UPLOAD_BYTES // (1024 * 1024)}
    return TemplateResponse(request, "admin/review/workstation.html", context)


@require_POST
def workstation_analyse(request: HttpRequest) -> JsonResponse:
    """Analyse the dropped file now, in this process, with the active model (same service as /api/genre)."""
    _require_reviewer(request)
    upload = request.FILES.get("audio")
    try:
        result = classify_upload(stream=upload, filename=upload.name if upload else "", top_k=5, client=None,
                                 caller=f"workstation:{request.user}", with_images=True)
    except ClassifyRejected as rejected:
        return JsonResponse({"error": {"code": rejected.code, "message": rejected.message}},
                            status=rejected.status_code)
    images = {kind: "data:image/png;base64," + base64.b64encode(png).decode() for kind, png in result.images.items()}
    return JsonResponse({"results": [{"genre": r.genre, "confidence": r.confidence} for r in result.results],
                         "model_version": result.model_version, "trained": result.trained, "warning": result.warning,
                         "duration_s": result.duration_s, "latency_ms": result.latency_ms,
                         "regions": result.regions, "images": images})
