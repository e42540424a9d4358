"""Score a model version (and the active one) on an export's test split."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.models import ModelVersion
from inference.errors import AudioError, CheckpointError
from inference.retraining import TrainingSetupError, model_version_evaluate


class Command(BaseCommand):
    help = "Evaluate a model version next to the active one on export N's test split; stores the metrics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="model version name")
        parser.add_argument("--export", type=int, required=True, metavar="N")

    def handle(self, *args: object, **o: object) -> None:
        version = ModelVersion.objects.filter(name=o["model"]).first()
        if version is None:
            raise CommandError(f"There is no model version named {o['model']!r}.")
        try:
            metrics = model_version_evaluate(model_version=version, export=o["export"])
        except (TrainingSetupError, CheckpointError, AudioError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        test = metrics["test"]
        for role in ("candidate", "active"):
            scores = test.get(role)
            if scores:
                self.stdout.write(f"{scores['model_version']}: top-1 {scores['top1']:.1%}, top-3 {scores['top3']:.1%}, "
                                  f"macro F1 {scores['macro_f1']:.3f} on {test['tracks']} test tracks")
        if test.get("note"):
            self.stdout.write(test["note"])
        if metrics.get("confusion_png"):
            self.stdout.write(f"confusion matrix: MEDIA_ROOT/{metrics['confusion_png']}")
