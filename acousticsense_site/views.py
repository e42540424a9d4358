"""Site-level views that belong to no app."""
from django.contrib.admin.views.decorators import staff_member_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.static import serve


def health(request: HttpRequest) -> JsonResponse:
    """Liveness for docker-compose healthchecks: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@staff_member_required
def media(request: HttpRequest, path: str, document_root: str) -> HttpResponse:
    """Uploaded audio and rendered images are for signed-in staff only, never public."""
    return serve(request, path, document_root=document_root)
