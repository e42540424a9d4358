"""The whole closed loop as one run: export → teacher targets (waiting for the workers) → train
(with adaptation when asked) → evaluate → update report → an *inactive* candidate.

One run at a time: a ``RetrainRun`` row with status "running" is the lock (the database allows one).
A thread refreshes its heartbeat while the run works; a run whose process died stops blocking
``STALE_AFTER_S`` after its last heartbeat, and the next run marks it abandoned. The same
``retrain`` serves the management command, the admin button (an RQ job) and schedulers (cron,
RQ's cron: ``inference/retrain_cron.py``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from catalog.models import ModelVersion
from inference.models import RetrainRun, RetrainRunStatus, TeacherTarget, TeacherTargetStatus

log = logging.getLogger(__name__)
STALE_AFTER_S = 120  # a running run without a heartbeat for this long is taken as dead
HEARTBEAT_S = 20
RETRAIN_QUEUE = "default"
RETRAIN_JOB_TIMEOUT_S = 12 * 3600


class RetrainBusy(Exception):
    """Another run holds the lock."""

    def __init__(self, run: RetrainRun | None) -> None:
        self.run = run
        if run is None:
            message = "Another retrain run started at the same moment; not starting a second one."
        else:
            age = (timezone.now() - run.heartbeat_at).total_seconds()
            message = (
                f"A retrain is already running (run #{run.pk}, started {run.started_at:%Y-%m-%d %H:%M:%S} by "
                f"{run.started_by or 'someone'} on {run.host or '?'} pid {run.pid or '?'}, step "
                f"{run.step or 'starting'}, last heartbeat {age:.0f} s ago). A run whose process died stops "
                f"blocking {STALE_AFTER_S} s after its last heartbeat."
            )
        super().__init__(message)


class RetrainSkipped(Exception):
    """Nothing worth a run (e.g. fewer new decisions than asked for)."""


@dataclass
class RetrainOptions:
    """What one run does; stored with the run (JSON)."""

    adapt_on: str | None = None
    adapt_weight: float | None = None  # None: the training default (inference.engine.training.DEFAULT_ADAPT_WEIGHT)
    adapt_target: str = "recalibrated"  # clip, window or recalibrated (see train_model --adapt-target)
    adapt_limit: int | None = 2000
    teachers: str = "workers"  # "workers": queue and wait; "here": compute in this process
    teacher_timeout_s: float = 6 * 3600
    split: str | None = None  # the export's split rule (default 0.8,0.1,0.1 stratified)
    csv: list[str] = field(default_factory=list)
    init: str = "active"  # "active", "random" or a checkpoint / .npz path
    architecture: str = "vit_tiny_patch16_224"
    epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-4
    patience: int = 5
    crops: int = 4
    class_weights: str = "sqrt"
    val_fraction: float | None = None
    seed: int = 0
    device: str | None = None
    name: str | None = None
    min_new_decisions: int = 0  # skip when fewer decisions were made since the last successful run

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrainOptions:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown retrain options: {sorted(unknown)}")
        return cls(**data)

    def training_config(self) -> Any:
        """The inference.engine.training.TrainingConfig of these options (torch loads here, not on import)."""
        from inference.engine.training import DEFAULT_ADAPT_WEIGHT, TrainingConfig

        return TrainingConfig(
            architecture=self.architecture,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            patience=self.patience,
            crops_per_track=self.crops,
            class_weights=self.class_weights,
            seed=self.seed,
            device=self.device,
            adapt_weight=DEFAULT_ADAPT_WEIGHT if self.adapt_weight is None else self.adapt_weight,
            adapt_target="clip" if self.adapt_target == "recalibrated" else self.adapt_target,
        )


# --- the lock ----------------------------------------------------------------------------------


def retrain_run_start(
    *, options: RetrainOptions, started_by: str = "", stale_after_s: float | None = None
) -> RetrainRun:
    """Take the lock: a new running run, after marking a dead one abandoned; RetrainBusy when a live
    run holds it. The database's one-running-run constraint settles two starts at the same moment."""
    stale_after_s = STALE_AFTER_S if stale_after_s is None else stale_after_s
    now = timezone.now()
    with transaction.atomic():
        for run in RetrainRun.objects.select_for_update().filter(status=RetrainRunStatus.RUNNING):
            if run.heartbeat_at >= now - timedelta(seconds=stale_after_s):
                raise RetrainBusy(run)
            run.status, run.finished_at = RetrainRunStatus.ABANDONED, now
            run.error = (
                f"No heartbeat since {run.heartbeat_at:%Y-%m-%d %H:%M:%S} (its process stopped); "
                f"marked abandoned by the next run."
            )
            run.save(update_fields=["status", "finished_at", "error"])
        try:
            with transaction.atomic():
                return RetrainRun.objects.create(
                    status=RetrainRunStatus.RUNNING,
                    heartbeat_at=now,
                    options=asdict(options),
                    started_by=started_by[:150],
                    host=socket.gethostname()[:200],
                    pid=os.getpid(),
                )
        except IntegrityError:
            raise RetrainBusy(RetrainRun.objects.filter(status=RetrainRunStatus.RUNNING).first()) from None


