"""The closed loop's Django side: an export's manifest → training → checkpoint → an inactive
model version → its scores next to the active model's on a chosen set of labelled tracks
(inference.evaluation_sets), with a cross-validated estimate for tiny exports.

The work itself is in the Django-free core (inference.engine.training, inference.engine.evaluation,
inference.engine.splits, inference.engine.calibration); this module only reads exports, writes files under
MODELS_DIR / MEDIA_ROOT and records the results.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from catalog.models import ModelVersion
from inference.engine.checkpoint import canonical_architecture, load_checkpoint, save_checkpoint
from inference.engine.datatypes import PreprocessingConfig
from inference.engine.evaluation import EvaluationItem, Predictions, predict, render_confusion_png, score_predictions
from inference.engine.model import load_model, model_from_checkpoint
from inference.engine.splits import parse_fractions, resplit, stratified_group_folds
from inference.engine.training import SoftExample, TrainingConfig, TrainingExample, initial_state, train
from inference.evaluation_sets import (
    EvaluationSet,
    TrainingSetupError,
    export_evaluation_set,
    export_examples,
    fractions_text,
    label_export,
    labelled_rows,
)
from inference.registry import checkpoint_file, model_version_register
from review.exports import export_rows, split_key
from review.models import LabelExport

log = logging.getLogger(__name__)
LEGACY_KEYS = ("test", "confusion", "confusion_png", "confusion_active_png")
SUMMARY_KEYS = ("top1", "top3", "macro_f1")


def default_version_name(architecture: str, export_id: int) -> str:
    short = canonical_architecture(architecture).removesuffix("_patch16_224").replace("_", "-")
    return f"{short}-export{export_id}-{timezone.now():%Y%m%d-%H%M%S}"


# --- storing an evaluation ---------------------------------------------------------------------


def _slug(key: str) -> str:
    return re.sub(r"[^\w.\-]+", "-", key).strip("-")


def _write_json(path: Path, data: Any) -> None:
    """Written under a temporary name and moved into place: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


def evaluation_predictions(model_version: ModelVersion, key: str) -> dict[str, Any] | None:
    """The stored per-track predictions of an evaluation (see ``model_version_evaluate``), or None."""
    entry = ((model_version.metrics or {}).get("evaluations") or {}).get(key)
    if not entry or not entry.get("predictions"):
        return None
    path = Path(settings.MEDIA_ROOT) / entry["predictions"]
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _entry(
    *,
    model_version: ModelVersion,
    other: ModelVersion | None,
    evaluation: EvaluationSet,
    labels: list[str],
    truth: list[str],
    candidate: Predictions,
    active: Predictions | None,
    extra: dict[str, Any] | None = None,
    legacy_pngs: bool = False,
) -> dict[str, Any]:
    """Score both predictions, draw the pictures, write the predictions file; the stored entry."""
    from inference.engine.calibration import reliability_png_bytes

    media = Path(settings.MEDIA_ROOT)
    folder = Path("models") / model_version.name / "evaluations" / _slug(evaluation.key)
    scores = score_predictions(truth, candidate, labels)
    cand = {"model_version": model_version.name, "trained": model_version.trained, **scores}
    act = (
        {"model_version": other.name, "trained": other.trained, **score_predictions(truth, active, labels)}
        if other is not None and active is not None
        else None
    )
    n = len(truth)
    base = Path("models") / model_version.name if legacy_pngs else folder
    images = {
        "confusion": str(
            render_confusion_png(
                cand["confusion"],
                media / base / "confusion.png",
                title=f"{model_version.name} on {evaluation.description} ({n} tracks)",
            ).relative_to(media)
        )
    }
    if act is not None:
        images["confusion_active"] = str(
            render_confusion_png(
                act["confusion"],
                media / base / "confusion-active.png",
                title=f"{other.name} on {evaluation.description} ({n} tracks)",
            ).relative_to(media)
        )
    cal = cand["calibration"]
    panels = [
        (f"{model_version.name}: T = 1", cal["bins_before_temperature"], cal["ece_before_temperature"]),
        (f"{model_version.name}: {_t(cal['temperature'])}", cal["bins"], cal["ece"]),
    ]
    if act is not None:
        panels.append(
            (
                f"{other.name} (active): {_t(act['calibration']['temperature'])}",
                act["calibration"]["bins"],
                act["calibration"]["ece"],
            )
        )
    png = media / folder / "reliability.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(reliability_png_bytes(panels))
    images["reliability"] = str(png.relative_to(media))
    predictions = {
        "key": evaluation.key,
        "labels": labels,
        "truth": truth,
        "tracks": evaluation.tracks,
        "candidate": candidate.to_dict(),
        "active": active.to_dict() if act is not None else None,
    }
    _write_json(media / folder / "predictions.json", predictions)
    return {
        "key": evaluation.key,
        "set": {"kind": evaluation.kind, "description": evaluation.description, "tracks": n, **evaluation.facts},
        "evaluated_at": timezone.now().isoformat(timespec="seconds"),
        "tracks": n,
        "labels": labels,
        "candidate": cand,
        "active": act,
        "predictions": str((folder / "predictions.json").as_posix()),
        "images": images,
        **(extra or {}),
    }


