"""Writes to the catalog that are not status changes (those live in catalog.status)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from catalog.models import ModelPromotion, ModelVersion
from catalog.promotion import PromotionRefused, promotion_gate


@transaction.atomic
def model_version_promote(
    *, model_version: ModelVersion, user: AbstractBaseUser | None = None, note: str = "", override_reason: str = ""
) -> ModelVersion:
    """Make one version the active one and record the promotion; new jobs use it from now on.

    The promotion gate (catalog.promotion) is asked first: a version that is untrained,
    unevaluated, or worse than the active one needs a written `override_reason`, else
    PromotionRefused. The first activation (no model active yet) is never refused, so a fresh
    install gets a model without a person; the gate's findings are recorded all the same.
    The database refuses two active rows; locking the current one serialises concurrent promotions.
    """
    current = ModelVersion.objects.select_for_update().filter(is_active=True).first()
    if current and current.pk == model_version.pk:
        return current
    gate = promotion_gate(candidate=model_version, active=current)
    reason = override_reason.strip()
    if not gate.passed and current is not None and not reason:
        raise PromotionRefused(gate)
    ModelVersion.objects.filter(is_active=True).update(is_active=False)
    model_version.is_active = True
    model_version.activated_at = timezone.now()
    model_version.save(update_fields=["is_active", "activated_at"])
    ModelPromotion.objects.create(
        from_version=current,
        to_version=model_version,
        promoted_by=user,
        note=note.strip(),
        gate_passed=gate.passed,
        gate=gate.as_record(),
        override_reason="" if gate.passed else reason,
    )
    return model_version
