"""Build the spectrogram ViT and run batches of windows through it.

A model is loaded once per worker process (``load_model``) and reused for every job. One
forward gives logits, the CLS embedding and, when asked, the attention rollout per window.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .attention import capture_rollout, rollout_maps
from .checkpoint import file_sha256, load_checkpoint
from .datatypes import ModelCheckpoint, PreprocessingConfig
from .vit import build_vit

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def select_device(prefer: str | torch.device | None = None) -> torch.device:
    """CUDA when available, unless ``prefer`` says otherwise ('cpu', 'cuda', 'cuda:1', 'auto')."""
    if prefer is None or str(prefer) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(prefer)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but torch.cuda.is_available() is False on this machine")
    return device


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX): only there is bf16
    autocast faster than fp32; on AVX2-only CPUs it ran ≈8× slower (STACK-NOTES)."""
    try:
        flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


@dataclass
class BatchOutput:
    """Per-window results of one forward: logits [B, L], embeddings [B, D], maps [B, n_mels, W] or None."""

    logits: np.ndarray
    embeddings: np.ndarray
    attention: np.ndarray | None


@dataclass
class LoadedModel:
    """A model in eval mode on its device, with the metadata it was trained with."""

    model: nn.Module
    architecture: str
    labels: list[str]
    preprocessing: PreprocessingConfig
    training: dict[str, Any]
    device: torch.device
    sha256: str = ""
    path: Path | None = None
    # fp32, or bf16/fp16 autocast: inference.engine.precision picks it per process and device (bf16 on a
    # CPU is ≈3× faster with AVX512-BF16/AMX, ≈8× *slower* on AVX2-only CPUs).
    precision: str = "fp32"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def trained(self) -> bool:
        return bool(self.training.get("trained", False))

    @property
    def temperature(self) -> float:
        """Logits are divided by this before the softmax: fitted on validation tracks at training
        (inference.engine.calibration); 1.0 for checkpoints without one."""
        value = self.training.get("temperature", 1.0)
        return float(value) if isinstance(value, (int, float)) and value > 0 else 1.0

    @property
    def cpu_bf16(self) -> bool:
        return self.device.type == "cpu" and self.precision == "bf16"

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """bf16/fp16 when this process runs its models in reduced precision, else None (fp32)."""
        return AUTOCAST_DTYPES.get(self.precision)

    def _autocast(self) -> Any:
        dtype = self.autocast_dtype
        return nullcontext() if dtype is None else torch.autocast(self.device.type, dtype=dtype)

    def run_batch(self, windows: np.ndarray | torch.Tensor, *, with_attention: bool = True) -> BatchOutput:
        """Forward [B, n_mels, window_frames] windows once; thread-safe (one forward at a time)."""
        x = torch.as_tensor(windows, dtype=torch.float32)
        if x.ndim == 3:
            x = x.unsqueeze(1)
        x = x.to(self.device, non_blocking=True)
        cfg = self.preprocessing
        capture = capture_rollout(self.model) if with_attention else nullcontext()
        # The lock also guards the fused-attention flag that capture_rollout toggles.
        with self._lock, torch.inference_mode(), self._autocast(), capture as rollout:
            features = self.model.forward_features(x)
            pooled = self.model.forward_head(features, pre_logits=True)
            logits = self.model.get_classifier()(pooled)
            maps = rollout_maps(rollout, self.model, (cfg.n_mels, cfg.window_frames)) if with_attention else None
        return BatchOutput(logits=logits.float().cpu().numpy(), embeddings=pooled.float().cpu().numpy(), attention=maps)

    def warm_up(self, batch_size: int = 2) -> None:
        """One dummy forward (with attention) so the first real job does not pay allocation costs."""
        cfg = self.preprocessing
        self.run_batch(np.full((batch_size, cfg.n_mels, cfg.window_frames), cfg.floor_value, np.float32))


def model_from_checkpoint(
    ckpt: ModelCheckpoint,
    *,
    device: str | torch.device | None = None,
    sha256: str = "",
    path: Path | None = None,
    cpu_bf16: bool = False,
    precision: str | None = None,
) -> LoadedModel:
    """Instantiate a checkpoint's model in eval mode on the chosen device.

    ``precision`` (fp32 | bf16 | fp16) is what inference.engine.precision chose; ``cpu_bf16`` is the
    older switch for bf16 on a CPU (the benchmarks' --bf16)."""
    if precision is not None and precision not in ("fp32", *AUTOCAST_DTYPES):
        raise ValueError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
    cfg = ckpt.preprocessing
    model = build_vit(
        ckpt.architecture, num_classes=len(ckpt.labels), n_mels=cfg.n_mels, window_frames=cfg.window_frames
    )
    model.load_state_dict(ckpt.state_dict, strict=True)
    target = select_device(device)
    model.to(target).eval()
    if precision is None:
        precision = "bf16" if cpu_bf16 and target.type == "cpu" else "fp32"
    return LoadedModel(
        model=model,
        architecture=ckpt.architecture,
        labels=list(ckpt.labels),
        preprocessing=cfg,
        training=dict(ckpt.training),
        device=target,
        sha256=sha256,
        path=path,
        precision=precision,
    )


def load_model(
    path: str | Path, *, device: str | torch.device | None = None, cpu_bf16: bool = False, precision: str | None = None
) -> LoadedModel:
    """Load and validate a checkpoint file (CheckpointError if unusable); callers cache the result."""
    path = Path(path)
    ckpt = load_checkpoint(path)
    return model_from_checkpoint(
        ckpt, device=device, sha256=file_sha256(path), path=path, cpu_bf16=cpu_bf16, precision=precision
    )
