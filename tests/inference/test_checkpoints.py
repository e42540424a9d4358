"""A model version is one file; loading it must give the same model or a clear refusal."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors import safe_open

from inference.engine.checkpoint import (
    ARCHITECTURES,
    _expected_shapes,
    create_random_checkpoint,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
)
from inference.engine.datatypes import ModelCheckpoint, PreprocessingConfig
from inference.engine.errors import CheckpointError, ErrorCode
from inference.engine.model import load_model, model_from_checkpoint
from inference.engine.vit import build_vit


def _logits(model, cfg, seed=0):
    x = np.random.default_rng(seed).uniform(-1, 1, (3, cfg.n_mels, cfg.window_frames)).astype(np.float32)
    return model.run_batch(x, with_attention=False).logits


def test_saved_checkpoint_reloads_with_identical_outputs_and_metadata(tmp_path, genres, tiny_cfg):
    ckpt = create_random_checkpoint(labels=genres, preprocessing=tiny_cfg, seed=3)
    ckpt.training["epochs"] = 0
    path = save_checkpoint(ckpt, tmp_path / "m.safetensors")
    loaded = load_checkpoint(path)
    assert (loaded.architecture, loaded.labels, loaded.preprocessing) == ("vit_tiny_patch16_224", genres, tiny_cfg)
    assert loaded.training == {"trained": False, "init": "random", "seed": 3, "epochs": 0} and not loaded.trained
    with safe_open(str(path), framework="pt") as fh:  # metadata is readable by any safetensors tool
        assert json.loads(fh.metadata()["labels"]) == genres
    original, reloaded = model_from_checkpoint(ckpt, device="cpu"), load_model(path, device="cpu")
    np.testing.assert_array_equal(_logits(original, tiny_cfg), _logits(reloaded, tiny_cfg))
    assert reloaded.sha256 == file_sha256(path) and len(reloaded.sha256) == 64


def test_half_precision_checkpoint_is_smaller_and_scores_almost_the_same(tmp_path, genres, tiny_cfg):
    ckpt = create_random_checkpoint(labels=genres, preprocessing=tiny_cfg)
    full = save_checkpoint(ckpt, tmp_path / "full.safetensors")
    half = save_checkpoint(ckpt, tmp_path / "half.safetensors", dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert load_checkpoint(half).state_dict["head.weight"].dtype == torch.float32
    a, b = _logits(load_model(full, device="cpu"), tiny_cfg), _logits(load_model(half, device="cpu"), tiny_cfg)
    assert not np.array_equal(a, b) and np.abs(a - b).max() < 1e-2


def test_random_checkpoints_are_reproducible_by_seed(genres, tiny_cfg):
    a, b, c = (create_random_checkpoint(labels=genres, preprocessing=tiny_cfg, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.state_dict["head.weight"], b.state_dict["head.weight"])
    assert not torch.equal(a.state_dict["head.weight"], c.state_dict["head.weight"])


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_supported_architecture_matches_its_spectrogram_shape(architecture):
    shapes = _expected_shapes(architecture, 16, PreprocessingConfig())
    assert shapes["patch_embed.proj.weight"][1] == 1  # one input channel
    assert shapes["pos_embed"][1] == 1 + (128 // 16) * (256 // 16)
    assert shapes["head.weight"][0] == 16


TINY_DICT = PreprocessingConfig(
    sample_rate=16000, n_fft=512, hop_length=256, n_mels=32, window_frames=64, window_hop_frames=64
).to_dict()


def _save_with(tmp_path, ckpt: ModelCheckpoint, **metadata_overrides):
    path = save_checkpoint(ckpt, tmp_path / "bad.safetensors")
    if metadata_overrides:
        from safetensors.torch import load_file, save_file

        with safe_open(str(path), framework="pt") as fh:
            meta = {**fh.metadata(), **metadata_overrides}
        save_file(load_file(str(path)), str(path), metadata=meta)
    return path


@pytest.mark.parametrize(
    "override, message",
    [
        ({"labels": json.dumps(["Jazz", "Jazz"] + [f"g{i}" for i in range(14)])}, "unique"),
        ({"labels": json.dumps([])}, "non-empty"),
        ({"labels": json.dumps(["Jazz", "Blues"])}, "head has 16 outputs but there are 2 labels"),
        ({"architecture": "resnet50"}, "unknown architecture"),
        ({"preprocessing": json.dumps({"n_mels": 32, "bogus": 1})}, "unknown preprocessing keys"),
        ({"preprocessing": json.dumps({**TINY_DICT, "n_mels": 64})}, "weights do not match"),
        ({"format_version": "99"}, "format version"),
        ({"training": "not json"}, "malformed metadata"),
    ],
)
def test_inconsistent_checkpoint_metadata_is_refused_with_a_reason(tmp_path, genres, tiny_cfg, override, message):
    path = _save_with(tmp_path, create_random_checkpoint(labels=genres, preprocessing=tiny_cfg), **override)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert err.value.code is ErrorCode.BAD_CHECKPOINT
    assert message in err.value.message


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "missing.safetensors")


def _bare_image_vit(tmp_path, labels, cfg: PreprocessingConfig, name="save.pt"):
    """The case study's form: a 3×224×224 timm state dict in a .pt, plus a sidecar JSON."""
    torch.manual_seed(0)
    image_model = build_vit("vit_tiny_patch16_224", num_classes=len(labels), n_mels=224, window_frames=224)
    with torch.no_grad():  # a 3-channel image model: rebuild its patch embedding for RGB
        rgb = torch.nn.Conv2d(3, 192, 16, 16)
        image_model.patch_embed.proj = rgb
    state = image_model.state_dict()
    torch.save(state, tmp_path / name)
    (tmp_path / name).with_suffix(".json").write_text(
        json.dumps({"architecture": "vit_tiny_patch16", "labels": labels, "preprocessing": cfg.to_dict()})
    )
    return tmp_path / name, image_model.eval(), state


