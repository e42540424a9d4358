"""Score a model version (and the active one) on a chosen set of labelled tracks."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.models import ModelVersion
from inference.engine.errors import AudioError, CheckpointError
from inference.evaluation_sets import (
    TrainingSetupError,
    csv_evaluation_set,
    decided_evaluation_set,
    export_evaluation_set,
    parse_date,
)
from inference.retraining import model_version_evaluate


class Command(BaseCommand):
    help = (
        "Evaluate a model version next to the active one on export N's test split, a CSV of labelled files or "
        "the decisions of a date range; stores the metrics under a key naming the set."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="model version name")
        parser.add_argument("--against", metavar="NAME", help="compare with this version (default: the active one)")
        parser.add_argument("--export", type=int, metavar="N", help="export N's test split (or --subset)")
        parser.add_argument(
            "--subset",
            choices=("test", "val", "train", "all"),
            default="test",
            help="with --export: which split (default test)",
        )
        parser.add_argument(
            "--split",
            metavar="T,V,E",
            help="with --export: take the subset of a fresh stratified split with these fractions "
            "(the same as train_model --split)",
        )
        parser.add_argument(
            "--csv",
            metavar="FILE",
            help="a CSV with a header and columns path,genre (relative paths from the CSV's folder)",
        )
        parser.add_argument(
            "--decided-since",
            metavar="DATE",
            help="tracks whose latest decision is on or after DATE (YYYY-MM-DD); bulk acceptances left out",
        )
        parser.add_argument("--decided-until", metavar="DATE", help="… and on or before DATE")

    def handle(self, *args: object, **o: object) -> None:
        version = ModelVersion.objects.filter(name=o["model"]).first()
        if version is None:
            raise CommandError(f"There is no model version named {o['model']!r}.")
        against: ModelVersion | str | None = "active"
        if o["against"]:
            against = ModelVersion.objects.filter(name=o["against"]).first()
            if against is None:
                raise CommandError(f"There is no model version named {o['against']!r}.")
        dated = o["decided_since"] or o["decided_until"]
        if sum(bool(x) for x in (o["export"] is not None, o["csv"], dated)) != 1:
            raise CommandError("Choose one set: --export N, --csv FILE or --decided-since/--decided-until DATE.")
        try:
            if o["export"] is not None and o["subset"] == "test" and not o["split"]:
                metrics = model_version_evaluate(model_version=version, export=o["export"], against=against)
                key = metrics["evaluation_key"]
            else:
                if o["export"] is not None:
                    chosen = export_evaluation_set(o["export"], o["subset"], split=o["split"])
                elif o["csv"]:
                    chosen = csv_evaluation_set(o["csv"])
                else:
                    chosen = decided_evaluation_set(
                        since=parse_date(o["decided_since"]) if o["decided_since"] else None,
                        until=parse_date(o["decided_until"]) if o["decided_until"] else None,
                    )
                metrics = model_version_evaluate(model_version=version, evaluation_set=chosen, against=against)
                key = chosen.key
        except (TrainingSetupError, CheckpointError, AudioError, FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        entry = metrics["evaluations"][key]
        self.stdout.write(f"{entry['set']['description']}: {entry['tracks']} tracks (stored as {key!r})")
        for role in ("candidate", "active"):
            scores = entry.get(role)
            if scores:
                cal = scores["calibration"]
                self.stdout.write(
                    f"{scores['model_version']}: top-1 {scores['top1']:.1%}, top-3 {scores['top3']:.1%}, "
                    f"macro F1 {scores['macro_f1']:.3f}, ECE {cal['ece_before_temperature']:.3f} "
                    f"→ {cal['ece']:.3f} with T = {cal['temperature']:g}"
                )
        if entry.get("note"):
            self.stdout.write(entry["note"])
        for name, path in (entry.get("images") or {}).items():
            self.stdout.write(f"{name.replace('_', ' ')}: MEDIA_ROOT/{path}")
