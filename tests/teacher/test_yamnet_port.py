"""The PyTorch port of YAMNet gives the TFLite model's log-mel patches and class scores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import REPO, shared_dir

YAMNET_DIR = shared_dir() / "teacher" / "yamnet"
REFERENCE = YAMNET_DIR / "reference" / "yamnet-reference-outputs.npz"
SOURCE = YAMNET_DIR / "yamnet.tflite"
NAMES = ("trumpet", "speech", "chirp")
# Issue 12's bar for the port against the reference (which ran XNNPACK's int8 kernels).
LOG_MEL_TOLERANCE = 1e-3
SCORE_TOLERANCE = 0.02
CLIP_MEAN_TOLERANCE = 0.01  # the product's float network: what the content verdict reads


@pytest.fixture(scope="module")
def yamnet():
    from inference.engine.teacher.yamnet import load_yamnet

    return load_yamnet()


@pytest.fixture(scope="module")
def yamnet_exact():
    from inference.engine.teacher.yamnet import load_yamnet

    return load_yamnet(exact=True)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    if not REFERENCE.is_file():
        pytest.skip(f"YAMNet reference outputs not found at {REFERENCE} (set ACOUSTICSENSE_SHARED_DIR)")
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


def _recording_16k(name: str) -> np.ndarray:
    import librosa

    path = shared_dir() / "audio" / f"{name}.ogg"
    if not path.is_file():
        pytest.skip(f"recording {path} not found")
    samples, _ = librosa.load(path, sr=16000, mono=True, res_type="soxr_hq")
    return samples


def _frames(waveform: np.ndarray, starts: np.ndarray):
    import torch

    from inference.engine.teacher.yamnet import FRAME_SAMPLES

    return torch.from_numpy(np.stack([waveform[s : s + FRAME_SAMPLES] for s in starts]))


def _port_outputs(yamnet, reference, name):
    import torch

    waveform, starts = reference[f"{name}_waveform_16k"], reference[f"{name}_frame_starts"]
    with torch.inference_mode():
        scores, log_mel = (t.numpy() for t in yamnet(_frames(waveform, starts)))
    return scores, log_mel


@pytest.mark.parametrize("name", NAMES)
def test_port_reproduces_the_tflite_log_mel_and_scores(name, yamnet_exact, reference):
    from inference.engine.teacher.yamnet import frame_starts

    assert np.array_equal(frame_starts(len(reference[f"{name}_waveform_16k"])), reference[f"{name}_frame_starts"])
    scores, log_mel = _port_outputs(yamnet_exact, reference, name)
    expected_scores, expected_log_mel = reference[f"{name}_scores"], reference[f"{name}_log_mel"]
    assert scores.shape == expected_scores.shape and log_mel.shape == expected_log_mel.shape
    assert np.abs(log_mel - expected_log_mel).max() < LOG_MEL_TOLERANCE
    assert np.array_equal(scores.argmax(axis=1), expected_scores.argmax(axis=1))
    assert np.abs(scores - expected_scores).max() < SCORE_TOLERANCE


@pytest.mark.parametrize("name", NAMES)
def test_the_int8_replay_of_the_reference_log_mel_gives_its_scores(name, yamnet_exact, reference):
    import torch

    # The network alone, on the reference's own patches: the replay is the reference's arithmetic.
    with torch.inference_mode():
        scores = yamnet_exact.classify(torch.from_numpy(reference[f"{name}_log_mel"])).numpy()
    assert np.abs(scores - reference[f"{name}_scores"]).max() < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_the_float_network_keeps_the_top_classes_and_clip_means(name, yamnet, reference):
    scores, log_mel = _port_outputs(yamnet, reference, name)
    expected = reference[f"{name}_scores"]
    assert np.abs(log_mel - reference[f"{name}_log_mel"]).max() < LOG_MEL_TOLERANCE
    assert np.array_equal(scores.argmax(axis=1), expected.argmax(axis=1))
    assert np.abs(scores.mean(axis=0) - expected.mean(axis=0)).max() < CLIP_MEAN_TOLERANCE


def test_frame_zero_names_what_the_reference_says(yamnet, reference):
    from inference.engine.teacher.yamnet import class_names, yamnet_scores

    names = class_names()
    tops = {
        name: int(yamnet_scores(yamnet, reference[f"{name}_waveform_16k"], max_frames=1)[1][0].argmax())
        for name in NAMES
    }
    assert {name: names[i] for name, i in tops.items()} == {
        "trumpet": "Music",
        "speech": "Speech",
        "chirp": "Sine wave",
    }


@pytest.mark.parametrize("network", ["yamnet", "yamnet_exact"])
def test_scores_of_a_clip_are_the_batched_frames(network, reference, request):
    import torch

    from inference.engine.teacher.yamnet import yamnet_scores

    yamnet = request.getfixturevalue(network)
    waveform, starts = reference["trumpet_waveform_16k"], reference["trumpet_frame_starts"]
    got_starts, scores = yamnet_scores(yamnet, waveform, batch_size=3)  # batches of 3, 3, 3, 1
    assert np.array_equal(got_starts, starts) and scores.dtype == np.float32
    with torch.inference_mode():
        direct = yamnet(_frames(waveform, starts))[0].numpy()
    assert np.abs(scores - direct).max() < 1e-6


def test_a_clip_shorter_than_a_frame_is_one_zero_padded_frame(yamnet):
    import torch

    from inference.engine.teacher.yamnet import FRAME_SAMPLES, yamnet_scores

    clip = np.random.default_rng(0).uniform(-0.3, 0.3, 8000).astype(np.float32)
    starts, scores = yamnet_scores(yamnet, clip)
    assert starts.tolist() == [0] and scores.shape == (1, 521)
    with torch.inference_mode():
        padded = yamnet(torch.from_numpy(np.pad(clip, (0, FRAME_SAMPLES - len(clip))))[None])[0].numpy()
    assert np.abs(scores - padded).max() < 1e-6
    empty_starts, empty_scores = yamnet_scores(yamnet, np.zeros(0, np.float32))
    assert empty_starts.shape == (0,) and empty_scores.shape == (0, 521)


def test_frame_starts_follow_the_hop_and_spread_when_capped():
    from inference.engine.teacher.yamnet import FRAME_HOP, FRAME_SAMPLES, frame_starts

    assert frame_starts(FRAME_SAMPLES).tolist() == [0]
    assert frame_starts(FRAME_SAMPLES + FRAME_HOP - 1).tolist() == [0]  # the tail is not scored
    assert frame_starts(FRAME_SAMPLES + FRAME_HOP).tolist() == [0, FRAME_HOP]
    assert frame_starts(100).tolist() == [0] and frame_starts(0).tolist() == []
    assert frame_starts(48000, hop=16000).tolist() == [0, 16000, 32000]
    full = frame_starts(180 * 16000)
    assert len(full) == 373
    capped = frame_starts(180 * 16000, max_frames=10)
    assert len(capped) == 10 and capped[0] == 0 and capped[-1] == full[-1]
    assert np.all(np.diff(capped) > 0) and np.isin(capped, full).all()
    gaps = np.diff(capped)
    assert gaps.max() - gaps.min() <= FRAME_HOP  # evenly spread, on the hop grid
    assert np.array_equal(frame_starts(180 * 16000, max_frames=1000), full)
    with pytest.raises(ValueError):
        frame_starts(16000, max_frames=0)


def test_class_names_are_the_shipped_audioset_map():
    from inference.engine.teacher.yamnet import class_names

    names = class_names()
    assert len(names) == 521
    assert (names[0], names[132], names[494], names[495]) == ("Speech", "Music", "Silence", "Sine wave")
    assert names[230] == "Jazz" and names[1] == "Child speech, kid speaking"


@pytest.mark.parametrize(
    ("recording", "top"), [("librispeech-198-209-0000", "Speech"), ("sorohan-trumpet-loop", "Music")]
)
def test_recording_top_mean_class(recording, top, yamnet):
    from inference.engine.teacher.yamnet import class_names, yamnet_scores

    starts, scores = yamnet_scores(yamnet, _recording_16k(recording))
    assert len(starts) > 1
    assert class_names()[int(scores.mean(axis=0).argmax())] == top


def test_the_decoding_recipe_is_the_references(reference):
    assert np.array_equal(_recording_16k("sorohan-trumpet-loop"), reference["trumpet_waveform_16k"])
    # The reference resampled a 5-s cut: only its last few samples see the cut's edge.
    speech, expected = _recording_16k("librispeech-198-209-0000"), reference["speech_waveform_16k"]
    assert np.array_equal(speech[: len(expected) - 1000], expected[:-1000])


def test_float16_weights_load_to_the_exact_dequantised_values(yamnet):
    import torch
    from safetensors import safe_open

    from inference.engine.teacher.yamnet import WEIGHTS

    with safe_open(str(WEIGHTS), framework="pt") as f:
        stored = {name: f.get_tensor(name) for name in f.keys()}
    int8_born = [name.removesuffix("_scale") for name in stored if name.endswith("_scale")]
    assert len(int8_born) == 28
    weights = dict(yamnet.state_dict())
    for name in int8_born:
        scale = stored[f"{name}_scale"].reshape(-1, *[1] * (stored[name].dim() - 1))
        integers = weights[name] / scale
        assert (integers.round() - integers).abs().max() < 1e-4, name  # scale × an integer
        assert integers.abs().max() <= 127.5, name
        assert torch.allclose(weights[name], stored[name].float(), rtol=2**-10, atol=0), name


def test_reconverting_the_tflite_reproduces_the_shipped_file(tmp_path, yamnet):
    pytest.importorskip("tflite", reason="tflite (requirements-dev.txt) is needed to convert")
    if not SOURCE.is_file():
        pytest.skip(f"{SOURCE} not found (set ACOUSTICSENSE_SHARED_DIR)")
    from safetensors import safe_open
    from safetensors.numpy import load_file

    from inference.engine.teacher.yamnet import WEIGHTS, load_yamnet
    from inference.engine.teacher.yamnet_convert import convert

    out = tmp_path / "yamnet.safetensors"
    convert(SOURCE, out)
    fresh, shipped = load_file(out), load_file(WEIGHTS)
    assert fresh.keys() == shipped.keys()
    for name in shipped:
        assert fresh[name].dtype == shipped[name].dtype and np.array_equal(fresh[name], shipped[name]), name
    with safe_open(str(out), framework="np") as a, safe_open(str(WEIGHTS), framework="np") as b:
        assert a.metadata() == b.metadata()
        assert json.loads(b.metadata()["config"])["frame_hop"] == 160
    # float16 storage is lossless: a float32 conversion loads to the same network.
    convert(SOURCE, tmp_path / "yamnet32.safetensors", dtype="float32")
    full = load_yamnet(tmp_path / "yamnet32.safetensors").state_dict()
    assert all(np.array_equal(full[k].numpy(), v.numpy()) for k, v in yamnet.state_dict().items())


def test_shipped_weights_name_their_source_and_licence():
    import hashlib

    from safetensors import safe_open

    from inference.engine.teacher.yamnet import WEIGHTS

    folder = WEIGHTS.parent
    with safe_open(str(WEIGHTS), framework="np") as f:
        sha = f.metadata()["source_sha256"]
    assert sha == "469be6a3421cbc52cf97e9f2f966cba984198e8e7af9854d68b3e3ebb1e04194"
    assert sha in (folder / "README.md").read_text()
    assert "Apache License" in (folder / "LICENSE-Apache-2.0").read_text()
    if SOURCE.is_file():
        assert hashlib.sha256(SOURCE.read_bytes()).hexdigest() == sha


def test_tf_same_padding_puts_the_odd_pixel_after():
    from inference.engine.teacher.yamnet_convert import tf_same_padding

    assert tf_same_padding(96, 3, 2) == (0, 1)
    assert tf_same_padding(48, 3, 1) == (1, 1)
    assert tf_same_padding(3, 3, 2) == (1, 1)
    assert tf_same_padding(6, 1, 1) == (0, 0)


def test_the_converter_refuses_ops_it_does_not_map():
    from inference.engine.teacher.yamnet_convert import Graph, Op, UnsupportedGraph, translate

    graph = Graph(
        ops=[Op("SOFTMAX", [0], [1], {})],
        shapes={0: (1, 15600), 1: (1, 15600)},
        names={0: "input", 1: "out"},
        constants={},
        inputs=[0],
        outputs=[1],
        quantised=set(),
        scales={},
    )
    with pytest.raises(UnsupportedGraph, match="SOFTMAX"):
        translate(graph)


def test_dynamic_int8_is_asymmetric_with_zero_exact():
    import torch

    from inference.engine.teacher.yamnet import dynamic_int8

    x = torch.tensor([[-1.0, 0.0, 0.25, 3.0], [0.0, 0.0, 0.0, 0.0]])
    q, scale = dynamic_int8(x)
    assert torch.allclose(scale[0], torch.tensor(4.0 / 255))
    assert q[0, 1] == 0 and (q[1] == 0).all()  # 0 stays exactly 0; an all-zero row too
    assert (q == q.round()).all() and q[0].min() >= -255 and q[0].max() <= 255
    assert (q * scale - x).abs().max() <= scale.max() / 2 + 1e-7
    magnitudes = torch.rand(6, 257) * torch.rand(6, 1) * 10
    fast, general = dynamic_int8(magnitudes, nonnegative=True), dynamic_int8(magnitudes)
    assert torch.equal(fast[0], general[0]) and torch.equal(fast[1], general[1])


def test_the_log_is_xnnpacks_rational_approximation(reference):
    import torch

    from inference.engine.teacher.yamnet import xnnpack_log

    x = torch.logspace(-3, 3, 10001, dtype=torch.float32)
    got = xnnpack_log(x)
    assert xnnpack_log(torch.tensor([1.0])).item() == 0.0
    assert ((got - torch.log(x)).abs() <= 4e-7 * torch.log(x).abs().clamp(min=1)).all()
    assert not torch.equal(got, torch.log(x))  # an approximation, not the correctly rounded log
    # Silent bins: log(0.001) exactly as the reference has it.
    floor = reference["trumpet_log_mel"].min()
    assert xnnpack_log(torch.tensor([0.001])).item() == floor


def test_fma_rounds_once():
    import torch

    from inference.engine.teacher.yamnet import fma

    a = torch.tensor([1 + 2**-12], dtype=torch.float32)
    c = torch.tensor([-(1 + 2**-11)], dtype=torch.float32)
    assert fma(a, a, c).item() == 2**-24  # (1 + 2⁻¹²)² − (1 + 2⁻¹¹), exact
    assert (a * a + c).item() == 0.0  # two roundings lose it


def test_the_port_imports_neither_django_nor_tensorflow():
    code = (
        "import sys, inference.engine.teacher.yamnet; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(out.stdout.split())
    assert "torch" in loaded and "safetensors" in loaded
    assert not loaded & {"django", "tensorflow", "tflite", "ai_edge_litert", "librosa"}


def test_shipped_file_is_where_the_api_says(yamnet):
    from inference.engine.teacher.yamnet import FRAME_HOP, FRAME_SAMPLES, SAMPLE_RATE, WEIGHTS

    assert Path(REPO / "inference" / "engine" / "teacher" / "weights" / "yamnet.safetensors") == WEIGHTS
    assert (SAMPLE_RATE, FRAME_SAMPLES, FRAME_HOP) == (16000, 15600, 7680)
    assert not yamnet.training
