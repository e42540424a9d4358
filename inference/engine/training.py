"""Train a spectrogram ViT on labelled tracks. Plain Python and torch (no Django).

Input: a list of ``TrainingExample(path, label, split)`` (from an export's manifest), the label
list, the preprocessing config and a ``TrainingConfig``. Output: a ``TrainingResult`` with the
best weights (by validation loss, or accuracy) and the metrics, ready for
``inference.engine.checkpoint.save_checkpoint``.

Each track is decoded and turned into a normalised log-mel once (kept in memory). An epoch
draws ``crops_per_track`` random windows of ``window_frames`` from every training track,
masks random time and frequency bands (SpecAugment) and optionally mixes pairs (mixup).
Class weights keep rare genres from being ignored without letting a genre with one example
dominate: by default 1/sqrt(frequency), capped (see ``class_weights``). Validation scores each
validation track as inference does: every window, mean of the per-window softmax; with no
validation tracks, training runs the fixed number of epochs and keeps the last one. After
training, one temperature T is fitted on the validation tracks (``inference.engine.calibration``) and
stored in the checkpoint's training facts; inference divides the logits by it.

Adaptation: ``SoftExample``s are unlabelled tracks with the teacher ensemble's genre
distribution as their target (``inference.engine.teacher.ensemble``). Each step then also draws a batch
of their crops, and the loss is the labelled cross-entropy plus ``adapt_weight`` × the soft
cross-entropy against the teacher's distribution (the clip's, or with ``adapt_target="window"``
the mean of the teacher windows inside the crop). With no labelled training tracks, the soft
loss alone trains (an epoch is then ``crops_per_track`` crops of every adaptation track).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from .audio import load_audio
from .calibration import calibration_summary, fit_temperature, nll, track_probabilities
from .checkpoint import adapt_image_state_dict, canonical_architecture, load_checkpoint
from .datatypes import ModelCheckpoint, PreprocessingConfig
from .errors import CheckpointError
from .features import cut_windows, log_mel, normalise
from .model import select_device
from .vit import build_vit

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
MONITORS = ("val_loss", "val_accuracy")
CLASS_WEIGHTS = ("none", "sqrt", "inverse")
ADAPT_TARGETS = ("clip", "window")
DEFAULT_ADAPT_WEIGHT = 1.0  # with recalibrated targets; chosen by bench/bench_adaptation.py (README)
DEFAULT_ADAPT_TARGET = "recalibrated"  # the commands' default (bench/bench_adaptation.py); the core knows clip/window
WEIGHT_CAP = 3.0  # no class weighs more than 3× the mean class weight


@dataclass(frozen=True)
class TrainingExample:
    """One labelled track: its audio file, the index of its genre in the label list, its split."""

    path: str
    label: int
    split: str


@dataclass(frozen=True)
class TrainingConfig:
    """How to train; recorded in the checkpoint's training facts."""

    architecture: str = "vit_tiny_patch16_224"
    epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    patience: int = 5  # epochs without improvement before stopping; 0: never stop early
    min_delta: float = 1e-4
    monitor: str = "val_loss"  # or "val_accuracy" (the other breaks ties)
    crops_per_track: int = 4  # random windows per training track per epoch
    time_masks: int = 2
    time_mask_frames: int = 0  # widest time mask; 0: window_frames // 8
    freq_masks: int = 2
    freq_mask_bins: int = 0  # widest frequency mask; 0: n_mels // 8
    mixup_alpha: float = 0.0  # 0: no mixup; e.g. 0.2
    class_weights: str = "sqrt"  # "none", "sqrt" (1/sqrt(frequency), capped) or "inverse" (1/frequency)
    temperature_scaling: bool = True  # fit T on the validation tracks after training
    temperature_min_tracks: int = 10  # fewer validation tracks than this: T stays 1 (one scalar overfits 3 tracks)
    seed: int = 0
    device: str | None = None  # None/"auto": CUDA when present
    max_duration_s: float = 1200.0
    adapt_weight: float = DEFAULT_ADAPT_WEIGHT  # weight of the soft (teacher) loss against the labelled loss
    adapt_target: str = "clip"  # "clip": the clip's distribution; "window": the teacher windows inside the crop

    def __post_init__(self) -> None:
        if isinstance(self.class_weights, bool):  # earlier configs: True meant inverse frequency
            object.__setattr__(self, "class_weights", "inverse" if self.class_weights else "none")
        if self.class_weights not in CLASS_WEIGHTS:
            raise ValueError(f"class_weights must be one of {CLASS_WEIGHTS}")
        canonical_architecture(self.architecture)
        for name in ("epochs", "batch_size", "crops_per_track"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.lr <= 0 or self.patience < 0 or self.mixup_alpha < 0:
            raise ValueError("lr must be positive; patience and mixup_alpha must not be negative")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {MONITORS}")
        if self.adapt_weight < 0 or self.adapt_target not in ADAPT_TARGETS:
            raise ValueError(f"adapt_weight must not be negative and adapt_target one of {ADAPT_TARGETS}")


@dataclass(frozen=True, eq=False)
class SoftExample:
    """One unlabelled track for adaptation: its audio and the teacher ensemble's distribution over
    the label list, for the whole clip and (optionally) per teacher window of ``window_s`` seconds."""

    path: str
    clip: np.ndarray  # (labels,), sums to 1
    windows: np.ndarray | None = None  # (teacher windows, labels); rows sum to 1 or 0 (no signal)
    window_s: float = 0.0
    features: np.ndarray | None = None  # the teachers' clip genre scores (for recalibration; unused here)

    def target(self, t0: float, t1: float) -> np.ndarray:
        """The mean of the teacher windows centred in [t0, t1) (the nearest one if none); the
        clip's distribution when there are no windows or they carry no signal there."""
        if self.windows is None or not len(self.windows) or self.window_s <= 0:
            return self.clip
        centres = (np.arange(len(self.windows)) + 0.5) * self.window_s
        inside = (centres >= t0) & (centres < t1)
        if not inside.any():
            inside = np.arange(len(self.windows)) == int(np.argmin(np.abs(centres - (t0 + t1) / 2)))
        row = self.windows[inside].mean(axis=0)
        total = row.sum()
        return row / total if total > 0 else self.clip


@dataclass
class TrainingResult:
    """The best weights and what happened; ``checkpoint()`` makes the inference checkpoint."""

    architecture: str
    labels: list[str]
    preprocessing: PreprocessingConfig
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    config: TrainingConfig
    init: str = "random"
    temperature: float = 1.0  # divides the logits at inference (fitted on the val split; 1.0: none)

    def checkpoint(self, **training: Any) -> ModelCheckpoint:
        """A checkpoint in the one inference format; ``training`` adds facts (e.g. export_id)."""
        facts = {
            "trained": True,
            "epochs": len(self.history),
            "best_epoch": self.metrics.get("best_epoch"),
            "metrics": self.metrics,
            "history": self.history,
            "config": asdict(self.config),
            "init": self.init,
            "temperature": self.temperature,
            **training,
        }
        return ModelCheckpoint(self.architecture, list(self.labels), self.preprocessing, facts, self.state_dict)


def track_features(path: str | Path, cfg: PreprocessingConfig, *, max_duration_s: float = 1200.0) -> np.ndarray:
    """The normalised log-mel [n_mels, frames] of one track, as inference computes it."""
    decoded = load_audio(path, target_sr=cfg.sample_rate, max_duration_s=max_duration_s)
    return normalise(log_mel(decoded.samples, cfg), cfg)


def _random_crop(mel: np.ndarray, cfg: PreprocessingConfig, rng: np.random.Generator) -> np.ndarray:
    return _random_crop_at(mel, cfg, rng)[0]


def _random_crop_at(mel: np.ndarray, cfg: PreprocessingConfig, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A float32 window of ``window_frames`` at a random start (padded with silence when short)."""
    frames = mel.shape[1]
    if frames <= cfg.window_frames:
        crop = np.full((cfg.n_mels, cfg.window_frames), cfg.floor_value, dtype=np.float32)
        crop[:, :frames] = mel
        return crop, 0
    start = int(rng.integers(0, frames - cfg.window_frames + 1))
    return mel[:, start : start + cfg.window_frames].astype(np.float32), start


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of −Σ target·log softmax(logits)."""
    return -(targets * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1).mean()


class _AdaptationStream:
    """Batches of (crops, soft targets) from the adaptation tracks: every track once per shuffled
    pass, passes repeated as needed. Its own random generator, so runs without adaptation draw
    exactly the crops they drew before adaptation existed."""

    def __init__(
        self, examples: Sequence[SoftExample], mels: list[np.ndarray], cfg: PreprocessingConfig, config: TrainingConfig
    ) -> None:
        self.examples, self.mels, self.cfg, self.config = list(examples), mels, cfg, config
        self.rng = np.random.default_rng([config.seed, 1])
        self.order: list[int] = []

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        chosen = []
        while len(chosen) < size:
            if not self.order:
                self.order = list(self.rng.permutation(len(self.examples)))
            chosen.append(self.order.pop())
        crops, targets = [], []
        for i in chosen:
            crop, start = _random_crop_at(self.mels[i], self.cfg, self.rng)
            crops.append(spec_augment(crop, self.cfg, self.config, self.rng))
            if self.config.adapt_target == "window":
                t0 = self.cfg.frames_to_seconds(start)
                targets.append(self.examples[i].target(t0, t0 + self.cfg.seconds_per_window))
            else:
                targets.append(self.examples[i].clip)
        return np.stack(crops), np.stack(targets).astype(np.float32)


def spec_augment(
    window: np.ndarray, cfg: PreprocessingConfig, config: TrainingConfig, rng: np.random.Generator
) -> np.ndarray:
    """Mask random time and frequency bands with the silence value (in place; returns it)."""
    widest_t = config.time_mask_frames or max(1, cfg.window_frames // 8)
    widest_f = config.freq_mask_bins or max(1, cfg.n_mels // 8)
    for _ in range(config.time_masks):
        width = int(rng.integers(0, widest_t + 1))
        start = int(rng.integers(0, cfg.window_frames - width + 1))
        window[:, start : start + width] = cfg.floor_value
    for _ in range(config.freq_masks):
        width = int(rng.integers(0, widest_f + 1))
        start = int(rng.integers(0, cfg.n_mels - width + 1))
        window[start : start + width, :] = cfg.floor_value
    return window


def class_weights(labels: Sequence[int], n_classes: int, mode: str = "sqrt", cap: float = WEIGHT_CAP) -> np.ndarray:
    """Per-class loss weights; absent classes get 1.

    "sqrt": 1/sqrt(count), scaled to mean 1 over the classes present, then capped at ``cap``
    (3× the mean): with 1–5 examples per genre the rarest weighs ≈2.2× the commonest instead of
    5× (inverse frequency), and a lone example among well-filled genres at most 3× the mean, so
    predictions are not pushed towards the rarest genres.
    "inverse": count·weight equal for every present class (mean 1), uncapped (the earlier rule).
    "none": all 1."""
    if mode not in CLASS_WEIGHTS:
        raise ValueError(f"class weights must be one of {CLASS_WEIGHTS}, got {mode!r}")
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_classes)
    if mode == "inverse":
        weights[present] = counts[present].sum() / (present.sum() * counts[present])
    elif mode == "sqrt":
        raw = 1.0 / np.sqrt(counts[present])
        weights[present] = np.minimum(raw / raw.mean(), cap)
    return weights.astype(np.float32)


def initial_state(
    path: str | Path, *, architecture: str, labels: Sequence[str], cfg: PreprocessingConfig
) -> tuple[dict[str, torch.Tensor], str]:
    """Weights to start from: an AcousticSense checkpoint (same architecture; the head is kept,
    reordered, or dropped to be re-initialised when the labels differ) or an ImageNet ``.npz``
    keyed like timm's state dict (RGB patch filters summed, position embeddings resampled, head
    dropped). Returns the state dict and a note saying what was done."""
    from .compat import import_timm

    path = Path(path)
    architecture = canonical_architecture(architecture)
    if path.suffix.lower() == ".npz":
        with np.load(path) as arrays:
            state = {k: torch.from_numpy(np.array(arrays[k])) for k in arrays.files}
        state = adapt_image_state_dict(state, cfg)
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
        return state, f"{path.name} (image weights adapted to one channel; head re-initialised)"
    ckpt = load_checkpoint(path)
    if ckpt.architecture != architecture:
        raise CheckpointError(f"{path.name} is a {ckpt.architecture}; cannot initialise a {architecture} from it")
    state = dict(ckpt.state_dict)
    note = f"{path.name}"
    if list(ckpt.labels) == list(labels):
        note += " (head kept)"
    elif sorted(ckpt.labels) == sorted(labels):
        order = [ckpt.labels.index(name) for name in labels]
        state["head.weight"], state["head.bias"] = state["head.weight"][order], state["head.bias"][order]
        note += " (head rows reordered to the new label order)"
    else:
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
        note += " (labels differ: head re-initialised)"
    old = ckpt.preprocessing
    patch = state["patch_embed.proj.weight"].shape[-2:]
    old_grid = (old.n_mels // patch[0], old.window_frames // patch[1])
    new_grid = (cfg.n_mels // patch[0], cfg.window_frames // patch[1])
    if old_grid != new_grid:
        import_timm()
        from timm.layers import resample_abs_pos_embed

        state["pos_embed"] = resample_abs_pos_embed(
            state["pos_embed"], new_size=list(new_grid), old_size=list(old_grid), num_prefix_tokens=1
        )
        note += f" (position embeddings resampled {old_grid}→{new_grid})"
    return state, note


def _validation_windows(mels: list[np.ndarray], cfg: PreprocessingConfig) -> tuple[np.ndarray, np.ndarray]:
    windows, owners = [], []
    for i, mel in enumerate(mels):
        w, _ = cut_windows(mel, cfg)
        windows.append(w)
        owners.append(np.full(len(w), i))
    return np.concatenate(windows), np.concatenate(owners)


def _window_logits(model: torch.nn.Module, windows: np.ndarray, device: torch.device, batch: int) -> np.ndarray:
    model.eval()
    logits = []
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            x = torch.as_tensor(windows[i : i + batch], device=device).unsqueeze(1)
            logits.append(model(x).float().cpu().numpy())
    return np.concatenate(logits).astype(np.float64)


def _track_probabilities(
    model: torch.nn.Module, windows: np.ndarray, owners: np.ndarray, n_tracks: int, device: torch.device, batch: int
) -> np.ndarray:
    """Per track: mean of the per-window softmax (what inference.engine.analysis reports at T = 1)."""
    return track_probabilities(_window_logits(model, windows, device, batch), owners, n_tracks)


def _score(track_probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    picked = track_probs[np.arange(len(labels)), labels]
    loss = float(-np.log(np.clip(picked, 1e-12, None)).mean())
    return loss, float((track_probs.argmax(axis=1) == labels).mean())


def _improved(entry: dict[str, Any], best: dict[str, Any] | None, config: TrainingConfig) -> bool:
    if best is None:
        return True
    loss, acc = entry["monitor_loss"], entry.get("val_accuracy")
    if config.monitor == "val_accuracy" and acc is not None:
        return acc > best["val_accuracy"] or (acc == best["val_accuracy"] and loss < best["monitor_loss"])
    return loss < best["monitor_loss"] - config.min_delta


def optimizer_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loss: torch.Tensor,
) -> float:
    """Backward, clip the gradient norm to 1 (ViTs spike early on), step; returns the loss."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    return float(loss.detach())


def train(
    examples: Sequence[TrainingExample],
    labels: Sequence[str],
    preprocessing: PreprocessingConfig,
    config: TrainingConfig = TrainingConfig(),
    *,
    init_state: dict[str, torch.Tensor] | None = None,
    init_note: str = "random",
    features: dict[str, np.ndarray] | None = None,
    progress: bool = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    adaptation: Sequence[SoftExample] = (),
) -> TrainingResult:
    """Train on the ``train`` examples, stop early on the ``val`` ones (with none: run all epochs,
    keep the last) and fit the temperature on them; ``test`` ones are ignored. ``adaptation``:
    unlabelled tracks with the teachers' distribution as target (see the module docstring).

    ``features`` is an optional cache {path: normalised log-mel}; missing tracks are computed
    once and added to it (adaptation tracks as float16). ``on_epoch`` receives each epoch's entry
    of the history."""
    from tqdm import tqdm

    cfg = preprocessing
    architecture = canonical_architecture(config.architecture)
    labels = list(labels)
    n_classes = len(labels)
    train_set = [e for e in examples if e.split == "train"]
    val_set = [e for e in examples if e.split == "val"]
    adaptation = list(adaptation)
    if not train_set and not adaptation:
        raise ValueError("no training examples (split 'train') and no adaptation tracks")
    bad = [e for e in examples if not 0 <= e.label < n_classes]
    if bad:
        raise ValueError(f"label index {bad[0].label} of {bad[0].path} is outside the {n_classes} labels")
    odd = [a for a in adaptation if np.shape(a.clip) != (n_classes,)]
    if odd:
        raise ValueError(f"the adaptation target of {odd[0].path} is not over the {n_classes} labels")
    started = time.perf_counter()
    cache = features if features is not None else {}
    for example in tqdm([*train_set, *val_set], desc="features", unit="track", disable=not progress, leave=False):
        if example.path not in cache:
            cache[example.path] = track_features(example.path, cfg, max_duration_s=config.max_duration_s)
    for soft in tqdm(adaptation, desc="adaptation features", unit="track", disable=not progress, leave=False):
        if soft.path not in cache:  # float16: a catalog is many tracks
            cache[soft.path] = track_features(soft.path, cfg, max_duration_s=config.max_duration_s).astype(np.float16)
    feature_s = time.perf_counter() - started

    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    device = select_device(config.device)
    model = build_vit(architecture, num_classes=n_classes, n_mels=cfg.n_mels, window_frames=cfg.window_frames)
    if init_state is not None:
        missing, unexpected = model.load_state_dict(init_state, strict=False)
        if unexpected or set(missing) - {"head.weight", "head.bias"}:
            raise CheckpointError(
                f"initial weights do not fit {architecture}: missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
    model.to(device)
    train_mels = [cache[e.path] for e in train_set]
    train_labels = np.array([e.label for e in train_set], dtype=np.int64)
    weights = (
        class_weights(train_labels, n_classes, config.class_weights)
        if train_set
        else np.ones(n_classes, dtype=np.float32)
    )
    stream = _AdaptationStream(adaptation, [cache[a.path] for a in adaptation], cfg, config) if adaptation else None
    weight_t = torch.as_tensor(weights, device=device)
    val_labels = np.array([e.label for e in val_set], dtype=np.int64)
    val_windows, val_owners = _validation_windows([cache[e.path] for e in val_set], cfg) if val_set else (None, None)

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    samples_per_epoch = (len(train_set) or len(adaptation)) * config.crops_per_track
    steps_per_epoch = math.ceil(samples_per_epoch / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup = min(steps_per_epoch * config.warmup_epochs, total_steps // 2)

    def lr_at(step: int) -> float:  # linear warm-up, then cosine to 5 % of the peak
        if step < warmup:
            return (step + 1) / warmup
        progress_ = (step - warmup) / max(1, total_steps - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress_))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    )
    history: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    best_state: dict[str, torch.Tensor] = {}
    stale = 0
    bar = tqdm(total=total_steps, desc="training", unit="step", disable=not progress)
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        owners = np.repeat(np.arange(len(train_set)), config.crops_per_track)
        rng.shuffle(owners)
        losses, labelled_losses, adapt_losses = [], [], []
        for step in range(steps_per_epoch):
            loss = torch.zeros((), device=device)
            with autocast:
                if train_set:
                    chosen = owners[step * config.batch_size : (step + 1) * config.batch_size]
                    batch = np.stack(
                        [spec_augment(_random_crop(train_mels[i], cfg, rng), cfg, config, rng) for i in chosen]
                    )
                    x = torch.as_tensor(batch, device=device).unsqueeze(1)
                    y = torch.as_tensor(train_labels[chosen], device=device)
                    if config.mixup_alpha > 0 and len(chosen) > 1:
                        lam = float(rng.beta(config.mixup_alpha, config.mixup_alpha))
                        perm = torch.as_tensor(rng.permutation(len(chosen)), device=device)
                        logits = model(lam * x + (1 - lam) * x[perm]).float()
                        labelled = lam * F.cross_entropy(logits, y, weight=weight_t) + (1 - lam) * F.cross_entropy(
                            logits, y[perm], weight=weight_t
                        )
                    else:
                        labelled = F.cross_entropy(model(x).float(), y, weight=weight_t)
                    labelled_losses.append(float(labelled.detach()))
                    loss = loss + labelled
                if stream is not None:
                    crops, targets = stream.batch(config.batch_size)
                    xa = torch.as_tensor(crops, device=device).unsqueeze(1)
                    soft = soft_cross_entropy(model(xa).float(), torch.as_tensor(targets, device=device))
                    adapt_losses.append(float(soft.detach()))
                    loss = loss + (config.adapt_weight if train_set else 1.0) * soft
            losses.append(optimizer_step(model, optimizer, scheduler, loss))
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{losses[-1]:.3f}")
        entry: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "lr": float(optimizer.param_groups[0]["lr"]),
        }
        if stream is not None:
            entry["adapt_loss"] = float(np.mean(adapt_losses))
            if labelled_losses:
                entry["labelled_loss"] = float(np.mean(labelled_losses))
        if val_set:
            val_probs = _track_probabilities(
                model, val_windows, val_owners, len(val_set), device, config.batch_size * 4
            )
            entry["val_loss"], entry["val_accuracy"] = _score(val_probs, val_labels)
        entry["monitor_loss"] = entry.get("val_loss", entry["train_loss"])
        entry["seconds"] = round(time.perf_counter() - epoch_start, 3)
        # Without validation tracks there is nothing to select on: the last epoch is kept.
        improved = _improved(entry, best, config) if val_set else True
        if improved:
            best, stale = dict(entry), 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            stale += 1
        entry["best"] = improved
        history.append(entry)
        line = (
            f"epoch {epoch}/{config.epochs}: train loss {entry['train_loss']:.4f}"
            + (f" (teacher soft loss {entry['adapt_loss']:.4f})" if stream is not None else "")
            + (f", val loss {entry['val_loss']:.4f}, val acc {entry['val_accuracy']:.3f}" if val_set else "")
            + (" *" if improved else "")
        )
        (bar.write if progress else log.info)(line)
        if on_epoch:
            on_epoch(dict(entry))
        if val_set and config.patience and stale >= config.patience:
            break
    bar.close()
    assert best is not None
    stopped_early = len(history) < config.epochs
    temperature, calibration = (
        1.0,
        {
            "fitted": False,
            "reason": "no validation tracks"
            if not val_set
            else "temperature scaling switched off"
            if not config.temperature_scaling
            else f"only {len(val_set)} validation tracks (at least {config.temperature_min_tracks} needed)",
        },
    )
    if val_set and config.temperature_scaling and len(val_set) >= config.temperature_min_tracks:
        model.load_state_dict(best_state)
        val_logits = _window_logits(model, val_windows, device, config.batch_size * 4)
        temperature = fit_temperature(val_logits, val_owners, val_labels)
        before = track_probabilities(val_logits, val_owners, len(val_set))
        after = track_probabilities(val_logits, val_owners, len(val_set), temperature)
        calibration = {
            "fitted": True,
            "on": "val",
            "tracks": len(val_set),
            "temperature": temperature,
            "nll_before": nll(before, val_labels),
            "nll_after": nll(after, val_labels),
            "ece_before": calibration_summary(before, before.argmax(axis=1) == val_labels)["ece"],
            "ece_after": calibration_summary(after, after.argmax(axis=1) == val_labels)["ece"],
        }
    metrics = {
        "best_epoch": best["epoch"],
        "train_loss": best["train_loss"],
        "first_train_loss": history[0]["train_loss"],
        "val_loss": best.get("val_loss"),
        "val_accuracy": best.get("val_accuracy"),
        "train_tracks": len(train_set),
        "val_tracks": len(val_set),
        "epochs_run": len(history),
        "stopped_early": stopped_early,
        "selected": "best validation epoch" if val_set else "last epoch",
        "class_weights": [round(float(w), 6) for w in weights],
        "class_weighting": config.class_weights,
        "temperature": temperature,
        "calibration": calibration,
        "adaptation": (
            {
                "tracks": len(adaptation),
                "weight": config.adapt_weight if train_set else None,
                "target": config.adapt_target,
                "alone": not train_set,
            }
            if adaptation
            else None
        ),
        "device": str(device),
        "feature_seconds": round(feature_s, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }
    for entry in history:
        entry.pop("monitor_loss", None)
    return TrainingResult(
        architecture=architecture,
        labels=labels,
        preprocessing=cfg,
        state_dict=copy.copy(best_state),
        metrics=metrics,
        history=history,
        config=config,
        init=init_note,
        temperature=temperature,
    )
