"""The promotion gate: an untrained, unevaluated or worse model becomes active only with a written
override reason, recorded with the promotion; a better evaluated one needs none."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import ModelPromotion, ModelVersion
from catalog.promotion import GateCode, PromotionRefused, promotion_gate
from catalog.services import model_version_promote
from tests.factories import make_model_version
from tests.fixtures import restore_data_migrations

pytestmark = pytest.mark.django_db


def scores(name: str, top1: float, macro_f1: float) -> dict:
    return {
        "model_version": name,
        "trained": True,
        "tracks": 20,
        "top1": top1,
        "top3": 0.9,
        "macro_f1": macro_f1,
        "per_genre": {},
    }


def legacy(top1: float, macro_f1: float, *, against: tuple[str, float, float] | None = None, export: int = 3) -> dict:
    """Metrics as inference.retraining stores an export's test split (the top-level `test` block)."""
    return {
        "export_id": export,
        "split": "test",
        "test": {
            "tracks": 20,
            "candidate": scores("me", top1, macro_f1),
            "active": scores(*against) if against else None,
        },
    }


def keyed(key: str, top1: float, macro_f1: float, against: tuple[str, float, float] | None = None) -> dict:
    """Metrics in the per-set layout (`evaluations` by key)."""
    return {
        "evaluations": {
            key: {
                "key": key,
                "candidate": scores("me", top1, macro_f1),
                "active": scores(*against) if against else None,
            }
        }
    }


@pytest.fixture
def active() -> ModelVersion:
    return make_model_version(name="current", is_active=True, metrics=legacy(0.70, 0.60))


def codes(gate) -> list[str]:
    return [finding.code for finding in gate.findings]


def test_an_untrained_unevaluated_version_is_refused_without_a_reason(active):
    candidate = make_model_version(name="random", trained=False)
    with pytest.raises(PromotionRefused) as refused:
        model_version_promote(model_version=candidate)
    assert codes(refused.value.gate) == [GateCode.UNTRAINED, GateCode.UNEVALUATED]
    assert ModelVersion.objects.get(is_active=True) == active and not ModelPromotion.objects.exists()
    with pytest.raises(PromotionRefused):
        model_version_promote(model_version=candidate, override_reason="   ")  # blank is no reason


def test_the_override_reason_is_recorded_with_the_gates_findings(active, django_user_model):
    lena = django_user_model.objects.create_user("lena")
    candidate = make_model_version(name="unproven")
    model_version_promote(model_version=candidate, user=lena, override_reason=" Demo for the label, reverting Monday ")
    assert ModelVersion.objects.get(is_active=True) == candidate
    promotion = ModelPromotion.objects.get()
    assert (promotion.gate_passed, promotion.override_reason, promotion.promoted_by) == (
        False,
        "Demo for the label, reverting Monday",
        lena,
    )
    assert [f["code"] for f in promotion.gate["findings"]] == ["unevaluated"]
    assert "unproven has no evaluation" in promotion.gate["findings"][0]["message"]


def test_a_version_worse_than_the_active_one_on_the_same_set_needs_an_override(active):
    worse = make_model_version(name="worse", metrics=legacy(0.65, 0.62, against=("current", 0.70, 0.60)))
    gate = promotion_gate(candidate=worse, active=active)
    assert codes(gate) == [GateCode.WORSE]
    assert "top-1 0.650 is below the active current's 0.700" in gate.findings[0].message
    assert gate.comparisons[0].key == "export:3:test"
    with pytest.raises(PromotionRefused):
        model_version_promote(model_version=worse)
    worse_f1 = make_model_version(name="worse-f1", metrics=keyed("csv:abc", 0.80, 0.55, ("current", 0.75, 0.60)))
    assert codes(promotion_gate(candidate=worse_f1, active=active)) == [GateCode.WORSE]


def test_a_better_evaluated_version_is_promoted_without_an_override(active):
    better = make_model_version(name="better", metrics=legacy(0.75, 0.60, against=("current", 0.70, 0.60)))
    assert promotion_gate(candidate=better, active=active).passed
    model_version_promote(model_version=better, note="better on the test split")
    promotion = ModelPromotion.objects.get()
    assert (promotion.gate_passed, promotion.override_reason) == (True, "")
    assert promotion.gate["comparisons"][0]["active"] == {"top1": 0.70, "macro_f1": 0.60}


