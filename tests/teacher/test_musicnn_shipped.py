"""The musicnn weights shipped in inference/engine/teacher/weights: what a fresh install tags with."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from .conftest import REPO, TEACHERS


def test_a_fresh_install_tags_without_the_hdf5_files_or_h5py():
    """The shipped files alone (h5py made unimportable) give both taggers, labelled from their metadata."""
    code = (
        "import sys; sys.modules['h5py'] = None\n"
        "import numpy as np\n"
        "from inference.engine.teacher import LABELS_BY_DATASET\n"
        "from inference.engine.teacher.musicnn import load_shipped_musicnn, tag_audio_both\n"
        "models = load_shipped_musicnn()\n"
        "t = np.arange(16000 * 4) / 16000\n"
        "tone = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)\n"
        "probs = tag_audio_both(tone, models, sample_rate=16000)\n"
        "assert all(list(m.labels) == list(LABELS_BY_DATASET[n]) for n, m in models.items())\n"
        "print(sorted(models), [probs[n].shape for n in sorted(probs)])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "['MSD', 'MTT'] [(1, 50), (1, 50)]"


def test_the_shipped_licence_is_the_isc_text():
    weights = REPO / "inference" / "engine" / "teacher" / "weights"
    licence = (weights / "LICENSE-musicnn-ISC.md").read_text()
    assert "Copyright 2020 Elio Quinton" in licence and "Permission to use, copy, modify" in licence
    assert "musicnn" in (weights / "README.md").read_text()


@pytest.mark.parametrize("teacher", TEACHERS)
def test_converting_the_hdf5_again_reproduces_the_shipped_file(teacher, teacher_dir, tmp_path):
    from safetensors import safe_open

    from inference.engine.teacher.musicnn import SHIPPED
    from inference.engine.teacher.musicnn_convert import convert_all

    fresh = convert_all(teacher_dir, tmp_path)[teacher]
    with safe_open(str(SHIPPED[teacher]), framework="np") as shipped, safe_open(str(fresh), framework="np") as again:
        metadata = again.metadata()
        assert shipped.metadata() == metadata
        assert sorted(shipped.keys()) == sorted(again.keys())
        for key in shipped.keys():
            a, b = shipped.get_tensor(key), again.get_tensor(key)
            assert a.dtype == np.float32 and a.shape == b.shape and np.array_equal(a, b), key
    assert metadata["source"] == f"{teacher}_musicnn.h5" and len(json.loads(metadata["labels"])) == 50


def test_shipped_weights_reproduce_the_reference_probabilities(references):
    from inference.engine.teacher.musicnn import load_shipped_musicnn, tag_probabilities

    models = load_shipped_musicnn()
    names = sorted(references)
    windows = np.stack([references[name]["input_first_window"] for name in names])
    for teacher in TEACHERS:
        probs = tag_probabilities(models[teacher], windows)
        diffs = {
            name: float(np.abs(probs[i] - references[name][f"{teacher}_window_probs"][0]).max())
            for i, name in enumerate(names)
        }
        assert max(diffs.values()) < 1e-4, (teacher, diffs)


def test_shipped_and_hdf5_taggers_agree_on_a_whole_recording(teachers, recording_windows, references):
    """The same numbers from both sources, on a multi-window recording (so every window, not only the first)."""
    from inference.engine.teacher.musicnn import load_shipped_musicnn, tag_probabilities

    name = "macleod-vibe-ace"
    if name not in references:
        pytest.skip("no reference outputs")
    windows = recording_windows(name)
    shipped = load_shipped_musicnn()
    for teacher in TEACHERS:
        ours = tag_probabilities(shipped[teacher], windows)
        assert np.array_equal(ours, tag_probabilities(teachers[teacher][0], windows))
        assert np.abs(ours - references[name][f"{teacher}_window_probs"]).max() < 1e-4
