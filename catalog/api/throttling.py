"""Per-client rate limits, counted in Redis (the "api" cache) so every web process shares them.

Rates come from settings.API_THROTTLE_RATES, read on each request so they can be changed in
tests and documented in one place (README, settings table).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import caches
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from catalog.api.auth import api_client_of


class ApiClientRateThrottle(SimpleRateThrottle):
    """Counts per API client, else per signed-in user; the view's `throttle_scope` picks the rate."""

    cache_format = "throttle_%(scope)s_%(ident)s"

    def __init__(self) -> None:  # the scope is only known once the view is (see allow_request)
        pass

    @property
    def cache(self):  # type: ignore[override] - resolved lazily so tests may swap caches
        return caches["api"]

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = getattr(view, "throttle_scope", None)
        if not self.scope or self.scope not in settings.API_THROTTLE_RATES:
            return True
        self.rate = settings.API_THROTTLE_RATES[self.scope]
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str:
        client = api_client_of(request)
        if client is not None:
            ident = f"client-{client.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
