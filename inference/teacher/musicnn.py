"""The musicnn taggers (Pons & Serra, ISC) rebuilt in PyTorch from their Keras HDF5 files.

The network is not hard-coded: :class:`KerasGraph` reads the functional model's layer graph
from the file's ``model_config`` JSON (Conv2D, BatchNormalization, MaxPooling2D, Dense,
Dropout, Flatten, Activation, plus the ``TensorFlowOpLayer`` nodes Pad, Squeeze, ConcatV2,
ExpandDims, Transpose, Add, Mean, Max with their constants) and replays it. Tensors keep
Keras' channels-last layout between nodes, so axis numbers, ``Flatten`` order and the TF ops
mean exactly what they meant in Keras; only Conv2D and MaxPooling2D switch to channels-first
around the PyTorch call. Weights are read with h5py (no TensorFlow) and converted: conv
kernels HWIO → OIHW, Dense kernels transposed, BatchNormalization's gamma/beta/moving
statistics and epsilon taken as stored.

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


def _pad_same_nchw(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                   dilation: tuple[int, int], value: float) -> torch.Tensor:
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
        self.conv = nn.Conv2d(in_channels, config["filters"], self.kernel_size, stride=self.stride,
                              dilation=self.dilation, bias=config["use_bias"])

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
        self.bn = nn.BatchNorm1d(channels, eps=config["epsilon"], momentum=1.0 - config["momentum"],
                                 affine=True)
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
        dims = sorted((_axis(d, x.dim()) for d in attr.get("squeeze_dims", {}).get("list", {}).get("i", [])),
                      reverse=True)
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
            args = [constants[str(i)] if str(i) in constants else next(tensors)
                    for i in range(len(node_def["input"]))]
            return _tf_op(node_def, args)
        raise UnsupportedKerasModel(f"{node.name}: cannot run {node.kind}")

    def forward(self, x: torch.Tensor, return_nodes: list[str] | None = None
                ) -> torch.Tensor | dict[str, torch.Tensor]:
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
        for name, module in self.layers.items():
            if not hasattr(module, "load_keras"):
                continue
            if name not in model_weights:
                raise UnsupportedKerasModel(f"{name}: no weights in the file")
            group = model_weights[name]
            weights: dict[str, np.ndarray] = {}
            for raw in group.attrs["weight_names"]:
                weight_name = raw.decode() if isinstance(raw, bytes) else str(raw)
                # "conv2d/kernel_1:0" → "kernel"; the "_1" suffix is a TF graph-naming artefact.
                short = weight_name.rsplit("/", 1)[-1].split(":")[0]
                for key in ("moving_variance", "moving_mean", "kernel", "bias", "gamma", "beta"):
                    if short == key or short.startswith(key + "_"):
                        weights[key] = np.asarray(group[weight_name], dtype=np.float32)
                        break
            module.load_keras(weights)


def labels_for(path: str | Path) -> list[str]:
    """The tag vocabulary of a musicnn file, told by its dataset prefix (MSD_… or MTT_…)."""
    stem = Path(path).name.upper()
    for dataset, labels in LABELS_BY_DATASET.items():
        if stem.startswith(dataset):
            return list(labels)
    raise ValueError(f"cannot tell the tag vocabulary of {path}: expected a name starting MSD_ or MTT_")


def load_musicnn(path: str | Path, labels: list[str] | None = None) -> tuple[KerasGraph, list[str]]:
    """Build the tagger from the HDF5's model config, load its weights; returns (model in eval mode, labels)."""
    import h5py  # only the loader needs it

    with h5py.File(path, "r") as handle:
        raw = handle.attrs["model_config"]
        model_config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        model = KerasGraph(model_config)
        weights = handle["model_weights"] if "model_weights" in handle else handle
        model.load_keras_weights(weights)
    labels = list(labels) if labels is not None else labels_for(path)
    if len(labels) != model.output_shape[-1]:
        raise ValueError(f"{len(labels)} labels for a model with {model.output_shape[-1]} outputs")
    model.eval()
    return model, labels


def tag_probabilities(model: nn.Module, windows: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Tag probabilities (B, n_tags) for log-mel windows (B, 187, 96), in batches to bound memory."""
    windows = np.asarray(windows, dtype=np.float32)
    if windows.ndim == 2:
        windows = windows[None]
    if windows.ndim != 3:
        raise ValueError(f"expected windows of shape (B, frames, mels), got {windows.shape}")
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(windows), batch_size):
            batch = torch.from_numpy(windows[start:start + batch_size])
            outputs.append(model(batch).numpy())
    if not outputs:
        return np.zeros((0, getattr(model, "output_shape", (0,))[-1]), dtype=np.float32)
    return np.concatenate(outputs).astype(np.float32, copy=False)


def tag_audio(path_or_samples: str | Path | np.ndarray, model: nn.Module,
              sample_rate: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Tag a recording (path, or samples with their ``sample_rate``): (window_probs, mean_probs)."""
    from .preprocess import teacher_windows

    windows = teacher_windows(path_or_samples, sample_rate=sample_rate)
    window_probs = tag_probabilities(model, windows)
    return window_probs, window_probs.mean(axis=0)
