"""Connects checkpoint files to the catalog: register, create the untrained default."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction

from catalog.models import Genre, ModelVersion
from catalog.services import model_version_promote
from inference.engine.checkpoint import create_random_checkpoint, file_sha256, load_checkpoint, save_checkpoint
from inference.engine.starter import STARTER_CHECKPOINT, STARTER_NAME

UNTRAINED_NAME = "untrained-vit-tiny"


def _stored_path(path: Path) -> str:
    """Paths inside MODELS_DIR are stored relative to it so var/ can move between machines."""
    try:
        return str(path.resolve().relative_to(Path(settings.MODELS_DIR).resolve()))
    except ValueError:
        return str(path.resolve())


def checkpoint_file(model_version: ModelVersion) -> Path:
    return Path(settings.MODELS_DIR) / model_version.checkpoint_path


def model_version_register(
    *, path: Path, name: str | None = None, activate: bool = False, override_reason: str = ""
) -> ModelVersion:
    """Register a checkpoint (validated by loading it) as a model version.

    Registering the same file again returns the existing version instead of a duplicate.
    Activating goes through the promotion gate (`override_reason` when it finds reasons against;
    catalog.promotion.PromotionRefused otherwise, and nothing is registered).
    """
    checkpoint = load_checkpoint(path)  # raises CheckpointError with a clear message
    sha256 = file_sha256(path)
    with transaction.atomic():
        existing = ModelVersion.objects.filter(checkpoint_sha256=sha256).first()
        version = existing or ModelVersion.objects.create(
            name=name or path.stem,
            architecture=checkpoint.architecture,
            checkpoint_path=_stored_path(path),
            checkpoint_sha256=sha256,
            labels=list(checkpoint.labels),
            preprocessing=checkpoint.preprocessing.to_dict(),
            metrics=dict(checkpoint.training.get("metrics", {})),
            trained=checkpoint.trained,
            notes=str(checkpoint.training.get("notes", "")),
        )
        if activate:
            model_version_promote(
                model_version=version,
                note=f"Registered from {path.name} and activated",
                override_reason=override_reason,
            )
    return version


def untrained_model_create(*, activate: bool = True) -> ModelVersion:
    """A randomly initialised ViT over the active taxonomy, so the pipeline runs before any
    trained model exists. It is registered as untrained and shown as such everywhere."""
    labels = [genre.name for genre in Genre.objects.filter(active=True)]
    models_dir = Path(settings.MODELS_DIR)
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"{UNTRAINED_NAME}.safetensors"
    save_checkpoint(create_random_checkpoint(labels=labels, seed=0), path)
    name = UNTRAINED_NAME
    if ModelVersion.objects.filter(name=name).exclude(checkpoint_sha256=file_sha256(path)).exists():
        name = f"{UNTRAINED_NAME}-{file_sha256(path)[:8]}"
    return model_version_register(path=path, name=name, activate=activate)


def starter_model_install(
    *, activate: bool = True, source: Path = STARTER_CHECKPOINT, override_reason: str = ""
) -> ModelVersion:
    """Copy the bundled starter checkpoint into MODELS_DIR and register it, so the model version
    does not point into the source tree (which moves with each deploy)."""
    import shutil

    models_dir = Path(settings.MODELS_DIR)
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / source.name
    if not path.exists() or file_sha256(path) != file_sha256(source):
        partial = path.with_suffix(".partial")
        shutil.copyfile(source, partial)
        partial.replace(path)
    return model_version_register(path=path, name=STARTER_NAME, activate=activate, override_reason=override_reason)
