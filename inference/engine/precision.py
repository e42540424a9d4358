"""Which arithmetic a process runs the ViT in: fp32, or bf16/fp16 autocast where that is faster.

Chosen once per process and device (``choose_precision``), with the reason kept so the worker's
log, its registry entry and the pipeline page can say why. On a CPU, bf16 is used only when the
CPU has native bf16 instructions (AVX512-BF16 or AMX) *and* a short probe finds bf16 faster than
fp32 on a small ViT: on AVX2-only CPUs bf16 autocast ran ≈8× slower, so without the flags "auto"
never picks bf16, whatever a probe says. CUDA uses bf16 autocast where the GPU supports it, else
fp16. The Top-5 identity of bf16 and fp32 on the real recordings is checked by
tests/inference/test_precision.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .model import AUTOCAST_DTYPES, cpu_has_bf16

PRECISIONS = ("fp32", "bf16", "fp16")
SETTINGS = ("auto", *PRECISIONS)
DTYPES = AUTOCAST_DTYPES
# bf16 must beat fp32 by this factor in the probe: a tie is not worth the rounding.
PROBE_MARGIN = 0.9
# A small ViT with the default window (128 mels × 256 frames, 128 tokens): the same kernels as
# the real model at a fraction of its cost.
PROBE_SHAPE = (2, 1, 128, 256)
PROBE_DEPTH = 2
PROBE_REPEATS = 3


@dataclass(frozen=True)
class ProbeResult:
    """Best of the probe ViT's forwards per precision, in ms of CPU time on one thread."""

    fp32_ms: float
    bf16_ms: float
    total_ms: float = 0.0  # the whole probe, model build included

    def __str__(self) -> str:
        return f"probe fp32 {self.fp32_ms:.1f} ms, bf16 {self.bf16_ms:.1f} ms (CPU time, 1 thread)"


@dataclass(frozen=True)
class PrecisionChoice:
    """What a process runs its models in, on which device type, and why."""

    precision: str  # fp32 | bf16 | fp16
    device_type: str  # cpu | cuda
    requested: str  # the setting: auto | fp32 | bf16 | fp16
    reason: str
    probe: ProbeResult | None = field(default=None)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return DTYPES.get(self.precision)

    def __str__(self) -> str:
        return f"{self.precision} ({self.reason})"

    def to_dict(self) -> dict[str, object]:
        return {
            "precision": self.precision,
            "device": self.device_type,
            "requested": self.requested,
            "reason": self.reason,
            "probe_ms": None
            if self.probe is None
            else {
                "fp32": round(self.probe.fp32_ms, 1),
                "bf16": round(self.probe.bf16_ms, 1),
                "total": round(self.probe.total_ms, 1),
            },
        }


def probe_cpu_bf16(*, repeats: int = PROBE_REPEATS) -> ProbeResult:
    """Time fp32 against bf16 autocast on a small ViT: best of ``repeats`` interleaved forwards
    each, after one warm-up each (the first bf16 call builds its kernels).

    One thread and the thread's CPU time, not the wall clock: on a shared machine the wall clock
    measured the neighbours (fp32 and bf16 swapped places from run to run at load 5 on 2 cores),
    while the CPU time gave the same ratio every run. ≈100–250 ms, the model build included."""
    from .compat import import_timm

    timm = import_timm()
    started = time.perf_counter()
    threads = torch.get_num_threads()
    best = {"fp32": float("inf"), "bf16": float("inf")}
    try:
        torch.set_num_threads(1)
        with torch.random.fork_rng(devices=[]):  # the probe's random weights leave the caller's RNG alone
            torch.manual_seed(0)
            model = timm.create_model(
                "vit_tiny_patch16_224",
                pretrained=False,
                in_chans=1,
                num_classes=16,
                img_size=PROBE_SHAPE[2:],
                depth=PROBE_DEPTH,
            ).eval()
            x = torch.randn(PROBE_SHAPE)
        with torch.inference_mode():
            for round_ in range(repeats + 1):
                for name in best:
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bf16"):
                        t = time.thread_time()
                        model(x)
                        if round_:  # round 0 warms both
                            best[name] = min(best[name], (time.thread_time() - t) * 1000)
    finally:
        torch.set_num_threads(threads)
    return ProbeResult(fp32_ms=best["fp32"], bf16_ms=best["bf16"], total_ms=(time.perf_counter() - started) * 1000)


def cuda_supports_bf16(device: torch.device) -> bool:
    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def choose_precision(
    requested: str,
    device: torch.device | str,
    *,
    has_bf16: Callable[[], bool] = cpu_has_bf16,
    probe: Callable[[], ProbeResult] = probe_cpu_bf16,
    cuda_bf16: Callable[[torch.device], bool] = cuda_supports_bf16,
) -> PrecisionChoice:
    """The precision for models on ``device`` given the setting (auto | fp32 | bf16 | fp16).

    The flag check, the probe and the CUDA capability are arguments so tests can stand in for
    any machine. A forced value is used as given (fp16 only on CUDA: on a CPU it is refused).
    """
    device = torch.device(device)
    requested = (requested or "auto").strip().lower()
    if requested not in SETTINGS:
        raise ValueError(f"inference precision must be one of {', '.join(SETTINGS)}, got {requested!r}")
    kind = device.type
    if requested != "auto":
        if kind == "cpu" and requested == "fp16":
            raise ValueError("fp16 autocast is for CUDA; on a CPU use auto, fp32 or bf16")
        note = (
            ""
            if kind != "cpu" or requested != "bf16" or has_bf16()
            else "; this CPU has no avx512_bf16/amx_bf16, so bf16 is emulated and slow"
        )
        return PrecisionChoice(requested, kind, requested, f"forced by the setting{note}")
    if kind == "cuda":
        if cuda_bf16(device):
            return PrecisionChoice("bf16", kind, requested, "CUDA device supports bf16")
        return PrecisionChoice("fp16", kind, requested, "CUDA device without bf16: fp16 autocast")
    if kind != "cpu":
        return PrecisionChoice("fp32", kind, requested, f"no reduced-precision rule for {kind}")
    if not has_bf16():
        return PrecisionChoice("fp32", kind, requested, "CPU flags have no avx512_bf16/amx_bf16")
    result = probe()
    if result.bf16_ms < PROBE_MARGIN * result.fp32_ms:
        return PrecisionChoice(
            "bf16", kind, requested, f"CPU has bf16 instructions and is faster in it: {result}", result
        )
    return PrecisionChoice(
        "fp32", kind, requested, f"CPU has bf16 instructions but it was not faster: {result}", result
    )
