"""Whole-track analysis: decode → log-mel → windows → ViT → Top-K, window scores, attention.

The track score is the mean of the per-window softmax, so ``window_scores`` show editors where
in the track a genre appears and always average to ``probabilities``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .attention import stitch_windows, top_regions
from .audio import is_silent, load_audio
from .content import hear_content
from .datatypes import AnalysisResult, AudioInfo
from .features import cut_windows, log_mel, normalise
from .model import LoadedModel


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted.astype(np.float64))
    return e / e.sum(axis=-1, keepdims=True)


def _check_top_k(top_k: int, n_labels: int) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= n_labels:
        raise ValueError(f"top_k must be an integer between 1 and {n_labels}, got {top_k!r}")


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def analyze_samples(
    samples: np.ndarray,
    sr: int,
    info: AudioInfo,
    model: LoadedModel,
    *,
    top_k: int = 5,
    with_attention: bool = True,
    batch_size: int = 16,
    timings_ms: dict[str, float] | None = None,
    silent: bool | None = None,
    content_model: object | None = None,
) -> AnalysisResult:
    """Analyse mono float samples at rate ``sr`` (resampled to the model's rate if needed); with a
    ``content_model`` (YAMNet), also say whether it is music, speech or other."""
    labels, cfg = model.labels, model.preprocessing
    _check_top_k(top_k, len(labels))
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    timings = {"decode": 0.0, **(timings_ms or {})}
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError("samples must be a non-empty mono (1-D) array")
    if sr != cfg.sample_rate:
        import librosa

        start = time.perf_counter()
        samples = librosa.resample(samples, orig_sr=sr, target_sr=cfg.sample_rate, res_type="soxr_hq")
        timings["decode"] += _ms(start)

    start = time.perf_counter()
    mel_db = log_mel(samples, cfg)
    windows, starts = cut_windows(normalise(mel_db, cfg), cfg)
    timings["mel"] = _ms(start)

    start = time.perf_counter()
    outputs = [
        model.run_batch(windows[i : i + batch_size], with_attention=with_attention)
        for i in range(0, len(windows), batch_size)
    ]
    logits = np.concatenate([o.logits for o in outputs])
    embeddings = np.concatenate([o.embeddings for o in outputs])
    timings["model"] = _ms(start)

    start = time.perf_counter()
    attention, regions = None, []
    if with_attention:
        maps = np.concatenate([o.attention for o in outputs])
        attention = stitch_windows(maps, starts, mel_db.shape[1], cfg)
        regions = top_regions(attention, cfg)
    timings["attention"] = _ms(start)

    content = None
    if content_model is not None:
        start = time.perf_counter()
        content = hear_content(content_model, samples, cfg.sample_rate, autocast_dtype=model.autocast_dtype)
        timings["content"] = _ms(start)

    window_probs = _softmax(logits / model.temperature)  # temperature scaling (1.0 when never fitted)
    probs = window_probs.mean(axis=0)
    probs = probs / probs.sum()
    order = np.argsort(-probs, kind="stable")[:top_k]
    return AnalysisResult(
        labels=list(labels),
        probabilities=[float(p) for p in probs],
        top_k=[(labels[i], float(probs[i])) for i in order],
        window_starts_s=[round(cfg.frames_to_seconds(int(s)), 3) for s in starts],
        window_scores=window_probs.tolist(),
        embedding=embeddings.mean(axis=0).tolist(),
        mel_db=mel_db,
        attention=attention,
        regions=regions,
        audio=info,
        is_silent=is_silent(samples) if silent is None else silent,
        timings_ms=timings,
        trained=model.trained,
        model_sha256=model.sha256,
        architecture=model.architecture,
        content=content,
    )


def analyze_file(
    path: str | Path,
    model: LoadedModel,
    *,
    top_k: int = 5,
    with_attention: bool = True,
    batch_size: int = 16,
    max_duration_s: float = 1200,
    content_model: object | None = None,
) -> AnalysisResult:
    """Decode and analyse one audio file; AudioError (with a code) when the file is unusable."""
    _check_top_k(top_k, len(model.labels))  # fail before paying for the decode
    start = time.perf_counter()
    decoded = load_audio(path, target_sr=model.preprocessing.sample_rate, max_duration_s=max_duration_s)
    decode_ms = _ms(start)
    return analyze_samples(
        decoded.samples,
        decoded.sample_rate,
        decoded.info,
        model,
        top_k=top_k,
        with_attention=with_attention,
        batch_size=batch_size,
        timings_ms={"decode": decode_ms},
        silent=decoded.is_silent,
        content_model=content_model,
    )


def warm_up(model: LoadedModel, *, render: bool = True, content_model: object | None = None) -> None:
    """Pay the one-off costs (librosa/soxr imports, first forward, font cache) once per worker."""
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal(44100 * 2)).astype(np.float32)
    result = analyze_samples(
        samples, 44100, AudioInfo(2.0, 44100, 1, "wav"), model, top_k=1, content_model=content_model
    )
    if render:
        from .render import render_analysis_images

        render_analysis_images(result, model.preprocessing)