def _t(temperature: float | None) -> str:
    return "T per fold" if temperature is None else f"T = {temperature:g}"


def _store(model_version: ModelVersion, entry: dict[str, Any]) -> dict[str, Any]:
    metrics = dict(model_version.metrics or {})
    evaluations = dict(metrics.get("evaluations") or {})
    evaluations[entry["key"]] = entry
    metrics["evaluations"] = evaluations
    model_version.metrics = metrics
    model_version.save(update_fields=["metrics"])
    return metrics


def _against(model_version: ModelVersion, against: ModelVersion | str | None) -> ModelVersion | None:
    other = ModelVersion.objects.filter(is_active=True).first() if against == "active" else against
    return None if other is not None and other.pk == model_version.pk else other


def _load(version: ModelVersion) -> Any:
    return load_model(checkpoint_file(version), device=settings.INFERENCE_DEVICE or None)


def model_version_evaluate(
    *,
    model_version: ModelVersion,
    export: LabelExport | int | None = None,
    against: ModelVersion | str | None = "active",
    evaluation_set: EvaluationSet | None = None,
    split: str | dict[str, float] | None = None,
) -> dict[str, Any]:
    """Score ``model_version`` and the active version (or ``against``) with the worker's own
    analysis on ``evaluation_set``, or on export N's test split (re-split with ``split``
    fractions when given). Returns the version's metrics after storing the result.

    Shape of ``ModelVersion.metrics`` (extended, never renamed; readers may rely on it)::

        "evaluations": {                      # one entry per evaluation set, by key (inference.evaluation_sets)
          KEY: {"key": KEY,
                "set": {"kind": "export"|"csv"|"decided"|"folds", "description": str, "tracks": int, ...},
                "evaluated_at": ISO time, "tracks": int, "labels": [genre, ...],
                "candidate": SCORES, "active": SCORES | None,   # same tracks, same labels
                "predictions": "models/<name>/evaluations/<slug>/predictions.json",  # MEDIA_ROOT-relative
                "images": {"confusion", "confusion_active", "reliability": MEDIA_ROOT-relative PNG},
                "note": str (optional: e.g. no tracks)},
        SCORES = {"model_version", "trained", "tracks", "top1", "top3", "macro_f1",
                  "per_genre": {genre: {precision, recall, f1, support, predicted}},
                  "confusion": {"labels", "columns", "matrix"},
                  "calibration": {"temperature", "ece", "ece_before_temperature", "nll",
                                  "nll_before_temperature", "mean_confidence", "bins",
                                  "bins_before_temperature", ...}}
        # folds entries add to each SCORES: "folds": [{"fold", "tracks", top1, top3, macro_f1, ece}],
        # "mean": {...}, "std": {...} (population spread over the folds)

    An evaluation of an export's test split also keeps the earlier top-level keys, as before:
    ``export_id``, ``split``, ``evaluated_at``, ``evaluation_key`` (new), ``test`` = {"tracks",
    "candidate": SCORES without "confusion", "active": SCORES | None, "note"?}, ``confusion``,
    ``confusion_png``, ``confusion_active_png``."""
    if (export is None) == (evaluation_set is None):
        raise TrainingSetupError("Evaluate on an export or on an evaluation set, not both or neither.")
    legacy = evaluation_set is None
    evaluation = evaluation_set or export_evaluation_set(export, "test", split=split)
    other = _against(model_version, against)
    metrics = dict(model_version.metrics or {})
    if legacy:
        metrics = {k: v for k, v in metrics.items() if k not in LEGACY_KEYS}
        metrics.update(
            export_id=evaluation.facts["export_id"],
            split="test",
            evaluation_key=evaluation.key,
            evaluated_at=timezone.now().isoformat(timespec="seconds"),
        )
    if not evaluation.items:
        note = f"{evaluation.description} has no tracks"
        if legacy:
            metrics["test"] = {"tracks": 0, "candidate": None, "active": None, "note": note}
        model_version.metrics = metrics
        return _store(
            model_version,
            {
                "key": evaluation.key,
                "set": {
                    "kind": evaluation.kind,
                    "tracks": 0,
                    "description": evaluation.description,
                    **evaluation.facts,
                },
                "evaluated_at": timezone.now().isoformat(timespec="seconds"),
                "tracks": 0,
                "candidate": None,
                "active": None,
                "note": note,
            },
        )
    model = _load(model_version)
    labels = list(evaluation.labels or model.labels)
    labels += sorted({item.genre for item in evaluation.items} - set(labels))
    truth = [str(item.genre) for item in evaluation.items]
    candidate = predict(model, evaluation.items, name=model_version.name)
    active = predict(_load(other), evaluation.items, name=other.name) if other is not None else None
    entry = _entry(
        model_version=model_version,
        other=other,
        evaluation=evaluation,
        labels=labels,
        truth=truth,
        candidate=candidate,
        active=active,
        legacy_pngs=legacy,
    )
    if legacy:
        cand = {k: v for k, v in entry["candidate"].items() if k != "confusion"}
        metrics["confusion"] = entry["candidate"]["confusion"]
        metrics["test"] = {"tracks": len(truth), "candidate": cand, "active": entry["active"]}
        metrics["confusion_png"] = entry["images"]["confusion"]
        if "confusion_active" in entry["images"]:
            metrics["confusion_active_png"] = entry["images"]["confusion_active"]
    model_version.metrics = metrics
    return _store(model_version, entry)


