"""The PyTorch port of musicnn gives the original Keras models' tag probabilities, and its fast
module (what load_musicnn returns) computes what the node-by-node graph replay computes."""

from __future__ import annotations

import json
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
    from inference.engine.teacher.musicnn import tag_probabilities

    model, labels = teachers[teacher]
    names = sorted(references)
    windows = np.stack([references[name]["input_first_window"] for name in names])
    probs = tag_probabilities(model, windows)
    assert probs.shape == (len(names), 50) and len(labels) == 50
    diffs = {
        name: float(np.abs(probs[i] - references[name][f"{teacher}_window_probs"][0]).max())
        for i, name in enumerate(names)
    }
    assert max(diffs.values()) < 1e-4, diffs


@pytest.mark.parametrize("name", RECORDINGS)
def test_track_tags_from_the_recording_match_the_reference(name, teachers, references, recording_windows):
    from inference.engine.teacher.musicnn import tag_probabilities

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

    from inference.engine.teacher.musicnn import tag_audio

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
    from inference.engine.teacher import MSD_LABELS, MTT_LABELS

    assert teachers["MSD"][1] == list(MSD_LABELS) and teachers["MTT"][1] == list(MTT_LABELS)
    assert teachers["MSD"][1][:3] == ["rock", "pop", "alternative"]
    assert teachers["MTT"][1][-1] == "choral"
    assert not teachers["MSD"][0].training


def test_intermediate_layers_are_available_for_distillation(teachers, references):
    import torch

    from inference.engine.teacher.musicnn import MusicnnNet

    model: MusicnnNet = teachers["MSD"][0]
    window = torch.from_numpy(next(iter(references.values()))["input_first_window"][None])
    with torch.inference_mode():
        outputs = model(window, return_nodes=["dense_1", "bn_dense"])
    assert outputs["bn_dense"].shape == (1, 200)
    assert torch.allclose(torch.sigmoid(outputs["dense_1"]), outputs[model.output_name])


@pytest.mark.parametrize("teacher", TEACHERS)
def test_fast_module_computes_what_the_graph_replay_computes(teacher, teachers, replayed_teachers, references):
    """Reference windows plus random ones (negative, odd scales: every pooled channel's sign matters),
    fed in an odd batch so the front end's window chunks do not divide it."""
    import torch

    from inference.engine.teacher.musicnn import tag_probabilities

    fast, replay = teachers[teacher][0], replayed_teachers[teacher]
    rng = np.random.default_rng(7)
    windows = np.concatenate(
        [
            np.stack([r["input_first_window"] for r in references.values()]),
            rng.normal(1.0, 2.0, size=(3, 187, 96)).astype(np.float32),
        ]
    )
    assert np.abs(tag_probabilities(fast, windows) - tag_probabilities(replay, windows)).max() < 1e-5
    nodes = [
        "tf_op_layer_concat",
        "tf_op_layer_transpose",
        "tf_op_layer_Add_1",
        "flatten",
        "bn_flatpool",
        "dense",
        "bn_dense",
        "dense_1",
    ]
    with torch.inference_mode():
        x = torch.from_numpy(windows[:5])
        ours, theirs = fast(x, return_nodes=nodes), replay(x, return_nodes=nodes)
    for name in nodes:
        assert ours[name].shape == theirs[name].shape, name
        scale = float(theirs[name].abs().max())
        assert float((ours[name] - theirs[name]).abs().max()) < 1e-5 * max(scale, 1.0), name


def test_fast_module_names_the_replay_for_layers_it_does_not_keep(teachers, replayed_teachers):
    import torch

    window = torch.zeros(1, 187, 96)
    with torch.inference_mode(), pytest.raises(KeyError, match="replay=True"):
        teachers["MSD"][0](window, return_nodes=["conv2d"])
    with torch.inference_mode():
        assert replayed_teachers["MSD"](window, return_nodes=["conv2d"])["conv2d"].shape == (1, 187, 59, 204)


