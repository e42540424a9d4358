"""The API's URLs (mounted at /api/): the catalog's, the genre endpoint's and the exports' views, the
schema and its interactive docs. Composed here, at the site, so no app's API imports another's."""

from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path, reverse
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from catalog.api import views
from inference import api as genre_api
from review import api as export_api

app_name = "api"


def signed_in_or_token(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The docs pages are read in a browser: an anonymous visitor is sent to the sign-in page
    (a token in the Authorization header, or a session, goes on to the view's own check)."""

    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not request.user.is_authenticated and "HTTP_AUTHORIZATION" not in request.META:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return view(request, *args, **kwargs)

    return wrapped


urlpatterns = [
    path("genre", genre_api.GenreClassifyView.as_view(), name="genre"),
    path("v1/tracks/", views.TrackListCreateView.as_view(), name="track-list"),
    path("v1/tracks/<int:pk>/", views.TrackDetailView.as_view(), name="track-detail"),
    path("v1/tracks/<int:pk>/images/<str:kind>.png", views.TrackImageView.as_view(), name="track-image"),
    path(
        "v1/tracks/by-external-id/<path:external_id>",
        views.TrackByExternalIdView.as_view(),
        name="track-by-external-id",
    ),
    path("v1/tags/changes", views.TagChangesView.as_view(), name="tag-changes"),
    path("v1/exports/", export_api.ExportListCreateView.as_view(), name="export-list"),
    path("v1/exports/<int:pk>/", export_api.ExportDetailView.as_view(), name="export-detail"),
    path("v1/exports/<int:pk>/files/<str:name>", export_api.ExportFileView.as_view(), name="export-file"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", signed_in_or_token(SpectacularSwaggerView.as_view(url_name="api:schema")), name="docs"),
    path("redoc/", signed_in_or_token(SpectacularRedocView.as_view(url_name="api:schema")), name="redoc"),
    # Last: API clients get JSON, never Django's HTML 404 page; [\s\S], not ".", so a line break
    # (%0A) in the path is matched too.
    re_path(r"^[\s\S]*$", views.no_such_endpoint),
]
