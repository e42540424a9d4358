"""The model a worker (or web) process uses: loaded once, reused, swapped when asked for another."""
from __future__ import annotations

import logging
import threading

from django.conf import settings

from catalog.models import ModelVersion
from inference.analysis import warm_up
from inference.model import LoadedModel, load_model
from inference.registry import checkpoint_file

log = logging.getLogger(__name__)
_lock = threading.Lock()
_cached: tuple[int, str, LoadedModel] | None = None
_content_model: object | None = None


def model_for(model_version: ModelVersion) -> LoadedModel:
    """The loaded model for this version; loads (and warms) it only when the process has another."""
    global _cached
    with _lock:
        if _cached and _cached[0] == model_version.pk and _cached[1] == model_version.checkpoint_sha256:
            return _cached[2]
        path = checkpoint_file(model_version)
        log.info("Loading model version %s from %s", model_version.name, path)
        _cached = None  # free the old model before loading the next one
        if settings.TORCH_THREADS:
            import torch

            torch.set_num_threads(settings.TORCH_THREADS)
        loaded = load_model(path, device=settings.INFERENCE_DEVICE or None)
        # also loads the audio libraries and renders once, so job 1 is not slow
        warm_up(loaded, content_model=_content_model_locked(loaded))
        _cached = (model_version.pk, model_version.checkpoint_sha256, loaded)
        return loaded


def content_model() -> object | None:
    """The process's YAMNet for the music/speech/other check (None when the check is off)."""
    with _lock:
        return _content_model_locked(_cached[2] if _cached else None)


def _content_model_locked(loaded: LoadedModel | None) -> object | None:
    global _content_model
    if not settings.CONTENT_CHECK:
        return None
    if _content_model is None:
        from inference.teacher.yamnet import load_yamnet

        _content_model = load_yamnet(device=loaded.device if loaded is not None else "cpu")
    return _content_model
