"""Writes to the catalog that are not status changes (those live in catalog.status)."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from catalog.models import ModelPromotion, ModelVersion


@transaction.atomic
def model_version_promote(*, model_version: ModelVersion, user: AbstractBaseUser | None = None,
                          note: str = "") -> ModelVersion:
    """Make one version the active one and record the promotion; new jobs use it from now on.

    The database refuses two active rows; locking the current one serialises concurrent promotions.
    """
    current = ModelVersion.objects.select_for_update().filter(is_active=True).first()
    if current and current.pk == model_version.pk:
        return current
    ModelVersion.objects.filter(is_active=True).update(is_active=False)
    model_version.is_active = True
    model_version.activated_at = timezone.now()
    model_version.save(update_fields=["is_active", "activated_at"])
    ModelPromotion.objects.create(from_version=current, to_version=model_version, promoted_by=user, note=note.strip())
    return model_version
