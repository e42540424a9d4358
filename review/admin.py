"""Admin for review records and the staff tools: bulk accept, release and reassign claims."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from catalog.admin_extensions import TrackAdminAction, track_admin_extend
from catalog.formatting import seconds_short
from catalog.models import Track
from catalog.readable import ReadableFields, counted_list, proposal_line
from review.claims import claim_reassign, claim_release
from review.decisions import decisions_bulk_accept
from review.forms import BULK_DEFAULT_THRESHOLD, BulkAcceptForm, ReassignForm
from review.models import Claim, Decision
from review.selectors import bulk_accept_verdicts


class DecisionInline(admin.TabularInline):
    """A track's decision history on its admin page (newest first), read-only."""

    model = Decision
    extra = 0
    can_delete = False
    ordering = ["-pk"]
    fields = [
        "created_at",
        "editor",
        "genre",
        "secondary_genre",
        "action",
        "reject_reason",
        "source",
        "model_version",
        "note",
        "time_on_screen",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Seconds on screen")
    def time_on_screen(self, decision: Decision) -> str:
        return seconds_short(decision.seconds_on_screen)


@admin.action(description="Bulk-accept confident proposals…")
def bulk_accept(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Track]) -> HttpResponse | None:
    """A confirmation page counting what would be accepted at the threshold shown; confirming
    accepts only at the threshold the count was made for (a changed threshold is counted again)."""
    form = BulkAcceptForm(request.POST if "threshold" in request.POST else None)
    threshold = form.cleaned_data["threshold"] if form.is_bound and form.is_valid() else BULK_DEFAULT_THRESHOLD
    counted = request.POST.get("counted_at") == str(threshold)  # the count on the page was for this threshold
    if form.is_bound and form.is_valid() and "confirm" in request.POST and counted:
        decisions = decisions_bulk_accept(editor=request.user, tracks=queryset, threshold=threshold)
        modeladmin.message_user(
            request,
            f"Accepted the model's top-1 for {len(decisions)} track(s); each is recorded "
            f"as a decision by {request.user}.",
            messages.SUCCESS,
        )
        return None
    verdicts = bulk_accept_verdicts(editor=request.user, tracks=queryset, threshold=threshold)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Bulk-accept confident proposals",
        "form": form if form.is_bound else BulkAcceptForm(),
        "queryset": queryset,
        "preview": verdicts[:500],
        "qualifying": sum(not v.left_alone for v in verdicts),
        "threshold": threshold,
        "recounted": "confirm" in request.POST and form.is_valid(),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
        "selected": len(queryset),
        "awaiting": len(verdicts),
    }
    return TemplateResponse(request, "admin/review/bulk_accept.html", context)


# The catalog knows nothing about review; review adds its history and tools to the track admin.
track_admin_extend(
    inlines=(DecisionInline,), actions=(TrackAdminAction(bulk_accept, permission="review.bulk_accept_decision"),)
)


