"""Model checkpoints: one safetensors file carrying weights, labels and preprocessing.

Safetensors holds only tensors plus string metadata, so loading never unpickles objects. The
metadata (architecture, ordered labels, preprocessing, training facts, format version) is
stored as JSON strings in the header, so a model is always fed what it was trained on.

The case study's bare form, a ``.pt``/``.pth`` timm state dict, is also accepted when a
sidecar JSON (same stem + ``.json``) names the architecture, labels and preprocessing; it is
read with ``torch.load(weights_only=True)``. Weights made for 3×224×224 images are adapted:
the RGB patch-embedding filters are *summed* into one channel (a grey image fed as R=G=B gives
the same response) and the position embeddings are resampled bicubically to the spectrogram's
patch grid with ``timm.layers.resample_abs_pos_embed``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from .datatypes import ModelCheckpoint, PreprocessingConfig
from .errors import CheckpointError
from .vit import build_vit

FORMAT_NAME = "acousticsense-vit"
FORMAT_VERSION = 1
DEFAULT_ARCHITECTURE = "vit_tiny_patch16_224"
# Plain ViTs with one CLS token and patch 16 — the attention rollout and adaptation assume this.
ARCHITECTURES = tuple(
    f"{family}_{size}_patch16_224" for family in ("vit", "deit") for size in ("tiny", "small", "base")
)
BARE_SUFFIXES = (".pt", ".pth")
_SIDECAR_KEYS = {"architecture", "labels", "preprocessing", "training"}


def canonical_architecture(name: str) -> str:
    """Accept 'vit_tiny_patch16' or 'vit_tiny_patch16_224'; return the timm name we build."""
    candidate = name if name.endswith("_224") else f"{name}_224"
    if candidate not in ARCHITECTURES:
        raise CheckpointError(f"unknown architecture {name!r} (known: {', '.join(ARCHITECTURES)})")
    return candidate


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks: identifies exactly which weights produced a result."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _validate_labels(labels: Any) -> list[str]:
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x.strip() for x in labels):
        raise CheckpointError("labels must be a non-empty list of non-blank strings")
    duplicates = sorted({x for x in labels if labels.count(x) > 1})
    if duplicates:
        raise CheckpointError(f"labels must be unique; repeated: {', '.join(duplicates)}")
    return list(labels)


def _expected_shapes(architecture: str, n_labels: int, cfg: PreprocessingConfig) -> dict[str, torch.Size]:

    with torch.device("meta"):  # shapes only: no memory, no weight-init cost
        model = build_vit(architecture, num_classes=n_labels, n_mels=cfg.n_mels, window_frames=cfg.window_frames)
    return {k: v.shape for k, v in model.state_dict().items()}


def _validated(
    architecture: Any, labels: Any, preprocessing: Any, training: Any, state_dict: dict[str, torch.Tensor]
) -> ModelCheckpoint:
    if not isinstance(architecture, str):
        raise CheckpointError("architecture must be a string")
    architecture = canonical_architecture(architecture)
    labels = _validate_labels(labels)
    try:
        cfg = (
            preprocessing
            if isinstance(preprocessing, PreprocessingConfig)
            else PreprocessingConfig.from_dict(preprocessing)
        )
    except ValueError as exc:
        raise CheckpointError(f"invalid preprocessing: {exc}") from exc
    if not isinstance(training, dict):
        raise CheckpointError("training must be a JSON object")
    head = state_dict.get("head.weight")
    if head is not None and head.shape[0] != len(labels):
        raise CheckpointError(f"the classifier head has {head.shape[0]} outputs but there are {len(labels)} labels")
    expected = _expected_shapes(architecture, len(labels), cfg)
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = sorted(k for k in expected if k in state_dict and state_dict[k].shape != expected[k])
    if missing or unexpected or wrong:
        parts = [
            f"{name}: {', '.join(keys[:3])}{'…' if len(keys) > 3 else ''}"
            for name, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        ]
        raise CheckpointError(
            f"weights do not match {architecture} for {cfg.n_mels}×{cfg.window_frames} input ({'; '.join(parts)})"
        )
    return ModelCheckpoint(architecture, labels, cfg, dict(training), state_dict)


def save_checkpoint(ckpt: ModelCheckpoint, path: str | Path, *, dtype: torch.dtype = torch.float32) -> Path:
    """Write one safetensors file; ``dtype=torch.float16`` halves the size (loaded back as float32)."""
    from safetensors.torch import save_file

    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"unsupported storage dtype {dtype}")
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous().clone()
        for k, v in ckpt.state_dict.items()
    }
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "architecture": ckpt.architecture,
        "labels": json.dumps(ckpt.labels, ensure_ascii=False),
        "preprocessing": json.dumps(ckpt.preprocessing.to_dict()),
        "training": json.dumps(ckpt.training, ensure_ascii=False),
    }
    path = Path(path)
    save_file(tensors, str(path), metadata=metadata)
    return path


def _load_safetensors(path: Path) -> ModelCheckpoint:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is not a readable safetensors file ({exc})") from exc
    if meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path.name} has no AcousticSense metadata")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(
            f"{path.name} has format version {meta.get('format_version')!r}; this code reads {FORMAT_VERSION}"
        )
    try:
        labels, prep, training = (json.loads(meta[k]) for k in ("labels", "preprocessing", "training"))
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path.name} has missing or malformed metadata ({exc})") from exc
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    return _validated(meta.get("architecture"), labels, prep, training, state)


def adapt_image_state_dict(state: dict[str, torch.Tensor], cfg: PreprocessingConfig) -> dict[str, torch.Tensor]:
    """Make an RGB-image ViT state dict read one-channel spectrogram windows (see module docstring)."""
    from .compat import import_timm

    import_timm()
    from timm.layers import resample_abs_pos_embed

    state = dict(state)
    proj = state.get("patch_embed.proj.weight")
    if proj is not None and proj.ndim == 4 and proj.shape[1] != 1:
        state["patch_embed.proj.weight"] = proj.sum(dim=1, keepdim=True)
    pos = state.get("pos_embed")
    if proj is not None and pos is not None and pos.ndim == 3:
        patch_h, patch_w = proj.shape[-2:]
        grid = (cfg.n_mels // patch_h, cfg.window_frames // patch_w)
        n_prefix = 1  # CLS token; all supported architectures have exactly one prefix token
        old_side = int(round((pos.shape[1] - n_prefix) ** 0.5))
        if pos.shape[1] - n_prefix != grid[0] * grid[1] and old_side**2 == pos.shape[1] - n_prefix:
            state["pos_embed"] = resample_abs_pos_embed(
                pos, new_size=list(grid), old_size=[old_side, old_side], num_prefix_tokens=n_prefix
            )
    return state


def _load_bare(path: Path) -> ModelCheckpoint:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise CheckpointError(
            f"{path.name} is a bare state dict and needs {sidecar.name} next to it "
            "(architecture, labels, preprocessing)"
        )
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{sidecar.name} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or set(meta) - _SIDECAR_KEYS:
        raise CheckpointError(f"{sidecar.name} must be an object with keys {sorted(_SIDECAR_KEYS)}")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled objects with many error types
        raise CheckpointError(f"{path.name} is not a plain tensor state dict ({type(exc).__name__})") from exc
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path.name} does not hold a dict of tensors")
    try:
        cfg = PreprocessingConfig.from_dict(meta.get("preprocessing", {}))
    except ValueError as exc:
        raise CheckpointError(f"invalid preprocessing in {sidecar.name}: {exc}") from exc
    state = {k: v.float() if v.is_floating_point() else v for k, v in obj.items()}
    training = meta.get("training", {"trained": True, "source": path.name})
    return _validated(meta.get("architecture"), meta.get("labels"), cfg, training, adapt_image_state_dict(state, cfg))


def load_checkpoint(path: str | Path) -> ModelCheckpoint:
    """Read and validate a checkpoint; raise CheckpointError with a clear reason otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    if path.suffix.lower() in BARE_SUFFIXES:
        return _load_bare(path)
    return _load_safetensors(path)


def create_random_checkpoint(
    *,
    labels: list[str],
    architecture: str = DEFAULT_ARCHITECTURE,
    preprocessing: PreprocessingConfig | None = None,
    seed: int = 0,
) -> ModelCheckpoint:
    """A randomly initialised model: lets the pipeline run end to end before any training."""

    architecture = canonical_architecture(architecture)
    labels = _validate_labels(list(labels))
    cfg = preprocessing or PreprocessingConfig()
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = build_vit(architecture, num_classes=len(labels), n_mels=cfg.n_mels, window_frames=cfg.window_frames)
    finally:
        torch.random.set_rng_state(generator_state)  # do not disturb the caller's randomness
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    training = {"trained": False, "init": "random", "seed": seed}
    return ModelCheckpoint(architecture, labels, cfg, training, state)
