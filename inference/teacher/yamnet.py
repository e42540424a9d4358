"""YAMNet (Google's AudioSet sound-event tagger, Apache-2.0) rebuilt in PyTorch.

One frame is 15,600 samples (0.975 s) of 16 kHz mono audio; the waveform front end (25 ms
Hann-windowed frames every 10 ms, a 512-point DFT as a matrix product, magnitude, 64 mel bands,
log(mel + 0.001)) and the MobileNetV1 body run batched on any number of frames at once. The
weights and the layer configuration come from ``weights/yamnet.safetensors``, converted once
from the TFLite release by :mod:`inference.teacher.yamnet_convert`; no TensorFlow at run time.

The TFLite file keeps most weights in int8, and the runtime that made the reference outputs
(LiteRT with XNNPACK) quantises each such op's float input to int8 on the fly. In the front end
that is no detail: every STFT row and every magnitude row is rounded to 255 steps of its own
maximum, so quiet bins come out as exactly log(0.001). The front end replays it
(:func:`dynamic_int8`, integer-exact), and its log-mel matches the reference to float rounding.
The network runs in float on the dequantised weights: there the requantisation is rounding
noise that does not average out the same way twice (moving a weight by one part in 10⁶ moves a
replayed score by up to 0.07), and replaying it agreed no better with the reference (worst
frame ≈ 0.05 either way, median frame ≈ 0.002) while making scores depend on the CPU's
float rounding. Scores therefore differ from the reference by that noise, not by a port error.

Torch is imported here; keep the import out of code paths that only validate uploads.
"""
from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

SAMPLE_RATE = 16000
FRAME_SAMPLES = 15600
FRAME_HOP = 7680
WEIGHTS: Path = Path(__file__).resolve().with_name("weights") / "yamnet.safetensors"
CLASS_MAP: Path = WEIGHTS.with_name("yamnet_class_map.csv")
FORMAT = "acousticsense-yamnet/1"
_ACTIVATIONS = {None: lambda x: x, "relu": lambda x: F.relu(x, inplace=True),
                "relu6": lambda x: F.relu6(x, inplace=True)}


@lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 521 AudioSet class names, in output order (``display_name`` of the shipped csv)."""
    with CLASS_MAP.open(newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda row: int(row["index"]))
    return tuple(row["display_name"] for row in rows)


def dynamic_int8(x: torch.Tensor, *, nonnegative: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(q − zero_point, scale) per row of ``x``: a FULLY_CONNECTED input as XNNPACK's int8 kernel sees it.

    Asymmetric int8 over the last axis: the row's range widened to include 0, scale = range / 255,
    an integer zero point, round half to even. The integers come back as floats, so their
    products with the int8 weights sum exactly in float32. ``nonnegative`` rows (magnitudes)
    take the same arithmetic in fewer passes: their zero point is −128.
    """
    if nonnegative:
        scale = x.amax(dim=-1, keepdim=True) / 255
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        return torch.div(x, scale).round_(), scale  # already within [0, 255]
    low, high = torch.aminmax(x, dim=-1, keepdim=True)
    low, high = low.clamp(max=0), high.clamp(min=0)
    scale = (high - low) / 255
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    zero_point = torch.round(-128 - low / scale).clamp_(-128, 127)
    return torch.div(x, scale).round_().add_(zero_point).clamp_(-128, 127).sub_(zero_point), scale


def _integers(weight: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.round(weight.detach() / scale.reshape(-1, *[1] * (weight.dim() - 1)))


class ConvLayer(nn.Module):
    """One CONV_2D or DEPTHWISE_CONV_2D: TF padding made explicit, fused activation applied."""

    def __init__(self, layer: dict[str, Any], in_channels: int) -> None:
        super().__init__()
        self.groups, self.stride = layer["groups"], tuple(layer["stride"])
        top, bottom, left, right = layer["padding"]
        # TF's 'SAME' at stride 2 pads only after (bottom/right): that needs an explicit F.pad.
        self.symmetric = (top, left) == (bottom, right)
        self.padding = (top, left) if self.symmetric else (left, right, top, bottom)
        self.activation = _ACTIVATIONS[layer["activation"]]
        out_channels = in_channels if self.groups > 1 else layer["out_channels"]
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels // self.groups, *layer["kernel"]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # oneDNN is quickest on channels-last; a 1-channel input (the log-mel) is ambiguous, so
        # the first conv's output comes back NCHW unless asked.
        x = x.contiguous(memory_format=torch.channels_last)
        if not self.symmetric:
            x = F.pad(x, self.padding)
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding if self.symmetric else 0, 1, self.groups)
        return self.activation(x)


