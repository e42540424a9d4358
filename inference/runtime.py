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
        warm_up(loaded)  # also loads the audio libraries and renders once, so job 1 is not slow
        _cached = (model_version.pk, model_version.checkpoint_sha256, loaded)
        return loaded
