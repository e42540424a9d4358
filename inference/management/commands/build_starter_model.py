"""Rebuild the starter model: pool download, grooves, teacher targets, distillation, evaluation, checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.engine.errors import AudioError, CheckpointError
from inference.engine.starter import POOL_MANIFEST, STARTER_CHECKPOINT
from inference.engine.starter.build import RecipeOptions, run_recipe
from inference.engine.starter.distil import DistilConfig
from inference.engine.starter.pool import PoolError
from inference.engine.teacher.mapping import TeacherWeights


class Command(BaseCommand):
    help = (
        "Distil the musicnn and YAMNet taggers into the product's ViT on the Debian music pool "
        "(inference/engine/starter/pool-v2.tsv) plus synthetic labelled grooves, and write the starter checkpoint. "
        "Every step is cached under --work-dir: run it again to resume."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = DistilConfig()
        parser.add_argument(
            "--teacher-dir",
            type=Path,
            help="musicnn from MSD_musicnn.h5 / MTT_musicnn.h5 in this folder instead of the "
            "shipped weights (YAMNet always comes from the shipped weights)",
        )
        parser.add_argument(
            "--teacher-weights",
            default="0.5,0.5",
            metavar="MUSICNN,YAMNET",
            help="weights of the two teachers in the ensemble target (default 0.5,0.5)",
        )
        parser.add_argument("--deit-init", type=Path, help="deit_tiny_patch16_224_imagenet.npz, for the deit init")
        parser.add_argument(
            "--inits", default="deit", help="initialisations, comma-separated (random, deit); the best is kept"
        )
        parser.add_argument(
            "--groove-minutes", type=float, default=20.0, help="minutes of synthetic grooves per genre (0: none)"
        )
        parser.add_argument(
            "--synthetic-share", type=float, default=0.15, help="share of training crops drawn from the grooves"
        )
        parser.add_argument(
            "--excerpt-seconds",
            type=float,
            default=0.0,
            help="teachers and student hear at most this many seconds from the middle of each "
            "recording (0: whole recordings); cost then follows the number of recordings",
        )
        parser.add_argument(
            "--no-compare",
            action="store_true",
            help="skip the extra run without grooves (it measures what they change)",
        )
        parser.add_argument("--work-dir", type=Path, default=Path(settings.VAR_DIR) / "starter")
        parser.add_argument("--output", type=Path, default=STARTER_CHECKPOINT)
        parser.add_argument("--manifest", type=Path, default=POOL_MANIFEST)
        parser.add_argument("--epochs", type=int, default=defaults.epochs)
        parser.add_argument("--crops-per-epoch", type=int, default=defaults.crops_per_epoch)
        parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
        parser.add_argument("--lr", type=float, default=defaults.lr)
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--device", default=os.environ.get("ACOUSTICSENSE_DEVICE", "auto"))
        parser.add_argument(
            "--listen",
            type=Path,
            metavar="DIR",
            help="also report both models' Top-3 on the recordings in DIR (e.g. shared/audio)",
        )

    def handle(self, *args: object, **o: object) -> None:
        for flag in ("teacher_dir", "listen"):
            if o[flag] is not None and not o[flag].is_dir():
                raise CommandError(f"--{flag.replace('_', '-')} {o[flag]}: no such folder.")
        try:
            musicnn_weight, yamnet_weight = (float(w) for w in o["teacher_weights"].split(","))
            config = DistilConfig(
                epochs=o["epochs"],
                crops_per_epoch=o["crops_per_epoch"],
                batch_size=o["batch_size"],
                lr=o["lr"],
                seed=o["seed"],
                device=o["device"],
                synthetic_share=o["synthetic_share"] if o["groove_minutes"] > 0 else 0.0,
            )
            options = RecipeOptions(
                work_dir=o["work_dir"],
                teacher_dir=o["teacher_dir"],
                output=o["output"],
                manifest=o["manifest"],
                deit_init=o["deit_init"],
                inits=tuple(i.strip() for i in o["inits"].split(",") if i.strip()),
                config=config,
                teacher_weights=TeacherWeights(musicnn=musicnn_weight, yamnet=yamnet_weight),
                groove_minutes_per_genre=o["groove_minutes"],
                compare_without_grooves=not o["no_compare"],
                excerpt_s=o["excerpt_seconds"] or None,
                listen_dir=o["listen"],
                progress=o["verbosity"] >= 1,
            )
            run_recipe(options, say=self.stdout.write)
        except (PoolError, CheckpointError, AudioError, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
