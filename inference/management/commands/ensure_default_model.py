"""Make sure a model version is active: the configured checkpoint, else the bundled starter model
(or, with ACOUSTICSENSE_DEFAULT_MODEL=untrained, a random one)."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.selectors import active_model_version
from inference.errors import CheckpointError
from inference.registry import UNTRAINED_NAME, model_version_register, starter_model_install, untrained_model_create
from inference.starter import STARTER_CHECKPOINT


class Command(BaseCommand):
    help = ("Activate ACOUSTICSENSE_MODEL_CHECKPOINT if set; otherwise, when no model is active, install the "
            "bundled starter model (ACOUSTICSENSE_DEFAULT_MODEL=starter, the default) or an untrained one.")

    def handle(self, *args: object, **options: object) -> None:
        if settings.MODEL_CHECKPOINT:
            try:
                version = model_version_register(path=Path(settings.MODEL_CHECKPOINT), activate=True)
            except (CheckpointError, OSError) as error:
                raise CommandError(f"ACOUSTICSENSE_MODEL_CHECKPOINT: {error}") from error
        else:
            version = active_model_version()
            # The untrained placeholder of an earlier install gives way to the starter model too.
            placeholder = version is None or (version.name.startswith(UNTRAINED_NAME) and not version.trained)
            if placeholder and settings.DEFAULT_MODEL == "starter" and STARTER_CHECKPOINT.exists():
                version = starter_model_install(activate=True)
            elif version is None:
                version = untrained_model_create(activate=True)
        note = "" if version.trained else " (untrained: predictions are placeholders, not real)"
        self.stdout.write(f"Active model version: {version.name}{note}")