def test_bare_rgb_state_dict_with_sidecar_reads_one_channel_spectrograms_equivalently(tmp_path, genres):
    square = replace(PreprocessingConfig(), n_mels=224, window_frames=224, window_hop_frames=224)
    path, image_model, state = _bare_image_vit(tmp_path, genres, square)
    loaded = load_model(path, device="cpu")
    assert loaded.model.patch_embed.proj.weight.shape[1] == 1
    torch.testing.assert_close(
        loaded.model.patch_embed.proj.weight, state["patch_embed.proj.weight"].sum(dim=1, keepdim=True)
    )
    # Same grid, so a grey window must score exactly as the RGB model scores it replicated to R=G=B.
    x = torch.rand(2, 1, 224, 224)
    with torch.inference_mode():
        expected = image_model(x.expand(-1, 3, -1, -1)).numpy()
    np.testing.assert_allclose(loaded.run_batch(x[:, 0], with_attention=False).logits, expected, atol=1e-4)
    assert loaded.trained  # a bare case-study model is taken as trained unless its sidecar says otherwise


def test_bare_rgb_state_dict_gets_position_embeddings_resampled_to_the_spectrogram_grid(tmp_path, genres, tiny_cfg):
    path, _, state = _bare_image_vit(tmp_path, genres, tiny_cfg, name="case.pth")
    ckpt = load_checkpoint(path)
    assert state["pos_embed"].shape == (1, 1 + 14 * 14, 192)
    assert ckpt.state_dict["pos_embed"].shape == (1, 1 + 2 * 4, 192)
    torch.testing.assert_close(ckpt.state_dict["pos_embed"][:, 0], state["pos_embed"][:, 0])  # CLS kept
    out = model_from_checkpoint(ckpt, device="cpu").run_batch(np.zeros((1, 32, 64), np.float32))
    assert out.logits.shape == (1, 16)


def test_bare_state_dict_without_sidecar_is_refused(tmp_path, genres, tiny_cfg):
    path, _, _ = _bare_image_vit(tmp_path, genres, tiny_cfg)
    path.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="needs save.json next to it"):
        load_checkpoint(path)


class _Payload:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('ran')",))


def test_a_pickled_object_in_a_pt_file_is_never_executed(tmp_path, genres, tiny_cfg, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, _, _ = _bare_image_vit(tmp_path, genres, tiny_cfg)
    torch.save({"patch_embed.proj.weight": _Payload()}, path)
    with pytest.raises(CheckpointError, match="not a plain tensor state dict"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()


def test_timm_imports_on_this_torch_build_without_downloading_anything():
    from inference.engine.compat import import_timm

    timm = import_timm()
    assert hasattr(timm, "create_model")
    assert hasattr(torch.ops.torchvision, "nms")  # real op, or the schema compat.py defines
