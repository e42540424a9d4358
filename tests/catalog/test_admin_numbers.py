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
    ClassificationCall.objects.create(latency_ms=212.3456789, duration_s=132.98902494331065,
                                      mean_confidence=0.41597253238034165, status_code=200)
    decision_submit(editor=admin_user, track=track, data=DecisionInput(
        genre=Genre.objects.get(name="Blues"), seconds_on_screen=12.345678))
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
    assert "41.6 %" in silent and "<td class=\"field-silent\">No</td>" in silent and "icon-no" not in silent
    calls = admin_client.get(pages["call list"]).content.decode()
    assert "212 ms" in calls and "2:13" in calls and "41.6 %" in calls
    assert "12.3 s" in admin_client.get(pages["decision list"]).content.decode()


def test_every_admin_page_has_a_favicon(admin_client, client):
    assert 'rel="icon" href="/static/acousticsense/favicon.svg"' in admin_client.get("/admin/").content.decode()
    assert client.get("/favicon.ico")["Location"] == "/static/acousticsense/favicon.svg"
