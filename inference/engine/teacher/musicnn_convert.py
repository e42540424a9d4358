"""Convert the musicnn Keras HDF5 releases into the safetensors files the product ships.

    .venv/bin/python -m inference.engine.teacher.musicnn_convert /work/shared/teacher

reads ``MSD_musicnn.h5`` and ``MTT_musicnn.h5`` from that folder and writes
``inference/engine/teacher/weights/musicnn-msd.safetensors`` and ``musicnn-mtt.safetensors``: every
weight as a float32 tensor named ``LAYER/WEIGHT`` in Keras' own layout (``conv2d/kernel`` is
HWIO, as in the HDF5), and in the metadata the Keras model config JSON exactly as the HDF5
stores it, the tag vocabulary, the source file's name and sha256. A fresh install then needs
neither the HDF5 files nor h5py; :func:`inference.engine.teacher.musicnn.load_musicnn` reads both forms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from . import LABELS_BY_DATASET

SOURCES = {"MSD": "MSD_musicnn.h5", "MTT": "MTT_musicnn.h5"}
DTYPES = {"float32": np.float32, "float16": np.float16}


def convert(h5_path: Path, out: Path, *, dataset: str, dtype: str = "float32") -> dict[str, str]:
    """Write one safetensors file from one HDF5 release; returns the metadata written."""
    import h5py
    from safetensors.numpy import save_file

    from .musicnn import SAFETENSORS_FORMAT, read_h5_weights

    h5_path = Path(h5_path)
    with h5py.File(h5_path, "r") as handle:
        raw = handle.attrs["model_config"]
        model_config = raw.decode() if isinstance(raw, bytes) else str(raw)
        attrs = {key: handle.attrs[key] for key in ("keras_version", "backend") if key in handle.attrs}
        weights = read_h5_weights(handle.get("model_weights", handle))
    json.loads(model_config)  # fail here, not at load time, on a broken config
    tensors = {
        f"{layer}/{name}": np.ascontiguousarray(value.astype(DTYPES[dtype]))
        for layer, values in weights.items()
        for name, value in values.items()
    }
    metadata = {
        "format": SAFETENSORS_FORMAT,
        "model_config": model_config,
        "labels": json.dumps(list(LABELS_BY_DATASET[dataset])),
        "dataset": dataset,
        "source": h5_path.name,
        "source_sha256": hashlib.sha256(h5_path.read_bytes()).hexdigest(),
        "licence": "ISC, Copyright 2020 Elio Quinton (LICENSE-musicnn-ISC.md)",
        **{key: value.decode() if isinstance(value, bytes) else str(value) for key, value in attrs.items()},
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    partial.chmod(0o644)  # safetensors creates it private; it ships with the product
    partial.replace(out)
    return metadata


def convert_all(teacher_dir: Path, out_dir: Path, *, dtype: str = "float32") -> dict[str, Path]:
    """Both taggers from ``teacher_dir`` into ``out_dir`` (the shipped names); returns dataset → path."""
    from .musicnn import SHIPPED

    written = {}
    for dataset, source in SOURCES.items():
        out = Path(out_dir) / SHIPPED[dataset].name
        convert(Path(teacher_dir) / source, out, dataset=dataset, dtype=dtype)
        written[dataset] = out
    return written


def main(argv: list[str] | None = None) -> None:
    from .musicnn import WEIGHTS_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("teacher_dir", type=Path, help="folder with MSD_musicnn.h5 and MTT_musicnn.h5")
    parser.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR, help=f"default: {WEIGHTS_DIR}")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    args = parser.parse_args(argv)
    for dataset, path in convert_all(args.teacher_dir, args.out_dir, dtype=args.dtype).items():
        print(f"wrote {path}: {dataset}, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
