"""Convert Google's YAMNet TFLite flatbuffer into the safetensors file ``yamnet.py`` loads.

Run once, at development time (the shipped file is in ``inference/engine/teacher/weights/``)::

    .venv/bin/python -m inference.engine.teacher.yamnet_convert /path/to/yamnet.tflite \\
        --out inference/engine/teacher/weights/yamnet.safetensors

The graph is read op by op with the ``tflite`` package (flatbuffer accessors, no TensorFlow)
and each op is mapped to its PyTorch counterpart: the data-movement ops that cut the waveform
into STFT frames (RESHAPE, SLICE, GATHER, STRIDED_SLICE, SQUEEZE) are replayed on an array of
sample indices, so whatever framing the graph does becomes one index pattern; MUL by a constant
is the window, PAD the FFT padding, FULLY_CONNECTED the DFT and mel matrices, MUL(x, x)/ADD/SQRT
the magnitude, LOG the log-mel; CONV_2D and DEPTHWISE_CONV_2D keep their strides, fused
activation and TF padding (made explicit, the odd pixel after); MEAN pools, FULLY_CONNECTED and
LOGISTIC score. int8 weights are dequantised (scale × (q − zero_point), per tensor or per
channel) and keep their scale beside them; an op that reads int8 weights directly (rather than
through DEQUANTIZE) is marked ``dynamic_int8``: the runtime that made the reference quantises
that op's input on the fly (the port replays it in the front end, and in the network with
``load_yamnet(exact=True)``, from the shipped scales; see ``yamnet.py``). Anything else raises
:class:`UnsupportedGraph` rather than converting silently wrong.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "acousticsense-yamnet/1"
DTYPES = {"float32": np.float32, "float16": np.float16}
_MOVEMENT = {"RESHAPE", "SLICE", "GATHER", "STRIDED_SLICE", "SQUEEZE"}
_ACTIVATIONS = {0: None, 1: "relu", 3: "relu6"}  # tflite.ActivationFunctionType
_NUMPY_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64, 9: np.int8, 3: np.uint8}


class UnsupportedGraph(ValueError):
    """The TFLite graph has an op, option or layout this converter does not map."""


@dataclass
class Op:
    name: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any]


@dataclass
class Graph:
    ops: list[Op]
    shapes: dict[int, tuple[int, ...]]
    names: dict[int, str]
    constants: dict[int, np.ndarray]  # float32 after dequantisation, ints as stored
    inputs: list[int]
    outputs: list[int]
    quantised: set[int]  # int8 constants: an op that reads one directly runs a hybrid int8 kernel
    scales: dict[int, tuple[np.ndarray, int]]  # int8-born constants: (scale, quantized dimension)


def read_tflite(path: Path) -> Graph:
    """The single subgraph of a TFLite file: ops in execution order, constants dequantised."""
    import tflite  # conversion-time only (requirements-dev.txt)

    data = Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() != 1:
        raise UnsupportedGraph(f"expected one subgraph, found {model.SubgraphsLength()}")
    graph = model.Subgraphs(0)
    op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}

    shapes, names, constants, quantised, scales = {}, {}, {}, set(), {}
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        shapes[i] = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        names[i] = tensor.Name().decode()
        raw = _buffer_bytes(data, model.Buffers(tensor.Buffer()))
        if raw is None:
            continue
        if tensor.Type() not in _NUMPY_TYPES:
            raise UnsupportedGraph(f"tensor {names[i]}: TFLite type {tensor.Type()}")
        values = np.frombuffer(raw, _NUMPY_TYPES[tensor.Type()]).reshape(shapes[i])
        constants[i] = _dequantise(values, tensor.Quantization(), names[i])
        if values.dtype in (np.int8, np.uint8) and constants[i].dtype == np.float32:
            quantised.add(i)
            q = tensor.Quantization()
            if q.ZeroPointLength() and np.any(q.ZeroPointAsNumpy()):
                raise UnsupportedGraph(f"tensor {names[i]}: int8 weights with a zero point")
            scales[i] = (q.ScaleAsNumpy().astype(np.float32), q.QuantizedDimension())

    ops = []
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        # Files from newer converters keep small codes in the deprecated byte as well.
        name = op_names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        if name == "CUSTOM":
            raise UnsupportedGraph(f"op {k}: custom op {code.CustomCode()!r}")
        ops.append(
            Op(
                name,
                [int(i) for i in op.InputsAsNumpy()],
                [int(i) for i in op.OutputsAsNumpy()],
                _options(tflite, name, op),
            )
        )
    # DEQUANTIZE of a constant is just a constant: fold it here so the rest sees float weights.
    kept = []
    for op in ops:
        if op.name == "DEQUANTIZE" and op.inputs[0] in constants:
            constants[op.outputs[0]] = constants[op.inputs[0]].astype(np.float32)
            if op.inputs[0] in scales:
                scales[op.outputs[0]] = scales[op.inputs[0]]
        else:
            kept.append(op)
    return Graph(
        kept,
        shapes,
        names,
        constants,
        [int(i) for i in graph.InputsAsNumpy()],
        [int(i) for i in graph.OutputsAsNumpy()],
        quantised,
        scales,
    )


def _buffer_bytes(data: bytes, buffer: Any) -> bytes | None:
    if buffer.DataLength():
        return buffer.DataAsNumpy().tobytes()
    # Large models keep buffers after the flatbuffer, addressed by offset and size.
    if buffer.Offset() > 1 and buffer.Size():
        return data[buffer.Offset() : buffer.Offset() + buffer.Size()]
    return None


def _dequantise(values: np.ndarray, quantisation: Any, name: str) -> np.ndarray:
    if values.dtype not in (np.int8, np.uint8) or quantisation is None or not quantisation.ScaleLength():
        return values.astype(np.float32) if values.dtype == np.float16 else values
    scale = quantisation.ScaleAsNumpy().astype(np.float64)
    zero_point = (
        quantisation.ZeroPointAsNumpy().astype(np.float64) if quantisation.ZeroPointLength() else np.zeros_like(scale)
    )
    if scale.size > 1:  # per channel along quantized_dimension
        axis = quantisation.QuantizedDimension()
        if values.shape[axis] != scale.size:
            raise UnsupportedGraph(f"tensor {name}: {scale.size} scales for axis {axis} of {values.shape}")
        shape = [1] * values.ndim
        shape[axis] = -1
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    return (scale * (values.astype(np.float64) - zero_point)).astype(np.float32)


def _options(tflite: Any, name: str, op: Any) -> dict[str, Any]:
    table = op.BuiltinOptions()
    readers = {
        "CONV_2D": (
            "Conv2DOptions",
            ["Padding", "StrideH", "StrideW", "DilationHFactor", "DilationWFactor", "FusedActivationFunction"],
        ),
        "DEPTHWISE_CONV_2D": (
            "DepthwiseConv2DOptions",
            [
                "Padding",
                "StrideH",
                "StrideW",
                "DepthMultiplier",
                "DilationHFactor",
                "DilationWFactor",
                "FusedActivationFunction",
            ],
        ),
        "FULLY_CONNECTED": ("FullyConnectedOptions", ["FusedActivationFunction", "WeightsFormat", "KeepNumDims"]),
        "MUL": ("MulOptions", ["FusedActivationFunction"]),
        "ADD": ("AddOptions", ["FusedActivationFunction"]),
        "GATHER": ("GatherOptions", ["Axis", "BatchDims"]),
        "MEAN": ("ReducerOptions", ["KeepDims"]),
        "STRIDED_SLICE": (
            "StridedSliceOptions",
            ["BeginMask", "EndMask", "EllipsisMask", "NewAxisMask", "ShrinkAxisMask", "Offset"],
        ),
        "RESHAPE": ("ReshapeOptions", []),
        "SQUEEZE": ("SqueezeOptions", []),
    }
    if name not in readers or table is None:
        return {}
    cls = getattr(tflite, readers[name][0])()
    cls.Init(table.Bytes, table.Pos)
    out = {field: getattr(cls, field)() for field in readers[name][1] if hasattr(cls, field)}
    if name == "SQUEEZE":
        out["SqueezeDims"] = [int(d) for d in cls.SqueezeDimsAsNumpy()] if cls.SqueezeDimsLength() else []
    if name == "RESHAPE" and cls.NewShapeLength():
        out["NewShape"] = [int(d) for d in cls.NewShapeAsNumpy()]
    return out


def tf_same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding: the odd extra pixel goes after (bottom/right), not before."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


@dataclass
class _Translation:
    graph: Graph
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=lambda: {"layers": []})
    roles: dict[int, str] = field(default_factory=dict)  # activation tensor → what it holds
    index: dict[int, np.ndarray] = field(default_factory=dict)  # activation → source element indices
    dft: list[tuple[np.ndarray, np.ndarray | None]] = field(default_factory=list)

    def const(self, op: Op, position: int) -> np.ndarray:
        tensor = op.inputs[position]
        if tensor not in self.graph.constants:
            raise UnsupportedGraph(f"{op.name}: input {position} ({self.graph.names.get(tensor)}) is not a constant")
        return self.graph.constants[tensor]

    def weight_scale(self, op: Op, position: int, out_axis: int, out_channels: int) -> np.ndarray | None:
        """Per-output-channel int8 scale of a weight born int8 (None for float weights).

        Shipped next to the dequantised weight, it lets the run time recover the exact integers
        (for its int8 replay, and losslessly from a float16 file).
        """
        tensor = op.inputs[position]
        if tensor not in self.graph.scales:
            return None
        scale, axis = self.graph.scales[tensor]
        if scale.size > 1 and axis != out_axis:
            raise UnsupportedGraph(f"{op.name}: per-channel scales along axis {axis}, not the output axis")
        return np.ascontiguousarray(np.broadcast_to(scale.reshape(-1), (out_channels,)), dtype=np.float32)

    def store(self, name: str, value: np.ndarray, scale: np.ndarray | None = None) -> None:
        self.tensors[name] = np.ascontiguousarray(value, dtype=np.float32)
        if scale is not None:
            self.tensors[f"{name}_scale"] = scale

    def role(self, op: Op, position: int = 0) -> str:
        return self.roles.get(op.inputs[position], "?")

    def expect(self, op: Op, *roles: str) -> str:
        role = self.role(op)
        if role not in roles:
            raise UnsupportedGraph(
                f"{op.name} on {role!r} (wanted {' or '.join(roles)}); input {self.graph.names[op.inputs[0]]}"
            )
        return role


def translate(graph: Graph) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The graph's weights in PyTorch layouts and the layer configuration that replays it."""
    if len(graph.inputs) != 1:
        raise UnsupportedGraph(f"expected one input, found {len(graph.inputs)}")
    t = _Translation(graph)
    (source,) = graph.inputs
    t.roles[source] = "waveform"
    t.index[source] = np.arange(math.prod(graph.shapes[source])).reshape(graph.shapes[source])
    t.config["input_samples"] = int(math.prod(graph.shapes[source]))
    for op in graph.ops:
        handler = _HANDLERS.get(op.name)
        if handler is None:
            raise UnsupportedGraph(f"op {op.name} is not mapped")
        handler(t, op)
    outputs = {t.roles.get(i) for i in graph.outputs}
    if outputs != {"scores", "log_mel"}:
        raise UnsupportedGraph(f"graph outputs hold {outputs}, expected scores and log-mel")
    return t.tensors, t.config


