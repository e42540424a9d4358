"""The model update report: names the confusions an update fixed and introduced, per-genre
changes, calibration and the tracks whose top-1 changed; as an admin page and a PDF."""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from catalog.models import ModelVersion
from inference.engine.checkpoint import create_random_checkpoint, save_checkpoint
from inference.engine.evaluation import Predictions
from inference.engine.update_report import headline, report_pdf_bytes, update_report
from inference.registry import model_version_register
from review.report_views import version_update_report
from tests.factories import GENRES16
from tests.fixtures import TINY

LABELS = ["Blues", "Jazz", "Rock", "World", "Classical"]


def _predictions(name: str, top1: list[str], confidence: float = 0.7) -> Predictions:
    probs = np.full((len(top1), len(LABELS)), (1 - confidence) / (len(LABELS) - 1))
    for i, genre in enumerate(top1):
        probs[i, LABELS.index(genre)] = confidence
    return Predictions(list(LABELS), probs, probs.copy(), 1.0, name)


def _example():
    """Ten tracks: the old model hears four Jazz tracks as Blues and a Blues one as Jazz; the new
    one gets those right but now takes two Classical tracks for World."""
    truth = ["Jazz"] * 4 + ["Blues"] * 2 + ["Classical"] * 2 + ["Rock"] * 2
    old = ["Blues", "Blues", "Blues", "Jazz", "Jazz", "Blues", "Classical", "Classical", "Rock", "Rock"]
    new = ["Jazz", "Jazz", "Jazz", "Jazz", "Blues", "Blues", "World", "World", "Rock", "Rock"]
    tracks = [{"track_id": 100 + i, "title": f"Song {i}", "artist": f"Artist {i}"} for i in range(10)]
    return truth, _predictions("v1", old), _predictions("v2", new), tracks


def test_the_report_names_the_fixed_and_the_introduced_confusions():
    truth, old, new, tracks = _example()
    report = update_report(labels=LABELS, truth=truth, candidate=new, active=old, tracks=tracks)

    fixed = report.fixed[0]
    assert {fixed.a, fixed.b} == {"Blues", "Jazz"} and (fixed.before, fixed.after) == (4, 0)
    assert fixed.words == (
        "Blues ↔ Jazz: 4 → 0 confusions (4 fixed; Blues taken for Jazz 1 → 0, Jazz taken for Blues 3 → 0)"
    )
    assert len(report.fixed) == 1
    introduced = report.introduced[0]
    assert {introduced.a, introduced.b} == {"World", "Classical"} and introduced.change == 2
    assert "Classical taken for World 0 → 2" in introduced.words and "2 introduced" in introduced.words

    assert report.summary["active"]["top1"] == pytest.approx(0.6)
    assert report.summary["candidate"]["top1"] == pytest.approx(0.8)
    assert report.summary["change"]["top1"] == pytest.approx(0.2)
    jazz = next(g for g in report.per_genre if g["genre"] == "Jazz")
    assert jazz["active"]["recall"] == 0.25 and jazz["candidate"]["recall"] == 1.0
    assert jazz["change"]["recall"] == 0.75
    diff = np.array(report.confusion_difference)
    assert diff[LABELS.index("Jazz"), LABELS.index("Blues")] == -3
    assert diff[LABELS.index("Classical"), LABELS.index("World")] == 2

    outcomes = {row["track"]["track_id"]: row["outcome"] for row in report.changed_tracks}
    assert outcomes == {100: "fixed", 101: "fixed", 102: "fixed", 104: "fixed", 106: "broken", 107: "broken"}
    assert report.changed_tracks[0]["before"] == {"genre": "Blues", "probability": pytest.approx(0.7)}
    assert "biggest fix: Blues ↔ Jazz (4 → 0)" in headline(report)
    assert report.calibration["candidate"]["ece"] == pytest.approx(abs(0.8 - 0.7))


def test_a_swapped_confusion_is_reported_as_fixed_and_introduced():
    """Seen on a real retrain: the old model took every Classical track for World, the new one
    every World track for Classical. Pooled per pair that nets to 0 → nothing reported."""
    truth = ["Classical"] * 3 + ["World"] * 3
    old = ["World"] * 6
    new = ["Classical"] * 6
    report = update_report(
        labels=LABELS,
        truth=truth,
        candidate=_predictions("v2", new),
        active=_predictions("v1", old),
        tracks=[{"track_id": i} for i in range(6)],
    )

    assert [(c.a, c.b) for c in report.fixed] == [("World", "Classical")]
    assert [(c.a, c.b) for c in report.introduced] == [("World", "Classical")]
    assert report.introduced[0].words == (
        "World ↔ Classical: 3 → 3 confusions (3 fixed, 3 introduced; World taken for Classical 0 → 3, "
        "Classical taken for World 3 → 0)"
    )
    assert "biggest new confusion: World ↔ Classical" in headline(report)


