"""Helpers the benches share: where the recordings are, synthetic audio, the CPU's flags, and how
busy the machine was *by other processes* while a bench ran.

Why the last one: the bench machines are shared (tests, other benches). Load average includes the bench
itself, so it cannot tell a slow commit from a busy neighbour. Here: all CPU time the kernel
counted (/proc/stat) minus the CPU time of this process and the children it waited for,
divided by wall time, gives how many cores others kept busy. Linux only; None elsewhere.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".mp4"}
# The flags that decide torch's CPU kernels: bf16 autocast is fast with avx512_bf16/AMX, ≈8× slower on AVX2.
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


def cpu_flags() -> set[str]:
    """This CPU's flags from /proc/cpuinfo (empty where there is none)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in info.splitlines() if line.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def cpu_description() -> str:
    """The CPU model and which of CPU_FLAGS it has: a benchmark table means little without them."""
    import torch

    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "CPU flags unknown (no /proc/cpuinfo)"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = cpu_flags()
    marks = " ".join(f"{flag}{'+' if flag in flags else '-'}" for flag in CPU_FLAGS)
    return f"CPU: {model}; flags: {marks}; torch CPU capability {torch.backends.cpu.get_cpu_capability()}"


def shared_audio_dir(explicit: Path | None = None) -> Path:
    """--shared, else $ACOUSTICSENSE_SHARED_DIR, else <repo>/../shared; plus /audio."""
    base = explicit or Path(os.environ.get("ACOUSTICSENSE_SHARED_DIR", REPO.parent / "shared"))
    return base / "audio"


def recordings(folder: Path) -> list[Path]:
    """Audio files directly in ``folder`` (sorted); empty when the folder is absent."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def synthetic_signal(seconds: float, sr: int, seed: int) -> np.ndarray:
    """Chords that change every 2 s, a pulse and noise bursts: busy enough to be a fair workload."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    chord_idx = (t // 2.0).astype(int)
    roots = 110.0 * 2 ** (rng.integers(0, 24, size=chord_idx.max() + 1) / 12)
    signal = np.zeros_like(t)
    for ratio, gain in ((1.0, 0.30), (1.26, 0.20), (1.5, 0.20), (2.0, 0.10), (4.0, 0.05)):
        signal += gain * np.sin(2 * np.pi * roots[chord_idx] * ratio * t)
    beat = np.exp(-30 * (t % 0.5)) * rng.standard_normal(t.size) * 0.25  # hi-hat-like bursts
    return ((0.6 * signal + beat) / 1.2).astype(np.float32)


def _busy_seconds() -> float | None:
    """CPU seconds all processes spent (user, nice, system, irq, softirq, steal) since boot."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6, 7) if i < len(fields))
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds of this process and of the children it has reaped."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class OtherLoad:
    """Context manager: ``.cores`` = average cores kept busy by *other* processes meanwhile.

    Child processes count as ours once reaped (waited for) before the block ends.
    """

    def __init__(self) -> None:
        self.cores: float | None = None

    def __enter__(self) -> OtherLoad:
        self._start = (time.monotonic(), _busy_seconds(), _own_seconds())
        return self

    def __exit__(self, *exc: object) -> None:
        wall0, busy0, own0 = self._start
        busy1 = _busy_seconds()
        wall = time.monotonic() - wall0
        if busy0 is None or busy1 is None or wall <= 0:
            return
        own = _own_seconds() - own0
        self.cores = max(0.0, (busy1 - busy0 - own) / wall)


def describe(cores: float | None) -> str:
    """'others used 1.3 of 2 cores' or a note that it could not be measured."""
    if cores is None:
        return "other processes' CPU use unknown (no /proc/stat)"
    return f"other processes used {cores:.1f} of {os.cpu_count()} cores meanwhile"


def wait_for_quiet(max_wait_s: float, threshold: float = 0.2, sample_s: float = 1.0) -> float | None:
    """Wait (up to ``max_wait_s``) until other processes use under ``threshold`` cores for one
    sample; returns the last sample, so the caller can say how quiet it got."""
    deadline = time.monotonic() + max_wait_s
    while True:
        with OtherLoad() as load:
            time.sleep(sample_s)
        if load.cores is None or load.cores < threshold or time.monotonic() >= deadline:
            return load.cores


@contextmanager
def bench_redis(url: str | None) -> Iterator[str]:
    """``url`` when given, else a redis-server of the bench's own on a free port, stopped afterwards.
    Benches flush their Redis DB, and a server found running may hold someone else's data (a fresh
    machine has none at all)."""
    if url:
        yield url
        return
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from acousticsense_site.localredis import free_port, start_redis

    data_dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    port = free_port()
    process = start_redis(port=port, data_dir=data_dir, persist=False)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)