def _movement(t: _Translation, op: Op) -> None:
    role = t.expect(op, "waveform", "log_mel")
    x = t.index[op.inputs[0]]
    if op.name == "RESHAPE":
        shape = t.const(op, 1) if len(op.inputs) > 1 and op.inputs[1] >= 0 else op.options["NewShape"]
        y = x.reshape([int(d) for d in np.ravel(shape)])
    elif op.name == "SLICE":
        begin, size = np.ravel(t.const(op, 1)), np.ravel(t.const(op, 2))
        y = x[tuple(slice(b, None if s < 0 else b + s) for b, s in zip(begin, size))]
    elif op.name == "GATHER":
        if op.options.get("BatchDims", 0):
            raise UnsupportedGraph("GATHER with batch_dims")
        y = np.take(x, t.const(op, 1), axis=op.options.get("Axis", 0))
    elif op.name == "STRIDED_SLICE":
        o = op.options
        if o.get("EllipsisMask") or o.get("NewAxisMask") or o.get("ShrinkAxisMask") or o.get("Offset"):
            raise UnsupportedGraph("STRIDED_SLICE with ellipsis/new-axis/shrink/offset masks")
        begin, end, strides = (np.ravel(t.const(op, i)) for i in (1, 2, 3))
        y = x[
            tuple(
                slice(
                    None if o.get("BeginMask", 0) >> d & 1 else int(b),
                    None if o.get("EndMask", 0) >> d & 1 else int(e),
                    int(s),
                )
                for d, (b, e, s) in enumerate(zip(begin, end, strides))
            )
        ]
    else:  # SQUEEZE
        y = np.squeeze(x, axis=tuple(op.options["SqueezeDims"]) or None)
    if y.shape != t.graph.shapes[op.outputs[0]]:
        raise UnsupportedGraph(f"{op.name}: replayed shape {y.shape}, graph says {t.graph.shapes[op.outputs[0]]}")
    t.roles[op.outputs[0]], t.index[op.outputs[0]] = role, y


