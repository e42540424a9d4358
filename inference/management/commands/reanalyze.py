"""Queue tracks for analysis under another (or the active) model version."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.models import ModelVersion, TrackStatus
from inference.pipeline import analysis_enqueue
from inference.selectors import REANALYSIS_STATUSES, tracks_without_analysis


class Command(BaseCommand):
    help = "Re-run the analysis of tracks with a model version (default: the active one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="Model version name (default: the active one).")
        parser.add_argument(
            "--status",
            action="append",
            choices=TrackStatus.values,
            help="Only tracks in this status (repeatable; default: awaiting_review, reviewed, failed).",
        )

    def handle(self, *args: object, model: str | None, status: list[str] | None, **options: object) -> None:
        try:
            version = ModelVersion.objects.get(name=model) if model else ModelVersion.objects.get(is_active=True)
        except ModelVersion.DoesNotExist:
            known = ", ".join(ModelVersion.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No model version {model or '(active)'}; known: {known}.") from None
        tracks = tracks_without_analysis(model_version=version, statuses=status or REANALYSIS_STATUSES)
        queued = 0
        for track in tqdm(tracks.iterator(), total=tracks.count(), desc="Queueing", unit="track"):
            queued += analysis_enqueue(track=track, model_version=version)
        self.stdout.write(f"Queued {queued} track(s) for analysis with {version.name}.")
