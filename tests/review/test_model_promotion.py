"""Leads compare model versions, promote one (recorded), and new jobs use it."""

from __future__ import annotations

import django_rq
import pytest
from django.urls import reverse

from catalog.models import ModelPromotion, ModelVersion, Track, TrackStatus
from inference.engine.checkpoint import create_random_checkpoint, save_checkpoint
from inference.pipeline import QUEUE, analysis_job_id
from inference.registry import model_version_register
from tests.factories import GENRES16
from tests.fixtures import TINY, restore_data_migrations


@pytest.fixture
def candidate(tiny_model_version, settings) -> ModelVersion:
    path = settings.MODELS_DIR / "candidate.safetensors"
    checkpoint = create_random_checkpoint(labels=GENRES16, preprocessing=TINY, seed=9)
    checkpoint.training = {"trained": True}
    save_checkpoint(checkpoint, path)
    version = model_version_register(path=path, name="candidate")
    version.metrics = {
        "export_id": 1,
        "test": {
            "tracks": 10,
            "candidate": {  # as inference.retraining stores it
                "top1": 0.7,
                "top3": 0.9,
                "macro_f1": 0.65,
                "per_genre": {"Jazz": {"f1": 0.8, "support": 3}},
            },
        },
    }
    version.save(update_fields=["metrics"])
    return version


@pytest.fixture
def lead_client(client, transactional_db):
    restore_data_migrations()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    lena = get_user_model().objects.create_user("lena", is_staff=True)
    lena.groups.add(Group.objects.get(name="Editorial lead"))
    client.force_login(lena)
    return client


@pytest.mark.django_db(transaction=True)
def test_a_new_version_is_registered_inactive_and_promotion_is_recorded(lead_client, candidate, tiny_model_version):
    assert not candidate.is_active and ModelVersion.objects.get(is_active=True) == tiny_model_version
    page = lead_client.get(reverse("review_model_versions") + f"?v={tiny_model_version.pk}&v={candidate.pk}")
    html = page.content.decode()
    assert (
        page.status_code == 200
        and "0.700 / 0.900 / 0.650" in html
        and "Jazz 0.80" in html
        and "Promote candidate" in html
    )
    confirm = lead_client.get(reverse("review_model_promote", args=[candidate.pk])).content.decode()
    assert 'id="gate-passed"' in confirm and "tiny is untrained (placeholder genres)" in confirm
    assert 'name="override_reason"' not in confirm  # trained and evaluated, over a placeholder: no override

    response = lead_client.post(
        reverse("review_model_promote", args=[candidate.pk]), {"note": "better on jazz"}, follow=True
    )
    assert "is now the active model" in response.content.decode()
    assert ModelVersion.objects.get(is_active=True) == candidate
    promotion = ModelPromotion.objects.latest("pk")
    assert (promotion.from_version, promotion.to_version, promotion.promoted_by.username, promotion.note) == (
        tiny_model_version,
        candidate,
        "lena",
        "better on jazz",
    )
    assert (promotion.gate_passed, promotion.override_reason) == (True, "")


@pytest.mark.django_db(transaction=True)
def test_promotion_changes_the_model_used_by_new_jobs(lead_client, candidate, ingest, run_worker, redis_url):
    before = ingest()
    run_worker()
    lead_client.post(reverse("review_model_promote", args=[candidate.pk]))
    after = ingest()
    assert django_rq.get_queue(QUEUE).job_ids == [analysis_job_id(after.pk, candidate.pk)]
    run_worker()
    assert after.analyses.get().model_version == candidate
    assert before.analyses.get().model_version.name == "tiny"

    response = lead_client.post(reverse("review_model_reanalyze", args=[candidate.pk]), follow=True)
    assert "Queued 1 track(s) for analysis with candidate" in response.content.decode()
    run_worker()
    assert set(before.analyses.values_list("model_version__name", flat=True)) == {"tiny", "candidate"}
    assert Track.objects.get(pk=before.pk).status == TrackStatus.AWAITING_REVIEW