def _frames(t: _Translation, tensor: int) -> None:
    """The replayed waveform indices must be regular STFT frames: record length and hop."""
    idx = t.index[tensor]
    if idx.ndim != 2:
        raise UnsupportedGraph(f"framing gives shape {idx.shape}, expected (frames, frame_length)")
    n_frames, length = idx.shape
    hop = int(idx[1, 0] - idx[0, 0]) if n_frames > 1 else length
    regular = idx[0, 0] + hop * np.arange(n_frames)[:, None] + np.arange(length)[None, :]
    if not np.array_equal(idx, regular) or idx[0, 0] != 0:
        raise UnsupportedGraph("the graph's framing is not regular frames from sample 0")
    t.config.update(frame_length=length, frame_hop=hop, stft_frames=n_frames)


def _mul(t: _Translation, op: Op) -> None:
    if op.options.get("FusedActivationFunction"):
        raise UnsupportedGraph("MUL with a fused activation")
    if op.inputs[0] == op.inputs[1]:  # x * x: the squared real or imaginary part
        t.expect(op, "dft")
        t.roles[op.outputs[0]] = "dft_squared"
        return
    t.expect(op, "waveform")
    _frames(t, op.inputs[0])
    window = t.const(op, 1).reshape(-1)
    if window.size != t.config["frame_length"]:
        raise UnsupportedGraph(f"window of {window.size} samples for frames of {t.config['frame_length']}")
    t.store("frontend.window", window)
    t.roles[op.outputs[0]] = "windowed"


