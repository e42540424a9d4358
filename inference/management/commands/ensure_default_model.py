"""Make sure a model version is active: the configured checkpoint, else the bundled starter model
(or, with ACOUSTICSENSE_DEFAULT_MODEL=untrained, a random one)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.models import ModelPromotion, ModelVersion
from catalog.selectors import active_model_version
from inference.engine.errors import CheckpointError
from inference.engine.starter import PREVIOUS_STARTER_NAMES, STARTER_CHECKPOINT, STARTER_NAME
from inference.registry import UNTRAINED_NAME, model_version_register, starter_model_install, untrained_model_create

# The promotion gate asks for a written reason when a model that is not shown to be better replaces
# the active one; these are the system's, recorded with the promotion. (A first activation, with
# no model active yet, needs none.)
CONFIGURED_REASON = "ACOUSTICSENSE_MODEL_CHECKPOINT names this checkpoint: the operator chose it."
PLACEHOLDER_REASON = "The bundled starter model replaces the untrained placeholder of an earlier install."
UPGRADE_REASON = (
    "The bundled starter model's new version replaces the previous one, which the system (not staff) had activated."
)


def activated_by_system(version: ModelVersion) -> bool:
    """True when nobody chose this version: its latest promotion has no person (or it has none)."""
    latest = ModelPromotion.objects.filter(to_version=version).order_by("-promoted_at", "-pk").first()
    return latest is None or latest.promoted_by_id is None


class Command(BaseCommand):
    help = (
        "Activate ACOUSTICSENSE_MODEL_CHECKPOINT if set; otherwise, when no model is active, install the "
        "bundled starter model (ACOUSTICSENSE_DEFAULT_MODEL=starter, the default) or an untrained one."
    )

    def handle(self, *args: object, **options: object) -> None:
        if settings.MODEL_CHECKPOINT:
            try:
                version = model_version_register(
                    path=Path(settings.MODEL_CHECKPOINT), activate=True, override_reason=CONFIGURED_REASON
                )
            except (CheckpointError, OSError) as error:
                raise CommandError(f"ACOUSTICSENSE_MODEL_CHECKPOINT: {error}") from error
        else:
            version = active_model_version()
            # The untrained placeholder of an earlier install gives way to the starter model too.
            placeholder = version is None or (version.name.startswith(UNTRAINED_NAME) and not version.trained)
            starter = settings.DEFAULT_MODEL == "starter" and STARTER_CHECKPOINT.exists()
            if placeholder and starter:
                version = starter_model_install(activate=True, override_reason=PLACEHOLDER_REASON)
            elif (
                starter
                and version is not None
                and version.name in PREVIOUS_STARTER_NAMES
                and activated_by_system(version)
            ):
                version = starter_model_install(activate=True, override_reason=UPGRADE_REASON)
            elif starter and ModelVersion.objects.filter(name__in=PREVIOUS_STARTER_NAMES).exists():
                # Staff chose the active model: the new starter waits beside the old one, inactive.
                if not ModelVersion.objects.filter(name=STARTER_NAME).exists():
                    starter_model_install(activate=False)
                    self.stdout.write(
                        f"Registered {STARTER_NAME} (inactive): compare and promote it on the Model versions page."
                    )
            elif version is None:
                version = untrained_model_create(activate=True)
        note = "" if version.trained else " (untrained: predictions are placeholders, not real)"
        self.stdout.write(f"Active model version: {version.name}{note}")
