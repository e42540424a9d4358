"""The closed loop's Django side: an export's manifest → training → checkpoint → an inactive
model version → its scores on the export's test split next to the active model's.

The work itself is in the Django-free core (inference.training, inference.evaluation); this
module only reads exports, writes files under MODELS_DIR / MEDIA_ROOT and records the results.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from catalog.models import ModelVersion
from inference.checkpoint import canonical_architecture, load_checkpoint, save_checkpoint
from inference.evaluation import EvaluationItem, evaluate_model, render_confusion_png
from inference.features import PreprocessingConfig
from inference.model import load_model
from inference.registry import checkpoint_file, model_version_register
from inference.training import TrainingConfig, TrainingExample, initial_state, train
from review.exports import export_rows
from review.models import LabelExport

log = logging.getLogger(__name__)


class TrainingSetupError(Exception):
    """The export, name or initial weights cannot be used (shown as is by the command)."""


def _export(export: LabelExport | int) -> LabelExport:
    if isinstance(export, LabelExport):
        return export
    found = LabelExport.objects.filter(pk=export).first()
    if found is None:
        raise TrainingSetupError(f"There is no export #{export}.")
    return found


def export_examples(export: LabelExport) -> list[TrainingExample]:
    """The export's rows as training examples (audio under MEDIA_ROOT); rows whose genre is not
    in the export's labels (made inactive since) are left out."""
    media = Path(settings.MEDIA_ROOT)
    return [TrainingExample(path=str(media / row["audio"]), label=int(row["label_index"]), split=row["split"])
            for row in export_rows(export) if row.get("label_index") is not None]


def default_version_name(architecture: str, export_id: int) -> str:
    short = canonical_architecture(architecture).removesuffix("_patch16_224").replace("_", "-")
    return f"{short}-export{export_id}-{timezone.now():%Y%m%d-%H%M%S}"


def model_train_from_export(*, export: LabelExport | int, config: TrainingConfig,
                            preprocessing: PreprocessingConfig | None = None, init: Path | None = None,
                            name: str | None = None, evaluate: bool = True, progress: bool = False,
                            on_epoch: Callable[[dict[str, Any]], None] | None = None) -> ModelVersion:
    """Train on the export's train split, save the checkpoint under MODELS_DIR, register it as an
    inactive model version and (unless ``evaluate=False``) score it on the test split."""
    export = _export(export)
    labels = list(export.labels)
    if len(labels) < 2:
        raise TrainingSetupError(f"Export #{export.pk} has {len(labels)} label(s); training needs at least 2.")
    examples = export_examples(export)
    if not any(e.split == "train" for e in examples):
        raise TrainingSetupError(f"Export #{export.pk} has no tracks in its train split.")
    missing = [e.path for e in examples if not Path(e.path).is_file()]
    if missing:
        raise TrainingSetupError(f"{len(missing)} audio file(s) of export #{export.pk} are missing, e.g. {missing[0]}")
    name = name or default_version_name(config.architecture, export.pk)
    if not re.fullmatch(r"[\w.\-]+", name):
        raise TrainingSetupError(f"{name!r}: a version name may hold letters, digits, '.', '-' and '_' only.")
    if ModelVersion.objects.filter(name=name).exists():
        raise TrainingSetupError(f"A model version named {name!r} exists already.")
    models_dir = Path(settings.MODELS_DIR)
    path = models_dir / f"{name}.safetensors"
    if path.exists():
        raise TrainingSetupError(f"{path} exists already.")
    if preprocessing is None and init is not None and init.suffix.lower() != ".npz":
        preprocessing = load_checkpoint(init).preprocessing  # keep what the initial model was fed
    preprocessing = preprocessing or PreprocessingConfig()
    init_state, init_note = (None, "random")
    if init is not None:
        init_state, init_note = initial_state(init, architecture=config.architecture, labels=labels,
                                              cfg=preprocessing)
    if config.device is None and settings.INFERENCE_DEVICE:
        config = TrainingConfig(**{**config.__dict__, "device": settings.INFERENCE_DEVICE})
    result = train(examples, labels, preprocessing, config, init_state=init_state, init_note=init_note,
                   progress=progress, on_epoch=on_epoch)
    m = result.metrics
    notes = (f"Trained on export #{export.pk} ({m['train_tracks']} train / {m['val_tracks']} val tracks), "
             f"best epoch {m['best_epoch']} of {m['epochs_run']}, init: {init_note}.")
    models_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(result.checkpoint(export_id=export.pk, notes=notes), path)
    version = model_version_register(path=path, name=name, activate=False)
    version.metrics = {"export_id": export.pk, "training": m}
    version.save(update_fields=["metrics"])
    if evaluate:
        model_version_evaluate(model_version=version, export=export)
    return version


def _scores(version: ModelVersion, items: list[EvaluationItem], labels: list[str]) -> dict[str, Any]:
    model = load_model(checkpoint_file(version), device=settings.INFERENCE_DEVICE or None)
    report = evaluate_model(model, items, labels)
    return {"model_version": version.name, "trained": version.trained, **report}


def model_version_evaluate(*, model_version: ModelVersion, export: LabelExport | int,
                           against: ModelVersion | None | str = "active") -> dict[str, Any]:
    """Score ``model_version`` and the active version (or ``against``) on the export's test split
    with the worker's own analysis; store the numbers in ``model_version.metrics`` and the
    confusion matrix as MEDIA_ROOT/models/<name>/confusion.png. Returns the stored metrics."""
    export = _export(export)
    labels = list(export.labels)
    media = Path(settings.MEDIA_ROOT)
    items = [EvaluationItem(path=media / row["audio"], genre=row["genre"])
             for row in export_rows(export) if row["split"] == "test" and row["genre"] in labels]
    other = ModelVersion.objects.filter(is_active=True).first() if against == "active" else against
    if other is not None and other.pk == model_version.pk:
        other = None
    metrics = {k: v for k, v in (model_version.metrics or {}).items()
               if k not in ("test", "confusion", "confusion_png", "confusion_active_png")}
    metrics.update(export_id=export.pk, split="test", evaluated_at=timezone.now().isoformat(timespec="seconds"))
    if not items:
        metrics["test"] = {"tracks": 0, "candidate": None, "active": None,
                           "note": f"export #{export.pk} has no test tracks"}
    else:
        candidate = _scores(model_version, items, labels)
        active = _scores(other, items, labels) if other is not None else None
        metrics["confusion"] = candidate.pop("confusion")
        metrics["test"] = {"tracks": len(items), "candidate": candidate, "active": active}
        folder = Path("models") / model_version.name
        png = render_confusion_png(metrics["confusion"], media / folder / "confusion.png",
                                   title=f"{model_version.name} on export #{export.pk} (test, {len(items)} tracks)")
        metrics["confusion_png"] = str(png.relative_to(media))
        if active is not None:
            png = render_confusion_png(active["confusion"], media / folder / "confusion-active.png",
                                       title=f"{other.name} on export #{export.pk} (test, {len(items)} tracks)")
            metrics["confusion_active_png"] = str(png.relative_to(media))
    model_version.metrics = metrics
    model_version.save(update_fields=["metrics"])
    return metrics