def _pad(t: _Translation, op: Op) -> None:
    t.expect(op, "windowed")
    pads = t.const(op, 1)
    if np.any(pads[:-1]):
        raise UnsupportedGraph("PAD of the frames along more than the sample axis")
    t.config["fft_pad"] = [int(pads[-1, 0]), int(pads[-1, 1])]
    t.roles[op.outputs[0]] = "padded"


def _fully_connected(t: _Translation, op: Op) -> None:
    role = t.expect(op, "padded", "magnitude", "pooled")
    if op.options.get("FusedActivationFunction") or op.options.get("WeightsFormat"):
        raise UnsupportedGraph("FULLY_CONNECTED with a fused activation or shuffled weights")
    weight = t.const(op, 1)
    scale = t.weight_scale(op, 1, 0, weight.shape[0])
    bias = t.const(op, 2) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    dynamic = op.inputs[1] in t.graph.quantised
    if role == "padded":
        if bias is not None:
            raise UnsupportedGraph("DFT matrix with a bias")
        if t.config.setdefault("dft_dynamic_int8", dynamic) != dynamic:
            raise UnsupportedGraph("one DFT matrix is int8 and the other is not")
        t.dft.append((weight, scale))
        t.roles[op.outputs[0]] = "dft"
    elif role == "magnitude":
        t.store("frontend.mel", weight, scale)
        t.store("frontend.mel_bias", bias if bias is not None else np.zeros(weight.shape[0]))
        t.config["mel_dynamic_int8"] = dynamic
        t.roles[op.outputs[0]] = "mel"
    else:
        t.store("classifier.weight", weight, scale)
        t.store("classifier.bias", bias if bias is not None else np.zeros(weight.shape[0]))
        t.config["classifier_dynamic_int8"] = dynamic
        t.roles[op.outputs[0]] = "logits"


def _add(t: _Translation, op: Op) -> None:
    if t.role(op, 0) != "dft_squared" or t.role(op, 1) != "dft_squared" or op.options.get("FusedActivationFunction"):
        raise UnsupportedGraph("ADD other than re² + im²")
    if len(t.dft) != 2 or t.dft[0][0].shape != t.dft[1][0].shape:
        raise UnsupportedGraph("expected two DFT matrices of one shape")
    # The real part's first row is cos(0) = 1 everywhere, the imaginary part's is sin(0) = 0.
    real, imag = sorted(t.dft, key=lambda pair: -np.abs(pair[0][0]).sum())
    t.store("frontend.dft_real", *real)
    t.store("frontend.dft_imag", *imag)
    t.roles[op.outputs[0]] = "power"


def _unary(t: _Translation, op: Op) -> None:
    wanted, made = {"SQRT": ("power", "magnitude"), "LOG": ("mel", "log_mel"), "LOGISTIC": ("logits", "scores")}[
        op.name
    ]
    t.expect(op, wanted)
    t.roles[op.outputs[0]] = made
    if made == "log_mel":
        n_frames, n_mels = t.graph.shapes[op.outputs[0]][-2:]
        t.config.update(mel_bands=n_mels, patch_frames=n_frames)
        t.index[op.outputs[0]] = np.arange(n_frames * n_mels).reshape(n_frames, n_mels)


