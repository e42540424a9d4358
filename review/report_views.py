"""The model update report for editorial leads: a candidate version against the model it was
evaluated beside, on one stored evaluation set, as an admin page and as a PDF.

The numbers come from inference.engine.update_report (Django-free) fed with the per-track predictions
that inference.retraining.model_version_evaluate stores for each evaluation set.
"""

from __future__ import annotations

import base64
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from catalog.models import ModelVersion
from inference.engine.evaluation import Predictions
from inference.engine.update_report import (
    UpdateReport,
    confusion_difference_png_bytes,
    headline,
    reliability_png_bytes,
    report_pdf_bytes,
    update_report,
)
from inference.retraining import evaluation_keys, evaluation_predictions


def _require_model_admin(request: HttpRequest) -> None:
    if not request.user.has_perm("catalog.change_modelversion"):
        raise PermissionDenied("Model update reports are for editorial leads.")


def reportable_sets(version: ModelVersion) -> list[dict[str, Any]]:
    """The version's evaluation sets that hold predictions of both models, most recent first."""
    evaluations = (version.metrics or {}).get("evaluations") or {}
    return [
        {
            "key": key,
            "description": evaluations[key]["set"].get("description", key),
            "tracks": evaluations[key].get("tracks"),
            "against": (evaluations[key].get("active") or {}).get("model_version"),
            "evaluated_at": evaluations[key].get("evaluated_at"),
        }
        for key in evaluation_keys(version)
        if evaluations[key].get("active") and evaluations[key].get("predictions")
    ]


def version_update_report(version: ModelVersion, key: str) -> tuple[UpdateReport, dict[str, Any]] | None:
    """The report of ``version`` on evaluation set ``key`` and the stored entry; None when that
    set has no stored predictions of both models."""
    data = evaluation_predictions(version, key)
    if not data or not data.get("active"):
        return None
    entry = version.metrics["evaluations"][key]
    candidate, active = Predictions.from_dict(data["candidate"]), Predictions.from_dict(data["active"])
    candidate.name = entry["candidate"]["model_version"]
    active.name = entry["active"]["model_version"]
    return update_report(
        labels=data["labels"], truth=data["truth"], candidate=candidate, active=active, tracks=data["tracks"]
    ), entry


def _chosen(request: HttpRequest, model_version_id: int) -> tuple[ModelVersion, list[dict[str, Any]], str | None]:
    _require_model_admin(request)
    version = get_object_or_404(ModelVersion, pk=model_version_id)
    sets = reportable_sets(version)
    key = request.GET.get("set") or (sets[0]["key"] if sets else None)
    if key is not None and key not in {s["key"] for s in sets}:
        raise Http404(f"{version.name} has no evaluation {key!r} with both models' predictions.")
    return version, sets, key


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _links(track: dict[str, Any]) -> dict[str, str] | None:
    if not track.get("track_id"):
        return None
    return {
        "admin": reverse("admin:catalog_track_change", args=[track["track_id"]]),
        "review": reverse("review_track", args=[track["track_id"]]),
    }


def model_update_report(request: HttpRequest, model_version_id: int) -> HttpResponse:
    """Per-genre changes, confusions fixed and introduced, calibration and changed top-1s."""
    version, sets, key = _chosen(request, model_version_id)
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": f"Model update report: {version.name}",
        "version": version,
        "sets": sets,
        "key": key,
        "report": None,
    }
    built = version_update_report(version, key) if key else None
    if built is not None:
        report, entry = built
        context.update(
            report=report,
            entry=entry,
            headline=headline(report),
            outcomes=report.outcome_counts(),
            reliability_png=_data_uri(reliability_png_bytes(report)),
            difference_png=_data_uri(confusion_difference_png_bytes(report)),
            changed=[{**row, "links": _links(row["track"])} for row in report.changed_tracks],
            change={k: f"{v:+.3f}" for k, v in report.summary["change"].items()},
            genres=[{**g, "f1_change": f"{g['change']['f1']:+.2f}"} for g in report.per_genre],
        )
    return TemplateResponse(request, "admin/review/model_update_report.html", context)


def model_update_report_pdf(request: HttpRequest, model_version_id: int) -> HttpResponse:
    """The same report as a downloadable PDF (a few A4 pages, tables and plots)."""
    version, _, key = _chosen(request, model_version_id)
    built = version_update_report(version, key) if key else None
    if built is None:
        raise Http404(f"{version.name} has no evaluation with both models' predictions yet.")
    report, entry = built

    def track_url(track: dict[str, Any]) -> str | None:
        links = _links(track)
        return request.build_absolute_uri(links["admin"]) if links else None

    pdf = report_pdf_bytes(
        report,
        title=f"Model update: {report.candidate_name}",
        subtitle=f"{report.candidate_name} against {report.active_name} on "
        f"{entry['set'].get('description', key)} ({report.tracks} tracks), "
        f"evaluated {entry.get('evaluated_at', '')}",
        track_url=track_url,
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{version.name}-update-report.pdf"'
    return response
