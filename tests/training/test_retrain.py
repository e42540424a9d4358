"""`manage.py retrain`: the whole loop end to end on a tiny export (teacher targets by a real
worker, an inactive candidate with evaluations and update reports), and one run at a time, with a
lock that a crashed run stops holding."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import django_rq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone
from rq import Worker

import inference.retrain as retrain_module
from catalog.models import ModelVersion
from inference.models import RetrainRun, RetrainRunStatus, TeacherTarget
from inference.retrain import RetrainBusy, RetrainOptions, retrain_run_start
from inference.teacher_targets import TEACHER_QUEUE
from tests.fixtures import ROOT, wait_for
from tests.training.synthetic import write_clip

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
KINDS = {"Classical": "low", "Jazz": "high", "Metal": "noise"}


def test_retrain_refuses_a_second_run_and_a_crashed_runs_lock_expires(default_genres, worker_env, monkeypatch):
    holder = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "import time\n"
            "from inference.retrain import RetrainOptions, _Heartbeat, retrain_run_start\n"
            "run = retrain_run_start(options=RetrainOptions(), started_by='another process')\n"
            "print(run.pk, flush=True)\n"
            "with _Heartbeat(run, interval_s=0.5):\n"
            "    time.sleep(300)\n",
        ],
        # The test's own Redis: a holder that starts one would leak it when killed below.
        cwd=ROOT,
        env={**worker_env, "ACOUSTICSENSE_TEST_REDIS_URL": worker_env["REDIS_URL"]},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        first = RetrainRun.objects.get(pk=int(holder.stdout.readline()))
        beat = first.heartbeat_at
        wait_for(lambda: RetrainRun.objects.get(pk=first.pk).heartbeat_at > beat, 30, "the holder's heartbeat")

        with pytest.raises(CommandError, match=rf"already running \(run #{first.pk}, .*another process"):
            call_command("retrain", "--epochs", "1")
        with pytest.raises(RetrainBusy):
            retrain_run_start(options=RetrainOptions())
        with pytest.raises(IntegrityError):  # the database allows one running run, whatever the code does
            RetrainRun.objects.create(heartbeat_at=timezone.now())
        assert RetrainRun.objects.count() == 1  # the refused runs left nothing behind

        os.killpg(holder.pid, signal.SIGKILL)  # the holder crashes: no more heartbeats
        holder.wait()
        monkeypatch.setattr(retrain_module, "STALE_AFTER_S", 2)
        time.sleep(2.5)
        second = retrain_run_start(options=RetrainOptions(), started_by="test")
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
    first.refresh_from_db()
    assert first.status == RetrainRunStatus.ABANDONED and "No heartbeat since" in first.error
    assert second.status == RetrainRunStatus.RUNNING


def test_the_pipeline_page_queues_one_retrain_run_for_leads(default_genres, redis_url, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("lead", "lead@example.com", "pw"))
    page = client.post(reverse("pipeline"), {"action": "retrain", "adapt": "1"}, follow=True).content.decode()
    assert "Queued a retrain run with adaptation on the catalog" in page
    job = django_rq.get_queue(TEACHER_QUEUE).fetch_job("retrain")
    assert job.func_name == "inference.retrain.retrain_job" and job.kwargs["options"]["adapt_on"] == "catalog"
    page = client.post(reverse("pipeline"), {"action": "retrain"}, follow=True).content.decode()
    assert "already running or queued" in page and django_rq.get_queue(TEACHER_QUEUE).count == 1


def _held_out_csv(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "held-out.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "genre"])
        for genre, kind in KINDS.items():
            for i in range(2):
                writer.writerow([write_clip(folder / f"{kind}-{i}.wav", kind, seed=900 + i).name, genre])
    return path


def test_retrain_end_to_end_registers_an_inactive_candidate_with_evaluations_and_reports(
    default_genres, three_genres, audio_track, decide, active_model, media, settings, tmp_path, start_worker
):
    for genre, kind in KINDS.items():
        for j in range(3):
            decide(audio_track(kind, artist=f"Artist {genre} {j}"), genre)
    unlabelled = [audio_track(kind) for kind in KINDS.values()]
    held_out = _held_out_csv(tmp_path / "held-out")
    worker = start_worker()
    wait_for(lambda: Worker.all(queue=django_rq.get_queue(TEACHER_QUEUE)), 90, "a worker on the teacher queue")
    out = StringIO()

    call_command(
        "retrain",
        "--adapt-on",
        "catalog",
        "--init",
        str(Path(settings.MODELS_DIR) / "tiny-active.safetensors"),
        "--epochs",
        "2",
        "--val-fraction",
        "0",
        "--csv",
        str(held_out),
        "--name",
        "candidate",
        stdout=out,
    )

    log = out.getvalue()
    for step in ("[export]", "[teacher targets]", "[train]", "[evaluate]", "[report]"):
        assert step in log
    # The teacher targets (of the 3 unlabelled and the 9 labelled tracks) were computed by the worker process.
    rows = TeacherTarget.objects.all()
    assert rows.count() == 12 and all(row.worker.endswith(f":{worker.pid}") for row in rows)
    assert set(unlabelled) <= {row.track for row in rows}
    run = RetrainRun.objects.get()
    assert run.status == RetrainRunStatus.SUCCEEDED and run.step == "done" and run.export is not None
    assert run.progress["teacher_targets"]["done"] == 12
    candidate = ModelVersion.objects.get(name="candidate")
    assert run.candidate == candidate and not candidate.is_active and candidate.trained
    assert ModelVersion.objects.get(is_active=True) == active_model  # nothing changed for editors
    adaptation = candidate.metrics["training"]["adaptation"]
    assert adaptation["used"] == 3 and adaptation["recalibration"]["used"]  # recalibrated on the labelled tracks
    evaluations = candidate.metrics["evaluations"]
    csv_key = next(key for key in evaluations if key.startswith("csv:"))
    assert evaluations[csv_key]["tracks"] == 6 and evaluations[csv_key]["active"]["model_version"] == "tiny-active"
    assert f"export:{run.export.pk}:test" in evaluations
    reports = run.progress["reports"]
    assert csv_key in {r["key"] for r in reports}
    for report in reports:
        assert (Path(settings.MEDIA_ROOT) / report["pdf"]).read_bytes()[:5] == b"%PDF-"
    assert "(inactive)" in log and "Model versions" in log

    # Scheduled runs do nothing when no editor has decided anything since.
    out = StringIO()
    call_command("retrain", "--min-new-decisions", "1", stdout=out)
    assert "Nothing to do: 0 decision(s) since run" in out.getvalue()
    assert ModelVersion.objects.count() == 2
