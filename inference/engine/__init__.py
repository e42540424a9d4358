"""The AcousticSense engine: audio in, genres, attention and images out, with no Django.

In: an audio file (or mono samples and their rate) and a model checkpoint (the product's
safetensors format or a bare timm state dict; ``load_model``). Out: an ``AnalysisResult``
(``analyze_file``/``analyze_samples``): Top-K genres, per-window scores, the track embedding,
a log-mel and attention map, the most attended regions, the music/speech/other verdict, and
per-stage timings; ``render_analysis_images`` turns it into PNGs. The same package trains
(``train``), evaluates (``evaluate_model``), distils the teachers (``teacher``, ``starter``)
and checks audio cheaply before anything is stored (``probe_audio``, ``supported_extensions``).

Names below load their module on first use, so ``import inference.engine.audio`` (the upload
check) stays free of torch. Everything Django, RQ and the catalog does with the engine lives
one level up, in ``inference``; nothing here may import it (``lint-imports`` checks).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS: dict[str, tuple[str, ...]] = {
    "datatypes": (
        "AnalysisResult",
        "AttentionRegion",
        "AudioInfo",
        "ContentResult",
        "ModelCheckpoint",
        "PreprocessingConfig",
    ),
    "errors": ("AudioError", "CheckpointError", "ErrorCode", "InferenceError"),
    "audio": (
        "DecodedAudio",
        "ffmpeg_available",
        "load_audio",
        "probe_audio",
        "supported_extensions",
        "supported_formats_text",
    ),
    "features": ("cut_windows", "log_mel", "normalise"),
    "vit": ("build_vit",),
    "checkpoint": ("create_random_checkpoint", "load_checkpoint", "save_checkpoint"),
    "model": ("LoadedModel", "load_model", "model_from_checkpoint", "select_device"),
    "precision": ("PrecisionChoice", "choose_precision"),
    "analysis": ("analyze_file", "analyze_samples", "warm_up"),
    "content": ("hear_content",),
    "render": ("render_analysis_images", "render_spectrogram", "SPECTROGRAM_PLOT_AREA"),
    "training": ("TrainingConfig", "TrainingExample", "SoftExample", "train"),
    "evaluation": ("Predictions", "evaluate_model", "predict", "score_predictions"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