class LogMelFrontend(nn.Module):
    """Waveform frames (B, samples) → log-mel patches (B, stft_frames, mel_bands), as in the graph."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.frame_length, self.frame_hop = config["frame_length"], config["frame_hop"]
        self.pad_before = config["fft_pad"][0]
        self.dft_int8, self.mel_int8 = config["dft_dynamic_int8"], config["mel_dynamic_int8"]
        fft_size = self.frame_length + sum(config["fft_pad"])
        bins, bands = fft_size // 2 + 1, config["mel_bands"]
        self.register_buffer("window", torch.zeros(self.frame_length))
        for name, shape in (("dft_real", (bins, fft_size)), ("dft_imag", (bins, fft_size)), ("mel", (bands, bins))):
            self.register_buffer(name, torch.zeros(shape))
            if self.dft_int8 if name.startswith("dft") else self.mel_int8:
                self.register_buffer(f"{name}_scale", torch.ones(shape[0]))
        self.register_buffer("mel_bias", torch.zeros(bands))
        self.register_buffer("dft", torch.zeros(2 * bins, self.frame_length), persistent=False)
        self.register_buffer("dft_scale", torch.ones(2 * bins), persistent=False)
        self.register_buffer("mel_int", torch.zeros(bands, bins), persistent=False)
        self.register_load_state_dict_post_hook(self._refresh)

    def _refresh(self, *_: Any) -> None:
        # Zero padding meets zero DFT columns: keep the columns that meet samples, real and
        # imaginary parts stacked for one matrix product (integers when the graph runs int8).
        columns = slice(self.pad_before, self.pad_before + self.frame_length)
        dft = torch.cat([self.dft_real[:, columns], self.dft_imag[:, columns]])
        if self.dft_int8:
            self.dft_scale = torch.cat([self.dft_real_scale, self.dft_imag_scale])
            dft = _integers(dft, self.dft_scale)
        self.dft = dft
        if self.mel_int8:
            self.mel_int = _integers(self.mel, self.mel_scale)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        windowed = frames.unfold(-1, self.frame_length, self.frame_hop) * self.window  # (B, T, length)
        if self.dft_int8:
            # The padding cannot change a range that already includes 0: quantise unpadded.
            q, scale = dynamic_int8(windowed)
            spectrum = (q @ self.dft.T).mul_(scale).mul_(self.dft_scale)
        else:
            spectrum = windowed @ self.dft.T
        real, imag = spectrum.chunk(2, dim=-1)
        magnitude = torch.sqrt(real * real + imag * imag)
        if self.mel_int8:
            q, scale = dynamic_int8(magnitude, nonnegative=True)
            mel = torch.addcmul(self.mel_bias, F.linear(q, self.mel_int).mul_(scale), self.mel_scale)
        else:
            mel = F.linear(magnitude, self.mel, self.mel_bias)
        return torch.log(mel)


class YAMNet(nn.Module):
    """Frames (B, 15600) float32 in [-1, 1] → (scores (B, 521) after sigmoid, log-mel (B, 96, 64))."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        if config["input_samples"] != FRAME_SAMPLES:
            raise ValueError(f"the weights expect frames of {config['input_samples']} samples")
        self.frontend = LogMelFrontend(config)
        self.layers = nn.ModuleList()
        channels = 1
        for layer in config["layers"]:
            self.layers.append(ConvLayer(layer, channels))
            channels = self.layers[-1].weight.shape[0]
        self.classifier = nn.Linear(channels, config["classes"])

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if frames.dim() != 2 or frames.shape[1] != FRAME_SAMPLES:
            raise ValueError(f"expected frames of shape (B, {FRAME_SAMPLES}), got {tuple(frames.shape)}")
        log_mel = self.frontend(frames)
        x = log_mel.unsqueeze(1)  # NCHW (B, 1, 96, 64)
        for layer in self.layers:
            x = layer(x)
        scores = torch.sigmoid(self.classifier(x.mean(dim=(2, 3))))
        return scores, log_mel


