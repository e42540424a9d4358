"""The musicnn taggers (Pons & Serra, ISC) rebuilt in PyTorch from their Keras model config.

Two forms of the same network, both read from the file's ``model_config`` JSON (no TensorFlow):

- :class:`KerasGraph` replays the functional model's layer graph node by node (Conv2D,
  BatchNormalization, MaxPooling2D, Dense, Dropout, Flatten, Activation, plus the
  ``TensorFlowOpLayer`` nodes Pad, Squeeze, ConcatV2, ExpandDims, Transpose, Add, Mean, Max
  with their constants). Tensors keep Keras' channels-last layout between nodes, so axis
  numbers, ``Flatten`` order and the TF ops mean exactly what they meant in Keras. It is the
  reference, gives any intermediate layer, and can be trained.
- :class:`MusicnnNet` is built from a KerasGraph after checking the graph node by node: the
  same computation channels-first, with each front-end BatchNorm and max-pool moved onto the
  pooled tensor. It is what :func:`load_musicnn` returns: on 2 cores 2–3.5× faster than the
  replay (bench/bench_teachers.py), at the CPU's float32 arithmetic floor.

Weights come from the HDF5 release (h5py; conv kernels HWIO → OIHW, Dense kernels transposed,
BatchNormalization's statistics and epsilon as stored) or from the converted safetensors files
shipped in ``weights/`` (:mod:`inference.engine.teacher.musicnn_convert`), which hold the same Keras
config and tensors. :func:`tag_audio_both` tags a recording with both taggers from one decode.

Torch is imported here; keep the import out of code paths that only validate uploads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import LABELS_BY_DATASET, MSD_LABELS, MTT_LABELS  # noqa: F401  (re-exported)

WINDOW_FRAMES = 187
N_MELS = 96

_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: torch.softmax(x, dim=-1),
}


class UnsupportedKerasModel(ValueError):
    """The HDF5 file uses a layer or option this port does not implement."""


def _same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'same' padding: the odd extra pixel goes after (bottom/right), not before."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _pad_same_nchw(
    x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], value: float
) -> torch.Tensor:
    top, bottom = _same_padding(x.shape[2], kernel[0], stride[0], dilation[0])
    left, right = _same_padding(x.shape[3], kernel[1], stride[1], dilation[1])
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=value)
    return x


class KerasConv2D(nn.Module):
    """Keras Conv2D (channels_last in and out) around a PyTorch OIHW convolution."""

    def __init__(self, config: dict[str, Any], in_channels: int) -> None:
        super().__init__()
        if config.get("data_format", "channels_last") != "channels_last":
            raise UnsupportedKerasModel(f"{config['name']}: only channels_last is supported")
        if config.get("groups", 1) != 1:
            raise UnsupportedKerasModel(f"{config['name']}: grouped convolutions are not supported")
        self.padding = config["padding"]
        if self.padding not in ("same", "valid"):
            raise UnsupportedKerasModel(f"{config['name']}: padding {self.padding!r}")
        self.kernel_size = tuple(config["kernel_size"])
        self.stride = tuple(config["strides"])
        self.dilation = tuple(config["dilation_rate"])
        self.activation = config["activation"]
        if self.activation not in _ACTIVATIONS:
            raise UnsupportedKerasModel(f"{config['name']}: activation {self.activation!r}")
        self.conv = nn.Conv2d(
            in_channels,
            config["filters"],
            self.kernel_size,
            stride=self.stride,
            dilation=self.dilation,
            bias=config["use_bias"],
        )

    def load_keras(self, weights: dict[str, np.ndarray]) -> None:
        kernel = weights["kernel"]  # Keras HWIO
        self.conv.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))))
        if self.conv.bias is not None:
            self.conv.bias.data.copy_(torch.from_numpy(weights["bias"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # NHWC → an NCHW view in channels_last memory: oneDNN then writes channels_last output,
        # so the permute back to NHWC is free and the following channels-last ops stay contiguous.
        x = x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        if self.padding == "same":
            x = _pad_same_nchw(x, self.kernel_size, self.stride, self.dilation, 0.0)
        x = self.conv(x)
        x = F.relu(x, inplace=True) if self.activation == "relu" else _ACTIVATIONS[self.activation](x)
        return x.permute(0, 2, 3, 1)


class KerasMaxPool2D(nn.Module):
    """Keras MaxPooling2D (channels_last); 'same' pads with -inf as TensorFlow does."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        if config.get("data_format", "channels_last") != "channels_last":
            raise UnsupportedKerasModel(f"{config['name']}: only channels_last is supported")
        self.pool_size = tuple(config["pool_size"])
        self.stride = tuple(config["strides"] or config["pool_size"])
        self.padding = config["padding"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        if self.padding == "same":
            x = _pad_same_nchw(x, self.pool_size, self.stride, (1, 1), float("-inf"))
        x = F.max_pool2d(x, self.pool_size, self.stride)
        return x.permute(0, 2, 3, 1)


class KerasBatchNorm(nn.Module):
    """Keras BatchNormalization over one axis of a channels-last tensor.

    Holds gamma/beta as parameters and the moving statistics as buffers of an
    ``nn.BatchNorm1d`` so the teacher can later be fine-tuned or inspected like any PyTorch BN
    (Keras momentum m becomes PyTorch momentum 1 - m).
    """

    def __init__(self, config: dict[str, Any], channels: int) -> None:
        super().__init__()
        axis = config["axis"]
        axes = axis if isinstance(axis, list) else [axis]
        if len(axes) != 1:
            raise UnsupportedKerasModel(f"{config['name']}: normalising over several axes")
        self.axis = axes[0]
        self.bn = nn.BatchNorm1d(channels, eps=config["epsilon"], momentum=1.0 - config["momentum"], affine=True)
        self.center = config.get("center", True)
        self.scale = config.get("scale", True)

    def load_keras(self, weights: dict[str, np.ndarray]) -> None:
        self.bn.weight.data.copy_(torch.from_numpy(weights["gamma"]) if self.scale else torch.ones_like(self.bn.weight))
        self.bn.bias.data.copy_(torch.from_numpy(weights["beta"]) if self.center else torch.zeros_like(self.bn.bias))
        self.bn.weight.requires_grad_(self.scale)
        self.bn.bias.requires_grad_(self.center)
        self.bn.running_mean.copy_(torch.from_numpy(weights["moving_mean"]))
        self.bn.running_var.copy_(torch.from_numpy(weights["moving_variance"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axis = self.axis % x.dim()
        if not self.training:
            # Inference: Keras' fused form x·scale + shift, broadcast along the normalised axis
            # (cheap on channels-last tensors; F.batch_norm would need a transposed copy).
            bn = self.bn
            scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
            shape = [1] * x.dim()
            shape[axis] = -1
            return torch.addcmul(shift.reshape(shape), x, scale.reshape(shape))
        moved = x.movedim(axis, 1)
        shape = moved.shape
        # F.batch_norm wants (N, C, L): fold the other axes into L, then restore the layout.
        out = self.bn(moved.reshape(shape[0], shape[1], -1)).reshape(shape)
        return out.movedim(1, axis)


class KerasDense(nn.Module):
    """Keras Dense: kernel (in, out) becomes nn.Linear's weight (out, in)."""

    def __init__(self, config: dict[str, Any], in_features: int) -> None:
        super().__init__()
        self.activation = config["activation"]
        if self.activation not in _ACTIVATIONS:
            raise UnsupportedKerasModel(f"{config['name']}: activation {self.activation!r}")
        self.linear = nn.Linear(in_features, config["units"], bias=config["use_bias"])

    def load_keras(self, weights: dict[str, np.ndarray]) -> None:
        self.linear.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(weights["kernel"].T)))
        if self.linear.bias is not None:
            self.linear.bias.data.copy_(torch.from_numpy(weights["bias"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ACTIVATIONS[self.activation](self.linear(x))


def _axis(value: Any, rank: int) -> int:
    return int(value) % rank


def _tf_op(node_def: dict[str, Any], args: list[Any]) -> torch.Tensor:
    """One TensorFlowOpLayer op, with TF's argument order (tensors and constants interleaved)."""
    op, attr = node_def["op"], node_def.get("attr", {})
    if op == "Pad":
        x, paddings = args
        flat: list[int] = []
        for before, after in reversed(paddings):  # F.pad lists the last axis first
            flat += [int(before), int(after)]
        return F.pad(x, flat)
    if op == "Squeeze":
        x = args[0]
        dims = sorted(
            (_axis(d, x.dim()) for d in attr.get("squeeze_dims", {}).get("list", {}).get("i", [])), reverse=True
        )
        if not dims:
            return x.squeeze()
        for d in dims:
            if x.shape[d] != 1:
                raise ValueError(f"Squeeze of axis {d} with size {x.shape[d]}")
            x = x.squeeze(d)
        return x
    if op == "ConcatV2":
        *tensors, axis = args
        return torch.cat(tensors, dim=_axis(axis, tensors[0].dim()))
    if op == "ExpandDims":
        x, dim = args
        return x.unsqueeze(int(dim) if int(dim) >= 0 else x.dim() + 1 + int(dim))
    if op == "Transpose":
        x, perm = args
        return x.permute(*[int(p) for p in perm])
    if op in ("Add", "AddV2"):
        return args[0] + args[1]
    if op in ("Mean", "Max"):
        x, axes = args
        axes = [axes] if isinstance(axes, (int, float)) else list(axes)
        keep = bool(attr.get("keep_dims", {}).get("b", False))
        dims = tuple(_axis(a, x.dim()) for a in axes)
        if op == "Mean":
            return x.mean(dim=dims, keepdim=keep)
        return x.amax(dim=dims, keepdim=keep)
    raise UnsupportedKerasModel(f"TensorFlowOpLayer op {op!r} is not supported")


@dataclass
class _Node:
    name: str
    kind: str
    inputs: list[str]
    config: dict[str, Any] = field(default_factory=dict)


class KerasGraph(nn.Module):
    """A Keras functional model replayed node by node, in the config's (topological) order.

    ``forward(x)`` returns the model's output; ``forward(x, return_nodes=[...])`` returns a
    dict of the named intermediate tensors too (Keras layer names, channels-last), which a
    distillation recipe can use for feature targets (e.g. ``"bn_dense"`` or ``"dense_1"``
    for the 50 logits before the sigmoid).
    """

    def __init__(self, model_config: dict[str, Any]) -> None:
        super().__init__()
        if model_config.get("class_name") not in ("Model", "Functional"):
            raise UnsupportedKerasModel(f"expected a functional Model, got {model_config.get('class_name')}")
        config = model_config["config"]
        if len(config["input_layers"]) != 1 or len(config["output_layers"]) != 1:
            raise UnsupportedKerasModel("only single-input, single-output models are supported")
        self.input_name: str = config["input_layers"][0][0]
        self.output_name: str = config["output_layers"][0][0]
        self.layers = nn.ModuleDict()
        self.nodes: list[_Node] = []
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in config["layers"]:
            name, kind, cfg = layer["name"], layer["class_name"], layer["config"]
            inbound = layer["inbound_nodes"]
            if len(inbound) > 1:
                raise UnsupportedKerasModel(f"{name}: shared layers are not supported")
            inputs = [entry[0] for entry in inbound[0]] if inbound else []
            if any(entry[1] != 0 or entry[2] != 0 for entry in (inbound[0] if inbound else [])):
                raise UnsupportedKerasModel(f"{name}: multi-output inbound tensors are not supported")
            if kind == "InputLayer":
                shapes[name] = tuple(cfg["batch_input_shape"][1:])
                self.input_shape: tuple[int, ...] = shapes[name]
                self.nodes.append(_Node(name, kind, inputs, cfg))
                continue
            in_shape = shapes[inputs[0]]
            if kind == "Conv2D":
                self.layers[name] = KerasConv2D(cfg, in_shape[-1])
            elif kind == "BatchNormalization":
                axis = cfg["axis"][0] if isinstance(cfg["axis"], list) else cfg["axis"]
                self.layers[name] = KerasBatchNorm(cfg, in_shape[(axis - 1) if axis > 0 else axis])
            elif kind == "MaxPooling2D":
                self.layers[name] = KerasMaxPool2D(cfg)
            elif kind == "Dense":
                self.layers[name] = KerasDense(cfg, in_shape[-1])
            elif kind == "Dropout":
                self.layers[name] = nn.Dropout(cfg["rate"])
            elif kind not in ("TensorFlowOpLayer", "Flatten", "Activation"):
                raise UnsupportedKerasModel(f"{name}: layer class {kind!r} is not supported")
            if kind == "Activation" and cfg["activation"] not in _ACTIVATIONS:
                raise UnsupportedKerasModel(f"{name}: activation {cfg['activation']!r}")
            self.nodes.append(_Node(name, kind, inputs, cfg))
            shapes[name] = self._infer_shape(name, [shapes[i] for i in inputs])
        self.output_shape: tuple[int, ...] = shapes[self.output_name]
        self.shapes = shapes  # node name → output shape without the batch axis (channels-last)

    def _infer_shape(self, name: str, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        """Run the node on zeros once at build time: layer sizes come from the graph, not constants."""
        node = self.nodes[-1]
        with torch.no_grad():
            dummy = [torch.zeros((1, *shape)) for shape in in_shapes]
            was_training = self.training
            self.eval()
            out = self._run_node(node, dummy)
            self.train(was_training)
        return tuple(out.shape[1:])

    def _run_node(self, node: _Node, inputs: list[torch.Tensor]) -> torch.Tensor:
        if node.name in self.layers:
            return self.layers[node.name](inputs[0])
        if node.kind == "Flatten":
            return inputs[0].reshape(inputs[0].shape[0], -1)
        if node.kind == "Activation":
            return _ACTIVATIONS[node.config["activation"]](inputs[0])
        if node.kind == "TensorFlowOpLayer":
            node_def = node.config["node_def"]
            constants = node.config.get("constants", {})
            tensors = iter(inputs)
            args = [constants[str(i)] if str(i) in constants else next(tensors) for i in range(len(node_def["input"]))]
            return _tf_op(node_def, args)
        raise UnsupportedKerasModel(f"{node.name}: cannot run {node.kind}")

    def forward(self, x: torch.Tensor, return_nodes: list[str] | None = None) -> torch.Tensor | dict[str, torch.Tensor]:
        if x.dim() == len(self.input_shape):  # (B, 187, 96) → (B, 187, 96, 1)
            x = x.unsqueeze(-1)
        values: dict[str, torch.Tensor] = {}
        for node in self.nodes:
            if node.kind == "InputLayer":
                values[node.name] = x
            else:
                values[node.name] = self._run_node(node, [values[i] for i in node.inputs])
        if return_nodes is None:
            return values[self.output_name]
        return {name: values[name] for name in [*return_nodes, self.output_name]}

    def load_keras_weights(self, model_weights: Any) -> None:
        """Copy weights from an h5py ``model_weights`` group; every weighted layer must be present."""
        self.load_weights(read_h5_weights(model_weights))

    def load_weights(self, weights: dict[str, dict[str, np.ndarray]]) -> None:
        """Copy weights given as {layer name: {"kernel"/"bias"/"gamma"/…: array in Keras layout}}."""
        for name, module in self.layers.items():
            if not hasattr(module, "load_keras"):
                continue
            if name not in weights:
                raise UnsupportedKerasModel(f"{name}: no weights in the file")
            module.load_keras(weights[name])


def read_h5_weights(model_weights: Any) -> dict[str, dict[str, np.ndarray]]:
    """{layer: {short weight name: float32 array}} from an h5py ``model_weights`` group."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in model_weights:
        group = model_weights[name]
        weights: dict[str, np.ndarray] = {}
        for raw in group.attrs.get("weight_names", []):
            weight_name = raw.decode() if isinstance(raw, bytes) else str(raw)
            # "conv2d/kernel_1:0" → "kernel"; the "_1" suffix is a TF graph-naming artefact.
            short = weight_name.rsplit("/", 1)[-1].split(":")[0]
            for key in ("moving_variance", "moving_mean", "kernel", "bias", "gamma", "beta"):
                if short == key or short.startswith(key + "_"):
                    weights[key] = np.asarray(group[weight_name], dtype=np.float32)
                    break
        if weights:
            out[name] = weights
    return out


class _PooledConv(nn.Module):
    """A front-end branch, Conv2D(relu) → BatchNormalization → MaxPooling2D over all frequencies,
    run as conv → max → relu → affine on channels-first tensors.

    Exact, not approximate: relu and the BN affine are monotone per channel, so they commute
    with the max; a channel whose BN scale is negative turns a max into a min, so its filter is
    negated (max of −z is −min z) and the sign restored after the pooling. The (B, C, T, F)
    conv output is read once by the max instead of three times by relu, BN and the pool. On CPU
    it never leaves oneDNN's blocked layout: pooling it there skips the reorder to NCHW and
    a max over a 59-wide innermost axis, ≈30 % of the branch's time.
    """

    def __init__(self, conv: KerasConv2D, bn: KerasBatchNorm, padding: tuple[int, int, int, int]) -> None:
        super().__init__()
        scale, shift = _bn_affine(bn)
        sign = torch.where(scale < 0, -1.0, 1.0)
        bias = conv.conv.bias if conv.conv.bias is not None else torch.zeros_like(scale)
        self.register_buffer("weight", (conv.conv.weight.detach() * sign.reshape(-1, 1, 1, 1)).contiguous())
        self.register_buffer("bias", bias.detach() * sign)
        self.register_buffer("sign", sign.reshape(-1, 1))
        self.register_buffer("scale", scale.reshape(-1, 1))
        self.register_buffer("shift", shift.reshape(-1, 1))
        self.padding = padding  # F.pad order: (freq before, freq after, time before, time after)
        left, right, top, bottom = padding
        # oneDNN pads symmetrically; an uneven time padding (TF 'same' with an even kernel) is padded
        # by the larger side and the extra pooled row cropped. Frequencies are pooled, so no extra there.
        self.symmetric = left == right
        self.conv_padding = (max(top, bottom), left)
        self.crop = max(top, bottom) - top

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, F) → (B, C, T)."""
        if x.device.type == "cpu" and self.symmetric and torch.backends.mkldnn.is_available():
            z = F.conv2d(x.to_mkldnn(), self.weight, self.bias, padding=self.conv_padding)
            pooled = F.max_pool2d(z, (1, z.shape[3])).to_dense()[:, :, self.crop : self.crop + x.shape[2], 0]
        else:
            pooled = F.conv2d(F.pad(x, self.padding), self.weight, self.bias).amax(dim=3)
        return torch.addcmul(self.shift, torch.relu(pooled * self.sign), self.scale)


class _MidendConv(nn.Module):
    """A mid-end block: Conv2D(relu) spanning the whole feature axis (a 1-D conv in time) →
    BatchNormalization (→ + the block's input when Keras added a residual)."""

    def __init__(self, conv: KerasConv2D, bn: KerasBatchNorm, padding: tuple[int, int], residual: bool) -> None:
        super().__init__()
        scale, shift = _bn_affine(bn)
        weight = conv.conv.weight.detach()  # (O, 1, time taps, features)
        bias = conv.conv.bias if conv.conv.bias is not None else torch.zeros_like(scale)
        self.register_buffer("weight", weight[:, 0].permute(0, 2, 1).contiguous())  # (O, features, taps)
        self.register_buffer("bias", bias.detach().clone())
        self.register_buffer("scale", scale.reshape(-1, 1))
        self.register_buffer("shift", shift.reshape(-1, 1))
        self.padding = padding
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) → (B, O, T)."""
        y = torch.addcmul(self.shift, torch.relu(F.conv1d(F.pad(x, self.padding), self.weight, self.bias)), self.scale)
        return y + x if self.residual else y


def _bn_affine(bn: KerasBatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference BatchNorm as x·scale + shift, computed as KerasBatchNorm computes it."""
    b = bn.bn
    scale = (b.weight * torch.rsqrt(b.running_var + b.eps)).detach()
    return scale, (b.bias - b.running_mean * scale).detach()


class MusicnnNet(nn.Module):
    """The musicnn tagger as one channels-first inference module, built from a :class:`KerasGraph`.

    Same function as the graph replay (window probabilities agree to ≈1e-6), faster: no per-node
    layout conversions, each front-end BatchNorm and max-pool reordered onto the pooled (B, C, T)
    tensor (see :class:`_PooledConv`), and the front end run two windows at a time so the large
    conv outputs stay in cache. What is left is the front-end convolutions themselves (≈2.7
    GFLOP a window, 85 % of the time, at the CPU's float32 peak).

    Inference only (eval mode, weights are buffers); for training, or for intermediate layers
    other than :attr:`kept_nodes`, use the KerasGraph (``load_musicnn(path, replay=True)``).
    """

    def __init__(
        self,
        *,
        input_scale: torch.Tensor,
        input_shift: torch.Tensor,
        branches: list[_PooledConv],
        midend: list[_MidendConv],
        pool_order: tuple[str, str],
        dense: list[tuple[KerasBatchNorm, KerasDense]],
        output_activation: str,
        names: dict[str, str],
        window_shape: tuple[int, int],
    ) -> None:
        super().__init__()
        self.register_buffer("input_scale", input_scale.reshape(()))
        self.register_buffer("input_shift", input_shift.reshape(()))
        self.branches = nn.ModuleList(branches)
        self.midend = nn.ModuleList(midend)
        self.pool_order = pool_order
        for i, (bn, layer) in enumerate(dense):
            scale, shift = _bn_affine(bn)
            self.register_buffer(f"dense{i}_scale", scale)
            self.register_buffer(f"dense{i}_shift", shift)
            self.register_buffer(f"dense{i}_weight", layer.linear.weight.detach().clone())
            bias = layer.linear.bias
            self.register_buffer(
                f"dense{i}_bias", bias.detach().clone() if bias is not None else torch.zeros(layer.linear.out_features)
            )
        self.dense_activations = [layer.activation for _, layer in dense]
        self.output_activation = output_activation
        self.names = names  # our stage → the Keras node it equals (for return_nodes)
        self.output_name = names["output"]
        self.input_shape = window_shape
        self.output_shape = (dense[-1][1].linear.out_features,)
        self.front_chunk = 2  # windows per front-end pass: its conv output (≈9 MB a window) stays in cache
        self.eval()

    @property
    def kept_nodes(self) -> tuple[str, ...]:
        """The Keras node names ``forward(x, return_nodes=…)`` can return."""
        return tuple(self.names.values())

    def front_end(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, F) log-mel windows → (B, features, T): the pooled front-end branches, concatenated."""
        x = torch.addcmul(self.input_shift, x.unsqueeze(1), self.input_scale)
        step = self.front_chunk if x.device.type == "cpu" else x.shape[0]  # cache sizes are a CPU concern
        chunks = []
        for start in range(0, x.shape[0], step):
            part = x[start : start + step]
            chunks.append(torch.cat([branch(part) for branch in self.branches], dim=1))
        return torch.cat(chunks)

    def forward(self, x: torch.Tensor, return_nodes: list[str] | None = None) -> torch.Tensor | dict[str, torch.Tensor]:
        if x.dim() == 4:  # (B, T, F, 1) as Keras feeds it
            x = x.squeeze(-1)
        values: dict[str, torch.Tensor] = {}
        features = [self.front_end(x.float())]
        values["front"] = features[0]
        for i, block in enumerate(self.midend):
            features.append(block(features[-1]))
            values[f"midend{i}"] = features[-1]
        stacked = torch.cat(features, dim=1)  # (B, features, T)
        pooled = {"max": stacked.amax(dim=2), "mean": stacked.mean(dim=2)}
        # Keras concatenates [max, mean] on a last axis of size 1, then flattens: interleaved.
        h = torch.stack([pooled[kind] for kind in self.pool_order], dim=2).reshape(x.shape[0], -1)
        values["flatten"] = h
        for i, activation in enumerate(self.dense_activations):
            h = torch.addcmul(getattr(self, f"dense{i}_shift"), h, getattr(self, f"dense{i}_scale"))
            values[f"dense{i}_bn"] = h
            h = F.linear(h, getattr(self, f"dense{i}_weight"), getattr(self, f"dense{i}_bias"))
            h = _ACTIVATIONS[activation](h)
            values[f"dense{i}"] = h  # a Keras Dense node's output is after its activation
        out = _ACTIVATIONS[self.output_activation](h)
        if return_nodes is None:
            return out
        values["output"] = out
        by_keras = {keras: stage for stage, keras in self.names.items()}
        unknown = [name for name in return_nodes if name not in by_keras]
        if unknown:
            raise KeyError(
                f"{unknown}: not kept by the fast module (it keeps {sorted(by_keras)}); "
                "use load_musicnn(path, replay=True) for any Keras node"
            )
        result = {}
        for name in [*return_nodes, self.output_name]:
            stage = by_keras[name]
            value = values[stage]
            if stage == "front" or stage.startswith("midend"):
                value = value.transpose(1, 2)  # Keras keeps (B, T, features[, 1])
                value = value if stage == "front" else value.unsqueeze(-1)
            result[name] = value
        return result

    @classmethod
    def from_graph(cls, graph: KerasGraph) -> MusicnnNet:
        """Read the musicnn structure off the graph (front-end branches, mid-end blocks, pooling,
        dense back end) and take its weights; raises UnsupportedKerasModel where the graph differs."""
        return _MusicnnReader(graph).build()


class _MusicnnReader:
    """Walks a KerasGraph and checks, node by node, that it has the shape MusicnnNet computes."""

    def __init__(self, graph: KerasGraph) -> None:
        self.graph = graph
        self.nodes = {node.name: node for node in graph.nodes}
        self.consumers: dict[str, list[_Node]] = {name: [] for name in self.nodes}
        for node in graph.nodes:
            for name in node.inputs:
                self.consumers[name].append(node)

    def _fail(self, message: str) -> UnsupportedKerasModel:
        return UnsupportedKerasModel(f"not the musicnn structure: {message}")

    def _op(self, node: _Node) -> str | None:
        return node.config["node_def"]["op"] if node.kind == "TensorFlowOpLayer" else None

    def _const(self, node: _Node, index: int) -> Any:
        return node.config.get("constants", {})[str(index)]

    def _producer(self, node: _Node, index: int = 0) -> _Node:
        return self.nodes[node.inputs[index]]

    def _only_consumer(self, node: _Node, kind: str) -> _Node:
        found = [c for c in self.consumers[node.name] if c.kind == kind or self._op(c) == kind]
        if len(found) != 1:
            raise self._fail(f"{node.name} should feed one {kind}, feeds {[c.name for c in self.consumers[node.name]]}")
        return found[0]

    def _padding(self, conv_node: _Node, explicit: list[list[int]] | None) -> tuple[int, int, int, int]:
        """The conv's input padding (time before/after, freq before/after): a Pad node's plus 'same'."""
        top, bottom, left, right = 0, 0, 0, 0
        if explicit is not None:
            if len(explicit) != 4 or any(explicit[0]) or any(explicit[3]):
                raise self._fail(f"{conv_node.name}: padding {explicit} outside time/frequency")
            (top, bottom), (left, right) = explicit[1], explicit[2]
        conv: KerasConv2D = self.graph.layers[conv_node.name]
        if conv.stride != (1, 1) or conv.dilation != (1, 1):
            raise self._fail(f"{conv_node.name}: strided or dilated")
        if conv.padding == "same":
            height, width = self.graph.shapes[conv_node.inputs[0]][:2]
            t = _same_padding(height + top + bottom, conv.kernel_size[0], 1)
            f = _same_padding(width + left + right, conv.kernel_size[1], 1)
            top, bottom, left, right = top + t[0], bottom + t[1], left + f[0], right + f[1]
        return top, bottom, left, right

    def _conv_input(self, conv_node: _Node) -> tuple[_Node, list[list[int]] | None]:
        source = self._producer(conv_node)
        if self._op(source) == "Pad":
            return self._producer(source), self._const(source, 1)
        return source, None

    def build(self) -> MusicnnNet:
        graph, names = self.graph, {}
        first = self.nodes[graph.input_name]
        input_bn = self._only_consumer(first, "BatchNormalization")
        if len(graph.input_shape) != 3 or graph.input_shape[2] != 1:
            raise self._fail(f"input {graph.input_shape}, expected (frames, mels, 1)")
        fronts = [
            n
            for n in graph.nodes
            if self._op(n) == "ConcatV2" and all(self._op(self.nodes[i]) == "Squeeze" for i in n.inputs)
        ]
        if len(fronts) != 1:
            raise self._fail("expected one concatenation of pooled front-end branches")
        front = fronts[0]
        branches = []
        for squeeze_name in front.inputs:
            squeeze = self.nodes[squeeze_name]
            pool = self._producer(squeeze)
            bn = self._producer(pool)
            conv_node = self._producer(bn)
            if (pool.kind, bn.kind, conv_node.kind) != ("MaxPooling2D", "BatchNormalization", "Conv2D"):
                raise self._fail(f"{squeeze_name}: expected Conv2D → BatchNormalization → MaxPooling2D")
            source, explicit = self._conv_input(conv_node)
            if source.name != input_bn.name:
                raise self._fail(f"{conv_node.name} does not read the normalised input")
            conv_shape = graph.shapes[conv_node.name]
            pooler: KerasMaxPool2D = graph.layers[pool.name]
            if (
                pooler.pool_size != (1, conv_shape[1])
                or pooler.stride != pooler.pool_size
                or graph.shapes[pool.name][1] != 1
                or graph.shapes[squeeze_name] != (conv_shape[0], conv_shape[2])
            ):
                raise self._fail(f"{pool.name}: expected a max over all frequencies, squeezed")
            if graph.layers[conv_node.name].activation != "relu" or graph.layers[bn.name].axis % 4 != 3:
                raise self._fail(f"{conv_node.name}: expected relu and a per-filter BatchNorm")
            branches.append(
                _PooledConv(
                    graph.layers[conv_node.name], graph.layers[bn.name], _pad_order(self._padding(conv_node, explicit))
                )
            )
        if _axis(self._const(front, len(front.inputs)), 3) != 2:
            raise self._fail(f"{front.name}: expected concatenation along the feature axis")
        names["front"] = front.name
        expand = self._only_consumer(front, "ExpandDims")
        current, features, midend = expand, [expand.name], []
        while True:
            pads = [c for c in self.consumers[current.name] if self._op(c) == "Pad"]
            convs = [c for p in pads for c in self.consumers[p.name] if c.kind == "Conv2D"]
            if not convs:
                break
            (conv_node,) = convs
            bn = self._only_consumer(conv_node, "BatchNormalization")
            transpose = self._only_consumer(bn, "Transpose")
            if [int(v) for v in self._const(transpose, 1)] != [0, 1, 3, 2]:
                raise self._fail(f"{transpose.name}: expected the feature/channel swap")
            in_shape = graph.shapes[current.name]
            if graph.shapes[conv_node.name][1] != 1 or graph.layers[conv_node.name].activation != "relu":
                raise self._fail(f"{conv_node.name}: expected a relu conv over the whole feature axis")
            adds = [
                c
                for c in self.consumers[transpose.name]
                if self._op(c) in ("Add", "AddV2") and set(c.inputs) == {transpose.name, current.name}
            ]
            out = adds[0] if adds else transpose
            if graph.shapes[out.name] != (in_shape[0], graph.shapes[conv_node.name][2], 1):
                raise self._fail(f"{conv_node.name}: unexpected output shape")
            top, bottom, left, right = self._padding(conv_node, self._const(pads[0], 1))
            if left or right:
                raise self._fail(f"{conv_node.name}: padded along the feature axis")
            midend.append(
                _MidendConv(graph.layers[conv_node.name], graph.layers[bn.name], (top, bottom), residual=bool(adds))
            )
            names[f"midend{len(midend) - 1}"] = out.name
            current = out
            features.append(out.name)
        stacked = self._only_consumer(current, "ConcatV2")
        if stacked.inputs != features or _axis(self._const(stacked, len(stacked.inputs)), 4) != 2:
            raise self._fail(f"{stacked.name}: expected the front end and every mid-end output, by feature")
        pooling = {}
        for node in self.consumers[stacked.name]:
            op = self._op(node)
            axes = self._const(node, 1)
            if op not in ("Mean", "Max") or [int(a) for a in np.atleast_1d(axes)] != [1]:
                raise self._fail(f"{node.name}: expected a mean or max over time")
            keep = bool(node.config["node_def"].get("attr", {}).get("keep_dims", {}).get("b", False))
            pooling[op] = self._only_consumer(node, "Squeeze") if keep else node
        joined = [c for c in self.consumers[pooling.get("Max", stacked).name] if self._op(c) == "ConcatV2"]
        if set(pooling) != {"Mean", "Max"} or len(joined) != 1 or len(joined[0].inputs) != 2:
            raise self._fail("expected max and mean over time, concatenated")
        order = tuple({pooling["Max"].name: "max", pooling["Mean"].name: "mean"}[i] for i in joined[0].inputs)
        h = self._only_consumer(joined[0], "Flatten")
        names["flatten"] = h.name
        dense = []
        while True:
            nxt = [
                c for c in self.consumers[h.name] if c.kind in ("BatchNormalization", "Dropout", "Dense", "Activation")
            ]
            if len(nxt) != 1 or nxt[0].kind != "BatchNormalization":
                break
            bn = nxt[0]
            layer = self._only_consumer(bn, "Dropout")
            layer = self._only_consumer(layer, "Dense")
            dense.append((graph.layers[bn.name], graph.layers[layer.name]))
            names[f"dense{len(dense) - 1}_bn"] = bn.name
            names[f"dense{len(dense) - 1}"] = layer.name
            h = layer
        last_activation = "linear"
        if dense and dense[-1][1].activation == "linear":
            out = self._only_consumer(h, "Activation")
            last_activation = out.config["activation"]
        else:
            out = h
        if out.name != graph.output_name or not dense:
            raise self._fail(f"expected the output after the dense layers, got {out.name}")
        for i, (_, layer) in enumerate(dense[:-1]):
            if layer.activation != "relu":
                raise self._fail(f"dense layer {i}: activation {layer.activation}")
        names["output"] = out.name
        input_scale, input_shift = _bn_affine(graph.layers[input_bn.name])
        return MusicnnNet(
            input_scale=input_scale,
            input_shift=input_shift,
            branches=branches,
            midend=midend,
            pool_order=order,
            dense=dense,
            output_activation=last_activation,
            names=names,
            window_shape=tuple(graph.input_shape[:2]),
        )


def _pad_order(padding: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(time before, after, freq before, after) → F.pad's (freq before, after, time before, after)."""
    top, bottom, left, right = padding
    return left, right, top, bottom


def labels_for(path: str | Path) -> list[str]:
    """The tag vocabulary of a musicnn file, told by its dataset prefix (MSD_… or MTT_…)."""
    stem = Path(path).name.upper()
    for dataset, labels in LABELS_BY_DATASET.items():
        if stem.startswith(dataset):
            return list(labels)
    raise ValueError(f"cannot tell the tag vocabulary of {path}: expected a name starting MSD_ or MTT_")


SAFETENSORS_FORMAT = "acousticsense-musicnn-keras/1"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED = {"MSD": WEIGHTS_DIR / "musicnn-msd.safetensors", "MTT": WEIGHTS_DIR / "musicnn-mtt.safetensors"}


def read_musicnn_file(path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]], list[str] | None]:
    """(Keras model config, {layer: {weight: array}}, labels or None) from an .h5 or a converted .safetensors."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="np") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != SAFETENSORS_FORMAT:
                raise ValueError(f"{path} is not a converted musicnn file (format {metadata.get('format')!r})")
            weights: dict[str, dict[str, np.ndarray]] = {}
            for key in handle.keys():
                layer, name = key.rsplit("/", 1)
                weights.setdefault(layer, {})[name] = handle.get_tensor(key).astype(np.float32)
        return json.loads(metadata["model_config"]), weights, json.loads(metadata["labels"])
    import h5py  # only the HDF5 conversion source needs it

    with h5py.File(path, "r") as handle:
        raw = handle.attrs["model_config"]
        model_config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        weights = read_h5_weights(handle.get("model_weights", handle))
    return model_config, weights, None


def load_musicnn(
    path: str | Path, labels: list[str] | None = None, *, replay: bool = False, device: str | torch.device = "cpu"
) -> tuple[nn.Module, list[str]]:
    """The tagger from an .h5 (needs h5py) or a converted .safetensors; returns (model in eval mode, labels).

    The model is the fast :class:`MusicnnNet`; ``replay=True`` gives the node-by-node
    :class:`KerasGraph` instead (any intermediate layer, training, and the reference the fast
    module is tested against).
    """
    model_config, weights, stored_labels = read_musicnn_file(path)
    graph = KerasGraph(model_config)
    graph.load_weights(weights)
    graph.eval()
    labels = list(labels) if labels is not None else stored_labels or labels_for(path)
    if len(labels) != graph.output_shape[-1]:
        raise ValueError(f"{len(labels)} labels for a model with {graph.output_shape[-1]} outputs")
    model = graph if replay else MusicnnNet.from_graph(graph)
    model.labels = labels
    return model.to(device).eval(), labels


def load_shipped_musicnn(device: str | torch.device = "cpu") -> dict[str, nn.Module]:
    """ "MSD"/"MTT" → the fast tagger from the weights shipped in ``inference/engine/teacher/weights``."""
    return {name: load_musicnn(path, device=device)[0] for name, path in SHIPPED.items()}


def _device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def tag_probabilities(model: nn.Module, windows: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Tag probabilities (B, n_tags) for log-mel windows (B, 187, 96), in batches to bound memory."""
    return _tag_windows({"model": model}, windows, batch_size)["model"]


def _tag_windows(models: dict[str, nn.Module], windows: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    windows = np.asarray(windows, dtype=np.float32)
    if windows.ndim == 2:
        windows = windows[None]
    if windows.ndim != 3:
        raise ValueError(f"expected windows of shape (B, frames, mels), got {windows.shape}")
    if len(windows) == 0:
        return {
            name: np.zeros((0, getattr(model, "output_shape", (0,))[-1]), dtype=np.float32)
            for name, model in models.items()
        }
    threads = torch.get_num_threads()
    if threads > 1 and all(isinstance(m, MusicnnNet) and _device(m).type == "cpu" for m in models.values()):
        chunk = min(m.front_chunk for m in models.values())
        if len(models) * len(windows) > chunk:
            return _tag_in_threads(models, windows, threads, chunk)
    out = {}
    for name, model in models.items():
        device = _device(model)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(windows), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(windows[start : start + batch_size])).to(device)
                outputs.append(model(batch).float().cpu().numpy())
        out[name] = np.concatenate(outputs).astype(np.float32, copy=False)
    return out


def _tag_in_threads(
    models: dict[str, nn.Module], windows: np.ndarray, threads: int, chunk: int
) -> dict[str, np.ndarray]:
    """The windows shared out, ``chunk`` at a time, to ``threads`` Python threads that each run
    torch on one core and take the next chunk when done.

    Why not torch's own threads: they meet at a barrier after every op, so on a shared machine
    where a neighbour holds a core each barrier waits for the descheduled thread; measured on 2
    cores with a busy neighbour, 3-min track, MSD + MTT: 2 torch threads 12.6 s, 1 thread 2.2 s,
    these 2 threads 2.15 s (and the same as 2 torch threads on an idle machine). torch's thread
    setting is per OS thread for running ops but also a process-wide default for threads started
    later; it is put back before returning.
    """
    import queue
    import threading

    jobs: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
    for name in models:
        for start in range(0, len(windows), chunk):
            jobs.put((name, start))
    parts: dict[tuple[str, int], np.ndarray] = {}
    errors: list[BaseException] = []
    ready = threading.Barrier(threads)

    def work() -> None:
        torch.set_num_threads(1)
        ready.wait()  # every worker set up before any computes
        try:
            with torch.inference_mode():
                while not errors:
                    try:
                        name, start = jobs.get_nowait()
                    except queue.Empty:
                        return
                    batch = torch.from_numpy(np.ascontiguousarray(windows[start : start + chunk]))
                    parts[name, start] = models[name](batch).float().numpy()
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    workers = [threading.Thread(target=work, name=f"musicnn-{i}", daemon=True) for i in range(threads)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        torch.set_num_threads(threads)
    if errors:
        raise errors[0]
    return {name: np.concatenate([parts[name, start] for start in range(0, len(windows), chunk)]) for name in models}


def tag_audio(
    path_or_samples: str | Path | np.ndarray, model: nn.Module, sample_rate: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Tag a recording (path, or samples with their ``sample_rate``): (window_probs, mean_probs)."""
    from .preprocess import teacher_windows

    windows = teacher_windows(path_or_samples, sample_rate=sample_rate)
    window_probs = tag_probabilities(model, windows)
    return window_probs, window_probs.mean(axis=0)


def tag_audio_both(
    path_or_samples: str | Path | np.ndarray, models: dict[str, nn.Module], sample_rate: int | None = None
) -> dict[str, np.ndarray]:
    """Per-window probabilities {"MSD": (windows, 50), "MTT": (windows, 50)} from one decode and one
    mel for all taggers (they share the front end)."""
    from .preprocess import teacher_windows

    windows = teacher_windows(path_or_samples, sample_rate=sample_rate)
    return _tag_windows(dict(models), windows)
