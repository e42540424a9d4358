"""Train a genre ViT on an export's train split; register it as an inactive model version and
score it against the active model on the export's test split (or cross-validate with --folds)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.engine.datatypes import PreprocessingConfig
from inference.engine.errors import AudioError, CheckpointError
from inference.engine.training import (
    ADAPT_TARGETS,
    CLASS_WEIGHTS,
    DEFAULT_ADAPT_TARGET,
    DEFAULT_ADAPT_WEIGHT,
    MONITORS,
    TrainingConfig,
)
from inference.retraining import TrainingSetupError, model_train_from_export


def _preprocessing(value: str) -> PreprocessingConfig:
    """A JSON object, or the path of a JSON file holding one."""
    text = Path(value).read_text(encoding="utf-8") if Path(value).is_file() else value
    return PreprocessingConfig.from_dict(json.loads(text))


class Command(BaseCommand):
    help = (
        "Train a spectrogram ViT on export N (see export_labels), save it in the checkpoint format, register "
        "it as an inactive model version and evaluate it next to the active model on the test split."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = TrainingConfig()
        parser.add_argument("--export", type=int, required=True, metavar="N", help="the export to train on")
        parser.add_argument(
            "--arch", default="vit_tiny_patch16", help="vit_{tiny,small,base}_patch16 or deit_{tiny,small,base}_patch16"
        )
        parser.add_argument("--epochs", type=int, default=defaults.epochs)
        parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
        parser.add_argument("--lr", type=float, default=defaults.lr)
        parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
        parser.add_argument(
            "--patience",
            type=int,
            default=defaults.patience,
            help="stop after this many epochs without improvement (0: never)",
        )
        parser.add_argument("--monitor", choices=MONITORS, default=defaults.monitor)
        parser.add_argument(
            "--crops", type=int, default=defaults.crops_per_track, help="random windows per training track per epoch"
        )
        parser.add_argument(
            "--mixup",
            type=float,
            nargs="?",
            const=0.2,
            default=0.0,
            metavar="ALPHA",
            help="mix pairs of windows (Beta(ALPHA, ALPHA); ALPHA defaults to 0.2)",
        )
        parser.add_argument(
            "--class-weights",
            choices=CLASS_WEIGHTS,
            default=defaults.class_weights,
            help="none, sqrt (1/sqrt(frequency), capped at 3× the mean; default) or inverse",
        )
        parser.add_argument("--no-class-weights", action="store_true", help="the same as --class-weights none")
        parser.add_argument(
            "--split",
            metavar="T,V,E",
            help="re-split the export: train,val,test fractions, stratified by genre and grouped "
            "by artist (default: the export's own split column)",
        )
        parser.add_argument(
            "--val-fraction",
            type=float,
            metavar="F",
            help="share of the non-test tracks that validates; 0: train on all of them for "
            "--epochs (no early stopping, no temperature)",
        )
        parser.add_argument(
            "--folds",
            type=int,
            metavar="K",
            help="K-fold cross-validation on every track (mean ± spread of top-1/top-3/macro F1), "
            "then train the registered model on every track",
        )
        parser.add_argument(
            "--no-temperature", action="store_true", help="do not fit a temperature on the validation tracks"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--device", help="cpu, cuda or cuda:N (default: ACOUSTICSENSE_DEVICE, else CUDA when present)"
        )
        parser.add_argument(
            "--init", type=Path, metavar="PATH", help="start from a checkpoint (same architecture) or an ImageNet .npz"
        )
        parser.add_argument(
            "--preprocessing",
            metavar="JSON",
            help="preprocessing config (JSON or a JSON file); default: --init's, else the defaults",
        )
        parser.add_argument("--name", help="model version name (default: <arch>-export<N>-<time>)")
        parser.add_argument("--no-evaluate", action="store_true", help="skip the test-split evaluation")
        add_adaptation_arguments(parser)

    def handle(self, *args: object, **o: object) -> None:
        try:
            config = TrainingConfig(
                architecture=o["arch"],
                epochs=o["epochs"],
                batch_size=o["batch_size"],
                lr=o["lr"],
                weight_decay=o["weight_decay"],
                patience=o["patience"],
                monitor=o["monitor"],
                crops_per_track=o["crops"],
                mixup_alpha=o["mixup"],
                class_weights="none" if o["no_class_weights"] else o["class_weights"],
                temperature_scaling=not o["no_temperature"],
                seed=o["seed"],
                device=o["device"],
                adapt_weight=o["adapt_weight"],
                adapt_target="clip" if o["adapt_target"] == "recalibrated" else o["adapt_target"],
            )
            preprocessing = _preprocessing(o["preprocessing"]) if o["preprocessing"] else None
        except (ValueError, CheckpointError) as exc:
            raise CommandError(str(exc)) from exc
        if o["init"] is not None and not o["init"].is_file():
            raise CommandError(f"{o['init']}: no such file.")
        verbose = o["verbosity"] >= 1
        try:
            version = model_train_from_export(
                export=o["export"],
                config=config,
                preprocessing=preprocessing,
                init=o["init"],
                name=o["name"],
                evaluate=not o["no_evaluate"],
                progress=verbose,
                split=o["split"],
                val_fraction=o["val_fraction"],
                folds=o["folds"],
                on_fold=self._fold_line if verbose else None,
                adapt_on=o["adapt_on"],
                adapt_limit=o["adapt_limit"],
                adapt_recalibrate=o["adapt_target"] == "recalibrated",
            )
        except (TrainingSetupError, CheckpointError, AudioError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        m = version.metrics
        t = m["training"]
        self.stdout.write(
            f"Registered {version.name} (inactive): {t['selected']} {t['best_epoch']} of "
            f"{t['epochs_run']} ({t['train_tracks']} train / {t['val_tracks']} val tracks), "
            f"val accuracy {_pct(t['val_accuracy'])}, T = {t['temperature']:g}, "
            f"{t['seconds']:.0f} s on {t['device']}."
        )
        if t.get("adaptation"):
            self.stdout.write("  " + adaptation_line(t["adaptation"]))
        for key, entry in (m.get("evaluations") or {}).items():
            if key.startswith("cv:"):
                for line in cv_lines(entry):
                    self.stdout.write("  " + line)
        test = m.get("test") or {}
        for role in ("candidate", "active"):
            scores = test.get(role)
            if scores:
                self.stdout.write(
                    f"  test ({test['tracks']} tracks) {scores['model_version']}: top-1 "
                    f"{_pct(scores['top1'])}, top-3 {_pct(scores['top3'])}, "
                    f"macro F1 {scores['macro_f1']:.3f}"
                )
        if test.get("note"):
            self.stdout.write(f"  {test['note']}")
        if m.get("confusion_png"):
            self.stdout.write(f"  confusion matrix: MEDIA_ROOT/{m['confusion_png']}")

    def _fold_line(self, fold: int, figures: dict) -> None:
        self.stdout.write(
            f"  fold {fold + 1}: {figures['tracks']} held-out tracks, top-1 {_pct(figures['top1'])}, "
            f"top-3 {_pct(figures['top3'])}, macro F1 {figures['macro_f1']:.3f}"
        )


def cv_lines(entry: dict) -> list[str]:
    """The cross-validated estimate (mean ± spread over the folds) of the candidate and the active."""
    lines = [f"{entry['set']['description']}:"]
    for role in ("candidate", "active"):
        scores = entry.get(role)
        if scores and scores.get("mean"):
            mean, std = scores["mean"], scores["std"]
            lines.append(
                f"  {scores['model_version']}: top-1 {_pct(mean['top1'])} ± {_pct(std['top1'])}, "
                f"top-3 {_pct(mean['top3'])} ± {_pct(std['top3'])}, "
                f"macro F1 {mean['macro_f1']:.3f} ± {std['macro_f1']:.3f}"
            )
    return lines


def add_adaptation_arguments(parser: CommandParser) -> None:
    """--adapt-on, --adapt-weight, --adapt-target, --adapt-limit (train_model and retrain)."""
    parser.add_argument(
        "--adapt-on",
        choices=("catalog",),
        help="also train on the unlabelled catalog tracks against the teacher ensemble's genre "
        "distribution (cached teacher targets: manage.py teacher_targets)",
    )
    parser.add_argument(
        "--adapt-weight",
        type=float,
        default=DEFAULT_ADAPT_WEIGHT,
        metavar="W",
        help="weight of the teacher (soft) loss against the labelled loss "
        f"(default {DEFAULT_ADAPT_WEIGHT:g}, measured: README)",
    )
    parser.add_argument(
        "--adapt-target",
        choices=(*ADAPT_TARGETS, "recalibrated"),
        default=DEFAULT_ADAPT_TARGET,
        help="clip: the clip's distribution for every crop; window: the teacher windows inside the "
        "crop; recalibrated: the teachers' clip scores recalibrated to the labels (a logistic "
        "regression fitted on the labelled training tracks' teacher targets; "
        f"default {DEFAULT_ADAPT_TARGET})",
    )
    parser.add_argument(
        "--adapt-limit",
        type=int,
        default=2000,
        metavar="N",
        help="use at most N catalog tracks (their log-mels are kept in memory, ≈2 MB per 3 minutes)",
    )


def adaptation_line(facts: dict) -> str:
    weight = "alone (no labelled tracks)" if facts.get("alone") else f"weight {facts.get('weight')}"
    recal = facts.get("recalibration") or {}
    target = (
        f"clip targets recalibrated on {recal.get('labelled_tracks')} labelled tracks"
        if recal.get("used")
        else f"{facts.get('target')} targets" + (f" (not recalibrated: {recal['reason']})" if recal else "")
    )
    return (
        f"adaptation: {facts.get('used')} of {facts.get('unlabelled_tracks')} unlabelled catalog tracks "
        f"({facts.get('without_targets')} without teacher targets yet, {facts.get('no_signal')} with no signal for "
        f"these labels), {facts.get('mapping_version')}, {weight}, {target}"
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
