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
