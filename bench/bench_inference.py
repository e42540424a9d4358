"""Per-stage latency of one analysis (decode → mel → ViT → attention → content check → PNGs), per
architecture.

Why: the target is a 3-minute track fully analysed, all stages, in ≤0.45 s with the default model
(vit_tiny) on a 2-core CPU that has bf16 instructions, ≤0.7 s on an AVX2-only one. This bench
measures exactly the worker's engine path (``analyze_file`` + ``render_analysis_images``) in one
warm process, without Django, RQ or the database, so a regression in any stage shows up on its
own line. For the default architecture it also times, on the same files and interleaved with our
runs (so both see the same neighbours), the two teachers as their own taggers — musicnn MSD + MTT
(``tag_audio_both``: 16-kHz decode, mel, both networks) and YAMNet (16-kHz decode, every 0.48-s
frame) — and prints how many times slower each is than our whole analysis.

    .venv/bin/python bench/bench_inference.py [--archs vit_tiny,vit_small,vit_base]
        [--device auto|cpu|cuda] [--repeats 3] [--shared PATH] [--precision auto|fp32|bf16|fp16]
        [--threads N] [--quiet-wait S] [--no-content] [--no-teachers]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo: run from anywhere

import soundfile as sf
import torch
from common import (
    OtherLoad,
    cpu_description,
    cpu_flags,
    describe,
    recordings,
    shared_audio_dir,
    synthetic_signal,
    wait_for_quiet,
)
from tqdm import tqdm

from inference.engine.analysis import analyze_file
from inference.engine.checkpoint import create_random_checkpoint, save_checkpoint
from inference.engine.datatypes import PreprocessingConfig
from inference.engine.model import LoadedModel, load_model, select_device
from inference.engine.precision import choose_precision
from inference.engine.render import render_analysis_images
from inference.engine.teacher.yamnet import load_yamnet

STAGES = ("decode", "mel", "model", "attention", "content", "render")
BF16_FLAGS = {"avx512_bf16", "amx_bf16"}
# "3-min track, all stages, vit_tiny: ≤0.45 s where bf16 exists, ≤0.7 s on AVX2-only CPUs" (issue 14)
TARGET_MS = 450.0 if cpu_flags() & BF16_FLAGS else 700.0
TARGET_FILE = "synthetic-3min.wav"
DEFAULT_ARCH = "vit_tiny"


@dataclass
class FileResult:
    """Median timings of one file over the repeats."""

    name: str
    duration_s: float
    stages_ms: dict[str, float]
    total_ms: float
    best_ms: float  # the fastest repeat: closest to an idle machine when neighbours are busy
    teachers_ms: dict[str, float] | None = None  # median per teacher tagger, same file, same repeats


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", default="vit_tiny,vit_small,vit_base", help="comma-separated timm ViT names")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per file; the median is shown")
    parser.add_argument("--shared", type=Path, default=None, help="folder holding audio/ (default: ../shared)")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="as ACOUSTICSENSE_INFERENCE_PRECISION: auto is the product's per-machine choice",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument(
        "--no-content",
        action="store_true",
        help="leave out the music/speech/other check (ACOUSTICSENSE_CONTENT_CHECK=0)",
    )
    parser.add_argument(
        "--no-teachers",
        dest="teachers",
        action="store_false",
        help="skip timing musicnn and YAMNet beside the default architecture",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each architecture, wait up to this long for other processes to go idle",
    )
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def genre_labels() -> list[str]:
    """The 16 default genres (the head size matches production); generic names if unavailable."""
    try:
        import importlib

        module = importlib.import_module("catalog.migrations.0002_default_genres")
        return [name for name, _ in module.DEFAULT_GENRES]
    except Exception:  # the bench must not depend on a migration staying where it is
        return [f"genre-{i:02d}" for i in range(16)]


def prepare_audio(tmp: Path, shared: Path) -> list[Path]:
    """Shared recordings (when present) plus synthetic 30-s, 3-min and 10-min WAVs written into tmp
    (10 min: a long track's spectrogram and attention are drawn wide, 8 px per second)."""
    files = recordings(shared)
    print(f"recordings: {len(files)} from {shared}" if files else f"recordings: none at {shared}: synthetic audio only")
    sr = PreprocessingConfig().sample_rate
    for name, seconds, seed in (("synthetic-30s.wav", 30, 1), (TARGET_FILE, 180, 2), ("synthetic-10min.wav", 600, 3)):
        path = tmp / name
        sf.write(str(path), synthetic_signal(seconds, sr, seed), sr, subtype="PCM_16")
        files.append(path)
    return files


def timm_name(arch: str) -> str:
    """'vit_tiny' → 'vit_tiny_patch16' (checkpoint.canonical_architecture adds the '_224')."""
    return arch if "_patch" in arch else f"{arch}_patch16"


def build_model(arch: str, tmp: Path, device: str, precision: str) -> tuple[LoadedModel, float]:
    """Random checkpoint at the default preprocessing → file → load_model + warm_up; returns load ms."""
    path = tmp / f"{arch}.safetensors"
    save_checkpoint(
        create_random_checkpoint(
            labels=genre_labels(), architecture=timm_name(arch), preprocessing=PreprocessingConfig(), seed=0
        ),
        path,
    )
    start = time.perf_counter()
    model = load_model(path, device=device, precision=precision)
    model.warm_up()
    return model, (time.perf_counter() - start) * 1000


def analyse_once(
    path: Path, model: LoadedModel, content_model: object | None = None
) -> tuple[dict[str, float], float, float]:
    """One full analysis as the worker does it (with its music/speech/other check); returns
    (stage ms, total ms, audio seconds)."""
    start = time.perf_counter()
    result = analyze_file(path, model, content_model=content_model)
    render_analysis_images(result, model.preprocessing)
    total = (time.perf_counter() - start) * 1000  # run_batch copies results to the host: GPU work is done
    return dict(result.timings_ms), total, result.audio.duration_s


def load_teachers() -> dict[str, Callable[[Path], object]]:
    """The teachers as their own taggers, each a function of a file (decode included)."""
    from inference.engine.teacher.musicnn import load_shipped_musicnn, tag_audio_both
    from inference.engine.teacher.preprocess import load_teacher_audio
    from inference.engine.teacher.yamnet import load_yamnet, yamnet_scores

    musicnn, yamnet = load_shipped_musicnn(), load_yamnet()
    return {
        "musicnn": lambda path: tag_audio_both(path, musicnn),
        "yamnet": lambda path: yamnet_scores(yamnet, load_teacher_audio(path)),
    }


def time_teachers(path: Path, teachers: dict[str, Callable[[Path], object]]) -> dict[str, float]:
    out = {}
    for name, tag in teachers.items():
        start = time.perf_counter()
        tag(path)
        out[name] = (time.perf_counter() - start) * 1000
    return out


def bench_arch(
    model: LoadedModel,
    files: list[Path],
    repeats: int,
    arch: str,
    teachers: dict[str, Callable[[Path], object]] | None = None,
    content_model: object | None = None,
) -> list[FileResult]:
    """Median per stage over `repeats` runs of every file (one untimed run first: lazy imports),
    with the teachers timed right after each of our runs when given."""
    analyse_once(files[-1], model, content_model)  # first-use costs belong to process start, not a job
    if teachers:
        time_teachers(files[-1], teachers)
    results = []
    with tqdm(total=len(files) * repeats, desc=arch, unit="run", leave=False, file=sys.stderr) as bar:
        for path in files:
            runs, teacher_runs = [], []
            for _ in range(repeats):
                runs.append(analyse_once(path, model, content_model))
                if teachers:
                    teacher_runs.append(time_teachers(path, teachers))
                bar.update()
            stages = {s: statistics.median(r[0].get(s, 0.0) for r in runs) for s in STAGES}
            totals = [r[1] for r in runs]
            teacher_ms = (
                {name: statistics.median(r[name] for r in teacher_runs) for name in teachers} if teachers else None
            )
            results.append(
                FileResult(path.name, runs[0][2], stages, statistics.median(totals), min(totals), teacher_ms)
            )
    return results


def print_teacher_table(results: list[FileResult]) -> None:
    """Our whole analysis against each teacher tagging the same file, as ratios (× slower than ours)."""
    names = list(results[0].teachers_ms or {})
    print(
        "\nThe teachers as their own taggers, same files, interleaved with our runs (median ms; "
        "ratio = teacher / ours):\n"
    )
    print("| file | duration | ours ms | " + " | ".join(f"{n} ms | {n} / ours" for n in names) + " |")
    print("|---|---:|---:|" + "---:|---:|" * len(names))
    for r in results:
        cells = " | ".join(f"{r.teachers_ms[n]:.0f} | **{r.teachers_ms[n] / r.total_ms:.1f}×**" for n in names)
        print(f"| {r.name} | {r.duration_s:.1f} s | {r.total_ms:.0f} | {cells} |")
    ours = sum(r.total_ms for r in results)
    print(
        "\nall files: " + "; ".join(f"{n} {sum(r.teachers_ms[n] for r in results) / ours:.1f}× our time" for n in names)
    )


def print_table(arch: str, model: LoadedModel, load_ms: float, results: list[FileResult], others: float | None) -> None:
    """Markdown table per architecture plus the summary line."""
    n_params = sum(p.numel() for p in model.model.parameters()) / 1e6
    print(f"\n### {arch} ({n_params:.1f} M params, load + warm-up {load_ms:.0f} ms, {model.precision})\n")
    print("| file | duration | " + " | ".join(STAGES) + " | total ms | best ms |")
    print("|---|---:|" + "---:|" * len(STAGES) + "---:|---:|")
    for r in results:
        cells = " | ".join(f"{r.stages_ms[s]:.0f}" for s in STAGES)
        print(f"| {r.name} | {r.duration_s:.1f} s | {cells} | **{r.total_ms:.0f}** | {r.best_ms:.0f} |")
    busy_s = sum(r.total_ms for r in results) / 1000
    audio_min = sum(r.duration_s for r in results) / 60
    target = next((r for r in results if r.name == TARGET_FILE), None)
    verdict = "n/a"
    if target:
        verdict = f"{'MET' if target.total_ms <= TARGET_MS else 'MISSED'} ({target.total_ms:.0f} ms)"
    scope = "" if arch.startswith(DEFAULT_ARCH) else " — the target is for vit_tiny; shown for comparison"
    target_kind = "bf16 CPU" if cpu_flags() & BF16_FLAGS else "no bf16 on this CPU"
    print(
        f"\n{arch}: {len(results) / busy_s * 60:.0f} tracks/min sequential, "
        f"{audio_min / (busy_s / 60):.0f} audio-min per wall-min; "
        f"3-min target ≤{TARGET_MS / 1000:.2f} s ({target_kind}): {verdict}{scope}; {describe(others)}"
    )
    if results[0].teachers_ms:
        print_teacher_table(results)


def main() -> None:
    args = parse_args()
    device = select_device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(
        f"device: {device}{' (' + torch.cuda.get_device_name(device) + ')' if device.type == 'cuda' else ''}; "
        f"torch {torch.__version__}; threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()}), "
        f"{os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"repeats {args.repeats} (median shown)"
    )
    print(cpu_description())
    choice = choose_precision(args.precision, device)
    content_model = None if args.no_content else load_yamnet(device=device)  # as a worker (CONTENT_CHECK)
    print(f"precision: {choice.precision} ({choice.reason})")
    with tempfile.TemporaryDirectory(prefix="acousticsense-bench-") as tmp_name:
        tmp = Path(tmp_name)
        files = prepare_audio(tmp, shared_audio_dir(args.shared))
        for arch in [a.strip() for a in args.archs.split(",") if a.strip()]:
            if args.quiet_wait > 0:
                print(f"waited for a quiet machine: {describe(wait_for_quiet(args.quiet_wait))}", flush=True)
            model, load_ms = build_model(arch, tmp, str(device), choice.precision)
            teachers = load_teachers() if args.teachers and arch.startswith(DEFAULT_ARCH) else None
            with OtherLoad() as others:
                results = bench_arch(model, files, args.repeats, arch, teachers, content_model)
            print_table(arch, model, load_ms, results, others.cores)
            del model


if __name__ == "__main__":
    main()
