"""The kernel choice: fp32 or bf16/fp16 autocast, per machine, and the Top-5 it must not change."""

from __future__ import annotations

import pytest
import torch

from inference.engine.analysis import analyze_samples
from inference.engine.audio import load_audio
from inference.engine.model import cpu_has_bf16, load_model
from inference.engine.precision import ProbeResult, choose_precision, probe_cpu_bf16
from inference.engine.starter import STARTER_CHECKPOINT

FAST_BF16 = ProbeResult(fp32_ms=6.2, bf16_ms=3.5)
SLOW_BF16 = ProbeResult(fp32_ms=6.2, bf16_ms=48.0)  # what emulated bf16 looks like on an AVX2 CPU


def never_probed() -> ProbeResult:
    raise AssertionError("the probe must not run here")


def test_auto_on_an_avx2_only_cpu_is_fp32_without_probing():
    choice = choose_precision("auto", "cpu", has_bf16=lambda: False, probe=never_probed)
    assert choice.precision == "fp32" and choice.autocast_dtype is None
    assert "no avx512_bf16/amx_bf16" in choice.reason


def test_auto_picks_bf16_where_the_cpu_has_it_and_the_probe_finds_it_faster():
    choice = choose_precision("auto", "cpu", has_bf16=lambda: True, probe=lambda: FAST_BF16)
    assert (choice.precision, choice.autocast_dtype, choice.probe) == ("bf16", torch.bfloat16, FAST_BF16)
    assert "fp32 6.2 ms, bf16 3.5 ms" in choice.reason
    assert choice.to_dict()["probe_ms"] == {"fp32": 6.2, "bf16": 3.5, "total": 0.0}


@pytest.mark.parametrize("probe", [SLOW_BF16, ProbeResult(fp32_ms=6.2, bf16_ms=6.0)], ids=["slower", "a tie"])
def test_auto_keeps_fp32_when_bf16_flags_exist_but_bf16_is_not_clearly_faster(probe):
    choice = choose_precision("auto", "cpu", has_bf16=lambda: True, probe=lambda: probe)
    assert choice.precision == "fp32" and "not faster" in choice.reason


def test_the_setting_forces_fp32_even_where_bf16_would_win():
    choice = choose_precision("fp32", "cpu", has_bf16=lambda: True, probe=never_probed)
    assert (choice.precision, choice.requested, choice.reason) == ("fp32", "fp32", "forced by the setting")


def test_the_setting_forces_bf16_even_on_a_cpu_without_bf16_and_says_it_is_slow_there():
    choice = choose_precision("bf16", "cpu", has_bf16=lambda: False, probe=never_probed)
    assert choice.precision == "bf16" and "emulated and slow" in choice.reason
    assert "slow" not in choose_precision("BF16", "cpu", has_bf16=lambda: True, probe=never_probed).reason


def test_cuda_uses_bf16_where_the_gpu_has_it_else_fp16():
    assert choose_precision("auto", "cuda", cuda_bf16=lambda device: True, probe=never_probed).precision == "bf16"
    choice = choose_precision("auto", "cuda:1", cuda_bf16=lambda device: False, probe=never_probed)
    assert (choice.precision, choice.device_type, choice.autocast_dtype) == ("fp16", "cuda", torch.float16)
    assert choose_precision("fp16", "cuda", cuda_bf16=lambda device: True).precision == "fp16"


def test_unknown_values_and_fp16_on_a_cpu_are_refused():
    with pytest.raises(ValueError, match="auto, fp32, bf16, fp16"):
        choose_precision("int8", "cpu")
    with pytest.raises(ValueError, match="fp16 autocast is for CUDA"):
        choose_precision("fp16", "cpu")


def test_the_real_probe_times_both_and_leaves_threads_and_rng_as_they_were():
    threads, state = torch.get_num_threads(), torch.random.get_rng_state()
    result = probe_cpu_bf16(repeats=1)
    assert result.fp32_ms > 0 and result.bf16_ms > 0 and result.total_ms >= result.fp32_ms
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), state)


def _linear_input_dtypes(model) -> set[torch.dtype]:
    seen: set[torch.dtype] = set()
    handle = model.model.head.register_forward_hook(lambda module, args, out: seen.add(out.dtype))
    try:
        model.run_batch(
            torch.zeros(1, model.preprocessing.n_mels, model.preprocessing.window_frames), with_attention=False
        )
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize(("precision", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_a_model_runs_its_layers_in_the_precision_it_was_loaded_with(tiny_checkpoint_path, precision, dtype):
    model = load_model(tiny_checkpoint_path, device="cpu", precision=precision)
    assert model.precision == precision and model.cpu_bf16 == (precision == "bf16")
    assert _linear_input_dtypes(model) == {dtype}
    with pytest.raises(ValueError, match="fp32, bf16 or fp16"):
        load_model(tiny_checkpoint_path, device="cpu", precision="half")


@pytest.fixture(scope="module")
def starter_models() -> dict[str, object]:
    if not cpu_has_bf16():
        pytest.skip("this CPU has no avx512_bf16/amx_bf16: auto never picks bf16 here, nothing to compare")
    return {p: load_model(STARTER_CHECKPOINT, device="cpu", precision=p) for p in ("fp32", "bf16")}


@pytest.mark.parametrize("with_attention", [True, False], ids=["worker (attention)", "api (no attention)"])
def test_bf16_keeps_the_starter_models_top5_on_every_real_recording(recordings_dir, starter_models, with_attention):
    files = sorted(recordings_dir.glob("*.ogg"))
    assert files, recordings_dir
    fp32, bf16 = starter_models["fp32"], starter_models["bf16"]
    for path in files:
        audio = load_audio(path, target_sr=fp32.preprocessing.sample_rate)
        exact, fast = (
            analyze_samples(audio.samples, audio.sample_rate, audio.info, model, top_k=5, with_attention=with_attention)
            for model in (fp32, bf16)
        )
        assert [g for g, _ in fast.top_k] == [g for g, _ in exact.top_k], path.name
        assert max(abs(a - b) for a, b in zip(fast.probabilities, exact.probabilities)) < 5e-3, path.name
