"""Is it music? YAMNet listens to a few frames spread over the track and says music, speech or
other, so editors can reject what a genre cannot describe (an audiobook, a whale, a broken file).

At most ``CONTENT_MAX_FRAMES`` frames of 0.975 s are heard, so the check costs a small, fixed
share of an analysis whatever the track's length. Only those frames are resampled to YAMNet's
16 kHz, never the whole track. Django-free.
"""

from __future__ import annotations

import numpy as np

from .datatypes import ContentResult
from .teacher.content import CONTENT_MAX_FRAMES, CONTENT_VERSION, content_scores, content_verdict


def content_frames(samples: np.ndarray, sr: int, *, max_frames: int = CONTENT_MAX_FRAMES) -> np.ndarray:
    """(frames, 15600) float32 at 16 kHz: up to ``max_frames`` frames spread evenly over the
    samples; a clip shorter than one frame is zero-padded."""
    import librosa

    from .teacher.yamnet import FRAME_SAMPLES, SAMPLE_RATE

    span = int(np.ceil(FRAME_SAMPLES * sr / SAMPLE_RATE)) + 16  # a little more than one frame at `sr`
    if samples.size < span:
        samples = np.pad(samples, (0, span - samples.size))
    count = max(1, min(max_frames, samples.size // span))
    starts = np.linspace(0, samples.size - span, count).astype(int)
    segments = np.stack([samples[s : s + span] for s in starts]).astype(np.float32)
    if sr != SAMPLE_RATE:
        segments = librosa.resample(segments, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq", axis=-1)
    if segments.shape[1] < FRAME_SAMPLES:
        segments = np.pad(segments, ((0, 0), (0, FRAME_SAMPLES - segments.shape[1])))
    return np.ascontiguousarray(segments[:, :FRAME_SAMPLES], dtype=np.float32)


def hear_content(
    model: object,
    samples: np.ndarray,
    sr: int,
    *,
    max_frames: int = CONTENT_MAX_FRAMES,
    autocast_dtype: object | None = None,
) -> ContentResult:
    """The content verdict for mono ``samples`` at rate ``sr`` with a loaded YAMNet.

    ``autocast_dtype`` (the genre model's, see inference.engine.precision): where the process runs in
    bf16 the check does too — ≈40 % less time, family scores within 0.01 of fp32 on the shared
    recordings, the same verdicts — so it stays a small share of an analysis that got faster."""
    from contextlib import nullcontext

    import torch

    frames = content_frames(np.asarray(samples, dtype=np.float32), sr, max_frames=max_frames)
    device = next(model.parameters()).device  # type: ignore[attr-defined]
    autocast = nullcontext() if autocast_dtype is None else torch.autocast(device.type, dtype=autocast_dtype)
    with torch.inference_mode(), autocast:
        scores, _ = model(torch.from_numpy(frames).to(device))  # type: ignore[operator]
    family = content_scores(scores.float().cpu().numpy())
    return ContentResult(label=content_verdict(family), scores=family, frames=len(frames), version=CONTENT_VERSION)
