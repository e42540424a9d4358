"""Admin for the catalog. Thin: display and filters here, writes through services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from catalog import admin_extensions
from catalog.formatting import clock, percent, yes_no
from catalog.forms import TrackUploadForm
from catalog.ingest import BatchSummary, IngestRejected, TrackMetadata, batch_record, track_ingest
from catalog.models import Analysis, ApiClient, Genre, ImportBatch, ModelVersion, Track, TrackSource
from catalog.promotion import PromotionRefused
from catalog.readable import (
    ReadableFields,
    attention_regions_table,
    counted_list,
    mapping_table,
    milliseconds_line,
    percent_line,
    rows_table,
    vector_summary,
    windows_table,
)
from catalog.services import model_version_promote


@admin.register(Genre)
class GenreAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "active", "order"]
    list_editable = ["active", "order"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}


def _top_k_html(analysis: Analysis, k: int = 5) -> str:
    rows = format_html_join(
        "", "<li>{} <strong>{}</strong></li>", ((label, f"{p:.1%}") for label, p in analysis.top_k(k))
    )
    caption = (
        ""
        if analysis.model_version.trained
        else format_html('<p class="as-untrained">{}</p>', "Untrained model: not a real prediction.")
    )
    return format_html('{}<ol class="as-topk">{}</ol>', caption, rows)


class AnalysisFacts:
    """What the analysis inline (on a track's page) and the analysis admin both show, readably."""

    @admin.display(description="Silent", ordering="is_silent")
    def silent(self, analysis: Analysis) -> str:
        return yes_no(analysis.is_silent)

    @admin.display(description="Content scores")
    def content_score_line(self, analysis: Analysis) -> str:
        return percent_line(analysis.content_scores)

    @admin.display(description="Timings")
    def timing_line(self, analysis: Analysis) -> str:
        return milliseconds_line(analysis.timings_ms)


class AnalysisInline(AnalysisFacts, admin.StackedInline):
    model = Analysis
    extra = 0
    can_delete = False
    fields = [
        "model_version",
        "proposal",
        "images",
        "silent",
        "content",
        "content_score_line",
        "timing_line",
        "created_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Track | None = None) -> bool:
        return False

    @admin.display(description="Top-5")
    def proposal(self, analysis: Analysis) -> str:
        return _top_k_html(analysis)

    @admin.display(description="Spectrogram / attention")
    def images(self, analysis: Analysis) -> str:
        return format_html_join(
            "",
            '<img src="{}" alt="{}" style="max-width:600px;display:block;margin-bottom:4px">',
            (
                (image.url, name)
                for name, image in (
                    ("spectrogram", analysis.spectrogram_image),
                    ("attention", analysis.attention_image),
                )
                if image
            ),
        )


@admin.register(Track)
class TrackAdmin(admin.ModelAdmin):
    # Fits 1366 px beside the filters: a title cell (artist and CMS id under it, clipped to one line
    # each) and short columns; format and source stay as filters.
    list_display = ["track", "state", "proposal", "duration", "reviewed_genre", "added"]
    list_filter = ["status", "source", "format", "reviewed_genre", "import_batch"]
    search_fields = ["title", "artist", "album", "external_id", "original_filename", "sha256"]
    date_hierarchy = "created_at"
    # Status and file identity are owned by the pipeline: editing them here would bypass the
    # lifecycle rules and the checksum.
    readonly_fields = [
        "audio_player",
        "original_filename",
        "sha256",
        "duration",
        "sample_rate",
        "channels",
        "format",
        "source",
        "status",
        "failure_reason",
        "reviewed_genre",
        "known_genre",
        "import_batch",
        "status_changed_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["title", "artist", "album", "external_id"]}),
        (
            "Audio",
            {
                "fields": [
                    "audio_player",
                    "original_filename",
                    "format",
                    "duration",
                    "sample_rate",
                    "channels",
                    "sha256",
                    "source",
                ]
            },
        ),
        (
            "Status",
            {
                "fields": [
                    "status",
                    "failure_reason",
                    "reviewed_genre",
                    "known_genre",
                    "import_batch",
                    "status_changed_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    inlines = [AnalysisInline]
    actions = ["retry_analysis"]

    def get_inlines(self, request: HttpRequest, obj: Track | None) -> list:
        return [*super().get_inlines(request, obj), *admin_extensions.TRACK_INLINES]

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if self.actions is None or IS_POPUP_VAR in request.GET:  # as Django's: no actions there
            return actions
        for extra in admin_extensions.TRACK_ACTIONS:
            if request.user.has_perm(extra.permission):
                name = extra.function.__name__
                actions[name] = (extra.function, name, getattr(extra.function, "short_description", name))
        return actions

    def get_urls(self) -> list:
        upload = path("upload/", self.admin_site.admin_view(self.upload_view), name="catalog_track_upload")
        return [upload, *super().get_urls()]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        # "Add track" is the upload page: tracks only enter through the ingest service.
        return HttpResponseRedirect(reverse("admin:catalog_track_upload"))

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied("Uploading audio needs the permission to add tracks (editorial leads).")
        form = TrackUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            batch = self._ingest_uploads(request, form)
            if batch is not None:  # None: nothing new was stored (the messages say why)
                url = reverse("admin:catalog_track_changelist") + f"?import_batch__id__exact={batch.pk}"
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload audio",
            "form": form,
            "opts": self.model._meta,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/catalog/track/upload.html", context)

    def _ingest_uploads(self, request: HttpRequest, form: TrackUploadForm) -> ImportBatch | None:
        files = form.cleaned_data["files"]
        single = len(files) == 1
        data = form.cleaned_data
        metadata = (
            TrackMetadata(
                title=data["title"], artist=data["artist"], album=data["album"], external_id=data["external_id"] or None
            )
            if single
            else TrackMetadata()
        )
        batch = ImportBatch.objects.create(
            name=data["batch_name"] or f"Upload by {request.user}", source=TrackSource.UPLOAD, created_by=request.user
        )
        summary = BatchSummary()
        for upload in files:
            try:
                result = track_ingest(
                    stream=upload,
                    original_filename=upload.name,
                    source=TrackSource.UPLOAD,
                    metadata=metadata,
                    batch=batch,
                )
            except IngestRejected as error:
                summary.rejected.append((upload.name, error.message))
                form.add_error("files", f"{upload.name}: {error.message}")
                continue
            (
                summary.imported.append(result.track)
                if result.created
                else summary.duplicates.append((upload.name, result.track))
            )
        batch = batch_record(batch=batch, summary=summary)
        if summary.imported:
            self.message_user(
                request, f"{len(summary.imported)} track(s) uploaded and queued for analysis.", messages.SUCCESS
            )
        for name, track in summary.duplicates:
            self.message_user(
                request, f"Duplicate: {name} has the same audio as track {track.pk} ({track}).", messages.WARNING
            )
        for name, reason in summary.rejected:
            self.message_user(request, f"Rejected {name}: {reason}", messages.ERROR)
        return batch

    @admin.action(description="Retry analysis of the selected tracks", permissions=["change"])
    def retry_analysis(self, request: HttpRequest, queryset: QuerySet[Track]) -> None:
        from inference.pipeline import analysis_enqueue

        queued = sum(analysis_enqueue(track=track) for track in queryset)
        skipped = queryset.count() - queued
        self.message_user(
            request,
            f"Queued {queued} track(s) for analysis" + (f"; {skipped} already queued or running." if skipped else "."),
            messages.SUCCESS,
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Track]:
        latest = Prefetch("analyses", queryset=Analysis.objects.select_related("model_version").order_by("-created_at"))
        return super().get_queryset(request).prefetch_related(latest)

    @admin.display(description="Model's proposal")
    def proposal(self, track: Track) -> str:
        analysis = next(iter(track.analyses.all()), None)
        if analysis is None:
            return "–"
        label = f"{analysis.top_label} {analysis.top_probability:.0%}"
        if not analysis.model_version.trained:
            return format_html(
                '{} <span class="as-untrained" title="{}">(untrained)</span>',
                label,
                "Placeholder from an untrained model, not a real prediction",
            )
        return label

    @admin.display(description="Track", ordering="title")
    def track(self, track: Track) -> str:
        title = track.title or track.original_filename or f"Track {track.pk}"
        under = " · ".join(part for part in (track.artist, track.external_id) if part)
        return format_html(
            '<span class="as-clip" title="{}">{}</span><span class="as-clip as-sub" title="{}">{}</span>',
            title,
            title,
            under,
            under,
        )

    @admin.display(description="Status", ordering="status")
    def state(self, track: Track) -> str:
        if not track.failure_reason:
            return track.get_status_display()
        return format_html(
            '{}<span class="as-sub as-wrap">{}</span>', track.get_status_display(), track.failure_reason[:120]
        )

    @admin.display(description="Added", ordering="created_at")
    def added(self, track: Track) -> str:
        return f"{timezone.localtime(track.created_at):%Y-%m-%d %H:%M}"

    @admin.display(description="Duration", ordering="duration_s")
    def duration(self, track: Track) -> str:
        return clock(track.duration_s)

    @admin.display(description="Audio")
    def audio_player(self, track: Track) -> str:
        if not track.audio:
            return "–"
        return format_html('<audio controls preload="none" src="{}"></audio>', track.audio.url)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "architecture", "trained", "is_active", "label_count", "created_at", "activated_at"]
    list_filter = ["trained", "is_active", "architecture"]
    search_fields = ["name", "architecture", "notes"]
    readonly_fields = [
        "name",
        "architecture",
        "checkpoint_path",
        "checkpoint_sha256",
        "label_list",
        "preprocessing_table",
        "metrics_table",
        "trained",
        "is_active",
        "activated_at",
        "created_at",
    ]
    fields = readonly_fields[:9] + ["notes"] + readonly_fields[9:]
    actions = ["activate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Versions are registered from a checkpoint file (manage.py register_model) so the
        # labels and preprocessing always match the weights.
        return False

    @admin.display(description="Labels")
    def label_count(self, version: ModelVersion) -> int:
        return len(version.labels)

    @admin.display(description="Labels")
    def label_list(self, version: ModelVersion) -> str:
        return counted_list(version.labels, what="genres, in the model's order")

    @admin.display(description="Preprocessing")
    def preprocessing_table(self, version: ModelVersion) -> str:
        return mapping_table(version.preprocessing or {})

    @admin.display(description="Metrics")
    def metrics_table(self, version: ModelVersion) -> str:
        return mapping_table(version.metrics or {})

    @admin.action(description="Activate the selected model version", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model version to activate.", messages.ERROR)
            return None
        try:
            version = model_version_promote(
                model_version=queryset.get(), user=request.user, note="Activated in the admin"
            )
        except PromotionRefused:
            # The promotion gate found reasons against it: the confirmation page shows them and
            # takes the written override reason.
            self.message_user(
                request,
                "The promotion gate found reasons against this version: promote it here "
                "with a written override reason, or not at all.",
                messages.WARNING,
            )
            return HttpResponseRedirect(reverse("review_model_promote", args=[queryset.get().pk]))
        self.message_user(request, f"{version} is now the active model version.", messages.SUCCESS)
        return None


@admin.register(Analysis)
class AnalysisAdmin(AnalysisFacts, ReadableFields, admin.ModelAdmin):
    list_display = ["track", "model_version", "top_1_line", "margin_percent", "silent", "content", "created_at"]
    list_filter = ["model_version", "top_label", "is_silent", "content"]
    search_fields = ["track__title", "track__artist", "track__external_id"]
    list_select_related = ["track", "model_version"]
    READABLE = {
        "top_probability": "top_1",
        "margin": "margin_percent",
        "is_silent": "silent",
        "probabilities": "distribution",
        "window_starts_s": "window_count",
        "window_scores": "windows",
        "embedding": "embedding_summary",
        "attention_regions": "regions",
        "content_scores": "content_score_line",
        "timings_ms": "timing_line",
    }

    @admin.display(description="Top-1 probability", ordering="top_probability")
    def top_1(self, analysis: Analysis) -> str:
        return percent(analysis.top_probability)

    @admin.display(description="Top-1", ordering="top_probability")
    def top_1_line(self, analysis: Analysis) -> str:
        return f"{analysis.top_label} {percent(analysis.top_probability)}"

    @admin.display(description="Margin (top-1 − top-2)", ordering="margin")
    def margin_percent(self, analysis: Analysis) -> str:
        return percent(analysis.margin)

    @admin.display(description="Probabilities")
    def distribution(self, analysis: Analysis) -> str:
        return " · ".join(f"{label} {percent(p)}" for label, p in analysis.top_k(len(analysis.probabilities)))

    @admin.display(description="Windows")
    def window_count(self, analysis: Analysis) -> str:
        return f"{len(analysis.window_starts_s)} windows" if analysis.window_starts_s else "–"

    @admin.display(description="Window scores (top-3 per window)")
    def windows(self, analysis: Analysis) -> str:
        return windows_table(analysis.window_starts_s, analysis.window_scores, analysis.model_version.labels)

    @admin.display(description="Embedding")
    def embedding_summary(self, analysis: Analysis) -> str:
        return vector_summary(analysis.embedding)

    @admin.display(description="Attention regions")
    def regions(self, analysis: Analysis) -> str:
        return attention_regions_table(analysis.attention_regions)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Analysis | None = None) -> bool:
        return False


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "created_by", "imported", "duplicates", "rejected", "created_at"]
    list_filter = ["source"]
    readonly_fields = [
        "name",
        "source",
        "created_by",
        "imported",
        "duplicates",
        "rejected",
        "rejected_files",
        "created_at",
    ]
    fields = readonly_fields  # rejections (stored JSON) is shown as the table below, never as an editable field

    @admin.display(description="Rejected files")
    def rejected_files(self, batch: ImportBatch) -> str:
        return rows_table(batch.rejections, columns=["name", "reason"])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """CMS clients and their tokens. A token is shown once, when issued, in the body of the response
    to the POST that issued it (never in a message, a cookie or a redirect); only its hash is kept."""

    list_display = ["name", "active", "token_prefix", "created_at", "last_used_at"]
    list_filter = ["active"]
    search_fields = ["name", "notes"]
    fields = ["name", "active", "notes", "token_prefix", "created_at", "last_used_at"]
    readonly_fields = ["token_prefix", "created_at", "last_used_at"]
    actions = ["issue_new_token"]

    def save_model(self, request: HttpRequest, obj: ApiClient, form: object, change: bool) -> None:
        from catalog.api.clients import api_client_issue_token

        if change:
            super().save_model(request, obj, form, change)
            return
        request.issued_tokens = [(obj, api_client_issue_token(client=obj))]

    def response_add(self, request: HttpRequest, obj: ApiClient, post_url_continue: str | None = None) -> HttpResponse:
        issued = getattr(request, "issued_tokens", None)
        if not issued:
            return super().response_add(request, obj, post_url_continue)
        return self._tokens_page(request, issued, title="API client added")

    @admin.action(description="Issue a new token (the old one stops working)", permissions=["change"])
    def issue_new_token(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> HttpResponse:
        from catalog.api.clients import api_client_issue_token

        issued = [(client, api_client_issue_token(client=client)) for client in queryset]
        return self._tokens_page(request, issued, title="New tokens issued")

    def _tokens_page(self, request: HttpRequest, issued: list[tuple[ApiClient, str]], *, title: str) -> HttpResponse:
        """The one response that carries the tokens: not cached, not stored anywhere else."""
        context = {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta, "issued": issued}
        response = TemplateResponse(request, "admin/catalog/apiclient/token_issued.html", context)
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response
