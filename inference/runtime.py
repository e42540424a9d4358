"""The model a worker (or web) process uses: loaded once, reused, swapped when asked for another.

The arithmetic it runs in (fp32, or bf16/fp16 autocast) is chosen once per process and device
by `inference_precision` (see inference.engine.precision) and logged with its reason.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

from catalog.models import ModelVersion
from inference import serving
from inference.engine.analysis import warm_up
from inference.engine.model import LoadedModel, load_model, select_device
from inference.engine.precision import PrecisionChoice, choose_precision
from inference.registry import checkpoint_file

log = logging.getLogger(__name__)
_lock = threading.Lock()
_precision_lock = threading.Lock()
_cached: tuple[int, str, LoadedModel] | None = None
_content_model: object | None = None
_precisions: dict[str, PrecisionChoice] = {}
_threads_set = False


def _set_torch_threads() -> None:
    global _threads_set
    if settings.TORCH_THREADS and not _threads_set:
        import torch

        torch.set_num_threads(settings.TORCH_THREADS)
    _threads_set = True


def inference_precision(device: str | None = None) -> PrecisionChoice:
    """This process's precision for the device (default: ACOUSTICSENSE_DEVICE), chosen and logged
    once: ACOUSTICSENSE_INFERENCE_PRECISION, or for 'auto' the CPU flags and a short probe."""
    target = select_device(device or settings.INFERENCE_DEVICE or None)
    with _precision_lock:
        choice = _precisions.get(target.type)
        if choice is None:
            _set_torch_threads()  # the probe times what the models will run with
            choice = _precisions[target.type] = choose_precision(settings.INFERENCE_PRECISION, target)
            log.info("Inference precision on %s: %s", target.type, choice)
            serving.precision_chosen(choice.to_dict())
        return choice


def model_for(model_version: ModelVersion, *, trigger: str = "on demand") -> LoadedModel:
    """The loaded model for this version; loads (and warms) it only when the process has another.

    `trigger` says who asked (start, promotion, request, on demand): the process's load counts
    (serving.process_status) show whether requests ever paid for a load."""
    global _cached
    with _lock:
        if _cached and _cached[0] == model_version.pk and _cached[1] == model_version.checkpoint_sha256:
            return _cached[2]
        path = checkpoint_file(model_version)
        log.info("Loading model version %s from %s (%s)", model_version.name, path, trigger)
        started = time.perf_counter()
        _cached = None  # free the old model before loading the next one
        serving.model_unloaded()
        _set_torch_threads()
        precision = inference_precision().precision
        loaded = load_model(path, device=settings.INFERENCE_DEVICE or None, precision=precision)
        # also loads the audio libraries and renders once, so job 1 is not slow
        warm_up(loaded, content_model=_content_model_locked(loaded))
        _cached = (model_version.pk, model_version.checkpoint_sha256, loaded)
        took_ms = (time.perf_counter() - started) * 1000
        serving.model_loaded(
            pk=model_version.pk,
            sha256=model_version.checkpoint_sha256,
            name=model_version.name,
            precision=loaded.precision,
            trigger=trigger,
            took_ms=took_ms,
        )
        log.info("Model version %s ready in %.0f ms (%s, %s)", model_version.name, took_ms, loaded.precision, trigger)
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
        from inference.engine.teacher.yamnet import load_yamnet

        _content_model = load_yamnet(device=loaded.device if loaded is not None else "cpu")
    return _content_model
