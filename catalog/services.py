"""Writes to the catalog that are not status changes (those live in catalog.status)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from catalog.models import ModelVersion


@transaction.atomic
def model_version_activate(*, model_version: ModelVersion) -> ModelVersion:
    """Make one version the active one; the database refuses two active rows."""
    # Lock the active row (if any) so two promotions at once serialise instead of colliding.
    list(ModelVersion.objects.select_for_update().filter(is_active=True))
    ModelVersion.objects.filter(is_active=True).exclude(pk=model_version.pk).update(is_active=False)
    if not model_version.is_active:
        model_version.is_active = True
        model_version.activated_at = timezone.now()
        model_version.save(update_fields=["is_active", "activated_at"])
    return model_version
