"""Admin for the classification call log: a read-only table plus a latency histogram."""
from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from matplotlib.figure import Figure

from catalog.formatting import clock, milliseconds, percent, seconds_short
from inference import rq_admin  # noqa: F401 - guards django-rq's dashboard (registers it)
from inference.models import ClassificationCall, RetrainRun, TeacherTarget

HISTOGRAM_MAX_CALLS = 10_000



# The latency histogram staff see next to the classification call log (matplotlib's Agg, no pyplot).
def render_latency_histogram(latencies_ms: Sequence[float], *, width: int = 900, height: int = 300,
                             title: str = "POST /api/genre latency") -> bytes:
    """A PNG histogram of latencies with p50/p95 marked; says so when there is nothing to show."""
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)  # no pyplot: thread-safe, no global state
    ax = fig.add_subplot()
    values = np.asarray([v for v in latencies_ms if v is not None and np.isfinite(v)], dtype=float)
    if values.size == 0:
        ax.text(0.5, 0.5, "No calls yet", ha="center", va="center", fontsize=14, transform=ax.transAxes)
        ax.set_axis_off()
    else:
        ax.hist(values, bins=min(40, max(5, int(np.sqrt(values.size)) * 2)), color="#417690")
        for q, style in ((50, "--"), (95, ":")):
            value = float(np.percentile(values, q))
            ax.axvline(value, color="#ba2121", linestyle=style, label=f"p{q} {value:.0f} ms")
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("calls")
        ax.legend(loc="upper right")
    ax.set_title(f"{title} — {values.size} calls")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


@admin.register(ClassificationCall)
class ClassificationCallAdmin(admin.ModelAdmin):
    list_display = ["created_at", "client", "caller", "status_code", "error_code", "latency", "duration",
                    "confidence", "top_k", "model_version", "filename"]
    list_filter = ["status_code", "error_code", "client", "model_version"]
    search_fields = ["filename", "caller", "client__name"]
    date_hierarchy = "created_at"
    list_select_related = ["client", "model_version"]
    change_list_template = "admin/inference/classificationcall/change_list.html"
    readonly_fields = ["latency", "duration", "confidence"]
    READABLE = {"latency_ms": "latency", "duration_s": "duration", "mean_confidence": "confidence"}

    def get_fields(self, request: HttpRequest, obj: ClassificationCall | None = None) -> list[str]:
        return [self.READABLE.get(name, name) for name in super().get_fields(request, obj)
                if name not in self.readonly_fields]

    @admin.display(description="Latency", ordering="latency_ms")
    def latency(self, call: ClassificationCall) -> str:
        return milliseconds(call.latency_ms)

    @admin.display(description="Duration", ordering="duration_s")
    def duration(self, call: ClassificationCall) -> str:
        return clock(call.duration_s)

    @admin.display(description="Mean confidence", ordering="mean_confidence")
    def confidence(self, call: ClassificationCall) -> str:
        return percent(call.mean_confidence)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ClassificationCall | None = None) -> bool:
        return False

    def get_urls(self) -> list:
        histogram = path("latency.png", self.admin_site.admin_view(self.latency_histogram_view),
                         name="inference_classificationcall_latency")
        return [histogram, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        query = request.GET.urlencode()
        url = reverse("admin:inference_classificationcall_latency") + (f"?{query}" if query else "")
        return super().changelist_view(request, {**(extra_context or {}), "latency_histogram_url": url})

    def latency_histogram_view(self, request: HttpRequest) -> HttpResponse:
        """The histogram of the calls the change list shows (same filters), newest 10,000 at most."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        calls = self.get_changelist_instance(request).get_queryset(request)
        latencies = list(calls.order_by("-pk").values_list("latency_ms", flat=True)[:HISTOGRAM_MAX_CALLS])
        return HttpResponse(render_latency_histogram(latencies), content_type="image/png")


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TeacherTarget)
class TeacherTargetAdmin(_ReadOnly):
    """The cached teacher-ensemble targets adaptation trains on (written by the workers' jobs)."""

    list_display = ["track", "mapping_version", "status", "took", "worker", "updated_at"]
    list_filter = ["mapping_version", "status"]
    search_fields = ["track__title", "track__artist", "error"]
    list_select_related = ["track"]
    raw_id_fields = ["track"]

    @admin.display(description="Seconds", ordering="seconds")
    def took(self, target: TeacherTarget) -> str:
        return seconds_short(target.seconds)


@admin.register(RetrainRun)
class RetrainRunAdmin(_ReadOnly):
    """Runs of the closed loop (manage.py retrain, the pipeline page's button, schedules)."""

    list_display = ["pk", "status", "step", "started_by", "started_at", "finished_at", "export", "candidate"]
    list_filter = ["status"]
    readonly_fields = ["log", "error", "options", "progress"]