# --- training ----------------------------------------------------------------------------------


def _fold_figures(per_fold: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    keys = (*SUMMARY_KEYS, "ece")
    values = {k: [f[k] for f in per_fold if f.get(k) is not None] for k in keys}
    mean = {k: float(np.mean(v)) for k, v in values.items() if v}
    std = {k: float(np.std(v)) for k, v in values.items() if v}
    return mean, std


def model_cross_validate(
    *,
    export: LabelExport | int,
    folds: int,
    config: TrainingConfig,
    preprocessing: PreprocessingConfig,
    init_state: dict | None = None,
    init_note: str = "random",
    val_fraction: float = 0.0,
    against: ModelVersion | str | None = "active",
    progress: bool = False,
    on_fold: Callable[[int, dict[str, Any]], None] | None = None,
    adaptation: list[SoftExample] | None = None,
) -> tuple[EvaluationSet, list[str], Predictions, Predictions | None, list[dict], list[int]]:
    """K-fold cross-validation on every labelled track of the export: folds stratified by genre
    and grouped by artist; each fold's model trains on the other folds (with ``val_fraction`` of
    them validating; 0: a fixed number of epochs) and predicts its own fold as the worker would.
    Returns the set, the labels, the out-of-fold predictions, the other model's on the same
    tracks, the per-fold figures and the fold of each track."""
    export = label_export(export)
    labels = list(export.labels)
    rows = [row for row in labelled_rows(export) if row["genre"] in labels]
    items = [(split_key(artist=row["artist"], sha256=row["sha256"]), row["genre"]) for row in rows]
    try:
        fold_of = stratified_group_folds(items, folds)
    except ValueError as exc:
        raise TrainingSetupError(f"Export #{export.pk}: {exc}") from exc
    media = Path(settings.MEDIA_ROOT)
    evaluation = EvaluationSet(
        key=f"cv:export:{export.pk}:k{folds}",
        kind="folds",
        description=f"export #{export.pk}, {folds}-fold cross-validation (every track held out once)",
        items=[EvaluationItem(path=media / row["audio"], genre=row["genre"]) for row in rows],
        tracks=[
            {
                "track_id": row["track_id"],
                "title": row["title"],
                "artist": row["artist"],
                "path": row["audio"],
                "fold": f,
            }
            for row, f in zip(rows, fold_of)
        ],
        labels=labels,
        facts={"export_id": export.pk, "folds": folds, "seed": config.seed, "val_fraction": val_fraction},
    )
    features: dict[str, np.ndarray] = {}
    probs = np.zeros((len(rows), len(labels)))
    raw = np.zeros_like(probs)
    per_fold = []
    for k in range(folds):
        held = [i for i, f in enumerate(fold_of) if f == k]
        pool = [i for i, f in enumerate(fold_of) if f != k]
        pool_items = [items[i] for i in pool]
        splits = resplit(pool_items, ["train"] * len(pool), val_fraction=val_fraction)
        examples = [
            TrainingExample(path=str(media / rows[i]["audio"]), label=int(rows[i]["label_index"]), split=name)
            for i, name in zip(pool, splits)
        ]
        result = train(
            examples,
            labels,
            preprocessing,
            config,
            init_state=init_state,
            init_note=init_note,
            features=features,
            progress=progress,
            adaptation=adaptation or (),
        )
        model = model_from_checkpoint(result.checkpoint(), device=settings.INFERENCE_DEVICE or None)
        fold_pred = predict(model, [evaluation.items[i] for i in held])
        probs[held], raw[held] = fold_pred.probabilities, fold_pred.untempered
        report = score_predictions([rows[i]["genre"] for i in held], fold_pred, labels)
        figures = {
            "fold": k,
            "tracks": len(held),
            "train_tracks": result.metrics["train_tracks"],
            "val_tracks": result.metrics["val_tracks"],
            "temperature": result.temperature,
            **{key: report[key] for key in SUMMARY_KEYS},
            "ece": report["calibration"]["ece"],
        }
        per_fold.append(figures)
        if on_fold:
            on_fold(k, figures)
    candidate = Predictions(labels, probs, raw, None, "cross-validated")  # one temperature per fold model
    other = _against_any(against)
    active = predict(_load(other), evaluation.items, name=other.name) if other is not None else None
    return evaluation, labels, candidate, active, per_fold, fold_of


def _against_any(against: ModelVersion | str | None) -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first() if against == "active" else against


def _cv_entry(
    *,
    version: ModelVersion,
    evaluation: EvaluationSet,
    labels: list[str],
    candidate: Predictions,
    active: Predictions | None,
    per_fold: list[dict[str, Any]],
    fold_of: list[int],
) -> dict[str, Any]:
    other = ModelVersion.objects.filter(name=active.name).first() if active is not None else None
    truth = [item.genre for item in evaluation.items]
    entry = _entry(
        model_version=version,
        other=other,
        evaluation=evaluation,
        labels=labels,
        truth=truth,
        candidate=candidate,
        active=active,
    )
    entry["candidate"]["model_version"] = f"{version.name} (cross-validated)"
    mean, std = _fold_figures(per_fold)
    entry["candidate"].update(folds=per_fold, mean=mean, std=std)
    if entry["active"] is not None:
        active_folds = []
        for k in range(len(per_fold)):
            held = [i for i, f in enumerate(fold_of) if f == k]
            sub = Predictions(
                active.model_labels,
                active.probabilities[held],
                active.untempered[held],
                active.temperature,
                active.name,
            )
            report = score_predictions([truth[i] for i in held], sub, labels)
            active_folds.append(
                {
                    "fold": k,
                    "tracks": len(held),
                    **{key: report[key] for key in SUMMARY_KEYS},
                    "ece": report["calibration"]["ece"],
                }
            )
        mean, std = _fold_figures(active_folds)
        entry["active"].update(folds=active_folds, mean=mean, std=std)
    return entry


def model_train_from_export(
    *,
    export: LabelExport | int,
    config: TrainingConfig,
    preprocessing: PreprocessingConfig | None = None,
    init: Path | None = None,
    name: str | None = None,
    evaluate: bool = True,
    progress: bool = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    split: str | dict[str, float] | None = None,
    val_fraction: float | None = None,
    folds: int | None = None,
    on_fold: Callable[[int, dict[str, Any]], None] | None = None,
    adapt_on: str | None = None,
    adapt_limit: int | None = None,
    adapt_recalibrate: bool = False,
) -> ModelVersion:
    """Train on the export's train split, save the checkpoint under MODELS_DIR, register it as an
    inactive model version and (unless ``evaluate=False``) score it on the test split.

    ``split`` re-splits the export (train,val,test fractions, stratified by genre, grouped by
    artist); ``val_fraction`` sets the validating share of the non-test tracks (0: train on all
    of them for ``config.epochs``). ``folds`` = K first cross-validates on every track (stored as
    ``metrics["evaluations"]["cv:export:N:kK"]``), then trains the registered model on every
    track (``val_fraction`` of them validating).

    ``adapt_on="catalog"`` adds the unlabelled catalog tracks (no decision, not in the export)
    that have a cached teacher target (inference.teacher_targets), at most ``adapt_limit``, with
    the teachers' distribution as target, weighted by ``config.adapt_weight``. With
    ``adapt_recalibrate`` that target is the teachers' clip scores recalibrated to the export's
    labels (a logistic regression fitted on the training tracks' own teacher targets)."""
    export = label_export(export)
    labels = list(export.labels)
    if len(labels) < 2:
        raise TrainingSetupError(f"Export #{export.pk} has {len(labels)} label(s); training needs at least 2.")
    if folds is not None and split is not None:
        raise TrainingSetupError("--folds uses every track; it does not combine with --split.")
    if folds is not None:
        examples = export_examples(
            export, split={"train": 1.0, "val": 0.0, "test": 0.0}, val_fraction=val_fraction or 0.0
        )
    else:
        examples = export_examples(export, split=split, val_fraction=val_fraction)
    adaptation, adaptation_facts = _adaptation(
        export,
        labels,
        adapt_on,
        adapt_limit,
        config.seed,
        recalibrate_on=[e for e in examples if e.split == "train"] if adapt_recalibrate else None,
    )
    if not any(e.split == "train" for e in examples) and not adaptation:
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
        init_state, init_note = initial_state(init, architecture=config.architecture, labels=labels, cfg=preprocessing)
    if config.device is None and settings.INFERENCE_DEVICE:
        config = TrainingConfig(**{**config.__dict__, "device": settings.INFERENCE_DEVICE})
    cross = None
    if folds is not None:
        cross = model_cross_validate(
            export=export,
            folds=folds,
            config=config,
            preprocessing=preprocessing,
            init_state=init_state,
            init_note=init_note,
            val_fraction=val_fraction or 0.0,
            progress=progress,
            on_fold=on_fold,
            adaptation=adaptation,
        )
    result = train(
        examples,
        labels,
        preprocessing,
        config,
        init_state=init_state,
        init_note=init_note,
        progress=progress,
        on_epoch=on_epoch,
        adaptation=adaptation,
    )
    m = result.metrics
    if adaptation_facts is not None:
        m["adaptation"] = {**(m.get("adaptation") or {}), **adaptation_facts}
    split_facts = {
        "source": (
            "every track (cross-validation)"
            if folds is not None
            else f"stratified {fractions_text(parse_fractions(split))}"
            if split is not None
            else "the export's split column"
        ),
        "val_fraction": val_fraction,
        "folds": folds,
        "counts": {s: sum(1 for e in examples if e.split == s) for s in ("train", "val", "test")},
    }
    m["split"] = split_facts
    notes = (
        f"Trained on export #{export.pk} ({m['train_tracks']} train / {m['val_tracks']} val tracks), "
        f"{'best' if m['val_tracks'] else 'last'} epoch {m['best_epoch']} of {m['epochs_run']}, "
        f"T = {result.temperature:g}, init: {init_note}."
        + (
            f" Adapted on {len(adaptation)} unlabelled catalog tracks (teacher targets "
            f"{adaptation_facts['mapping_version']}, weight {config.adapt_weight:g})."
            if adaptation
            else ""
        )
    )
    models_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(result.checkpoint(export_id=export.pk, notes=notes, split=split_facts), path)
    version = model_version_register(path=path, name=name, activate=False)
    version.metrics = {"export_id": export.pk, "training": m}
    version.save(update_fields=["metrics"])
    if cross is not None:
        evaluation, cv_labels, candidate, active, per_fold, fold_of = cross
        _store(
            version,
            _cv_entry(
                version=version,
                evaluation=evaluation,
                labels=cv_labels,
                candidate=candidate,
                active=active,
                per_fold=per_fold,
                fold_of=fold_of,
            ),
        )
    elif evaluate:
        model_version_evaluate(model_version=version, export=export, split=split)
    return version


def _adaptation(
    export: LabelExport,
    labels: list[str],
    adapt_on: str | None,
    limit: int | None,
    seed: int,
    recalibrate_on: list[TrainingExample] | None = None,
) -> tuple[list[SoftExample], dict[str, Any] | None]:
    if adapt_on is None:
        return [], None
    if adapt_on != "catalog":
        raise TrainingSetupError(f"{adapt_on!r}: adaptation is on the catalog only (--adapt-on catalog).")
    from inference.teacher_targets import adaptation_examples

    exported = {row["track_id"] for row in export_rows(export)}
    examples, facts = adaptation_examples(labels=labels, exclude_track_ids=exported, limit=limit, seed=seed)
    if not examples:
        raise TrainingSetupError(
            f"None of the {facts['unlabelled_tracks']} unlabelled catalog tracks has a usable teacher target "
            f"({facts['mapping_version']}; {facts['without_targets']} have none yet): queue them with "
            "`manage.py teacher_targets --wait`, or run `manage.py retrain --adapt-on catalog`, which waits for them."
        )
    if recalibrate_on is not None:
        examples, facts["recalibration"] = _recalibrated(export, labels, examples, recalibrate_on)
        if facts["recalibration"]["used"]:
            facts["used"] = len(examples)
    return examples, facts


def _recalibrated(
    export: LabelExport, labels: list[str], examples: list[SoftExample], train_examples: list[TrainingExample]
) -> tuple[list[SoftExample], dict[str, Any]]:
    """The adaptation targets recalibrated to the labels, fitted on the training tracks' teacher
    scores; the mapped targets unchanged (with the reason) when too few labelled tracks have one."""
    from dataclasses import replace

    from inference.engine.teacher.ensemble import fit_teacher_calibration
    from inference.teacher_targets import teacher_features_of

    media = Path(settings.MEDIA_ROOT)
    track_of = {str(media / row["audio"]): row["track_id"] for row in export_rows(export)}
    features = teacher_features_of(track_of[e.path] for e in train_examples if e.path in track_of)
    fitted = [(features[track_of[e.path]], e.label) for e in train_examples if track_of.get(e.path) in features]
    if len({label for _, label in fitted}) < 2:
        return examples, {
            "used": False,
            "labelled_tracks": len(fitted),
            "reason": "fewer than 2 genres among the training tracks with teacher targets",
        }
    calibration = fit_teacher_calibration(np.stack([f for f, _ in fitted]), [label for _, label in fitted], labels)
    out = [
        replace(e, clip=calibration.distribution(e.features).astype(np.float32), windows=None)
        for e in examples
        if e.features is not None
    ]
    return out, {"used": True, **calibration.facts(), "without_teacher_targets": len(train_examples) - len(fitted)}


def evaluation_keys(model_version: ModelVersion) -> list[str]:
    """The version's evaluation sets, most recent first."""
    evaluations = (model_version.metrics or {}).get("evaluations") or {}
    return sorted(evaluations, key=lambda k: evaluations[k].get("evaluated_at") or "", reverse=True)
