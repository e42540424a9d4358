"""Model versions from the command line: the untrained default and bring-your-own checkpoints."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import ModelPromotion, ModelVersion
from inference.engine.checkpoint import create_random_checkpoint, file_sha256, save_checkpoint
from inference.engine.starter import STARTER_CHECKPOINT
from tests.factories import GENRES16
from tests.fixtures import TINY

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_a_fresh_install_gets_an_untrained_model_when_asked_for_one(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    settings.DEFAULT_MODEL = "untrained"
    assert "untrained-vit-tiny (untrained" in run("ensure_default_model")
    version = ModelVersion.objects.get()
    assert (version.is_active, version.trained, version.labels) == (True, False, GENRES16)
    assert version.architecture == "vit_tiny_patch16_224" and version.preprocessing["n_mels"] == 128
    run("ensure_default_model")
    assert ModelVersion.objects.count() == 1


def test_register_model_validates_and_activates_a_checkpoint(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    path = tmp_path / "genre.safetensors"
    checkpoint = create_random_checkpoint(labels=["Jazz", "Rock", "Pop"], preprocessing=TINY)
    checkpoint.training = {"trained": True, "metrics": {"top1": 0.5}}
    save_checkpoint(checkpoint, path)
    assert "Registered genre (vit_tiny_patch16_224, 3 labels, trained, active)" in run(
        "register_model", str(path), "--activate"
    )
    version = ModelVersion.objects.get(is_active=True)
    assert (version.labels, version.metrics, version.checkpoint_path) == (
        ["Jazz", "Rock", "Pop"],
        {"top1": 0.5},
        "genre.safetensors",
    )
    run("register_model", str(path), "--name", "again")
    assert ModelVersion.objects.count() == 1  # the same file is the same version


def test_a_broken_checkpoint_is_refused_with_the_reason_and_nothing_registered(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"definitely not safetensors")
    with pytest.raises(CommandError, match="The model checkpoint is not usable"):
        run("register_model", str(bad))
    with pytest.raises(CommandError, match="no such file"):
        run("register_model", str(tmp_path / "missing.safetensors"))
    assert ModelVersion.objects.count() == 0


def test_the_configured_checkpoint_becomes_the_active_model_on_start(settings, tmp_path):
    path = tmp_path / "mine.safetensors"
    save_checkpoint(create_random_checkpoint(labels=GENRES16, preprocessing=TINY), path)
    settings.MODEL_CHECKPOINT = str(path)
    run("ensure_default_model")
    assert ModelVersion.objects.get(is_active=True).name == "mine"
    settings.MODEL_CHECKPOINT = str(tmp_path / "gone.safetensors")
    with pytest.raises(CommandError, match="ACOUSTICSENSE_MODEL_CHECKPOINT"):
        run("ensure_default_model")


def test_a_fresh_install_gets_the_trained_starter_model_copied_out_of_the_source_tree(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    assert settings.DEFAULT_MODEL == "starter"
    text = run("ensure_default_model")
    assert "Active model version: starter-vit-tiny-v2" in text and "untrained" not in text
    version = ModelVersion.objects.get()
    assert (version.is_active, version.trained, version.labels) == (True, True, GENRES16)
    assert (tmp_path / version.checkpoint_path).is_file()  # in MODELS_DIR, not in the package
    assert version.checkpoint_sha256 == file_sha256(STARTER_CHECKPOINT)
    run("ensure_default_model")
    assert ModelVersion.objects.count() == 1


def test_an_earlier_installs_untrained_placeholder_gives_way_to_the_starter_model(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    settings.DEFAULT_MODEL = "untrained"
    run("ensure_default_model")
    settings.DEFAULT_MODEL = "starter"
    assert "Active model version: starter-vit-tiny-v2" in run("ensure_default_model")
    assert list(ModelVersion.objects.order_by("name").values_list("name", "is_active")) == [
        ("starter-vit-tiny-v2", True),
        ("untrained-vit-tiny", False),
    ]
    first, replaced = ModelPromotion.objects.order_by("pk")
    assert first.from_version is None and first.override_reason == ""  # a first activation needs no reason
    assert replaced.gate_passed is False and "replaces the untrained placeholder" in replaced.override_reason


def test_activating_a_registered_model_over_a_trained_one_needs_an_override_reason(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    run("ensure_default_model")  # the trained starter model is active
    path = tmp_path / "mine.safetensors"
    checkpoint = create_random_checkpoint(labels=GENRES16, preprocessing=TINY)
    checkpoint.training = {"trained": True}
    save_checkpoint(checkpoint, path)
    with pytest.raises(CommandError, match="did not activate it:\n  - mine has no evaluation"):
        run("register_model", str(path), "--activate")
    assert ModelVersion.objects.get(name="mine").is_active is False  # registered, not active
    assert "trained, active" in run("register_model", str(path), "--activate", "--override-reason", "A/B week")
    assert ModelPromotion.objects.latest("pk").override_reason == "A/B week"


def test_a_model_the_platform_chose_is_never_replaced_by_the_starter(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    path = tmp_path / "ours.safetensors"
    save_checkpoint(create_random_checkpoint(labels=GENRES16, preprocessing=TINY), path)  # untrained, but chosen
    run("register_model", str(path), "--activate")
    run("ensure_default_model")
    assert ModelVersion.objects.get(is_active=True).name == "ours" and ModelVersion.objects.count() == 1


def _previous_starter(tmp_path, *, promoted_by=None) -> ModelVersion:
    """An install's v1 starter (a stand-in checkpoint under v1's name), activated by the system or a lead."""
    from django.contrib.auth import get_user_model

    from catalog.services import model_version_promote
    from inference.registry import model_version_register

    path = tmp_path / "acousticsense-starter-v1.safetensors"
    checkpoint = create_random_checkpoint(labels=GENRES16, preprocessing=TINY, seed=1)
    checkpoint.training = {"trained": True}
    save_checkpoint(checkpoint, path)
    version = model_version_register(path=path, name="starter-vit-tiny-v1", activate=promoted_by is None)
    if promoted_by is not None:
        lead = get_user_model().objects.create_user(promoted_by, is_staff=True)
        model_version_promote(model_version=version, user=lead, note="we like v1", override_reason="chosen")
    return version


def test_the_new_starter_replaces_the_old_one_the_system_activated(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    _previous_starter(tmp_path)
    assert "Active model version: starter-vit-tiny-v2" in run("ensure_default_model")
    assert list(ModelVersion.objects.order_by("name").values_list("name", "is_active")) == [
        ("starter-vit-tiny-v1", False),
        ("starter-vit-tiny-v2", True),
    ]
    assert "replaces the previous one" in ModelPromotion.objects.latest("pk").override_reason
    run("ensure_default_model")
    assert ModelVersion.objects.count() == 2


def test_an_old_starter_a_lead_promoted_stays_active_and_the_new_one_waits_beside_it(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    _previous_starter(tmp_path, promoted_by="lena")
    text = run("ensure_default_model")
    assert "Registered starter-vit-tiny-v2 (inactive)" in text and "Active model version: starter-vit-tiny-v1" in text
    assert list(ModelVersion.objects.order_by("name").values_list("name", "is_active")) == [
        ("starter-vit-tiny-v1", True),
        ("starter-vit-tiny-v2", False),
    ]
