"""Review pages inside the admin site (same login, same look)."""

from django.contrib import admin
from django.urls import path

from review import model_views, report_views, views, workstation_views

urlpatterns = [
    path("queue/", admin.site.admin_view(views.queue), name="review_queue"),
    path("next/", admin.site.admin_view(views.next_track), name="review_next"),
    path("track/<int:track_id>/", admin.site.admin_view(views.review_track), name="review_track"),
    path("track/<int:track_id>/hold/", admin.site.admin_view(views.hold_track), name="review_hold"),
    path("track/<int:track_id>/skip/", admin.site.admin_view(views.skip_track), name="review_skip"),
    path("track/<int:track_id>/reject/", admin.site.admin_view(views.reject_track), name="review_reject"),
    path("decision/<int:decision_id>/undo/", admin.site.admin_view(views.undo_decision), name="review_undo"),
    path("workstation/", admin.site.admin_view(workstation_views.workstation), name="review_workstation"),
    path(
        "workstation/analyse/",
        admin.site.admin_view(workstation_views.workstation_analyse),
        name="review_workstation_analyse",
    ),
    path("stats/", admin.site.admin_view(views.editor_stats), name="review_stats"),
    path("models/", admin.site.admin_view(model_views.model_versions), name="review_model_versions"),
    path(
        "models/<int:model_version_id>/promote/",
        admin.site.admin_view(model_views.model_promote),
        name="review_model_promote",
    ),
    path(
        "models/<int:model_version_id>/reanalyze/",
        admin.site.admin_view(model_views.model_reanalyze),
        name="review_model_reanalyze",
    ),
    path(
        "models/<int:model_version_id>/report/",
        admin.site.admin_view(report_views.model_update_report),
        name="review_model_update_report",
    ),
    path(
        "models/<int:model_version_id>/report.pdf",
        admin.site.admin_view(report_views.model_update_report_pdf),
        name="review_model_update_report_pdf",
    ),
    path("agreement/", admin.site.admin_view(model_views.agreement), name="review_agreement"),
    path(
        "agreement/trend.png", admin.site.admin_view(model_views.agreement_trend_image), name="review_agreement_trend"
    ),
    path(
        "agreement/<int:model_version_id>/confusion.png",
        admin.site.admin_view(model_views.agreement_confusion_image),
        name="review_agreement_confusion",
    ),
]
