"""django-rq's dashboard in the admin, for operators only.

django-rq lets every staff user in (`staff_member_required`), so any reviewer could empty or
re-queue the analysis queues. Here its admin entry and every one of its URLs ask for a superuser
or the permission *django_rq | Access admin page* (`django_rq.admin`); others get 403 and do not
see the entry on the admin index. Its JSON/metrics URLs keep their own `RQ_API_TOKEN` check.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern
from django_rq.admin import QueueAdmin
from django_rq.models import Dashboard

RQ_PERMISSION = "django_rq.admin"
TOKEN_VIEWS = {"django_rq_home_json", "django_rq_metrics"}  # answer to RQ_API_TOKEN, not to a session


def can_operate_queues(user: Any) -> bool:
    """Superusers and staff granted django_rq.admin (leads are not, unless given it)."""
    return bool(user and user.is_active and user.is_staff and user.has_perm(RQ_PERMISSION))


def _guarded(view: Callable[..., HttpResponse], *, token_view: bool) -> Callable[..., HttpResponse]:
    @wraps(view)
    def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.user.is_authenticated and not can_operate_queues(request.user):
            if not token_view:
                raise PermissionDenied("The queue dashboard is for operators (superusers or django_rq.admin).")
            request.user = AnonymousUser()  # only a valid RQ_API_TOKEN opens it now, not being staff
        return view(request, *args, **kwargs)  # anonymous: the admin's login redirect, or the token check

    return guarded


class OperatorQueueAdmin(QueueAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_operate_queues(request.user)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return can_operate_queues(request.user)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return can_operate_queues(request.user)

    def get_urls(self) -> list[URLPattern]:
        # django-rq's own pages and the changelist (its dashboard); not ModelAdmin's add, change,
        # delete and history pages of a model without a table, which could only fail.
        # Also not the rq-scheduler page where rq-scheduler is not installed: it only raises.
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        dropped = {f"{prefix}_{page}" for page in ("add", "change", "delete", "history")}
        if importlib.util.find_spec("rq_scheduler") is None:
            dropped.add("django_rq_scheduler_jobs")
        urls = [p for p in super().get_urls() if p.name and p.name not in dropped]
        for pattern in urls:
            pattern.callback = _guarded(pattern.callback, token_view=pattern.name in TOKEN_VIEWS)
        return urls


if admin.site.is_registered(Dashboard):
    admin.site.unregister(Dashboard)
admin.site.register(Dashboard, OperatorQueueAdmin)
