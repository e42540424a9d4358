"""API clients' tokens: issue (service) and look up (selector). Only a hash is ever stored."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from catalog.models import ApiClient

TOKEN_BYTES = 32


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def api_client_issue_token(*, client: ApiClient) -> str:
    """Give `client` a new token (replacing any old one) and return it; it cannot be shown again."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    client.token_sha256, client.token_prefix = token_sha256(token), token[:8]
    client.save()
    return token


def api_client_create(*, name: str, notes: str = "") -> tuple[ApiClient, str]:
    """A new active client and its token (for scripts and tests; the admin does the same)."""
    client = ApiClient(name=name, notes=notes)
    return client, api_client_issue_token(client=client)


def api_client_for_token(token: str) -> ApiClient | None:
    """The client holding `token`, active or not; None when no client holds it."""
    return ApiClient.objects.filter(token_sha256=token_sha256(token)).first()


def api_client_touch(*, client: ApiClient) -> None:
    """Record when a client was last seen, at most once a minute so busy clients cost no writes."""
    now = timezone.now()
    if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
