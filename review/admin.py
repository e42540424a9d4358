"""Admin for review records and the staff tools: bulk accept, release and reassign claims."""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from catalog.admin import TrackAdmin
from catalog.models import Track, TrackStatus
from review.claims import claim_reassign, claim_release
from review.decisions import decisions_bulk_accept
from review.forms import BulkAcceptForm, ReassignForm
from review.models import Claim, Decision
from review.selectors import latest_analysis


class DecisionInline(admin.TabularInline):
    """A track's decision history on its admin page (newest first), read-only."""

    model = Decision
    extra = 0
    can_delete = False
    ordering = ["-pk"]
    fields = ["created_at", "editor", "genre", "secondary_genre", "action", "source", "model_version", "note",
              "seconds_on_screen"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.action(description="Bulk-accept confident proposals…", permissions=["bulk_accept"])
def bulk_accept(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Track]) -> HttpResponse | None:
    form = BulkAcceptForm(request.POST if "confirm" in request.POST else None)
    if form.is_valid():
        decisions = decisions_bulk_accept(editor=request.user, tracks=queryset, threshold=form.cleaned_data["threshold"])
        modeladmin.message_user(request, f"Accepted the model's top-1 for {len(decisions)} track(s); each is recorded "
                                f"as a decision by {request.user}.", messages.SUCCESS)
        return None
    threshold = form.cleaned_data.get("threshold") if form.is_bound and form.is_valid() else 0.9
    awaiting = queryset.filter(status=TrackStatus.AWAITING_REVIEW)
    preview = [(track, latest_analysis(track)) for track in awaiting[:500]]
    context = {**modeladmin.admin_site.each_context(request), "title": "Bulk-accept confident proposals",
               "form": form if form.is_bound else BulkAcceptForm(), "queryset": queryset, "preview": preview,
               "qualifying": sum(1 for _, a in preview if a and a.top_probability >= threshold),
               "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, "opts": modeladmin.model._meta,
               "selected": len(queryset), "awaiting": len(preview)}
    return TemplateResponse(request, "admin/review/bulk_accept.html", context)


def _has_bulk_accept_permission(self: admin.ModelAdmin, request: HttpRequest) -> bool:
    return request.user.has_perm("review.bulk_accept_decision")


# The catalog knows nothing about review; review adds its history and tools to the track admin.
TrackAdmin.inlines = [*TrackAdmin.inlines, DecisionInline]
TrackAdmin.actions = [*TrackAdmin.actions, bulk_accept]
TrackAdmin.has_bulk_accept_permission = _has_bulk_accept_permission


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "track", "genre", "secondary_genre", "action", "source", "editor", "model_version",
                    "seconds_on_screen"]
    list_filter = ["action", "source", "genre", "model_version", "editor"]
    search_fields = ["track__title", "track__artist", "track__external_id", "note"]
    list_select_related = ["track", "genre", "secondary_genre", "editor", "model_version"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # decisions are made on the review screen

    def has_change_permission(self, request: HttpRequest, obj: Decision | None = None) -> bool:
        return False  # append-only

    def has_delete_permission(self, request: HttpRequest, obj: Decision | None = None) -> bool:
        return False


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
            self.message_user(request, f"Reassigned {queryset.count()} track(s) to {form.cleaned_data['editor']}.",
                              messages.SUCCESS)
            return None
        context = {**self.admin_site.each_context(request), "title": "Reassign tracks", "form": form,
                   "queryset": queryset, "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/review/reassign.html", context)


# --- Label exports (training data) -------------------------------------------------------------
from django import forms  # noqa: E402
from django.utils.html import format_html, format_html_join  # noqa: E402

from review.exports import ExportError, export_directory, label_export_create, split_rule  # noqa: E402
from review.models import LabelExport  # noqa: E402


class LabelExportCreateForm(forms.ModelForm):
    """The add page is the "Create export" form: everything else is computed by the service."""

    with_audio = forms.BooleanField(required=False, label="Include the audio (export.zip)")
    split = forms.CharField(
        required=False, initial="0.8,0.1,0.1", label="Split (train,val,test)",
        help_text="Fractions of a split stratified by genre and grouped by artist, or 'hash' for the fixed "
                  "artist-hash 80/10/10 rule of earlier exports.")

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
    list_display = ["__str__", "created_at", "created_by", "since", "rows", "splits", "genres"]
    readonly_fields = ["created_at", "created_by", "since", "after_decision_id", "last_decision_id", "rows",
                       "genres", "splits", "labels", "location", "file_list"]
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
            export = label_export_create(created_by=request.user, since=form.cleaned_data.get("since"),
                                         with_audio=form.cleaned_data.get("with_audio", False),
                                         split=form.cleaned_data.get("split"))
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

    @admin.display(description="Folder")
    def location(self, export: LabelExport) -> str:
        return str(export_directory(export))

    @admin.display(description="Files")
    def file_list(self, export: LabelExport) -> str:
        rows = format_html_join("", "<li><code>{}</code> — {} bytes, sha256 <code>{}</code></li>",
                                ((name, info["bytes"], info["sha256"]) for name, info in (export.files or {}).items()))
        return format_html("<ul>{}</ul>", rows)

    @admin.action(description="Create an incremental export (decisions after the selected export)",
                  permissions=["add"])
    def export_since_selected(self, request: HttpRequest, queryset: QuerySet[LabelExport]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one export to continue from.", messages.WARNING)
            return
        try:
            export = label_export_create(created_by=request.user, since=queryset.get())
        except ExportError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"Created export #{export.pk}: {export.rows} track(s) decided after "
                          f"export #{export.since_id}.", messages.SUCCESS)