def _finish(run: RetrainRun, status: str, **fields: Any) -> None:
    run.status, run.finished_at = status, timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()


class _Heartbeat:
    """Refreshes the run's heartbeat from a thread while the run works (training blocks for minutes)."""

    def __init__(self, run: RetrainRun, interval_s: float = HEARTBEAT_S) -> None:
        self.run_id, self.interval_s = run.pk, interval_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="retrain-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    updated = RetrainRun.objects.filter(pk=self.run_id, status=RetrainRunStatus.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                    self.lost = self.lost or not updated
                except Exception:  # a missed beat is retried; the lock only expires after several
                    log.warning("Retrain heartbeat failed", exc_info=True)
        finally:
            connection.close()  # this thread's own connection


# --- the loop ----------------------------------------------------------------------------------

Say = Callable[[str], None]


class _Run:
    """A running run's record: steps, progress and a log, written as it goes."""

    def __init__(self, run: RetrainRun, say: Say) -> None:
        self.run, self._say = run, say

    def step(self, name: str) -> None:
        self.run.step = name
        self.say(f"[{name}]")

    def say(self, line: str) -> None:
        self._say(line)
        self.run.log = (self.run.log + line + "\n")[-20000:]
        self.run.heartbeat_at = timezone.now()
        self.run.save(update_fields=["step", "log", "progress", "heartbeat_at"])

    def progress(self, **values: Any) -> None:
        self.run.progress = {**self.run.progress, **values}
        self.run.heartbeat_at = timezone.now()
        self.run.save(update_fields=["progress", "heartbeat_at"])


def _decisions_since_last_run() -> tuple[int, RetrainRun | None]:
    from review.models import Decision

    last = (
        RetrainRun.objects.filter(status=RetrainRunStatus.SUCCEEDED, export__isnull=False)
        .select_related("export")
        .first()
    )
    after = last.export.last_decision_id if last else 0
    return Decision.objects.filter(pk__gt=after).count(), last


def _init_path(options: RetrainOptions) -> tuple[Path | None, str]:
    """The weights to start from and why: by default the active model (fine-tuning it), when it is
    trained and of the same architecture; else a random start."""
    from inference.engine.checkpoint import canonical_architecture
    from inference.registry import checkpoint_file

    if options.init == "random":
        return None, "random start (asked)"
    if options.init != "active":
        path = Path(options.init)
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        return path, f"{path.name} (asked)"
    active = ModelVersion.objects.filter(is_active=True).first()
    if active is None or not active.trained:
        return None, "random start (no trained active model)"
    if canonical_architecture(active.architecture) != canonical_architecture(options.architecture):
        return None, f"random start (the active {active.name} is a {active.architecture})"
    return checkpoint_file(active), f"the active model {active.name}"


def teacher_targets_wait(
    *,
    on_progress: Callable[[dict[str, Any]], None],
    here: bool = False,
    timeout_s: float = 6 * 3600,
    poll_s: float = 2.0,
    say: Say = lambda line: None,
) -> dict[str, Any]:
    """Wait until no teacher-target job of the current mapping is queued or running, reporting
    progress; when ``here``, or no worker (other than this job's own) listens on the queue,
    compute the missing targets in this process instead. Returns the last progress."""
    import django_rq
    from rq import Worker, get_current_job

    from inference.teacher_targets import (
        TEACHER_QUEUE,
        teacher_target_progress,
        teacher_target_run,
        tracks_without_targets,
    )

    deadline = time.monotonic() + timeout_s
    while True:
        progress = teacher_target_progress()
        on_progress(progress)
        if not progress["queued"]:
            return progress
        if not here:
            job = get_current_job()
            me = getattr(job, "worker_name", None) if job is not None else None
            workers = [w for w in Worker.all(queue=django_rq.get_queue(TEACHER_QUEUE)) if w.name != me]
            here = not workers
            if here:
                say("No other worker listens on the teacher queue: computing the missing targets in this process.")
        if here:
            failed = TeacherTarget.objects.filter(
                mapping_version=progress["mapping_version"], status=TeacherTargetStatus.FAILED
            ).values("track_id")
            for track in tracks_without_targets().exclude(pk__in=failed).order_by("pk"):
                try:
                    teacher_target_run(track=track, final=True)
                except Exception as error:  # recorded as failed; the others go on
                    say(f"  track {track.pk}: {type(error).__name__}: {error}")
                on_progress(teacher_target_progress())
                close_old_connections()
            return teacher_target_progress()
        if time.monotonic() > deadline:
            raise TimeoutError(f"teacher targets still queued after {timeout_s:.0f} s: {progress['queued']} left")
        time.sleep(poll_s)


