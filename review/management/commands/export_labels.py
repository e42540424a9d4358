"""Export editors' final labels (latest decision per track) as versioned manifests for training."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from review.exports import ExportError, export_directory, label_export_create


class Command(BaseCommand):
    help = (
        "Write a versioned export of reviewed tracks (manifest.jsonl, manifest.csv, export.json; "
        "--zip adds export.zip with the audio) to MEDIA_ROOT/exports/<id>/ and record it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=int, metavar="N", help="only decisions made after export N")
        parser.add_argument("--zip", action="store_true", help="also write export.zip with the audio files")
        parser.add_argument("--out", metavar="DIR", help="write the files here instead of MEDIA_ROOT/exports/<id>/")
        parser.add_argument(
            "--split",
            metavar="T,V,E",
            default=None,
            help="train,val,test fractions, stratified by genre and grouped by artist (default "
            "0.8,0.1,0.1); 'hash' for the artist-hash rule of earlier exports",
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            export = label_export_create(
                since=options["since"], with_audio=options["zip"], out=options["out"], split=options["split"]
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        splits = ", ".join(f"{name} {n}" for name, n in export.split_counts.items())
        self.stdout.write(f"Export #{export.pk}: {export.rows} track(s) ({splits}) in {export_directory(export)}")
        for genre, n in export.counts.items():
            self.stdout.write(f"  {genre}: {n}")
        for name, info in export.files.items():
            self.stdout.write(f"  {name}  sha256 {info['sha256']}  {info['bytes']} bytes")
