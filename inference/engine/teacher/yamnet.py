"""YAMNet (Google's AudioSet sound-event tagger, Apache-2.0) rebuilt in PyTorch.

One frame is 15,600 samples (0.975 s) of 16 kHz mono audio; the waveform front end (25 ms
Hann-windowed frames every 10 ms, a 512-point DFT as a matrix product, magnitude, 64 mel bands,
log(mel + 0.001)) and the MobileNetV1 body run batched on any number of frames at once. The
weights and the layer configuration come from ``weights/yamnet.safetensors``, converted once
from the TFLite release by :mod:`inference.engine.teacher.yamnet_convert`; no TensorFlow at run time.

The TFLite file keeps most weights in int8 and the runtime that made the reference outputs
(LiteRT with XNNPACK) runs every op that reads them as an int8 kernel: it quantises the op's
float input on the fly, one row at a time (an STFT frame; one pixel's channels for the 1 × 1
convolutions), multiplies integers and scales back. That rounding does not average out: an
activation one float step to either side of a rounding boundary lands on another integer, and
the difference grows through the thirteen requantised layers. So there are two networks:

- ``exact=True`` replays the reference's arithmetic step by step: :func:`dynamic_int8`
  quantises as XNNPACK does (its scale, zero point and rounding), integer products are summed
  exactly (:func:`int8_matmul`), each int8 op ends in ``fma(acc × input_scale, weight_scale,
  bias)`` with one rounding (:func:`fma`), and the float convolutions (the first one and the
  depthwise ones) add their taps to the bias one fused multiply-add at a time in XNNPACK's
  order (:func:`_tap_by_tap`). Fed the reference's own log-mel it gives every reference score
  to float rounding; from the waveform, 19 of the 24 reference frames come out the same and
  the worst score is 0.015 off (see below).
- the default runs the network in float on the dequantised weights, for a third of the CPU
  time (a 3-min clip on one core: ≈0.7 s against the replay's ≈2.0 s, front end included):
  scores within ≈0.05 of the reference on the worst frame (≈0.002 on the typical one), top
  class and clip means as the reference's. The product (content verdict, teacher ensemble)
  uses it.

The front end is the same for both and replays the reference's int8 DFT and mel products and
XNNPACK's rational approximation of the log (:func:`xnnpack_log`). Its log-mel matches the
reference to an ulp (4.8e-7) but not bit for bit: in about a quarter of its rows the largest
magnitude is an ulp or two off the exact square root the port takes, which moves the row's
int8 scale.
The reference most likely took XNNPACK's square root from the CPU's rsqrt estimate and a Newton
step (this machine's AVX-512 estimate matches 91 % of the rows, the exact root 76 %); those
estimate bits are the CPU's own, so the port keeps the exact root.

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
# Integer dot products stay exact in float32 while |Σ q·w| < 2²⁴: 512 terms of 255 × 127 do.
_EXACT_TERMS = 512
_EXACT_CHUNK = 8  # frames the int8 replay runs at once


def _f32(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float32)


# XNNPACK's f32-vlog (rational-3-3-div) constants, as float32.
_SQRT2, _SQRT1_2 = _f32(1.4142134190e00), _f32(7.0710688829e-01)
_ALPHA3, _BETA1, _BETA2, _BETA3 = _f32(1.824996918440e-01), _f32(1.5), _f32(0.599170029163), _f32(0.049584995955)
_LN2, _ONE, _255 = _f32(0.69314718055994531), _f32(1.0), _f32(255.0)


@lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 521 AudioSet class names, in output order (``display_name`` of the shipped csv)."""
    with CLASS_MAP.open(newline="", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda row: int(row["index"]))
    return tuple(row["display_name"] for row in rows)


def fma(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor | float) -> torch.Tensor:
    """float32 ``a × b + c`` rounded once, as a fused multiply-add (the product is exact in float64)."""
    a = a.double()
    if isinstance(c, torch.Tensor):
        return torch.addcmul(c.double(), a, b.double(), out=a).float()
    return a.mul_(b.double()).add_(c).float()