@admin.register(Decision)
class DecisionAdmin(ReadableFields, admin.ModelAdmin):
    # Fits 1366 px beside the filters: the genres (or the rejection) share a column; the model
    # version is a filter.
    list_display = ["created_at", "track", "genres", "action", "source", "editor", "time_on_screen", "review_link"]
    list_filter = ["action", "reject_reason", "source", "genre", "model_version", "editor"]
    search_fields = ["track__title", "track__artist", "track__external_id", "note"]
    list_select_related = ["track", "genre", "secondary_genre", "editor", "model_version"]
    date_hierarchy = "created_at"
    READABLE = {"seconds_on_screen": "time_on_screen", "proposed": "proposal"}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # decisions are made on the review screen

    def has_change_permission(self, request: HttpRequest, obj: Decision | None = None) -> bool:
        return False  # append-only

    def has_delete_permission(self, request: HttpRequest, obj: Decision | None = None) -> bool:
        return False

    @admin.display(description="Seconds on screen", ordering="seconds_on_screen")
    def time_on_screen(self, decision: Decision) -> str:
        return seconds_short(decision.seconds_on_screen)

    @admin.display(description="Genre", ordering="genre__name")
    def genres(self, decision: Decision) -> str:
        if decision.reject_reason:
            return f"not music ({decision.get_reject_reason_display().lower()})"
        if decision.genre is None:  # an undo that put the track back to awaiting review
            return "–"
        return f"{decision.genre} + {decision.secondary_genre}" if decision.secondary_genre else str(decision.genre)

    @admin.display(description="Proposed (the Top-5 shown)")
    def proposal(self, decision: Decision) -> str:
        return proposal_line(decision.proposed)

    @admin.display(description="Review")
    def review_link(self, decision: Decision) -> str:
        """A GET link (it claims nothing): the review screen offers to hold the track."""
        return format_html(
            '<a href="{}" class="as-review-link">open in review screen</a>',
            reverse("review_track", args=[decision.track_id]),
        )


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ["track", "editor", "claimed_at", "expires_at", "live"]
    list_filter = ["editor"]
    actions = ["release", "reassign"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(boolean=True, description="Live")
    def live(self, claim: Claim) -> bool:
        return claim.expires_at > timezone.now()

    @admin.action(description="Release the selected claims", permissions=["delete"])
    def release(self, request: HttpRequest, queryset: QuerySet[Claim]) -> None:
        released = sum(claim_release(track=claim.track) for claim in queryset.select_related("track"))
        self.message_user(request, f"Released {released} claim(s).", messages.SUCCESS)

    @admin.action(description="Reassign the selected tracks to another editor…", permissions=["change"])
    def reassign(self, request: HttpRequest, queryset: QuerySet[Claim]) -> HttpResponse | None:
        form = ReassignForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            for claim in queryset.select_related("track"):
                claim_reassign(track=claim.track, editor=form.cleaned_data["editor"])
            self.message_user(
                request, f"Reassigned {queryset.count()} track(s) to {form.cleaned_data['editor']}.", messages.SUCCESS
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reassign tracks",
            "form": form,
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/review/reassign.html", context)


# --- Label exports (training data) -------------------------------------------------------------
from django import forms  # noqa: E402
from django.core.exceptions import PermissionDenied  # noqa: E402
from django.http import FileResponse, Http404  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils.html import format_html_join  # noqa: E402

from review.exports import (  # noqa: E402
    ExportError,
    export_archive,
    export_archive_name,
    export_directory,
    export_file,
    label_export_create,
    split_rule,
)
from review.models import LabelExport  # noqa: E402


class LabelExportCreateForm(forms.ModelForm):
    """The add page is the "Create export" form: everything else is computed by the service."""

    with_audio = forms.BooleanField(required=False, label="Include the audio (export.zip)")
    split = forms.CharField(
        required=False,
        initial="0.8,0.1,0.1",
        label="Split (train,val,test)",
        help_text="Fractions of a split stratified by genre and grouped by artist, or 'hash' for the fixed "
        "artist-hash 80/10/10 rule of earlier exports.",
    )

    class Meta:
        model = LabelExport
        fields = ["since"]
        labels = {"since": "Only decisions made after export"}

    def clean_split(self) -> str | dict[str, float]:
        try:
            return split_rule(self.cleaned_data.get("split"))
        except ExportError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(LabelExport)
class LabelExportAdmin(admin.ModelAdmin):
    list_display = ["__str__", "created_at", "created_by", "since", "rows", "splits", "genres", "download"]
    readonly_fields = [
        "created_at",
        "created_by",
        "since",
        "after_decision_id",
        "last_decision_id",
        "rows",
        "genres",
        "splits",
        "label_list",
        "location",
        "file_list",
    ]
    actions = ["export_since_selected"]

    def get_form(self, request: HttpRequest, obj: LabelExport | None = None, **kwargs: object) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = LabelExportCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: LabelExport | None = None) -> list[str]:
        return ["since", "with_audio", "split"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: LabelExport | None = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: LabelExport | None = None) -> bool:
        return False  # an export is a fixed record of its files

    def save_model(self, request: HttpRequest, obj: LabelExport, form: forms.ModelForm, change: bool) -> None:
        try:
            export = label_export_create(
                created_by=request.user,
                since=form.cleaned_data.get("since"),
                with_audio=form.cleaned_data.get("with_audio", False),
                split=form.cleaned_data.get("split"),
            )
        except ExportError as exc:
            raise ValueError(str(exc)) from exc
        obj.__dict__.update({k: v for k, v in export.__dict__.items() if not k.startswith("_")})

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().add_view(request, form_url, {**(extra_context or {}), "title": "Create export"})
        except ValueError as exc:  # an ExportError from save_model: say it, keep nothing
            self.message_user(request, str(exc), messages.ERROR)
            return self.response_post_save_add(request, None)

    @admin.display(description="Genres")
    def genres(self, export: LabelExport) -> str:
        return ", ".join(f"{genre} {n}" for genre, n in (export.counts or {}).items()) or "—"

    @admin.display(description="Splits")
    def splits(self, export: LabelExport) -> str:
        return ", ".join(f"{name} {n}" for name, n in (export.split_counts or {}).items()) or "—"

    @admin.display(description="Labels")
    def label_list(self, export: LabelExport) -> str:
        return counted_list(export.labels or [], what="genres, in training order")

    @admin.display(description="Folder")
    def location(self, export: LabelExport) -> str:
        return str(export_directory(export))

    @admin.display(description="Files")
    def file_list(self, export: LabelExport) -> str:
        rows = format_html_join(
            "",
            '<li><a href="{}" download>{}</a> — {} bytes, sha256 <code>{}</code></li>',
            (
                (reverse("admin:review_labelexport_file", args=[export.pk, name]), name, info["bytes"], info["sha256"])
                for name, info in (export.files or {}).items()
            ),
        )
        archive = format_html(
            '<a href="{}" class="button" id="export-zip" download>Download all (zip)</a>',
            reverse("admin:review_labelexport_zip", args=[export.pk]),
        )
        return format_html("<ul>{}</ul><p>{}</p>", rows, archive)

    @admin.display(description="Download")
    def download(self, export: LabelExport) -> str:
        return format_html('<a href="{}" download>zip</a>', reverse("admin:review_labelexport_zip", args=[export.pk]))

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("<int:export_id>/files/<str:name>", wrap(self.file_view), name="review_labelexport_file"),
            path("<int:export_id>/download.zip", wrap(self.zip_view), name="review_labelexport_zip"),
            *super().get_urls(),
        ]

    def _downloadable(self, request: HttpRequest, export_id: int) -> LabelExport:
        if not self.has_view_permission(request):
            raise PermissionDenied("Label exports are for people with the export permission (editorial leads).")
        export = LabelExport.objects.filter(pk=export_id).first()
        if export is None:
            raise Http404(f"There is no export #{export_id}.")
        return export

    def file_view(self, request: HttpRequest, export_id: int, name: str) -> FileResponse:
        """One file of an export, streamed."""
        file = export_file(self._downloadable(request, export_id), name)
        if file is None:
            raise Http404(f"Export #{export_id} has no file {name!r}.")
        return FileResponse(file.open("rb"), as_attachment=True, filename=name)

    def zip_view(self, request: HttpRequest, export_id: int) -> FileResponse:
        """The whole export as one zip (its export.zip when made with the audio)."""
        export = self._downloadable(request, export_id)
        return FileResponse(
            export_archive(export),
            as_attachment=True,
            filename=export_archive_name(export),
            content_type="application/zip",
        )

    @admin.action(description="Create an incremental export (decisions after the selected export)", permissions=["add"])
    def export_since_selected(self, request: HttpRequest, queryset: QuerySet[LabelExport]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one export to continue from.", messages.WARNING)
            return
        try:
            export = label_export_create(created_by=request.user, since=queryset.get())
        except ExportError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            f"Created export #{export.pk}: {export.rows} track(s) decided after export #{export.since_id}.",
            messages.SUCCESS,
        )
