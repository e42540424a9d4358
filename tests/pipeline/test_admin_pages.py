"""Staff see and steer the pipeline in the admin: upload, failures, retry, the pipeline page."""

from __future__ import annotations

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import ImportBatch, Track, TrackStatus
from catalog.status import track_transition
from inference.pipeline import QUEUE
from tests.fixtures import wav_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("lead", "lead@example.com", "pw")
    client.force_login(user)
    return client


def upload(client, *files, **fields):
    return client.post(reverse("admin:catalog_track_upload"), {"files": list(files), **fields}, follow=True)


def test_uploading_several_files_stores_and_queues_them_and_reports_each_problem(
    staff_client, tiny_model_version, redis_url
):
    good = [SimpleUploadedFile(f"song{i}.wav", wav_bytes(freq=300 + 100 * i)) for i in range(2)]
    duplicate = SimpleUploadedFile("again.wav", wav_bytes(freq=300))
    text = SimpleUploadedFile("notes.mp3", b"just some text, not audio")
    empty = SimpleUploadedFile("silence.wav", b"")
    response = upload(staff_client, *good, duplicate, text, empty, batch_name="Friday upload")

    assert response.status_code == 200
    page = response.content.decode()
    assert "2 track(s) uploaded and queued for analysis" in page
    assert "Duplicate: again.wav has the same audio as track" in page
    assert "Rejected notes.mp3: The file could not be decoded as audio" in page
    assert "Rejected silence.wav: The file is empty (0 bytes)." in page
    batch = ImportBatch.objects.get(name="Friday upload")
    assert (batch.imported, batch.duplicates, batch.rejected) == (2, 1, 2)
    assert set(Track.objects.values_list("status", flat=True)) == {TrackStatus.QUEUED}
    assert django_rq.get_queue(QUEUE).count == 2


def test_one_upload_keeps_its_metadata_and_an_oversized_one_is_refused(
    staff_client, tiny_model_version, settings, redis_url
):
    upload(
        staff_client,
        SimpleUploadedFile("a.wav", wav_bytes()),
        title="Blue in Green",
        artist="Miles Davis",
        external_id="cms-77",
    )
    track = Track.objects.get()
    assert (track.title, track.artist, track.external_id, track.source) == (
        "Blue in Green",
        "Miles Davis",
        "cms-77",
        "upload",
    )
    settings.MAX_UPLOAD_BYTES = 1000
    response = upload(staff_client, SimpleUploadedFile("big.wav", wav_bytes(seconds=5)))
    assert "Rejected big.wav: The file is larger than the 1000 bytes upload limit." in response.content.decode()
    assert Track.objects.count() == 1


def test_a_failed_track_shows_its_reason_and_can_be_retried(staff_client, ingest, redis_url):
    track = ingest()
    track_transition(track=track, to=TrackStatus.ANALYZING)
    track_transition(track=track, to=TrackStatus.FAILED, reason="The file could not be decoded as audio (test).")
    django_rq.get_queue(QUEUE).empty()

    changelist = staff_client.get(reverse("admin:catalog_track_changelist") + "?status__exact=failed")
    assert "The file could not be decoded as audio (test)." in changelist.content.decode()
    pipeline = staff_client.get(reverse("pipeline"))
    assert "The file could not be decoded as audio (test)." in pipeline.content.decode()

    response = staff_client.post(
        reverse("admin:catalog_track_changelist"),
        {"action": "retry_analysis", "_selected_action": [track.pk]},
        follow=True,
    )
    assert "Queued 1 track(s) for analysis" in response.content.decode()
    track.refresh_from_db()
    assert (track.status, track.failure_reason) == (TrackStatus.QUEUED, "")
    assert django_rq.get_queue(QUEUE).count == 1


def test_the_pipeline_page_counts_tracks_and_shows_queue_and_workers(staff_client, ingest, run_worker):
    ingest(), ingest()
    page = staff_client.get(reverse("pipeline")).content.decode()
    assert f'href="{reverse("admin:django_rq_dashboard_changelist")}"' in page
    assert "No worker is running" in page
    run_worker()
    page = staff_client.get(reverse("pipeline")).content.decode()
    assert '<div class="n">2</div><div class="l">Awaiting review</div>' in page
    assert '<div class="n">2</div><div class="l">analysed in the last hour</div>' in page


def test_the_track_list_shows_the_proposal_and_flags_an_untrained_model(staff_client, ingest, run_worker):
    ingest()
    run_worker()
    page = staff_client.get(reverse("admin:catalog_track_changelist")).content.decode()
    assert "(untrained)" in page and "Placeholder from an untrained model" in page
    track = Track.objects.get()
    detail = staff_client.get(reverse("admin:catalog_track_change", args=[track.pk])).content.decode()
    assert "Untrained model: not a real prediction." in detail
    assert detail.count("<img ") >= 2 and "<audio controls" in detail


def test_an_upload_that_stores_nothing_new_keeps_no_empty_import_batch(staff_client, tiny_model_version, redis_url):
    upload(staff_client, SimpleUploadedFile("a.wav", wav_bytes(freq=410)), batch_name="First")
    response = upload(
        staff_client,
        SimpleUploadedFile("again.wav", wav_bytes(freq=410)),
        SimpleUploadedFile("notes.mp3", b"just some text"),
        batch_name="Nothing new",
    )
    page = response.content.decode()
    assert "Duplicate: again.wav has the same audio as track" in page and "Rejected notes.mp3" in page
    assert list(ImportBatch.objects.values_list("name", flat=True)) == ["First"]
    filters = staff_client.get(reverse("admin:catalog_track_changelist")).content.decode()
    assert "Nothing new" not in filters


def test_the_pipeline_page_labels_read_as_words(staff_client, redis_url):
    page = staff_client.get(reverse("pipeline")).content.decode()
    assert "Scheduled retries" in page and "Failed jobs" in page and "Scheduledretries" not in page
