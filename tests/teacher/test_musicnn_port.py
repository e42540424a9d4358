"""The PyTorch port of musicnn gives the original Keras models' tag probabilities."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from .conftest import REPO, TEACHERS, shared_dir

# The reference .npz files present in shared/teacher/reference (parametrised by name so a
# failure names the recording; a missing file skips through the fixtures).
RECORDINGS = sorted(p.stem for p in (shared_dir() / "teacher" / "reference").glob("*.npz")) or ["(none)"]


@pytest.mark.parametrize("teacher", TEACHERS)
def test_port_reproduces_window_probabilities_from_the_reference_input(teacher, teachers, references):
    from inference.teacher.musicnn import tag_probabilities

    model, labels = teachers[teacher]
    names = sorted(references)
    windows = np.stack([references[name]["input_first_window"] for name in names])
    probs = tag_probabilities(model, windows)
    assert probs.shape == (len(names), 50) and len(labels) == 50
    diffs = {name: float(np.abs(probs[i] - references[name][f"{teacher}_window_probs"][0]).max())
             for i, name in enumerate(names)}
    assert max(diffs.values()) < 1e-4, diffs


@pytest.mark.parametrize("name", RECORDINGS)
def test_track_tags_from_the_recording_match_the_reference(name, teachers, references, recording_windows):
    from inference.teacher.musicnn import tag_probabilities

    if name not in references:
        pytest.skip("no reference outputs")
    reference = references[name]
    windows = recording_windows(name)
    assert windows.shape[1:] == (187, 96)
    assert np.abs(windows[0] - reference["input_first_window"]).max() < 1e-4
    for teacher in TEACHERS:
        window_probs = tag_probabilities(teachers[teacher][0], windows)
        assert window_probs.shape == reference[f"{teacher}_window_probs"].shape
        mean_diff = np.abs(window_probs.mean(axis=0) - reference[f"{teacher}_mean_probs"]).max()
        assert mean_diff < 1e-3, (teacher, mean_diff)


def test_tag_audio_takes_samples_and_agrees_with_the_path(teachers, references):
    import soundfile as sf

    from inference.teacher.musicnn import tag_audio

    name = "sorohan-trumpet-loop"  # 5 s: cheap
    path = shared_dir() / "audio" / f"{name}.ogg"
    if not path.is_file() or name not in references:
        pytest.skip(f"{path} not found")
    model = teachers["MSD"][0]
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    window_probs, mean_probs = tag_audio(samples.T, model, sample_rate=rate)
    path_windows, path_mean = tag_audio(path, model)
    assert np.abs(window_probs - path_windows).max() < 1e-6
    assert np.abs(mean_probs - references[name]["MSD_mean_probs"]).max() < 1e-3


def test_labels_are_the_published_vocabularies(teachers):
    from inference.teacher import MSD_LABELS, MTT_LABELS

    assert teachers["MSD"][1] == list(MSD_LABELS) and teachers["MTT"][1] == list(MTT_LABELS)
    assert teachers["MSD"][1][:3] == ["rock", "pop", "alternative"]
    assert teachers["MTT"][1][-1] == "choral"
    assert not teachers["MSD"][0].training


def test_intermediate_layers_are_available_for_distillation(teachers, references):
    from inference.teacher.musicnn import KerasGraph
    import torch

    model: KerasGraph = teachers["MSD"][0]
    window = torch.from_numpy(next(iter(references.values()))["input_first_window"][None])
    with torch.inference_mode():
        outputs = model(window, return_nodes=["dense_1", "bn_dense"])
    assert outputs["bn_dense"].shape == (1, 200)
    assert torch.allclose(torch.sigmoid(outputs["dense_1"]), outputs[model.output_name])


def test_keras_same_padding_puts_the_odd_pixel_after():
    from inference.teacher.musicnn import _same_padding

    assert _same_padding(187, 128, 1) == (63, 64)
    assert _same_padding(96, 1, 1) == (0, 0)
    assert _same_padding(7, 3, 2) == (1, 1)
    assert _same_padding(8, 3, 2) == (0, 1)


def test_an_unnamed_teacher_file_needs_explicit_labels(tmp_path):
    from inference.teacher.musicnn import labels_for

    assert labels_for("/x/MTT_musicnn.h5")[0] == "guitar"
    with pytest.raises(ValueError, match="MSD_ or MTT_"):
        labels_for(tmp_path / "teacher.h5")


def test_the_mapping_loads_without_torch_and_the_port_without_django():
    code = ("import sys; import inference.teacher.mapping; a = set(sys.modules); "
            "import inference.teacher.musicnn, inference.teacher.preprocess; b = set(sys.modules); "
            "print(' '.join(m.split('.')[0] for m in a)); print(' '.join(m.split('.')[0] for m in b))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=120)
    after_mapping, after_port = (set(line.split()) for line in out.stdout.splitlines())
    assert "torch" not in after_mapping and "librosa" not in after_mapping and "django" not in after_mapping
    assert "torch" in after_port and "django" not in after_port
