"""Numbers in the admin read as people write them: 41.6 %, 2:13, Yes/No — never a raw float."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.formatting import clock, percent, yes_no
from inference.models import ClassificationCall
from review.decisions import DecisionInput, decision_submit
from tests.factories import make_analysis, make_model_version, make_track

pytestmark = pytest.mark.django_db


def test_the_formats():
    assert percent(0.41597253238034165) == "41.6 %" and percent(None) == "–"
    assert clock(132.98902494331065) == "2:13" and clock(3725) == "1:02:05" and clock(None) == "–"
    assert yes_no(False) == "No" and yes_no(True) == "Yes"


def test_tracks_analyses_calls_and_decisions_show_no_raw_floats(admin_client, admin_user, default_genres):
    from catalog.models import Genre

    version = make_model_version()
    track = make_track(duration_s=132.98902494331065, status="awaiting_review")
    probabilities = [0.41597253238034165, 0.2] + [0.38402746761965835 / 14] * 14
    analysis = make_analysis(track=track, model_version=version, probabilities=probabilities, is_silent=False)
    ClassificationCall.objects.create(
        latency_ms=212.3456789, duration_s=132.98902494331065, mean_confidence=0.41597253238034165, status_code=200
    )
    decision_submit(
        editor=admin_user,
        track=track,
        data=DecisionInput(genre=Genre.objects.get(name="Blues"), seconds_on_screen=12.345678),
    )
    pages = {
        "track list": reverse("admin:catalog_track_changelist"),
        "track": reverse("admin:catalog_track_change", args=[track.pk]),
        "analysis list": reverse("admin:catalog_analysis_changelist"),
        "analysis": reverse("admin:catalog_analysis_change", args=[analysis.pk]),
        "call list": reverse("admin:inference_classificationcall_changelist"),
        "call": reverse("admin:inference_classificationcall_change", args=[ClassificationCall.objects.get().pk]),
        "decision list": reverse("admin:review_decision_changelist"),
    }
    for what, url in pages.items():
        html = admin_client.get(url).content.decode()
        for raw in ("0.41597", "132.989", "212.345", "12.3456", "0.21597"):
            assert raw not in html, f"{what} shows {raw}"
    assert "2:13" in admin_client.get(pages["track"]).content.decode()
    analysis_page = admin_client.get(pages["analysis"]).content.decode()
    assert "41.6 %" in analysis_page and "21.6 %" in analysis_page  # top-1 and the margin
    silent = admin_client.get(pages["analysis list"]).content.decode()
    assert "41.6 %" in silent and '<td class="field-silent">No</td>' in silent and "icon-no" not in silent
    calls = admin_client.get(pages["call list"]).content.decode()
    assert "212 ms" in calls and "2:13" in calls and "41.6 %" in calls
    assert "12.3 s" in admin_client.get(pages["decision list"]).content.decode()


def test_every_admin_page_has_a_favicon(admin_client, client):
    assert 'rel="icon" href="/static/acousticsense/favicon.svg"' in admin_client.get("/admin/").content.decode()
    assert client.get("/favicon.ico")["Location"] == "/static/acousticsense/favicon.svg"


def test_stored_json_reads_as_lines_and_tables_not_raw_json(
    admin_client, admin_user, default_genres, settings, tmp_path
):
    """Proposed, rejections, window scores, regions, labels, metrics, teacher targets and runs."""
    from django.utils import timezone

    from catalog.models import Genre, ImportBatch, TrackSource
    from inference.models import RetrainRun, TeacherTarget
    from review.exports import label_export_create
    from review.models import Decision

    settings.MEDIA_ROOT = tmp_path
    version = make_model_version(
        preprocessing={"sample_rate": 16000, "n_mels": 32}, metrics={"top1": 0.8631234, "per_genre": {"Jazz": 0.9}}
    )
    track = make_track(status="awaiting_review")
    probabilities = [0.41597253238034165, 0.2] + [0.38402746761965835 / 14] * 14
    analysis = make_analysis(
        track=track,
        model_version=version,
        probabilities=probabilities,
        window_starts_s=[0.0, 1.024],
        window_scores=[probabilities, list(reversed(probabilities))],
        embedding=[0.123456789] * 192,
        attention_regions=[
            {
                "text": "0:00–0:01, 2.5–8 kHz",
                "start_s": 0.272,
                "end_s": 2.816,
                "low_hz": 2491.6,
                "high_hz": 8000.0,
                "score": 0.892,
            }
        ],
        content_scores={"music": 0.1263, "speech": 0.0011},
        timings_ms={"decode": 1.234, "model": 22.7},
    )
    decision_submit(editor=admin_user, track=track, data=DecisionInput(genre=Genre.objects.get(name="Blues")))
    batch = ImportBatch.objects.create(
        name="Batch", source=TrackSource.UPLOAD, rejected=1, rejections=[{"name": "notes.mp3", "reason": "Not audio."}]
    )
    export = label_export_create(created_by=admin_user)
    target = TeacherTarget.objects.create(
        track=track,
        mapping_version="m1",
        weights={"musicnn": 0.6},
        genres=["Rock", "Jazz"],
        clip=[0.25, 0.75],
        window_s=3.0,
        windows=[[0.25, 0.75]],
        teacher_clips={"musicnn": [0.3, 0.7]},
    )
    run = RetrainRun.objects.create(heartbeat_at=timezone.now(), options={"epochs": 3}, progress={"loss": 0.123456789})

    def page(name: str, pk: int) -> str:
        return admin_client.get(reverse(f"admin:{name}_change", args=[pk])).content.decode()

    decision = page("review_decision", Decision.objects.get().pk)
    assert "1. Blues 41.6 % · 2. Classical 20.0 % · 3. Country 2.7 %" in decision and '"probability"' not in decision
    assert "<td>notes.mp3</td><td>Not audio.</td>" in page("catalog_importbatch", batch.pk)
    assert 'name="rejections"' not in page("catalog_importbatch", batch.pk)  # read-only, not an editable field
    shown = page("catalog_analysis", analysis.pk)
    assert "1. Blues 41.6 % · 2. Classical 20.0 %" in shown and "<td>1.0 s</td>" in shown
    assert "192 values (0.123, 0.123, 0.123, 0.123, …)" in shown and "0.3–2.8 s" in shown and "2.5–8.0 kHz" in shown
    assert "music 12.6 % · speech 0.1 %" in shown and "decode 1 ms" in shown and "model 23 ms" in shown
    model = page("catalog_modelversion", version.pk)
    assert "16 genres, in the model&#x27;s order: Blues, Classical" in model and "<th>top1</th><td>0.8631</td>" in model
    assert "16 genres, in training order" in page("review_labelexport", export.pk)
    teacher = page("inference_teachertarget", target.pk)
    assert "1. Jazz 75.0 % · 2. Rock 25.0 %" in teacher and "<th>musicnn</th><td>0.6</td>" in teacher
    assert "<th>loss</th><td>0.1235</td>" in page("inference_retrainrun", run.pk)
    for html in (decision, shown, model, teacher):
        assert "0.41597" not in html and "0.123456" not in html and "[{" not in html
