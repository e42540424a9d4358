"""The network: a timm Vision Transformer over one-channel log-mel windows.

Its own module so that ``checkpoint`` (which checks a file's tensor shapes against a fresh
network) and ``model`` (which loads a checkpoint into one) both depend on it, not on each other.
"""

from __future__ import annotations

from torch import nn

from .compat import import_timm


def build_vit(architecture: str, *, num_classes: int, n_mels: int, window_frames: int) -> nn.Module:
    """A timm ViT reading one-channel n_mels × window_frames windows; never downloads weights."""
    timm = import_timm()
    return timm.create_model(
        architecture, pretrained=False, in_chans=1, img_size=(n_mels, window_frames), num_classes=num_classes
    )