def _write_reports(version: ModelVersion, say: Say) -> list[dict[str, Any]]:
    """The update report (PDF) of every evaluation with both models' predictions."""
    from inference.engine.evaluation import Predictions
    from inference.engine.update_report import headline, report_pdf_bytes, update_report
    from inference.retraining import _slug, evaluation_keys, evaluation_predictions

    written = []
    for key in evaluation_keys(version):
        entry = version.metrics["evaluations"][key]
        data = evaluation_predictions(version, key)
        if not data or not data.get("active"):
            continue
        candidate, active = Predictions.from_dict(data["candidate"]), Predictions.from_dict(data["active"])
        candidate.name, active.name = entry["candidate"]["model_version"], entry["active"]["model_version"]
        report = update_report(
            labels=data["labels"], truth=data["truth"], candidate=candidate, active=active, tracks=data["tracks"]
        )
        rel = Path("models") / version.name / "evaluations" / _slug(key) / "update-report.pdf"
        path = Path(settings.MEDIA_ROOT) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            report_pdf_bytes(
                report,
                title=f"Model update: {version.name}",
                subtitle=f"{version.name} against {active.name} on "
                f"{entry['set'].get('description', key)} ({report.tracks} tracks)",
            )
        )
        written.append({"key": key, "pdf": rel.as_posix(), "headline": headline(report)})
        say(f"  {key}: {headline(report)}")
        say(f"  PDF: MEDIA_ROOT/{rel.as_posix()}")
    return written


