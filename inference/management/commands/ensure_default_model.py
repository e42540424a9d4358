"""Make sure a model version is active: the configured checkpoint, else an untrained one."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.selectors import active_model_version
from inference.errors import CheckpointError
from inference.registry import model_version_register, untrained_model_create


class Command(BaseCommand):
    help = "Activate ACOUSTICSENSE_MODEL_CHECKPOINT if set; otherwise create an untrained model if none is active."

    def handle(self, *args: object, **options: object) -> None:
        if settings.MODEL_CHECKPOINT:
            try:
                version = model_version_register(path=Path(settings.MODEL_CHECKPOINT), activate=True)
            except (CheckpointError, OSError) as error:
                raise CommandError(f"ACOUSTICSENSE_MODEL_CHECKPOINT: {error}") from error
        else:
            version = active_model_version() or untrained_model_create(activate=True)
        note = "" if version.trained else " (untrained: predictions are placeholders, not real)"
        self.stdout.write(f"Active model version: {version.name}{note}")