def load_yamnet(path: Path | None = None, device: str | torch.device = "cpu") -> YAMNet:
    """The network from a converted safetensors file (the shipped one by default), in eval mode."""
    path = Path(path) if path is not None else WEIGHTS
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        if metadata.get("format") != FORMAT:
            raise ValueError(f"{path} is not a converted YAMNet file (format {metadata.get('format')!r})")
        tensors = {name: f.get_tensor(name).float() for name in f.keys()}
    for name in [n for n in tensors if n.endswith("_scale")]:
        # Weights born int8 are stored as scale × q (maybe in float16): back to the exact float32 value.
        weight = name.removesuffix("_scale")
        tensors[weight] = _integers(tensors[weight], tensors[name]) * tensors[name].reshape(
            -1, *[1] * (tensors[weight].dim() - 1))
    config = json.loads(metadata["config"])
    for i, layer in enumerate(config["layers"]):
        weight = tensors[f"layers.{i}.weight"]
        layer.update(out_channels=weight.shape[0], kernel=list(weight.shape[2:]))
    config["classes"] = tensors["classifier.weight"].shape[0]
    model = YAMNet(config)
    # Only the front end replays int8 arithmetic; the network's layers have no use for their scale.
    expected = model.state_dict().keys()
    model.load_state_dict({name: value for name, value in tensors.items()
                           if name in expected or not name.endswith("_scale")}, strict=True)
    return model.to(device).eval()


def frame_starts(n_samples: int, *, hop: int = FRAME_HOP, max_frames: int | None = None) -> np.ndarray:
    """Sample offsets of the frames scored: every ``hop`` samples while a whole frame fits.

    A clip shorter than one frame gets one frame at 0, zero-padded at the end; the samples after
    the last whole frame are not scored (as in the reference). With ``max_frames``, at most
    that many of those frames, spread evenly from the first to the last.
    """
    if hop < 1:
        raise ValueError(f"hop must be positive, got {hop}")
    if n_samples <= 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.arange(0, max(n_samples - FRAME_SAMPLES, 0) + 1, hop, dtype=np.int64)
    if max_frames is not None:
        if max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        if len(starts) > max_frames:
            starts = starts[np.linspace(0, len(starts) - 1, max_frames).round().astype(np.int64)]
    return starts


def yamnet_scores(model: YAMNet, samples_16k: np.ndarray, *, hop: int = FRAME_HOP, max_frames: int | None = None,
                  batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(frame starts, scores (frames, 521) float32) for mono 16 kHz samples, ``batch_size`` frames at a time."""
    samples = np.asarray(samples_16k, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {samples.shape}")
    starts = frame_starts(len(samples), hop=hop, max_frames=max_frames)
    if len(starts) == 0:
        return starts, np.zeros((0, model.classifier.weight.shape[0]), dtype=np.float32)
    if len(samples) < FRAME_SAMPLES:
        samples = np.pad(samples, (0, FRAME_SAMPLES - len(samples)))
    device = model.classifier.weight.device
    windows = torch.from_numpy(samples).unfold(0, FRAME_SAMPLES, 1)  # a view: one row per offset
    index = torch.from_numpy(starts)
    scores = []
    with torch.inference_mode():
        for begin in range(0, len(starts), batch_size):
            frames = windows[index[begin:begin + batch_size]].to(device)
            scores.append(model(frames)[0].float().cpu())
    return starts, torch.cat(scores).numpy()
