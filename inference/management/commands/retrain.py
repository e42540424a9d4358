"""The whole loop in one command: export → teacher targets → train → evaluate → update report →
an inactive candidate. One run at a time; safe to schedule (README, "Scheduling")."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.engine.errors import AudioError, CheckpointError
from inference.engine.training import CLASS_WEIGHTS
from inference.evaluation_sets import TrainingSetupError
from inference.management.commands.train_model import add_adaptation_arguments
from inference.retrain import RetrainBusy, RetrainOptions, RetrainSkipped, retrain

DEFAULTS = RetrainOptions()


class Command(BaseCommand):
    help = (
        "Export every label, compute the teacher targets the adaptation needs (waiting for the workers), train a "
        "candidate, evaluate it next to the active model (export test split and any --csv), write the update "
        "report, and register the candidate inactive. Refuses to start while another run is going."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_adaptation_arguments(parser)
        parser.add_argument(
            "--teachers",
            choices=("workers", "here"),
            default=DEFAULTS.teachers,
            help="workers: queue the missing teacher targets on the RQ workers and wait (computed "
            "here when no worker listens); here: compute them in this process",
        )
        parser.add_argument("--teacher-timeout", type=float, default=DEFAULTS.teacher_timeout_s, metavar="S")
        parser.add_argument("--split", metavar="T,V,E|hash", help="the export's split (default 0.8,0.1,0.1)")
        parser.add_argument(
            "--csv",
            action="append",
            default=[],
            metavar="FILE",
            help="also evaluate on this labelled CSV (path,genre); repeatable",
        )
        parser.add_argument(
            "--init",
            default=DEFAULTS.init,
            help="active (default: fine-tune the active model when trained and of --arch), random, "
            "or a checkpoint / ImageNet .npz path",
        )
        parser.add_argument("--arch", default=DEFAULTS.architecture)
        parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
        parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
        parser.add_argument("--lr", type=float, default=DEFAULTS.lr)
        parser.add_argument("--patience", type=int, default=DEFAULTS.patience)
        parser.add_argument("--crops", type=int, default=DEFAULTS.crops)
        parser.add_argument("--class-weights", choices=CLASS_WEIGHTS, default=DEFAULTS.class_weights)
        parser.add_argument("--val-fraction", type=float, metavar="F")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--device")
        parser.add_argument("--name", help="model version name (default: <arch>-export<N>-<time>)")
        parser.add_argument(
            "--min-new-decisions",
            type=int,
            default=0,
            metavar="N",
            help="do nothing when fewer than N decisions were made since the last successful run (for schedules)",
        )

    def handle(self, *args: object, **o: object) -> None:
        try:
            options = RetrainOptions(
                adapt_on=o["adapt_on"],
                adapt_weight=o["adapt_weight"],
                adapt_target=o["adapt_target"],
                adapt_limit=o["adapt_limit"],
                teachers=o["teachers"],
                teacher_timeout_s=o["teacher_timeout"],
                split=o["split"],
                csv=list(o["csv"]),
                init=o["init"],
                architecture=o["arch"],
                epochs=o["epochs"],
                batch_size=o["batch_size"],
                lr=o["lr"],
                patience=o["patience"],
                crops=o["crops"],
                class_weights=o["class_weights"],
                val_fraction=o["val_fraction"],
                seed=o["seed"],
                device=o["device"],
                name=o["name"],
                min_new_decisions=o["min_new_decisions"],
            )
            run = retrain(
                options=options,
                started_by="manage.py retrain",
                say=self.stdout.write,
                progress_bars=o["verbosity"] >= 2,
            )
        except RetrainBusy as busy:
            raise CommandError(str(busy)) from busy
        except RetrainSkipped as skipped:
            self.stdout.write(f"Nothing to do: {skipped}")
            return
        except (TrainingSetupError, CheckpointError, AudioError, TimeoutError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Retrain run #{run.pk} finished: candidate {run.candidate.name} (inactive).")
