"""Queue the teacher ensemble's targets for the catalog (the unlabelled tracks are what adaptation
trains on, the labelled ones recalibrate the teachers), optionally waiting for the workers."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.teacher_targets import teacher_target_progress, teacher_targets_enqueue


class Command(BaseCommand):
    help = (
        "Queue a teacher-target job (musicnn + YAMNet ensemble, cached per track and mapping version) for every "
        "catalog track that has none; queueing again skips cached and queued tracks."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--wait", action="store_true", help="wait for the workers, showing progress")
        parser.add_argument(
            "--here", action="store_true", help="compute the missing targets in this process (no worker needed)"
        )
        parser.add_argument("--timeout", type=float, default=6 * 3600, help="with --wait: give up after S seconds")

    def handle(self, *args: object, wait: bool, here: bool, timeout: float, **options: object) -> None:
        from inference.retrain import teacher_targets_wait

        queued = teacher_targets_enqueue()
        self.stdout.write(
            f"Teacher targets ({queued.mapping_version}): {queued.cached} cached, {queued.queued} queued "
            f"now, {queued.already_queued} queued already."
        )
        if wait or here:
            last = [""]

            def show(p: dict) -> None:
                line = (
                    f"{p['done']}/{p['tracks']} catalog tracks have targets ({p['percent']:g} %), "
                    f"{p['queued'] or 0} queued or running, {p['failed']} failed"
                )
                if line != last[0]:
                    last[0] = line
                    self.stdout.write(line)

            try:
                teacher_targets_wait(on_progress=show, here=here, timeout_s=timeout, say=self.stdout.write)
            except TimeoutError as exc:
                raise CommandError(str(exc)) from exc
        else:
            p = teacher_target_progress()
            self.stdout.write(
                f"{p['done']}/{p['tracks']} catalog tracks have targets; progress on the pipeline "
                "page (/admin/pipeline/) or with --wait."
            )
