"""Register a checkpoint file as a model version (bring your own model)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.promotion import PromotionRefused
from catalog.services import model_version_promote
from inference.engine.errors import CheckpointError
from inference.registry import model_version_register


class Command(BaseCommand):
    help = "Register a .safetensors checkpoint (or a .pt state dict with a .json beside it) as a model version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--name", help="Version name (default: the file name).")
        parser.add_argument("--activate", action="store_true", help="Make it the active version.")
        parser.add_argument(
            "--override-reason",
            default="",
            metavar="TEXT",
            help="Why to activate it although the promotion gate finds it untrained, unevaluated "
            "or worse than the active model (recorded with the promotion).",
        )

    def handle(
        self, *args: object, path: Path, name: str | None, activate: bool, override_reason: str, **options: object
    ) -> None:
        if not path.exists():
            raise CommandError(f"{path}: no such file.")
        try:
            version = model_version_register(path=path, name=name)
        except CheckpointError as error:
            raise CommandError(f"{path}: {error}") from error
        if activate:
            try:
                version = model_version_promote(
                    model_version=version,
                    override_reason=override_reason,
                    note=f"Registered from {path.name} and activated",
                )
            except PromotionRefused as refused:
                findings = "\n".join(f"  - {finding.message}" for finding in refused.gate.findings)
                raise CommandError(
                    f"Registered {version.name} (inactive) but did not activate it:\n{findings}\n"
                    "Pass --override-reason TEXT to activate it anyway."
                ) from None
        state = "active" if version.is_active else "inactive"
        trained = "trained" if version.trained else "untrained"
        self.stdout.write(
            f"Registered {version.name} ({version.architecture}, {len(version.labels)} labels, {trained}, {state})."
        )