def retrain(
    *,
    options: RetrainOptions,
    started_by: str = "",
    say: Say = print,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    progress_bars: bool = False,
) -> RetrainRun:
    """Run the loop once under the lock; returns the finished run (its ``candidate`` is the new,
    inactive model version). RetrainBusy when another run is going, RetrainSkipped when there
    is too little new; any other failure is recorded on the run and raised."""
    from inference.evaluation_sets import csv_evaluation_set
    from inference.retraining import model_train_from_export, model_version_evaluate
    from inference.teacher_targets import teacher_targets_enqueue
    from review.exports import label_export_create

    config = options.training_config()  # bad options fail before the lock is taken
    for path in options.csv:
        csv_evaluation_set(path)  # a missing CSV fails now, not after an hour of training
    run = retrain_run_start(options=options, started_by=started_by)
    state = _Run(run, say)
    try:
        with _Heartbeat(run) as beat:
            if options.min_new_decisions:
                new, last = _decisions_since_last_run()
                if new < options.min_new_decisions:
                    raise RetrainSkipped(
                        f"{new} decision(s) since run #{last.pk if last else '–'}; "
                        f"--min-new-decisions is {options.min_new_decisions}."
                    )
            state.step("export")
            export = label_export_create(split=options.split)
            run.export = export
            run.save(update_fields=["export"])
            state.say(f"Export #{export.pk}: {export.rows} labelled tracks {export.split_counts}.")
            if options.adapt_on:
                state.step("teacher targets")
                queued = teacher_targets_enqueue()
                state.say(
                    f"Teacher targets ({queued.mapping_version}): {queued.cached} cached, {queued.queued} "
                    f"queued now, {queued.already_queued} queued already."
                )
                last_line = [""]

                def on_progress(p: dict[str, Any]) -> None:
                    state.progress(teacher_targets=p)
                    line = (
                        f"  {p['done']}/{p['tracks']} catalog tracks have targets, {p['queued'] or 0} queued "
                        f"or running, {p['failed']} failed"
                    )
                    if line != last_line[0]:
                        last_line[0] = line
                        state.say(line)

                teacher_targets_wait(
                    on_progress=on_progress,
                    here=options.teachers == "here",
                    timeout_s=options.teacher_timeout_s,
                    say=state.say,
                )
            state.step("train")
            init, why = _init_path(options)
            state.say(f"Starting from {why}.")

            def epoch_line(entry: dict[str, Any]) -> None:
                state.progress(epoch=entry)
                if on_epoch:
                    on_epoch(entry)

            version = model_train_from_export(
                export=export,
                config=config,
                init=init,
                name=options.name,
                evaluate=False,
                progress=progress_bars,
                on_epoch=epoch_line,
                val_fraction=options.val_fraction,
                adapt_on=options.adapt_on,
                adapt_limit=options.adapt_limit,
                adapt_recalibrate=options.adapt_target == "recalibrated",
            )
            run.candidate = version
            run.save(update_fields=["candidate"])
            t = version.metrics["training"]
            state.say(
                f"Registered {version.name} (inactive): {t['selected']} {t['best_epoch']} of {t['epochs_run']}, "
                f"{t['train_tracks']} train / {t['val_tracks']} val tracks, {t['seconds']:.0f} s on {t['device']}."
            )
            state.step("evaluate")
            model_version_evaluate(model_version=version, export=export)
            for path in options.csv:
                model_version_evaluate(model_version=version, evaluation_set=csv_evaluation_set(path))
            version.refresh_from_db()
            for key, entry in (version.metrics.get("evaluations") or {}).items():
                for role in ("candidate", "active"):
                    scores = entry.get(role)
                    if scores:
                        state.say(
                            f"  {key} ({entry['tracks']} tracks) {scores['model_version']}: top-1 "
                            f"{scores['top1']:.1%}, top-3 {scores['top3']:.1%}, macro F1 {scores['macro_f1']:.3f}"
                        )
                if entry.get("note"):
                    state.say(f"  {key}: {entry['note']}")
            state.step("report")
            reports = _write_reports(version, state.say)
            if beat.lost:
                raise RuntimeError("the run lost its lock (its heartbeat was taken as stopped)")
            state.progress(reports=reports)
            _finish(run, RetrainRunStatus.SUCCEEDED, step="done")
            state.say(
                f"Done: {version.name} is registered, inactive; compare and promote it on the Model versions "
                f"page (/admin/review/models/?v={version.pk})."
            )
    except RetrainSkipped as skipped:
        _finish(run, RetrainRunStatus.SUCCEEDED, step="skipped", error=str(skipped))
        raise
    except BaseException as error:
        _finish(run, RetrainRunStatus.FAILED, error=f"{type(error).__name__}: {error}"[:5000])
        raise
    return run


# --- queued runs (admin button, RQ's cron) -----------------------------------------------------


def retrain_job(*, options: dict[str, Any] | None = None, started_by: str = "rq") -> str:
    """RQ job: one run of the loop; a run already going makes it a no-op."""
    try:
        run = retrain(
            options=RetrainOptions.from_dict(options or {}),
            started_by=started_by,
            say=lambda line: log.info("%s", line),
        )
    except RetrainBusy as busy:
        return f"skipped: {busy}"
    except RetrainSkipped as skipped:
        return f"skipped: {skipped}"
    return f"run #{run.pk}: {run.candidate.name if run.candidate else 'no candidate'}"


def retrain_enqueue(*, options: RetrainOptions, started_by: str) -> bool:
    """Queue a run on the workers; False when one is running or already queued."""
    import django_rq
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from inference.pipeline import ALIVE

    if RetrainRun.objects.filter(
        status=RetrainRunStatus.RUNNING, heartbeat_at__gte=timezone.now() - timedelta(seconds=STALE_AFTER_S)
    ).exists():
        return False
    queue = django_rq.get_queue(RETRAIN_QUEUE)
    try:
        if Job.fetch("retrain", connection=queue.connection).get_status(refresh=True) in ALIVE:
            return False
    except NoSuchJobError:
        pass
    queue.enqueue_call(
        "inference.retrain.retrain_job",
        kwargs={"options": asdict(options), "started_by": started_by},
        job_id="retrain",
        timeout=RETRAIN_JOB_TIMEOUT_S,
        result_ttl=7 * 24 * 3600,
        failure_ttl=7 * 24 * 3600,
        description=f"Retrain (started by {started_by})",
    )
    return True
