"""No cold start: a web process loads and warms the active model when it starts, and again when
staff promote another version, so no request pays for loading it.

gunicorn calls `warm_on_start` from its post_worker_init hook (gunicorn.conf.py), the dev
server from InferenceConfig.ready (runserver only). The work runs in a background thread: the
process answers health checks at once, and a request that arrives during the warm-up waits for
that load instead of starting its own. No active model, a missing checkpoint or a broken one is
logged and the process serves on (requests then get the usual errors). A promotion in this
process wakes the thread on commit; other processes see it within PROMOTION_POLL_S.

This module imports neither torch nor the model code, so /health and the pipeline page can read
`process_status()` cheaply; inference.runtime reports loads and the precision here.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter

log = logging.getLogger(__name__)
PROMOTION_POLL_S = 5.0

_state_lock = threading.Lock()
_loads: Counter[str] = Counter()  # trigger -> loads in this process
_loaded: dict[str, object] = {}  # the model the process holds now
_precision: dict[str, object] = {}  # inference.engine.precision.PrecisionChoice.to_dict()
# off | starting | warming | ready | no_model | failed (with the error and the version it was for)
_warm: dict[str, object] = {"state": "off", "error": "", "key": None}
_wake = threading.Event()
_stop = threading.Event()
_thread: threading.Thread | None = None


def model_loaded(*, pk: int, sha256: str, name: str, precision: str, trigger: str, took_ms: float) -> None:
    with _state_lock:
        _loads[trigger] += 1
        _loaded.clear()
        _loaded.update(pk=pk, sha256=sha256, name=name, precision=precision, took_ms=round(took_ms, 1), trigger=trigger)


def model_unloaded() -> None:
    with _state_lock:
        _loaded.clear()


def precision_chosen(choice: dict[str, object]) -> None:
    with _state_lock:
        _precision.clear()
        _precision.update(choice)


def process_status() -> dict[str, object]:
    """This process's model: warm-up state, version held, precision (and why), loads per trigger."""
    with _state_lock:
        return {
            "pid": os.getpid(),
            "warm_up": _warm["state"],
            "warm_up_error": _warm["error"],
            "model_version": _loaded.get("name"),
            "precision": _precision.get("precision"),
            "precision_reason": _precision.get("reason"),
            "probe_ms": _precision.get("probe_ms"),
            "loads": dict(_loads),
            "last_load_ms": _loaded.get("took_ms"),
        }


def _set_warm(state: str) -> None:
    with _state_lock:
        _warm.update(state=state, error="", key=None)


def warm_active_model(*, trigger: str) -> bool:
    """Load the active version unless this process holds it already; True when it is ready.

    Never raises: a failure is logged and recorded in process_status()."""
    from django.db import connections

    from catalog.selectors import active_model_version

    key = None
    try:
        version = active_model_version()
        if version is None:
            if _warm["state"] != "no_model":
                log.info("No active model version: nothing to warm; will load one when it is promoted")
            _set_warm("no_model")
            return False
        key = (version.pk, version.checkpoint_sha256)
        with _state_lock:
            held = (_loaded.get("pk"), _loaded.get("sha256")) == key
            failed_before = _warm["state"] == "failed" and _warm.get("key") == key
        if held:
            _set_warm("ready")
            return True
        if failed_before:  # a broken checkpoint is not reloaded every poll; the next promotion is tried
            return False
        _set_warm("warming")
        from inference.runtime import model_for

        model_for(version, trigger=trigger)
        _set_warm("ready")
        return True
    except Exception as error:  # the process serves on; requests report what is wrong
        log.warning(
            "Could not warm the active model (%s: %s); requests will try to load it", type(error).__name__, error
        )
        with _state_lock:
            _warm.update(state="failed", error=f"{type(error).__name__}: {error}"[:500], key=key)
        return False
    finally:
        connections.close_all()  # this thread's connections only; it wakes again in seconds


def _watch(interval_s: float) -> None:
    from django.apps import apps

    apps.ready_event.wait()  # runserver starts us from AppConfig.ready, before the other apps are ready
    trigger = "start"
    while not _stop.is_set():
        warm_active_model(trigger=trigger)
        _wake.wait(interval_s)
        _wake.clear()
        trigger = "promotion"


def warm_on_start(*, server: str, interval_s: float = PROMOTION_POLL_S) -> threading.Thread:
    """Start (once per process) the thread that loads the active model now and after promotions."""
    global _thread
    with _state_lock:
        if _thread is not None:
            return _thread
        _warm["state"] = "starting"
        _thread = threading.Thread(target=_watch, args=(interval_s,), name="model-warm-up", daemon=True)
    log.info("%s (pid %d): warming the active model in the background", server, os.getpid())
    _thread.start()
    return _thread


def stop_warming(timeout_s: float = 60) -> None:
    """Stop the thread (tests: a thread polling the test database must not outlive its test)."""
    global _thread
    with _state_lock:
        thread, _thread = _thread, None
    if thread is not None:
        _stop.set()
        _wake.set()
        thread.join(timeout_s)
        _stop.clear()
        _wake.clear()


def wake() -> None:
    """A version was promoted in this process: load it now rather than at the next poll."""
    if _thread is not None:
        _wake.set()


def wait_until_warm(timeout_s: float) -> str:
    """The warm-up state once it is no longer starting/warming, or when the time is up (tests, CLI)."""
    deadline = time.monotonic() + timeout_s
    while _warm["state"] in ("starting", "warming") and time.monotonic() < deadline:
        time.sleep(0.05)
    return _warm["state"]
