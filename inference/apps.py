import os
import sys
from collections.abc import Mapping

from django.apps import AppConfig


def serving_runserver(argv: list[str] = sys.argv, environ: Mapping[str, str] = os.environ) -> bool:
    """True in the process that `manage.py runserver` serves from (the autoreloader's child, or
    the only process with --noreload); False in migrate, shell, tests and the reloader itself."""
    return len(argv) > 1 and argv[1] == "runserver" and ("--noreload" in argv or environ.get("RUN_MAIN") == "true")


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Inference"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from catalog.models import ModelVersion
        from inference import serving

        post_save.connect(_version_saved, sender=ModelVersion, dispatch_uid="inference.serving.wake")
        if serving_runserver():
            serving.warm_on_start(server="runserver")  # gunicorn: gunicorn.conf.py post_worker_init


def _version_saved(sender: type, instance: object, update_fields: frozenset | None = None, **kwargs: object) -> None:
    """A version just made active: a serving process loads it once the promotion commits."""
    from django.db import transaction

    from inference import serving

    if getattr(instance, "is_active", False) and (update_fields is None or "is_active" in update_fields):
        transaction.on_commit(serving.wake)
