"""Attention rollout: which time/frequency regions of the spectrogram drove a decision.

timm's fused ``scaled_dot_product_attention`` never materialises the attention matrix, so
while maps are wanted each block runs its unfused path (``fused_attn = False``) and a forward
hook on ``attn.attn_drop`` sees the post-softmax matrix ``[B, heads, N, N]``. Rollout
(Abnar & Zuidema, 2020) is accumulated inside the hooks, layer by layer, so memory stays at
one ``[B, N, N]`` product whatever the depth: mean over heads, ``0.5·A + 0.5·I``,
row-normalise, multiply. The CLS row, minus the prefix tokens, is the map over patches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .datatypes import AttentionRegion, PreprocessingConfig


class _Rollout:
    """Running product of the residual-corrected, head-averaged attention matrices."""

    def __init__(self) -> None:
        self.joint: torch.Tensor | None = None

    def hook(self, _module: nn.Module, _inputs: tuple, attn: torch.Tensor) -> None:
        with torch.autocast(attn.device.type, enabled=False):  # rollout in float32 even under bf16
            a = attn.detach().float().mean(dim=1)  # [B, N, N]
            a = 0.5 * a + 0.5 * torch.eye(a.shape[-1], device=a.device)
            a = a / a.sum(dim=-1, keepdim=True)
            self.joint = a if self.joint is None else a @ self.joint


@contextmanager
def capture_rollout(model: nn.Module) -> Iterator[_Rollout]:
    """Within the block, forwards of a timm ViT accumulate attention rollout; restored on exit."""
    rollout = _Rollout()
    saved: list[tuple[nn.Module, bool]] = []
    handles = []
    try:
        for block in model.blocks:
            saved.append((block.attn, block.attn.fused_attn))
            block.attn.fused_attn = False
            handles.append(block.attn.attn_drop.register_forward_hook(rollout.hook))
        yield rollout
    finally:
        for handle in handles:
            handle.remove()
        for attn, fused in saved:
            attn.fused_attn = fused


def rollout_maps(rollout: _Rollout, model: nn.Module, out_size: tuple[int, int]) -> np.ndarray:
    """Per-window maps [B, n_mels, window_frames] from the captured rollout (not normalised)."""
    if rollout.joint is None:
        raise RuntimeError("no attention was captured; run a forward inside capture_rollout()")
    n_prefix = getattr(model, "num_prefix_tokens", 1)
    grid = tuple(model.patch_embed.grid_size)
    cls_row = rollout.joint[:, 0, n_prefix:].float()
    patches = cls_row.reshape(cls_row.shape[0], 1, *grid)
    with torch.autocast(patches.device.type, enabled=False):
        maps = F.interpolate(patches, size=out_size, mode="bilinear", align_corners=False)
    return maps[:, 0].float().cpu().numpy()


def stitch_windows(maps: np.ndarray, starts: np.ndarray, total_frames: int, cfg: PreprocessingConfig) -> np.ndarray:
    """Place window maps on the track's time axis, averaging overlaps; scaled to [0, 1]."""
    maps = np.asarray(maps, dtype=np.float32)
    acc = np.zeros((cfg.n_mels, total_frames), dtype=np.float32)
    count = np.zeros(total_frames, dtype=np.float32)
    for window_map, start in zip(maps, starts):
        stop = min(int(start) + maps.shape[-1], total_frames)
        acc[:, int(start) : stop] += window_map[:, : stop - int(start)]
        count[int(start) : stop] += 1
    stitched = acc / np.maximum(count, 1)
    if stitched.size == 0:
        return stitched
    lo, hi = float(stitched.min()), float(stitched.max())
    if hi - lo < 1e-12:
        return np.zeros_like(stitched)  # nothing stands out
    return (stitched - lo) / (hi - lo)


def _run_around(ok: np.ndarray, i: int, max_len: int) -> tuple[int, int]:
    """The contiguous run of True in ``ok`` containing index i, at most max_len long, centred on i."""
    if not ok[i]:
        return i, i
    bad = np.flatnonzero(~ok)
    before, after = bad[bad < i], bad[bad > i]
    lo = int(before[-1]) + 1 if before.size else 0
    hi = int(after[0]) - 1 if after.size else ok.size - 1
    if hi - lo + 1 > max_len:
        lo = min(max(lo, i - max_len // 2), hi - max_len + 1)
        hi = lo + max_len - 1
    return lo, hi


def top_regions(
    attn: np.ndarray, cfg: PreprocessingConfig, *, n: int = 3, threshold: float = 0.5
) -> list[AttentionRegion]:
    """The n most-attended, non-overlapping time/frequency boxes, best first.

    Greedy: take the highest free cell, grow along time in its mel row while attention stays
    above ``threshold × peak`` and the map's 90th percentile (at most one window long), then
    grow across mel rows using the mean over that time span; mark the box used and repeat.
    """
    a = np.asarray(attn, dtype=np.float32)
    if a.ndim != 2 or a.size == 0 or n <= 0:
        return []
    n_rows = a.shape[0]
    free = np.ones_like(a, dtype=bool)
    edges = cfg.mel_band_edges()
    # Against a flat map, half the peak is everything: also require the top decile.
    quantile = float(np.quantile(a, 0.9))
    regions: list[AttentionRegion] = []
    for _ in range(n):
        masked = np.where(free, a, -np.inf)
        row, col = np.unravel_index(int(np.argmax(masked)), a.shape)
        peak = float(masked[row, col])
        if not np.isfinite(peak) or peak <= 0 or peak < quantile:
            break  # what is left is not among the most-attended cells
        cut = max(threshold * peak, quantile)
        t0, t1 = _run_around(free[row] & (a[row] >= cut), col, cfg.window_frames)
        band_free = free[:, t0 : t1 + 1].all(axis=1)
        profile = a[:, t0 : t1 + 1].mean(axis=1)
        f0, f1 = _run_around(band_free & (profile >= cut), row, n_rows)
        free[f0 : f1 + 1, t0 : t1 + 1] = False
        regions.append(
            AttentionRegion(
                start_s=round(cfg.frames_to_seconds(t0), 3),
                end_s=round(cfg.frames_to_seconds(t1 + 1), 3),
                low_hz=round(float(edges[f0]), 1),
                high_hz=round(float(edges[f1 + 1]), 1),
                score=round(float(a[f0 : f1 + 1, t0 : t1 + 1].mean()), 4),
            )
        )
    return regions