def _conv(t: _Translation, op: Op) -> None:
    role = t.expect(op, "log_mel", "features")
    shape = t.graph.shapes[op.inputs[0]]
    if role == "log_mel":  # the patch fed to the network must be the whole log-mel, NHWC
        idx = t.index[op.inputs[0]]
        if (
            idx.shape[1:] != (t.config["patch_frames"], t.config["mel_bands"], 1)
            or idx.shape[0] != 1
            or not np.array_equal(idx.ravel(), np.arange(idx.size))
        ):
            raise UnsupportedGraph("the network's input patch is not the log-mel itself")
    o = op.options
    if o.get("DilationHFactor", 1) != 1 or o.get("DilationWFactor", 1) != 1:
        raise UnsupportedGraph(f"{op.name} with dilation")
    if o["FusedActivationFunction"] not in _ACTIVATIONS:
        raise UnsupportedGraph(f"{op.name}: fused activation {o['FusedActivationFunction']}")
    weight = t.const(op, 1)
    in_channels = shape[3]
    if op.name == "CONV_2D":  # OHWI → OIHW
        kernel, groups, out_axis = weight.transpose(0, 3, 1, 2), 1, 0
    else:  # depthwise [1, H, W, C·multiplier] → (C·multiplier, 1, H, W)
        kernel, groups, out_axis = weight.transpose(3, 0, 1, 2), in_channels, 3
        if weight.shape[3] != in_channels * o.get("DepthMultiplier", 1):
            raise UnsupportedGraph("DEPTHWISE_CONV_2D channels do not match its input")
    kh, kw = kernel.shape[2:]
    stride = [o["StrideH"], o["StrideW"]]
    if o["Padding"] == 0:  # SAME
        padding = [*tf_same_padding(shape[1], kh, stride[0]), *tf_same_padding(shape[2], kw, stride[1])]
    else:
        padding = [0, 0, 0, 0]
    layer = len(t.config["layers"])
    t.store(f"layers.{layer}.weight", kernel, t.weight_scale(op, 1, out_axis, kernel.shape[0]))
    bias = t.const(op, 2) if len(op.inputs) > 2 and op.inputs[2] >= 0 else np.zeros(kernel.shape[0])
    t.store(f"layers.{layer}.bias", bias)
    name = "/".join(t.graph.names[op.inputs[1]].split(";")[0].split("/")[1:3])  # e.g. layer2/depthwise_conv
    t.config["layers"].append(
        {
            "name": name,
            "groups": groups,
            "stride": stride,
            "padding": padding,
            "dynamic_int8": op.inputs[1] in t.graph.quantised,
            "activation": _ACTIVATIONS[o["FusedActivationFunction"]],
        }
    )
    t.roles[op.outputs[0]] = "features"


def _mean(t: _Translation, op: Op) -> None:
    t.expect(op, "features")
    if sorted(int(a) for a in np.ravel(t.const(op, 1))) != [1, 2] or op.options.get("KeepDims"):
        raise UnsupportedGraph("MEAN other than global average pooling over height and width")
    t.roles[op.outputs[0]] = "pooled"


_HANDLERS = {
    **dict.fromkeys(_MOVEMENT, _movement),
    "MUL": _mul,
    "PAD": _pad,
    "FULLY_CONNECTED": _fully_connected,
    "ADD": _add,
    "SQRT": _unary,
    "LOG": _unary,
    "LOGISTIC": _unary,
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _conv,
    "MEAN": _mean,
}


def convert(tflite_path: Path, out: Path, *, dtype: str = "float16") -> dict[str, Any]:
    """Write the safetensors file (int8-born weights in ``dtype``, config in the metadata); return the config."""
    from safetensors.numpy import save_file

    tflite_path = Path(tflite_path)
    tensors, config = translate(read_tflite(tflite_path))
    metadata = {
        "format": FORMAT,
        "config": json.dumps(config, sort_keys=True),
        "source": tflite_path.name,
        "source_sha256": hashlib.sha256(tflite_path.read_bytes()).hexdigest(),
    }
    # Only weights born int8 take ``dtype``: their float16 copy still rounds back to the exact
    # integers (|q| ≤ 127 needs 7 of float16's 11 bits). Scales, biases and the float32 weights stay.
    cast = {
        name: value.astype(DTYPES[dtype]) if f"{name}_scale" in tensors else value for name, value in tensors.items()
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(cast, str(out), metadata=metadata)
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tflite", type=Path, help="yamnet.tflite")
    parser.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    parser.add_argument(
        "--dtype",
        choices=sorted(DTYPES),
        default="float16",
        help="storage of the int8-born weights (float16 is lossless for them)",
    )
    args = parser.parse_args(argv)
    config = convert(args.tflite, args.out, dtype=args.dtype)
    print(f"wrote {args.out}: {len(config['layers'])} conv layers, {args.out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
