"""Agreement numbers equal what a person counts by hand on a small set of decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from catalog.models import Genre
from review.agreement import version_agreement
from review.decisions import DecisionInput, decision_submit, decisions_bulk_accept
from review.models import Decision
from review.selectors import last_decision_id
from tests.factories import make_model_version

pytestmark = pytest.mark.django_db

# (model's Top-3 head, editor's choice, week): the model's top-1 is the first key.
CASES = [
    ({"Jazz": 0.5, "Blues": 0.3, "Rock": 0.1}, "Jazz", 1),  # top-1 hit
    ({"Jazz": 0.5, "Blues": 0.3, "Rock": 0.1}, "Blues", 1),  # top-3 hit only
    ({"Rock": 0.6, "Pop": 0.2, "Metal": 0.1}, "Rock", 1),  # top-1 hit
    ({"Rock": 0.6, "Pop": 0.2, "Metal": 0.1}, "Folk", 2),  # miss
    ({"Jazz": 0.4, "Blues": 0.35, "Soul": 0.0}, "Blues", 2),  # top-3 hit only
]


@pytest.fixture
def decided(awaiting, make_editor, model_version):
    ann = make_editor("ann")
    for head, choice, week in CASES:
        track = awaiting({k: v for k, v in head.items() if k != "Soul"})
        decision = decision_submit(
            editor=ann,
            track=track,
            data=DecisionInput(genre=Genre.objects.get(name=choice), seen_decision_id=last_decision_id(track)),
        )
        when = datetime(2026, 11, 2 + 7 * (week - 1), 10, tzinfo=UTC)  # Mondays: Nov 2 and Nov 9
        Decision.objects.filter(pk=decision.pk).update(created_at=when)
    return model_version


def test_top1_and_top3_agreement_match_a_hand_count(decided):
    result = version_agreement(model_version=decided)
    assert (result.overall.decisions, result.overall.top1, result.overall.top3) == (5, 2, 4)
    assert result.overall.top1_rate == pytest.approx(0.4) and result.overall.top3_rate == pytest.approx(0.8)


def test_agreement_by_editor_genre_and_by_week(decided):
    result = version_agreement(model_version=decided)
    by_genre = {g: (a.decisions, a.top1, a.top3) for g, a in result.by_genre.items()}
    assert by_genre == {"Blues": (2, 0, 2), "Folk": (1, 0, 0), "Jazz": (1, 1, 1), "Rock": (1, 1, 1)}
    by_week = {str(w): (a.decisions, a.top1, a.top3) for w, a in result.by_week.items()}
    assert by_week == {"2026-11-02": (3, 2, 3), "2026-11-09": (2, 0, 1)}


def test_the_confusion_matrix_counts_model_top1_against_the_editor(decided):
    result = version_agreement(model_version=decided)
    cell = {(p, c): result.confusion[j][i] for i, p in enumerate(result.labels) for j, c in enumerate(result.labels)}
    assert cell[("Jazz", "Jazz")] == 1 and cell[("Jazz", "Blues")] == 2
    assert cell[("Rock", "Rock")] == 1 and cell[("Rock", "Folk")] == 1
    assert sum(map(sum, result.confusion)) == 5


def test_bulk_acceptances_and_other_versions_do_not_count(decided, awaiting, make_editor):
    from catalog.models import Track

    awaiting({"Pop": 0.99})
    decisions_bulk_accept(editor=make_editor("lead", "Editorial lead"), tracks=Track.objects.all(), threshold=0.9)
    assert version_agreement(model_version=decided).overall.decisions == 5
    assert version_agreement(model_version=make_model_version()).overall.decisions == 0


def test_the_dashboard_shows_numbers_and_pictures_to_leads_only(client, decided, make_editor):
    client.force_login(make_editor("lena", "Editorial lead"))
    page = client.get(reverse("review_agreement")).content.decode()
    assert "<td>5</td><td>40 %</td>" in page and "80 %" in page
    for url in (reverse("review_agreement_trend"), reverse("review_agreement_confusion", args=[decided.pk])):
        response = client.get(url)
        assert response["Content-Type"] == "image/png" and response.content[:8] == b"\x89PNG\r\n\x1a\n"
    client.force_login(make_editor("rita"))
    assert client.get(reverse("review_agreement")).status_code == 403


def test_the_trend_axis_spans_the_weeks_decided_not_years_around_one_point(artifacts_dir):
    from datetime import date, datetime, timedelta

    from review.charts import agreement_trend_png, trend_axis_limits

    monday = date(2026, 11, 30)
    first, last = trend_axis_limits([monday])
    assert first < datetime(2026, 11, 30) < last and last - first == timedelta(days=7)
    weeks = [monday - timedelta(weeks=n) for n in range(40)]
    first, last = trend_axis_limits(weeks)
    assert datetime(2026, 3, 2) - first == last - datetime(2026, 11, 30) == timedelta(weeks=39) / 20
    assert trend_axis_limits([]) is None
    (artifacts_dir / "agreement-trend-one-week.png").write_bytes(
        agreement_trend_png({"starter": {monday: (0.0, 0.8)}})
    )  # for a person to look at
