"""The API's URLs (mounted at /api/): the catalog's, the genre endpoint's and the exports' views, the
schema and its interactive docs. Composed here, at the site, so no app's API imports another's."""
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from catalog.api import views
from inference import api as genre_api
from review import api as export_api

app_name = "api"

urlpatterns = [
    path("genre", genre_api.GenreClassifyView.as_view(), name="genre"),
    path("v1/tracks/", views.TrackListCreateView.as_view(), name="track-list"),
    path("v1/tracks/<int:pk>/", views.TrackDetailView.as_view(), name="track-detail"),
    path("v1/tracks/<int:pk>/images/<str:kind>.png", views.TrackImageView.as_view(), name="track-image"),
    path("v1/tracks/by-external-id/<path:external_id>", views.TrackByExternalIdView.as_view(),
         name="track-by-external-id"),
    path("v1/tags/changes", views.TagChangesView.as_view(), name="tag-changes"),
    path("v1/exports/", export_api.ExportListCreateView.as_view(), name="export-list"),
    path("v1/exports/<int:pk>/", export_api.ExportDetailView.as_view(), name="export-detail"),
    path("v1/exports/<int:pk>/files/<str:name>", export_api.ExportFileView.as_view(), name="export-file"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    # Last: API clients get JSON, never Django's HTML 404 page; [\s\S], not ".", so a line break
    # (%0A) in the path is matched too.
    re_path(r"^[\s\S]*$", views.no_such_endpoint),
]
