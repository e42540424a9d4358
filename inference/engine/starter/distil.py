"""Train the product's ViT to reproduce the teacher's genre distribution per window.

The loss is the cross-entropy between the teacher's soft genre distribution for a crop and the
student's softmax, so genres no teacher tag covers are pushed to zero: the starter model never
proposes a genre it has no evidence for. Training state is saved after every epoch and a run
resumes from it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import DEFAULT_ARCHITECTURE, canonical_architecture
from ..datatypes import ModelCheckpoint, PreprocessingConfig
from ..features import cut_windows
from ..model import cpu_has_bf16, select_device
from ..training import optimizer_step, spec_augment
from ..vit import build_vit
from .targets import crop_target


@dataclass(frozen=True)
class DistilConfig:
    """How the student is trained; recorded in the checkpoint."""

    architecture: str = DEFAULT_ARCHITECTURE
    epochs: int = 8
    crops_per_epoch: int = 6144
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    time_masks: int = 2
    time_mask_frames: int = 0  # 0: window_frames // 8 (as in inference.engine.training)
    freq_masks: int = 2
    freq_mask_bins: int = 0
    mixup_alpha: float = 0.3  # inputs and soft targets mixed alike
    balance_power: float = 0.0  # sampling ∝ hours^-power of its top-1 genre (pool v2: already in its weight)
    synthetic_share: float = 0.0  # share of training crops drawn from labelled synthetic grooves
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        canonical_architecture(self.architecture)
        for name in ("epochs", "crops_per_epoch", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0.0 <= self.synthetic_share < 1.0:
            raise ValueError("synthetic_share must be in [0, 1)")


@dataclass
class Recording:
    """One pool recording as training sees it."""

    file_id: str
    mel: np.ndarray  # [n_mels, frames], normalised (float16 is fine)
    scores: np.ndarray  # [teacher windows, genres], rows sum to 1 (or 0 when no tag fired)
    weight: float = 1.0  # the pool manifest's sampling weight (package balance)
    synthetic: bool = False  # a rendered groove: its rows are its intended genre (hard label)

    def teacher_mean(self) -> np.ndarray:
        return self.scores.mean(axis=0)


@dataclass
class DistilRun:
    init: str
    state_dict: dict[str, torch.Tensor]
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def sampling_weights(recordings: Sequence[Recording], power: float, synthetic_share: float = 0.0) -> np.ndarray:
    """Longer recordings are drawn more often, over-represented genres less often, each scaled by
    its manifest weight; synthetic grooves get exactly ``synthetic_share`` of the draws (none at 0)."""
    durations = np.array([r.mel.shape[1] for r in recordings], dtype=np.float64)
    top1 = np.array([int(np.argmax(r.teacher_mean())) for r in recordings])
    synthetic = np.array([r.synthetic for r in recordings])
    weights = np.zeros(len(recordings))
    for group, share in ((~synthetic, 1.0 - synthetic_share), (synthetic, synthetic_share)):
        if not group.any() or share <= 0:
            continue
        per_genre = np.bincount(top1[group], weights=durations[group], minlength=recordings[0].scores.shape[1])
        raw = (
            durations[group]
            * per_genre[top1[group]] ** -power
            * np.array([r.weight for r, g in zip(recordings, group) if g])
        )
        weights[group] = share * raw / raw.sum()
    return weights / weights.sum()


def _crop(recording: Recording, cfg: PreprocessingConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    frames = recording.mel.shape[1]
    if frames <= cfg.window_frames:
        window = np.full((cfg.n_mels, cfg.window_frames), cfg.floor_value, dtype=np.float32)
        window[:, :frames] = recording.mel
        return window, crop_target(recording.scores, 0, cfg)
    start = int(rng.integers(0, frames - cfg.window_frames + 1))
    window = recording.mel[:, start : start + cfg.window_frames].astype(np.float32)
    return window, crop_target(recording.scores, start, cfg)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1).mean()


def agreement(
    model: torch.nn.Module,
    recordings: Sequence[Recording],
    cfg: PreprocessingConfig,
    device: torch.device,
    batch_size: int = 64,
) -> dict[str, Any]:
    """How closely the student follows the teacher on whole recordings and on single windows.

    ``track_top1``: the student's top genre (mean of window softmaxes, as the product reports it)
    equals the teacher's; ``track_top3``: the teacher's top genre is in the student's Top-3.
    """
    model.eval()
    n_genres = recordings[0].scores.shape[1]
    confusion = np.zeros((n_genres, n_genres), dtype=np.int64)  # rows: teacher, columns: student
    window_hits = window_total = track_hits = track_top3 = 0
    losses = []
    with torch.inference_mode():
        for recording in recordings:
            windows, starts = cut_windows(recording.mel.astype(np.float32), cfg)
            targets = np.stack([crop_target(recording.scores, int(s), cfg) for s in starts])
            probs = []
            for i in range(0, len(windows), batch_size):
                x = torch.as_tensor(windows[i : i + batch_size], device=device).unsqueeze(1)
                logits = model(x).float()
                t = torch.as_tensor(targets[i : i + batch_size], device=device, dtype=torch.float32)
                losses.append(float(soft_cross_entropy(logits, t)) * len(x))
                probs.append(torch.softmax(logits, dim=-1).cpu().numpy())
            window_probs = np.concatenate(probs)
            window_hits += int((window_probs.argmax(1) == targets.argmax(1)).sum())
            window_total += len(windows)
            teacher_top = int(np.argmax(recording.teacher_mean()))
            student_rank = np.argsort(-window_probs.mean(axis=0))
            track_hits += int(student_rank[0] == teacher_top)
            track_top3 += int(teacher_top in student_rank[:3])
            confusion[teacher_top, student_rank[0]] += 1
    return {
        "loss": sum(losses) / window_total,
        "window_top1": window_hits / window_total,
        "track_top1": track_hits / len(recordings),
        "track_top3": track_top3 / len(recordings),
        "recordings": len(recordings),
        "windows": window_total,
        "confusion": confusion.tolist(),
    }


def _save_state(path: Path, payload: dict[str, Any]) -> None:
    partial = path.with_suffix(".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def distil(
    train: Sequence[Recording],
    val: Sequence[Recording],
    cfg: PreprocessingConfig,
    config: DistilConfig,
    *,
    run_dir: Path,
    init_state: dict[str, torch.Tensor] | None = None,
    init_note: str = "random",
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> DistilRun:
    """Distil with resume: ``run_dir/state.pt`` holds the last finished epoch and the best weights."""
    from tqdm import tqdm

    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / "state.pt"
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    n_genres = train[0].scores.shape[1]
    model = build_vit(
        canonical_architecture(config.architecture),
        num_classes=n_genres,
        n_mels=cfg.n_mels,
        window_frames=cfg.window_frames,
    )
    if init_state is not None:
        missing, unexpected = model.load_state_dict(init_state, strict=False)
        if unexpected or set(missing) - {"head.weight", "head.bias"}:
            raise ValueError(f"initial weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(config.crops_per_epoch / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup = max(1, int(total_steps * config.warmup_fraction))

    def lr_at(step: int) -> float:  # linear warm-up, then cosine to 5 % of the peak
        if step < warmup:
            return (step + 1) / warmup
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    rng = np.random.default_rng(config.seed)
    run = DistilRun(init=init_note, state_dict={})
    start_epoch = 1
    if state_path.exists():
        saved = torch.load(state_path, map_location="cpu", weights_only=False)
        if saved["config"] != asdict(config) or saved["init"] != init_note:
            raise ValueError(f"{state_path} was made with other settings; delete {run_dir} to start over")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        rng.bit_generator.state = saved["rng"]
        torch.set_rng_state(saved["torch_rng"])
        run.history, run.best, run.state_dict = saved["history"], saved["best"], saved["best_state"]
        run.seconds = saved["seconds"]
        start_epoch = saved["epoch"] + 1
        say(f"[distil:{init_note}] resuming after epoch {saved['epoch']}")
    weights = sampling_weights(train, config.balance_power, config.synthetic_share)
    # bf16 where the hardware has it (≈2× faster training on AVX512-BF16), fp32 elsewhere.
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_has_bf16())
    )
    for epoch in range(start_epoch, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        losses = []
        bar = tqdm(
            total=steps_per_epoch, desc=f"{init_note} epoch {epoch}/{config.epochs}", unit="step", disable=not progress
        )
        for _ in range(steps_per_epoch):
            chosen = rng.choice(len(train), size=config.batch_size, p=weights)
            pairs = [_crop(train[i], cfg, rng) for i in chosen]
            x = torch.as_tensor(
                np.stack([spec_augment(w, cfg, config, rng) for w, _ in pairs]), device=device
            ).unsqueeze(1)
            y = torch.as_tensor(np.stack([t for _, t in pairs]), device=device, dtype=torch.float32)
            y = y / y.sum(dim=1, keepdim=True).clamp_min(1e-8)
            if config.mixup_alpha > 0:
                lam = float(rng.beta(config.mixup_alpha, config.mixup_alpha))
                perm = torch.as_tensor(rng.permutation(len(chosen)), device=device)
                x, y = lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]
            with autocast:
                loss = soft_cross_entropy(model(x), y)
            losses.append(optimizer_step(model, optimizer, scheduler, loss))
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        bar.close()
        val_metrics = agreement(model, val, cfg, device)
        entry = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "val_loss": val_metrics["loss"],
            "val_window_top1": val_metrics["window_top1"],
            "val_track_top1": val_metrics["track_top1"],
            "seconds": round(time.perf_counter() - started, 1),
        }
        run.history.append(entry)
        run.seconds += entry["seconds"]
        improved = not run.best or entry["val_loss"] < run.best["val_loss"]
        if improved:
            run.best = dict(entry)
            run.state_dict = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        say(
            f"[distil:{init_note}] epoch {epoch}: train loss {entry['train_loss']:.4f}, val loss "
            f"{entry['val_loss']:.4f}, window top-1 {entry['val_window_top1']:.3f}, recording top-1 "
            f"{entry['val_track_top1']:.3f}{' *' if improved else ''} ({entry['seconds']:.0f} s)"
        )
        _save_state(
            state_path,
            {
                "config": asdict(config),
                "init": init_note,
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "history": run.history,
                "best": run.best,
                "best_state": run.state_dict,
                "seconds": run.seconds,
            },
        )
    return run


def student_checkpoint(
    run: DistilRun, labels: Sequence[str], cfg: PreprocessingConfig, config: DistilConfig, **facts: Any
) -> ModelCheckpoint:
    """The best epoch's weights as a product checkpoint, with what made them."""
    training = {
        "trained": True,
        "method": "distillation",
        "init": run.init,
        "config": asdict(config),
        "history": run.history,
        "best": run.best,
        **facts,
    }
    return ModelCheckpoint(canonical_architecture(config.architecture), list(labels), cfg, training, run.state_dict)