def dynamic_int8(x: torch.Tensor, *, nonnegative: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(q − zero_point, scale) per row (last axis) of ``x``: XNNPACK's on-the-fly int8 input.

    Asymmetric int8: the row's range widened to include 0, multiplied by 255 / range and rounded
    half to even around XNNPACK's nudged zero point; ``scale`` is 1 / (255 / range), which the
    kernel multiplies back in. The integers come back as floats.
    ``nonnegative`` rows (magnitudes, ReLU outputs) take the same arithmetic in fewer passes:
    their zero point is −128.
    """
    if nonnegative:
        high = x.amax(dim=-1, keepdim=True)
        multiplier = torch.where(high > 0, _255 / high, _ONE)
        return torch.mul(x, multiplier).round_(), _ONE / multiplier  # already within [0, 255]
    low, high = torch.aminmax(x, dim=-1, keepdim=True)
    low, high = low.clamp(max=0), high.clamp(min=0)
    multiplier = torch.where(high > low, _255 / (high - low), _ONE)
    low_scaled, high_scaled = low * multiplier, high * multiplier
    zero_point = torch.where((-128 + low_scaled) + (127 + high_scaled) > 0, -128 - low_scaled, 127 - high_scaled)
    zero_point = zero_point.clamp_(-128, 127).round_()
    q = torch.mul(x, multiplier).clamp_(max=127 - zero_point).round_().add_(zero_point).clamp_(min=-128)
    return q.sub_(zero_point), _ONE / multiplier


def int8_matmul(q: torch.Tensor, weight_t: torch.Tensor) -> torch.Tensor:
    """``q @ weight_t`` of integer-valued floats ((…, in) by (in, out)) summed exactly, as float32.

    As the kernel's int32 sum converted to float: float32 products of up to ``_EXACT_TERMS``
    terms are exact, longer rows are summed in parts in float64 and rounded once.
    """
    terms = q.shape[-1]
    if terms <= _EXACT_TERMS:
        return q @ weight_t
    total = None
    for begin in range(0, terms, _EXACT_TERMS):
        part = (q[..., begin : begin + _EXACT_TERMS] @ weight_t[begin : begin + _EXACT_TERMS]).double()
        total = part if total is None else total.add_(part)
    return total.float()


def xnnpack_log(x: torch.Tensor) -> torch.Tensor:
    """Natural log of positive normal float32 values, as XNNPACK's rational-3-3 kernel computes it."""
    x = x * _SQRT2
    bits = x.view(torch.int32)
    exponent = ((bits >> 23) & 0xFF).sub_(127).float()
    t = ((bits & 0x007FFFFF) | 0x3F800000).view(torch.float32) * _SQRT1_2 - _ONE
    numerator = t * fma(t, fma(t, _ALPHA3, 1.0), 1.0)
    denominator = fma(t, fma(t, fma(t, _BETA3, _BETA2), _BETA1), 1.0)
    return fma(exponent, _LN2, numerator / denominator)


def _integers(weight: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.round(weight.detach() / scale.reshape(-1, *[1] * (weight.dim() - 1)))


def _tap_by_tap(
    x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor, stride: tuple[int, int], order: list[tuple[int, int]]
) -> torch.Tensor:
    """A convolution with one input channel per output: bias, then one fused multiply-add per tap.

    ``x`` is the padded input (B, H, W, C), C the output channels or 1; ``taps`` (kh, kw, out)
    float64. Each step rounds to float32, as XNNPACK's kernels accumulate in float32 registers.
    """
    kh, kw, channels = taps.shape
    rows, cols = (x.shape[1] - kh) // stride[0] + 1, (x.shape[2] - kw) // stride[1] + 1
    x = x.double()
    acc = bias.double().expand(x.shape[0], rows, cols, channels).contiguous()
    out = torch.empty(acc.shape, device=x.device)
    for ky, kx in order:
        window = x[
            :, ky : ky + stride[0] * (rows - 1) + 1 : stride[0], kx : kx + stride[1] * (cols - 1) + 1 : stride[1]
        ]
        acc.addcmul_(window, taps[ky, kx])  # the product is exact in float64
        out.copy_(acc)  # one rounding to float32 per tap
        acc.copy_(out)
    return out


class ConvLayer(nn.Module):
    """One CONV_2D or DEPTHWISE_CONV_2D with its fused ReLU, on channels-last (B, H, W, C) input.

    ``exact``: the reference's arithmetic. A layer whose weights the graph reads as int8 (the
    1 × 1 pointwise ones) runs as an int8 kernel on each pixel's channels; the others (the first
    convolution, the depthwise ones) add their taps one by one: XNNPACK's convolution takes them
    row by row, its depthwise kernels column by column. Otherwise a float convolution on the
    dequantised weights.
    """

    def __init__(self, layer: dict[str, Any], in_channels: int, *, exact: bool) -> None:
        super().__init__()
        self.groups, self.stride, self.exact = layer["groups"], tuple(layer["stride"]), exact
        top, bottom, left, right = layer["padding"]
        self.padding = (left, right, top, bottom)
        if layer["activation"] != "relu":
            raise ValueError(f"{layer.get('name')}: activation {layer['activation']!r}, the port replays ReLU")
        out_channels = in_channels if self.groups > 1 else layer["out_channels"]
        kh, kw = layer["kernel"]
        self.dynamic_int8 = bool(layer.get("dynamic_int8"))
        if (
            exact
            and self.dynamic_int8
            and ((kh, kw) != (1, 1) or self.stride != (1, 1) or any(self.padding) or self.groups != 1)
        ):
            raise ValueError(f"{layer.get('name')}: the int8 replay is for 1 × 1 convolutions only")
        if exact and not self.dynamic_int8 and in_channels // self.groups != 1:
            raise ValueError(f"{layer.get('name')}: the float replay is for one input channel per output")
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels // self.groups, kh, kw))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if self.dynamic_int8:
            self.register_buffer("weight_scale", torch.ones(out_channels))
        self.register_buffer("kernel", torch.zeros(0), persistent=False)
        if self.groups > 1:
            self.order = [(ky, kx) for kx in range(kw) for ky in range(kh)]
        else:
            self.order = [(ky, kx) for ky in range(kh) for kx in range(kw)]
        self.register_load_state_dict_post_hook(self._refresh)

    def _refresh(self, *_: Any) -> None:
        if not self.exact:
            return
        if self.dynamic_int8:  # (in, out) integers, contiguous for the matrix product
            self.kernel = _integers(self.weight, self.weight_scale).flatten(1).T.contiguous()
        else:  # (kh, kw, out) float64 taps
            self.kernel = self.weight.detach()[:, 0].permute(1, 2, 0).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right, top, bottom = self.padding
        if not self.exact:
            # oneDNN is quickest on channels-last memory; a 1-channel input (the log-mel) needs asking.
            x = x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
            x = F.pad(x, self.padding) if (top, left) != (bottom, right) else x
            padding = (top, left) if (top, left) == (bottom, right) else 0
            x = F.conv2d(x, self.weight, self.bias, self.stride, padding, 1, self.groups)
            return F.relu(x, inplace=True).permute(0, 2, 3, 1)
        if self.dynamic_int8:
            q, scale = dynamic_int8(x, nonnegative=True)
            return fma(int8_matmul(q, self.kernel).mul_(scale), self.weight_scale, self.bias).clamp_(min=0)
        x = F.pad(x, (0, 0, left, right, top, bottom))
        return _tap_by_tap(x, self.kernel, self.bias, self.stride, self.order).clamp_(min=0)


class Classifier(nn.Module):
    """The FULLY_CONNECTED op on int8 weights; ``exact``: each input row quantised on the fly."""

    def __init__(self, in_features: int, out_features: int, *, exact: bool) -> None:
        super().__init__()
        self.exact = exact
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.register_buffer("weight_scale", torch.ones(out_features))
        self.register_buffer("weight_int", torch.zeros(0), persistent=False)
        self.register_load_state_dict_post_hook(self._refresh)

    def _refresh(self, *_: Any) -> None:
        if self.exact:
            self.weight_int = _integers(self.weight, self.weight_scale).T.contiguous()  # (in, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.exact:
            return F.linear(x, self.weight, self.bias)
        q, scale = dynamic_int8(x)
        return fma(int8_matmul(q, self.weight_int).mul_(scale), self.weight_scale, self.bias)


class LogMelFrontend(nn.Module):
    """Waveform frames (B, samples) → log-mel patches (B, stft_frames, mel_bands), as in the graph."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        if not (config["dft_dynamic_int8"] and config["mel_dynamic_int8"]):
            raise ValueError("the weights' DFT and mel matrices are float: the port replays int8 ones")
        self.frame_length, self.frame_hop = config["frame_length"], config["frame_hop"]
        self.pad_before = config["fft_pad"][0]
        fft_size = self.frame_length + sum(config["fft_pad"])
        bins, bands = fft_size // 2 + 1, config["mel_bands"]
        self.register_buffer("window", torch.zeros(self.frame_length))
        for name, shape in (("dft_real", (bins, fft_size)), ("dft_imag", (bins, fft_size)), ("mel", (bands, bins))):
            self.register_buffer(name, torch.zeros(shape))
            self.register_buffer(f"{name}_scale", torch.ones(shape[0]))
        self.register_buffer("mel_bias", torch.zeros(bands))
        self.register_buffer("dft", torch.zeros(self.frame_length, 2 * bins), persistent=False)
        self.register_buffer("dft_scale", torch.ones(2 * bins), persistent=False)
        self.register_buffer("mel_int", torch.zeros(bins, bands), persistent=False)
        self.register_load_state_dict_post_hook(self._refresh)

    def _refresh(self, *_: Any) -> None:
        # Zero padding meets zero DFT columns: keep the integer columns that meet samples, real
        # and imaginary parts stacked for one matrix product.
        columns = slice(self.pad_before, self.pad_before + self.frame_length)
        self.dft_scale = torch.cat([self.dft_real_scale, self.dft_imag_scale])
        dft = torch.cat([self.dft_real[:, columns], self.dft_imag[:, columns]])
        self.dft = _integers(dft, self.dft_scale).T.contiguous()  # (samples, 2 × bins)
        self.mel_int = _integers(self.mel, self.mel_scale).T.contiguous()  # (bins, bands)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        windowed = frames.unfold(-1, self.frame_length, self.frame_hop) * self.window  # (B, T, length)
        # The padding cannot change a range that already includes 0: quantise unpadded.
        q, scale = dynamic_int8(windowed)
        spectrum = int8_matmul(q, self.dft).mul_(scale).mul_(self.dft_scale)  # no bias: fma(·, ·, 0)
        real, imag = spectrum.chunk(2, dim=-1)
        magnitude = torch.sqrt(real * real + imag * imag)
        q, scale = dynamic_int8(magnitude, nonnegative=True)
        mel = fma(int8_matmul(q, self.mel_int).mul_(scale), self.mel_scale, self.mel_bias)
        return xnnpack_log(mel)


class YAMNet(nn.Module):
    """Frames (B, 15600) float32 in [-1, 1] → (scores (B, 521) after sigmoid, log-mel (B, 96, 64)).

    ``exact``: the network in the reference's int8 arithmetic (see the module docstring);
    otherwise in float on the dequantised weights, for a third of the CPU time. The front end
    is the same.
    """

    def __init__(self, config: dict[str, Any], *, exact: bool = False) -> None:
        super().__init__()
        self.exact = exact
        if config["input_samples"] != FRAME_SAMPLES:
            raise ValueError(f"the weights expect frames of {config['input_samples']} samples")
        if not config["classifier_dynamic_int8"]:
            raise ValueError("the weights' classifier is float: the port replays an int8 one")
        self.frontend = LogMelFrontend(config)
        self.layers = nn.ModuleList()
        channels = 1
        for layer in config["layers"]:
            self.layers.append(ConvLayer(layer, channels, exact=exact))
            channels = self.layers[-1].weight.shape[0]
        self.classifier = Classifier(channels, config["classes"], exact=exact)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if frames.dim() != 2 or frames.shape[1] != FRAME_SAMPLES:
            raise ValueError(f"expected frames of shape (B, {FRAME_SAMPLES}), got {tuple(frames.shape)}")
        log_mel = self.frontend(frames)
        return self.classify(log_mel), log_mel

    def classify(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Log-mel patches (B, 96, 64) → class scores (B, 521) after sigmoid."""
        if self.exact and len(log_mel) > _EXACT_CHUNK:  # its float64 steps are quicker in cache
            return torch.cat([self.classify(part) for part in log_mel.split(_EXACT_CHUNK)])
        x = log_mel.unsqueeze(-1)  # channels last (B, 96, 64, 1)
        for layer in self.layers:
            x = layer(x)
        return torch.sigmoid(self.classifier(x.mean(dim=(1, 2))))


def load_yamnet(path: Path | None = None, device: str | torch.device = "cpu", *, exact: bool = False) -> YAMNet:
    """The network from a converted safetensors file (the shipped one by default), in eval mode.

    ``exact`` replays the reference's int8 arithmetic (scores as the TFLite model gives them, to
    0.015); the default float network takes a third of the CPU time and agrees to ≈0.05 per score.
    """
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
            -1, *[1] * (tensors[weight].dim() - 1)
        )
    config = json.loads(metadata["config"])
    for i, layer in enumerate(config["layers"]):
        weight = tensors[f"layers.{i}.weight"]
        layer.update(out_channels=weight.shape[0], kernel=list(weight.shape[2:]))
    config["classes"] = tensors["classifier.weight"].shape[0]
    model = YAMNet(config, exact=exact)
    # The depthwise layers read their int8-born weights through DEQUANTIZE (float kernels): their
    # scales have no use here.
    expected = model.state_dict().keys()
    model.load_state_dict(
        {name: value for name, value in tensors.items() if name in expected or not name.endswith("_scale")}, strict=True
    )
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


def yamnet_scores(
    model: YAMNet, samples_16k: np.ndarray, *, hop: int = FRAME_HOP, max_frames: int | None = None, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
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
            frames = windows[index[begin : begin + batch_size]].to(device)
            scores.append(model(frames)[0].float().cpu())
    return starts, torch.cat(scores).numpy()
