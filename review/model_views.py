"""Editorial leads' model pages: compare and promote versions, live agreement with editors."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from catalog.models import ModelPromotion, ModelVersion
from catalog.promotion import GateResult, PromotionRefused, promotion_gate
from catalog.selectors import active_model_version
from catalog.services import model_version_promote
from inference.engine.evaluation import confusion_png_bytes
from inference.pipeline import analysis_enqueue_many
from inference.selectors import evaluation_summary, tracks_without_analysis
from review.agreement import agreement_overview, version_agreement
from review.charts import agreement_trend_png


def _require_lead(request: HttpRequest) -> None:
    if not request.user.has_perm("review.view_editor_statistics"):
        raise PermissionDenied("This dashboard is for editorial leads.")


def agreement(request: HttpRequest) -> HttpResponse:
    """Agreement between each model version and the editors: the case study's confusion analysis,
    produced by the review loop itself."""
    _require_lead(request)
    include_catalog = _include_catalog(request)
    overview = agreement_overview(include_catalog=include_catalog)
    chosen = next(
        (a for a in overview if str(a.model_version.pk) == request.GET.get("model_version")),
        next((a for a in overview if a.model_version.is_active), overview[0] if overview else None),
    )
    context = {
        **admin.site.each_context(request),
        "title": "Model–editor agreement",
        "overview": overview,
        "chosen": chosen,
        "include_catalog": include_catalog,
        "catalog_query": "catalog=1" if include_catalog else "",
    }
    return TemplateResponse(request, "admin/review/agreement.html", context)


def _include_catalog(request: HttpRequest) -> bool:
    """`?catalog=1`: catalog labels count as judgements too (left out by default)."""
    return request.GET.get("catalog") == "1"


def agreement_trend_image(request: HttpRequest) -> HttpResponse:
    _require_lead(request)
    series = {
        a.model_version.name: {week: (g.top1_rate, g.top3_rate) for week, g in a.by_week.items()}
        for a in agreement_overview(include_catalog=_include_catalog(request))
    }
    return HttpResponse(agreement_trend_png(series), content_type="image/png")


def agreement_confusion_image(request: HttpRequest, model_version_id: int) -> HttpResponse:
    _require_lead(request)
    result = version_agreement(
        model_version=get_object_or_404(ModelVersion, pk=model_version_id), include_catalog=_include_catalog(request)
    )
    png = confusion_png_bytes(
        result.labels,
        result.labels,
        result.confusion,
        column_label="model's top-1",
        title=f"{result.model_version.name}: model vs editors ({result.overall.decisions} decisions)",
    )
    return HttpResponse(png, content_type="image/png")


def _require_model_admin(request: HttpRequest) -> None:
    if not request.user.has_perm("catalog.change_modelversion"):
        raise PermissionDenied("Comparing and promoting models is for editorial leads.")


def model_versions(request: HttpRequest) -> HttpResponse:
    """Compare model versions side by side (offline metrics, live agreement) and promote one."""
    _require_model_admin(request)
    versions = list(ModelVersion.objects.all())
    picked = [v for v in versions if str(v.pk) in request.GET.getlist("v")][:2] or versions[:2]
    active = next((v for v in versions if v.is_active), None)
    columns = [
        {
            "version": v,
            "offline": evaluation_summary(v),
            "live": version_agreement(model_version=v).overall,
            "pending": tracks_without_analysis(model_version=v).count(),
            "gate": None if v.is_active else promotion_gate(candidate=v, active=active),
        }
        for v in picked
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Model versions",
        "versions": versions,
        "columns": columns,
        "promotions": ModelPromotion.objects.select_related("from_version", "to_version", "promoted_by")[:10],
    }
    return TemplateResponse(request, "admin/review/model_versions.html", context)


def _promote_page(
    request: HttpRequest, version: ModelVersion, gate: GateResult, error: str = "", status: int = 200
) -> HttpResponse:
    context = {
        **admin.site.each_context(request),
        "title": f"Promote {version.name}?",
        "version": version,
        "active": active_model_version(),
        "gate": gate,
        "error": error,
        "note": request.POST.get("note", ""),
        "override_reason": request.POST.get("override_reason", ""),
    }
    return TemplateResponse(request, "admin/review/model_promote.html", context, status=status)


@require_http_methods(["GET", "POST"])
def model_promote(request: HttpRequest, model_version_id: int) -> HttpResponse:
    """GET: the confirmation page with the promotion gate's findings. POST: promote; when the gate
    finds reasons against, only with a written override reason (else the page again, 409)."""
    _require_model_admin(request)
    version = get_object_or_404(ModelVersion, pk=model_version_id)
    if request.method == "GET":
        return _promote_page(request, version, promotion_gate(candidate=version, active=active_model_version()))
    try:
        model_version_promote(
            model_version=version,
            user=request.user,
            note=request.POST.get("note", ""),
            override_reason=request.POST.get("override_reason", ""),
        )
    except PromotionRefused as refused:
        return _promote_page(
            request,
            version,
            refused.gate,
            status=409,
            error="Not promoted: the gate found reasons against it. Write why you promote it "
            "anyway (recorded with the promotion), or improve and evaluate the model first.",
        )
    pending = tracks_without_analysis(model_version=version).count()
    messages.success(
        request,
        f"{version} is now the active model: new analyses use it. {pending} track(s) have no "
        "analysis by it yet; queue their re-analysis below if you want it.",
    )
    return HttpResponseRedirect(reverse("review_model_versions") + f"?v={version.pk}")


@require_POST
def model_reanalyze(request: HttpRequest, model_version_id: int) -> HttpResponse:
    _require_model_admin(request)
    version = get_object_or_404(ModelVersion, pk=model_version_id)
    queued = analysis_enqueue_many(tracks=tracks_without_analysis(model_version=version), model_version=version)
    messages.success(request, f"Queued {queued} track(s) for analysis with {version}.")
    return HttpResponseRedirect(reverse("review_model_versions") + f"?v={version.pk}")