def test_a_comparison_with_another_model_is_no_comparison_with_the_active_one(active):
    stale = make_model_version(name="stale", metrics=legacy(0.90, 0.90, against=("retired", 0.20, 0.20), export=9))
    gate = promotion_gate(candidate=stale, active=active)
    assert codes(gate) == [GateCode.NOT_COMPARED]
    assert "compared with retired" in gate.findings[0].message and "never against the active model current" in (
        gate.findings[0].message
    )
    # The active model's own evaluation on the same set compares (export 3's test split).
    same_set = make_model_version(name="same-set", metrics=legacy(0.72, 0.61, against=("retired", 0.2, 0.2)))
    gate = promotion_gate(candidate=same_set, active=active)
    assert gate.passed and gate.comparisons[0].origin == "the active model's own evaluation on this set"
    # ... but not the active model's figures from another set.
    other_set = make_model_version(name="other-set", metrics=keyed("export:4:test", 0.99, 0.99))
    assert codes(promotion_gate(candidate=other_set, active=active)) == [GateCode.NOT_COMPARED]


def test_odd_metrics_read_as_not_evaluated(active):
    for metrics in (
        {"test": "yes"},
        {"test": {"candidate": {"top1": "0.9"}}},
        {"evaluations": [1, 2]},
        {"export_id": True, "test": {"candidate": None}},
        {"evaluations": {"k": {"candidate": 0.9}}},
    ):
        odd = make_model_version(metrics=metrics)
        assert codes(promotion_gate(candidate=odd, active=active)) == [GateCode.UNEVALUATED], metrics


def test_nothing_to_compare_with_when_no_model_or_a_placeholder_is_active():
    first = make_model_version(name="first", trained=False)
    model_version_promote(model_version=first)  # a fresh install's first activation needs nobody
    assert ModelPromotion.objects.get().gate_passed is False and first.is_active
    evaluated = make_model_version(name="evaluated", metrics=legacy(0.3, 0.2))
    gate = promotion_gate(candidate=evaluated, active=first)
    assert gate.passed and "untrained (placeholder genres)" in gate.notes[0]


@pytest.fixture
def lead_client(client, django_user_model):
    restore_data_migrations()
    from django.contrib.auth.models import Group

    lena = django_user_model.objects.create_user("lena", is_staff=True)
    lena.groups.add(Group.objects.get(name="Editorial lead"))
    client.force_login(lena)
    return client


def test_the_confirmation_page_shows_the_findings_and_takes_the_override_reason(lead_client, active):
    worse = make_model_version(name="worse", metrics=legacy(0.65, 0.62, against=("current", 0.70, 0.60)))
    url = reverse("review_model_promote", args=[worse.pk])
    versions = lead_client.get(reverse("review_model_versions") + f"?v={active.pk}&v={worse.pk}").content.decode()
    assert "needs an override" in versions and f'href="{url}"' in versions

    page = lead_client.get(url).content.decode()
    assert 'data-code="worse_than_active"' in page and "below the active current" in page
    assert 'name="override_reason"' in page and "Promote worse anyway" in page and "export:3:test" in page
    refused = lead_client.post(url, {"note": "try it"})
    assert refused.status_code == 409 and 'id="promote-error"' in refused.content.decode()
    assert ModelVersion.objects.get(is_active=True) == active

    done = lead_client.post(url, {"note": "try it", "override_reason": "Jazz editors asked for it"}, follow=True)
    assert "is now the active model" in done.content.decode()
    assert "<strong>Override:</strong> Jazz editors asked for it" in done.content.decode()
    promotion = ModelPromotion.objects.get()
    assert (promotion.to_version, promotion.override_reason, promotion.promoted_by.username) == (
        worse,
        "Jazz editors asked for it",
        "lena",
    )


def test_the_admin_activate_action_sends_a_gated_version_to_the_confirmation_page(lead_client, active):
    unevaluated = make_model_version(name="fresh")
    better = make_model_version(name="better", metrics=legacy(0.8, 0.7, against=("current", 0.70, 0.60)))
    changelist = reverse("admin:catalog_modelversion_changelist")
    response = lead_client.post(changelist, {"action": "activate", "_selected_action": [unevaluated.pk]})
    assert response.status_code == 302 and response.url == reverse("review_model_promote", args=[unevaluated.pk])
    assert ModelVersion.objects.get(is_active=True) == active
    lead_client.post(changelist, {"action": "activate", "_selected_action": [better.pk]})
    assert ModelVersion.objects.get(is_active=True) == better
