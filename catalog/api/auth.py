"""Authentication and permission for the CMS endpoints.

A CMS sends `Authorization: Token <token>` (or `Bearer <token>`); the request's user is then an
`ApiClientPrincipal` (not a Django user: a client is not a person) and `request.auth` the
`ApiClient`. People may use their admin session only with the `catalog.use_cms_api` permission
(superusers, and editorial leads through their group); being staff is not enough: reviewers are
staff, and the CMS API is not part of their job.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from catalog.api.clients import api_client_for_token, api_client_touch
from catalog.models import ApiClient

KEYWORDS = ("token", "bearer")
CMS_PERMISSION = "catalog.use_cms_api"


class ApiClientPrincipal:
    """The `request.user` of a token-authenticated call: authenticated, no staff rights, no perms."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.pk = None
        self.username = f"api-client:{client.name}"

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


class ApiClientAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <token>` against the hashed tokens of active API clients."""

    def authenticate(self, request: Request) -> tuple[ApiClientPrincipal, ApiClient] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode("latin-1").lower() not in KEYWORDS:
            return None  # not ours: let session authentication try
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: use 'Authorization: Token <token>'.")
        try:
            token = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        client = api_client_for_token(token)
        if client is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not client.active:
            raise exceptions.AuthenticationFailed("This API client is deactivated.")
        api_client_touch(client=client)
        return ApiClientPrincipal(client), client

    def authenticate_header(self, request: Request) -> str:
        return "Token"  # makes DRF answer 401 (not 403) when no credentials were sent


def api_client_of(request: Request) -> ApiClient | None:
    auth = getattr(request, "auth", None)  # a plain Django request (the workstation) has none
    return auth if isinstance(auth, ApiClient) else None


class CanUseCmsApi(permissions.BasePermission):
    """API clients, and signed-in users granted `catalog.use_cms_api` (leads, superusers); reviewers are not."""

    message = "This account may not use the CMS API (it needs the 'Can call the CMS REST API' permission)."

    def has_permission(self, request: Request, view: Any) -> bool:
        if api_client_of(request) is not None:
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.has_perm(CMS_PERMISSION))


EXPORT_PERMISSION = "review.view_labelexport"  # the export endpoints' (review/api.py)


class CanReadApiDocs(permissions.BasePermission):
    """The schema and its docs: API clients (integrators build against them), signed-in staff and
    people granted an API permission (an ML engineer who pulls exports). Not anyone on the
    network: the schema names every endpoint and parameter."""

    message = "The API schema and docs are for signed-in staff and API clients (send your token)."

    def has_permission(self, request: Request, view: Any) -> bool:
        if api_client_of(request) is not None:
            return True
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        return user.is_staff or user.has_perm(CMS_PERMISSION) or user.has_perm(EXPORT_PERMISSION)


class ApiClientAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the schema (and Swagger UI's Authorize button) describes the token."""

    target_class = ApiClientAuthentication
    name = "apiClientToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>` of an API client (Admin → Catalog → API clients).",
        }