def test_a_graph_the_fast_module_does_not_cover_is_refused(teacher_dir):
    """A pool over two frames as well as all frequencies is a valid graph (the replay runs it), but
    not the max over frequencies the fast module computes: refused, not misread."""
    import h5py

    from inference.engine.teacher.musicnn import KerasGraph, MusicnnNet, UnsupportedKerasModel

    with h5py.File(teacher_dir / "MSD_musicnn.h5", "r") as handle:
        config = json.loads(handle.attrs["model_config"])
    pool = next(layer for layer in config["config"]["layers"] if layer["name"] == "max_pooling2d")
    pool["config"].update(pool_size=[2, 59], strides=[1, 59], padding="same")
    graph = KerasGraph(config)
    assert graph.shapes["max_pooling2d"] == (187, 1, 204)
    with pytest.raises(UnsupportedKerasModel, match="max over all frequencies"):
        MusicnnNet.from_graph(graph)


def test_both_taggers_share_one_decode_and_agree_with_each_tagger_alone(teachers):
    from inference.engine.teacher.musicnn import tag_audio, tag_audio_both

    t = np.arange(5 * 22050) / 22050
    samples = (0.4 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    models = {name: model for name, (model, _) in teachers.items()}
    both = tag_audio_both(samples, models, sample_rate=22050)
    assert set(both) == set(TEACHERS)
    for name, model in models.items():
        alone, _ = tag_audio(samples, model, sample_rate=22050)
        assert both[name].shape == (1, 50) and np.abs(both[name] - alone).max() < 1e-6


def test_keras_same_padding_puts_the_odd_pixel_after():
    from inference.engine.teacher.musicnn import _same_padding

    assert _same_padding(187, 128, 1) == (63, 64)
    assert _same_padding(96, 1, 1) == (0, 0)
    assert _same_padding(7, 3, 2) == (1, 1)
    assert _same_padding(8, 3, 2) == (0, 1)


def test_an_unnamed_teacher_file_needs_explicit_labels(tmp_path):
    from inference.engine.teacher.musicnn import labels_for

    assert labels_for("/x/MTT_musicnn.h5")[0] == "guitar"
    with pytest.raises(ValueError, match="MSD_ or MTT_"):
        labels_for(tmp_path / "teacher.h5")


def test_the_mapping_loads_without_torch_and_the_port_without_django():
    code = (
        "import sys; import inference.engine.teacher.mapping; a = set(sys.modules); "
        "import inference.engine.teacher.musicnn, inference.engine.teacher.preprocess; b = set(sys.modules); "
        "print(' '.join(m.split('.')[0] for m in a)); print(' '.join(m.split('.')[0] for m in b))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    after_mapping, after_port = (set(line.split()) for line in out.stdout.splitlines())
    assert "torch" not in after_mapping and "librosa" not in after_mapping and "django" not in after_mapping
    assert "torch" in after_port and "django" not in after_port


def test_windows_shared_out_to_threads_give_the_same_tags_and_leave_torch_threads_alone(teachers, references):
    import threading

    import torch

    from inference.engine.teacher.musicnn import _tag_windows

    models = {name: model for name, (model, _) in teachers.items()}
    windows = np.stack([r["input_first_window"] for r in references.values()] * 2)[:7]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = _tag_windows(models, windows)
        torch.set_num_threads(2)
        shared = _tag_windows(models, windows)
        assert torch.get_num_threads() == 2
        seen: list[int] = []
        fresh = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        fresh.start()
        fresh.join()
        assert seen == [2]  # the process-wide default for new threads is back too
    finally:
        torch.set_num_threads(before)
    for name in models:
        assert shared[name].shape == (7, 50) and np.abs(shared[name] - alone[name]).max() < 1e-6


def test_a_failure_in_a_tagging_thread_reaches_the_caller(teacher_dir, monkeypatch):
    import torch

    from inference.engine.teacher.musicnn import load_musicnn, tag_probabilities

    model, _ = load_musicnn(teacher_dir / "MSD_musicnn.h5")

    def broken(x):
        raise RuntimeError("out of memory (pretend)")

    monkeypatch.setattr(model.midend[0], "forward", broken)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with pytest.raises(RuntimeError, match="pretend"):
            tag_probabilities(model, np.zeros((6, 187, 96), dtype=np.float32))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