def test_the_pdf_has_a_page_per_part(tmp_path):
    truth, old, new, tracks = _example()
    report = update_report(labels=LABELS, truth=truth, candidate=new, active=old, tracks=tracks)
    pdf = report_pdf_bytes(report, title="Update", track_url=lambda t: f"http://x/track/{t['track_id']}/")
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == 4  # summary, genres, plots, changed tracks
    assert b"http://x/track/100/" in pdf  # changed tracks link to their page
    assert report_pdf_bytes(report, title="Update") == report_pdf_bytes(report, title="Update")  # no timestamp


@pytest.fixture
def evaluated_candidate(audio_track, active_model, media, settings, tmp_path):
    """A second tiny model evaluated beside the active one on a CSV of catalogued tracks."""
    rows = []
    for i, (kind, genre) in enumerate(
        [
            ("low", "Jazz"),
            ("high", "Blues"),
            ("noise", "Rock"),
            ("low", "World"),
            ("high", "Classical"),
            ("noise", "Metal"),
        ]
    ):
        track = audio_track(kind, seed=40 + i, artist=f"Artist {i}", title=f"Song {i}")
        rows.append({"path": str(media / track.audio.name), "genre": genre})
    table = tmp_path / "labelled.csv"
    with table.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "genre"])
        writer.writeheader()
        writer.writerows(rows)
    path = settings.MODELS_DIR / "tiny-candidate.safetensors"
    save_checkpoint(create_random_checkpoint(labels=GENRES16, preprocessing=TINY, seed=11), path)
    candidate = model_version_register(path=path, name="tiny-candidate", activate=False)
    call_command("evaluate_model", "--model", "tiny-candidate", "--csv", str(table), stdout=io.StringIO())
    candidate.refresh_from_db()
    return candidate


def test_leads_see_the_report_page_and_download_the_pdf(evaluated_candidate, client, django_user_model):
    lead = django_user_model.objects.create_superuser(username="lead", password="pw")
    client.force_login(lead)
    key = next(iter(evaluated_candidate.metrics["evaluations"]))
    report, _ = version_update_report(evaluated_candidate, key)
    assert report.changed_tracks  # the two random models disagree somewhere

    page = client.get(reverse("review_model_update_report", args=[evaluated_candidate.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Model update report: tiny-candidate" in html and 'id="report-genres"' in html
    assert 'id="confusions-fixed"' in html and 'id="reliability-png" src="data:image/png;base64,' in html
    for change in report.fixed + report.introduced:
        assert change.words.replace("&", "&amp;") in html.replace("&#x27;", "'")
    for row in report.changed_tracks:  # each changed track links to its admin page and review screen
        assert reverse("admin:catalog_track_change", args=[row["track"]["track_id"]]) in html
        assert reverse("review_track", args=[row["track"]["track_id"]]) in html

    versions = client.get(reverse("review_model_versions") + f"?v={evaluated_candidate.pk}").content.decode()
    assert reverse("review_model_update_report", args=[evaluated_candidate.pk]) in versions  # linked from there

    pdf = client.get(reverse("review_model_update_report_pdf", args=[evaluated_candidate.pk]) + f"?set={key}")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and "tiny-candidate-update-report.pdf" in pdf["Content-Disposition"]
    assert (
        client.get(reverse("review_model_update_report", args=[evaluated_candidate.pk]) + "?set=nope").status_code
        == 404
    )


def test_the_report_is_for_leads_only(evaluated_candidate, client, django_user_model):
    editor = django_user_model.objects.create_user(username="ed", password="pw", is_staff=True)
    client.force_login(editor)
    assert client.get(reverse("review_model_update_report", args=[evaluated_candidate.pk])).status_code == 403


def test_a_version_without_a_comparison_says_how_to_make_one(active_model, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(username="lead", password="pw"))
    page = client.get(reverse("review_model_update_report", args=[active_model.pk]))
    assert page.status_code == 200 and b'id="no-report"' in page.content
    assert client.get(reverse("review_model_update_report_pdf", args=[active_model.pk])).status_code == 404
    assert ModelVersion.objects.count() == 1
