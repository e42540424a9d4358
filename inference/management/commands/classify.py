"""Classify audio files from the command line with the active model (or a checkpoint file)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.selectors import active_model_version
from inference.engine.errors import InferenceError


class Command(BaseCommand):
    help = "Print the Top-K genres of audio files (table or JSON), optionally saving the images."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--top-k", type=int, default=5)
        parser.add_argument("--json", action="store_true", help="One JSON document for all files.")
        parser.add_argument("--images", type=Path, help="Folder for spectrogram, attention and Top-K PNGs.")
        parser.add_argument("--checkpoint", type=Path, help="Use this checkpoint instead of the active model.")

    def handle(
        self,
        *args: object,
        files: list[Path],
        top_k: int,
        json: bool,
        images: Path | None,
        checkpoint: Path | None,
        **options: object,
    ) -> None:
        from inference.engine.analysis import analyze_file
        from inference.engine.render import render_analysis_images
        from inference.runtime import content_model

        model = self._model(checkpoint)
        if not 1 <= top_k <= len(model.labels):
            raise CommandError(f"--top-k must be between 1 and {len(model.labels)}.")
        if images:
            images.mkdir(parents=True, exist_ok=True)
        results, failures = [], 0
        for path in tqdm(files, desc="Classifying", unit="file", disable=len(files) < 2):
            try:
                result = analyze_file(
                    path,
                    model,
                    top_k=top_k,
                    with_attention=images is not None,
                    max_duration_s=settings.MAX_AUDIO_SECONDS,
                    content_model=content_model(),
                )
            except (InferenceError, FileNotFoundError) as error:
                failures += 1
                results.append({"file": str(path), "error": getattr(error, "message", None) or str(error)})
                if not json:
                    self.stderr.write(f"{path}: {results[-1]['error']}")
                continue
            if images:
                for kind, png in render_analysis_images(result, model.preprocessing).items():
                    (images / f"{path.stem}.{kind}.png").write_bytes(png)
            results.append({"file": str(path), **result.to_json_dict()})
            if not json:
                self._table(path, result, trained=model.trained)
        if json:
            keep = ("file", "error", "top_k", "audio", "is_silent", "content", "regions", "trained", "timings_ms")
            self.stdout.write(_json_dumps([{k: r[k] for k in keep if k in r} for r in results]))
        if failures:
            raise CommandError(f"{failures} of {len(files)} file(s) could not be classified.")

    def _model(self, checkpoint: Path | None):
        from inference.engine.errors import CheckpointError
        from inference.engine.model import load_model
        from inference.runtime import inference_precision, model_for

        try:
            if checkpoint:
                return load_model(
                    checkpoint, device=settings.INFERENCE_DEVICE or None, precision=inference_precision().precision
                )
            version = active_model_version()
            if version is None:
                raise CommandError(
                    "No active model version: run `manage.py ensure_default_model` or pass --checkpoint."
                )
            return model_for(version)
        except CheckpointError as error:
            raise CommandError(str(error)) from error

    def _table(self, path: Path, result, *, trained: bool) -> None:
        duration = result.audio.duration_s
        self.stdout.write(
            f"\n{path}  ({int(duration // 60)}:{int(duration % 60):02d}, {result.audio.format}, "
            f"{result.audio.sample_rate} Hz, {result.audio.channels} ch)"
        )
        if not trained:
            self.stdout.write(self.style.WARNING("  untrained model: placeholder scores, not a real prediction"))
        if result.is_silent:
            self.stdout.write(self.style.WARNING("  the audio is silent"))
        if result.content:
            scores = ", ".join(f"{name} {score:.0%}" for name, score in result.content.scores.items())
            line = f"  content: {result.content.label} ({scores})"
            self.stdout.write(line if result.content.label == "music" else self.style.WARNING(line + ": not music?"))
        for rank, (label, probability) in enumerate(result.top_k, start=1):
            bar = "█" * round(probability * 30)
            self.stdout.write(f"  {rank}. {label:<12} {probability:6.1%}  {bar}")
        for region in result.regions:
            self.stdout.write(f"  attended: {region.text}")


def _json_dumps(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
