"""Top-level URLs: the admin is the product's web app (django-rq registers its dashboard there)."""

from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from acousticsense_site.views import health, media, not_found, server_error
from inference.admin_views import pipeline_status

handler404 = not_found  # JSON under /api/, Django's page elsewhere
handler500 = server_error

admin.site.site_header = "AcousticSense"
admin.site.site_title = "AcousticSense"
admin.site.index_title = "Genre tagging back office"
handler403 = "acousticsense_site.views.permission_denied"  # the admin's look, not Django's bare page

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("health", health, name="health"),
    path("favicon.ico", RedirectView.as_view(url=static("acousticsense/favicon.svg")), name="favicon"),
    path("admin/pipeline/", pipeline_status, name="pipeline"),
    path("admin/review/", include("review.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("acousticsense_site.api_urls")),  # CMS REST API, its OpenAPI schema and docs
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", media, name="media"),
]
