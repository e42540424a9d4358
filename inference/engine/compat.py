"""Import timm on a CPU-only torch next to a CUDA-built torchvision.

The pinned torchvision 0.28.0 wheel is built against CUDA torch. Next to the CPU torch 2.13
wheel its compiled ops (``_C.so``) fail to load, and ``import torchvision`` then raises
``RuntimeError: operator torchvision::nms does not exist`` while registering fake kernels for
ops that were never defined. timm imports torchvision, so ``import timm`` fails too.

The fix: define the two op schemas torchvision registers fake kernels for (``nms`` and
``qnms``) in a torch library fragment, drop the half-imported ``torchvision*`` modules and
import again. Only torchvision's C++ ops stay unavailable; the ViTs used here never call them.
Where torchvision imports cleanly (a matching CUDA torch) this is a no-op.
"""

from __future__ import annotations

import sys
from types import ModuleType

import torch

# Kept referenced at module level: the schemas live as long as this Library object does.
_TORCHVISION_FRAGMENT: torch.library.Library | None = None

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)


def _define_missing_torchvision_ops() -> None:
    global _TORCHVISION_FRAGMENT
    if _TORCHVISION_FRAGMENT is not None:
        return
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS:
        lib.define(schema)
    _TORCHVISION_FRAGMENT = lib


def _drop_torchvision_modules() -> None:
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]


def import_torchvision() -> ModuleType:
    """Import torchvision, patching the missing op schemas if its C++ ops failed to load."""
    try:
        import torchvision
    except RuntimeError as exc:
        if "operator torchvision::" not in str(exc) or "does not exist" not in str(exc):
            raise
        _drop_torchvision_modules()
        _define_missing_torchvision_ops()
        import torchvision
    return torchvision


def import_timm() -> ModuleType:
    """Return the timm module, importable on CPU torch (see the module docstring)."""
    if "timm" not in sys.modules:
        import_torchvision()
    import timm

    return timm
