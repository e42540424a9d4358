"""Teacher targets are computed by real worker processes, once per track and mapping version:
queueing again skips cached and queued tracks, and a worker then finds nothing to do."""

from __future__ import annotations

import django_rq
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from catalog.models import Genre
from inference.engine.teacher.mapping import ENSEMBLE_VERSION, GENRES
from inference.models import TeacherTarget, TeacherTargetStatus
from inference.teacher_targets import (
    TEACHER_QUEUE,
    teacher_job_id,
    teacher_target_job,
    teacher_target_progress,
    teacher_targets_enqueue,
)
from review.decisions import DecisionInput, decision_submit
from review.selectors import last_decision_id

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_teacher_targets_are_computed_by_a_worker_once_and_cached(ingest, run_worker, django_user_model, client):
    tracks = [ingest() for _ in range(3)]
    run_worker()  # the analyses
    editor = django_user_model.objects.create_superuser("lead", "lead@example.com", "pw")
    labelled = tracks[0]  # labelled tracks get targets too: they recalibrate the teachers to the labels
    decision_submit(
        editor=editor,
        track=labelled,
        data=DecisionInput(
            genre=Genre.objects.get(name="Jazz"), secondary_genre=None, seen_decision_id=last_decision_id(labelled)
        ),
    )

    first = teacher_targets_enqueue()
    assert (first.queued, first.cached, first.already_queued) == (3, 0, 0)
    again = teacher_targets_enqueue()
    assert (again.queued, again.already_queued) == (0, 3)  # same job ids: a no-op
    assert sorted(django_rq.get_queue(TEACHER_QUEUE).job_ids) == sorted(teacher_job_id(t.pk) for t in tracks)
    progress = teacher_target_progress()
    assert (progress["tracks"], progress["done"], progress["queued"], progress["failed"]) == (3, 0, 3, 0)

    run_worker()

    rows = {row.track_id: row for row in TeacherTarget.objects.all()}
    assert set(rows) == {t.pk for t in tracks}
    for row in rows.values():
        assert row.status == TeacherTargetStatus.DONE and row.mapping_version == ENSEMBLE_VERSION
        assert row.weights == {"musicnn": 0.5, "yamnet": 0.5} and row.genres == list(GENRES)
        assert len(row.clip) == 16 and abs(sum(row.clip) - 1) < 1e-3  # the ensemble's clip distribution
        assert len(row.windows) == 1 and len(row.windows[0]) == 16  # a 3-s clip is one ≈3-s teacher window
        assert set(row.teacher_clips) == {"musicnn", "yamnet"} and row.worker and row.seconds > 0
    computed_at = {pk: row.updated_at for pk, row in rows.items()}
    progress = teacher_target_progress()
    assert (progress["done"], progress["queued"], progress["percent"]) == (3, 0, 100.0)

    third = teacher_targets_enqueue()
    assert (third.queued, third.cached) == (0, 3) and django_rq.get_queue(TEACHER_QUEUE).count == 0
    assert teacher_target_job(track_id=tracks[1].pk, mapping_version=ENSEMBLE_VERSION) == "cached already"
    run_worker()
    assert {row.track_id: row.updated_at for row in TeacherTarget.objects.all()} == computed_at  # no work done

    client.force_login(editor)
    page = client.get(reverse("pipeline")).content.decode()
    assert "3 / 3" in page and ENSEMBLE_VERSION in page and "Queue teacher targets for the catalog" in page


def test_a_track_whose_audio_is_gone_is_counted_as_failed_with_its_reason(
    ingest, run_worker, client, django_user_model
):
    track = ingest()
    run_worker()
    default_storage.delete(track.audio.name)
    teacher_targets_enqueue()

    run_worker()

    row = TeacherTarget.objects.get(track=track)
    assert row.status == TeacherTargetStatus.FAILED and row.error == "The stored audio file is missing."
    assert teacher_target_progress()["failed"] == 1
    # Queueing again retries it (it is not cached) and it counts as queued, not failed.
    assert teacher_targets_enqueue().queued == 1
    assert (teacher_target_progress()["queued"], teacher_target_progress()["failed"]) == (1, 0)
    client.force_login(django_user_model.objects.create_superuser("lead", "lead@example.com", "pw"))
    page = client.post(reverse("pipeline"), {"action": "teacher_targets"}, follow=True).content.decode()
    assert "queued 0 track(s)" in page and "1 were queued already" in page  # the admin button: same service
