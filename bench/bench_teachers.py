"""Seconds per track of the teacher taggers: musicnn MSD + MTT (old graph replay and the fast
module) and YAMNet, per stage, on a synthetic 3-minute track and the shared recordings.

Why: building the starter model and scoring uploads with the teachers runs these on every
recording; the old musicnn path (node-by-node Keras graph replay) took ≈10.8 s for a 3-minute
track on 2 cores. The target for the fast path is at least 5× less, with the same outputs.

    .venv/bin/python bench/bench_teachers.py [--repeats 3] [--only-synthetic] [--no-baseline]
        [--no-yamnet] [--yamnet-exact] [--threads N] [--quiet-wait S] [--shared PATH]

Each repeat decodes the file once (16 kHz, soxr_hq, as the reference outputs were made), computes
the mel windows once, then runs, in turn, the old replay (MSD then MTT), the fast module (MSD
then MTT) and YAMNet on the same input, so all paths see the same neighbours' load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo: run from anywhere

import soundfile as sf
import torch
from common import OtherLoad, cpu_description, describe, recordings, shared_audio_dir, synthetic_signal, wait_for_quiet

from inference.engine.teacher.musicnn import SHIPPED, load_musicnn, tag_probabilities
from inference.engine.teacher.preprocess import load_teacher_audio, split_windows, teacher_log_mel

TARGET_FILE = "synthetic-3min.wav"
TARGET_SPEEDUP = 5.0
SYNTHETIC_SR = 22050  # the product's decode rate: the 16-kHz resample is part of what is timed
TEACHERS = ("MSD", "MTT")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per file; the median is shown")
    parser.add_argument("--shared", type=Path, default=None, help="folder holding audio/ (default: ../shared)")
    parser.add_argument("--only-synthetic", action="store_true", help="only the synthetic 3-minute track")
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="skip the old node-by-node graph replay (the slow part of the bench)",
    )
    parser.add_argument("--no-yamnet", dest="yamnet", action="store_false", help="skip YAMNet")
    parser.add_argument(
        "--yamnet-exact",
        action="store_true",
        help="time YAMNet's replay of the reference's int8 arithmetic (load_yamnet(exact=True))",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before the timed runs, wait up to this long for other processes to go idle",
    )
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def load_yamnet_or_note(exact: bool = False) -> tuple[object | None, object | None, str]:
    """(model, yamnet_scores, note): YAMNet when its module and shipped weights are there."""
    try:
        from inference.engine.teacher.yamnet import load_yamnet, yamnet_scores
    except ImportError as exc:
        return None, None, f"YAMNet skipped: inference.engine.teacher.yamnet not importable ({exc})"
    try:
        model = load_yamnet(exact=exact)
    except (OSError, ValueError, KeyError) as exc:
        return None, None, f"YAMNet skipped: its weights did not load ({exc})"
    network = "int8 replay (exact=True)" if exact else "float network"
    return (
        model,
        yamnet_scores,
        f"YAMNet: inference.engine.teacher.yamnet, shipped weights, {network}, hop 7680 (0.48 s)",
    )


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def run_once(path: Path, fast: dict, replay: dict | None, yamnet: tuple | None) -> dict[str, float]:
    """One repeat of every path on one file; seconds per stage."""
    out: dict[str, float] = {}
    out["decode"], samples = timed(load_teacher_audio, path)
    out["mel"], windows = timed(lambda: split_windows(teacher_log_mel(samples)))
    if replay is not None:
        for name in TEACHERS:
            out[f"old {name}"], _ = timed(tag_probabilities, replay[name], windows)
    for name in TEACHERS:
        out[f"new {name}"], _ = timed(tag_probabilities, fast[name], windows)
    if yamnet is not None:
        model, scores = yamnet
        out["yamnet"], _ = timed(scores, model, samples, hop=7680)
    out["duration"] = len(samples) / 16000
    out["windows"] = len(windows)
    return out


def summarise(runs: list[dict[str, float]]) -> dict[str, float]:
    """Medians per stage plus the per-track totals (front end once per path) and their best repeat."""
    front = [r["decode"] + r["mel"] for r in runs]
    totals = {"new total": [f + r["new MSD"] + r["new MTT"] for f, r in zip(front, runs)]}
    if "old MSD" in runs[0]:
        totals["old total"] = [f + r["old MSD"] + r["old MTT"] for f, r in zip(front, runs)]
    if "yamnet" in runs[0]:
        totals["yamnet total"] = [r["decode"] + r["yamnet"] for r in runs]
    out = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    for key, values in totals.items():
        out[key] = statistics.median(values)
        out[key.replace("total", "best")] = min(values)
    return out


def print_table(results: dict[str, dict[str, float]], has_old: bool, has_yamnet: bool) -> None:
    columns = ["decode", "mel"]
    columns += ["old MSD", "old MTT", "old total"] if has_old else []
    columns += ["new MSD", "new MTT", "new total"]
    columns += ["speed-up"] if has_old else []
    columns += ["yamnet", "yamnet total"] if has_yamnet else []
    print("\n| file | duration | windows | " + " | ".join(f"{c} s" if c != "speed-up" else c for c in columns) + " |")
    print("|---|---:|---:|" + "---:|" * len(columns))
    for name, r in results.items():
        cells = []
        for column in columns:
            if column == "speed-up":
                cells.append(f"**{r['old total'] / r['new total']:.1f}×**")
            elif column.endswith("total"):
                cells.append(f"**{r[column]:.2f}**")
            else:
                cells.append(f"{r[column]:.2f}")
        print(f"| {name} | {r['duration']:.1f} s | {int(r['windows'])} | " + " | ".join(cells) + " |")


def main() -> None:
    args = parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}; threads {torch.get_num_threads()}, {os.cpu_count()} CPUs; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; repeats {args.repeats} (median shown)"
    )
    print(cpu_description())
    start = time.perf_counter()
    fast = {name: load_musicnn(path)[0] for name, path in SHIPPED.items()}
    print(f"musicnn fast module: shipped weights, MSD + MTT loaded in {time.perf_counter() - start:.2f} s")
    replay = None
    if args.baseline:
        replay = {name: load_musicnn(path, replay=True)[0] for name, path in SHIPPED.items()}
        print("musicnn old path: the node-by-node KerasGraph replay (load_musicnn(..., replay=True)), same weights")
    skipped = (None, None, "YAMNet skipped (--no-yamnet)")
    yamnet_model, yamnet_fn, note = load_yamnet_or_note(args.yamnet_exact) if args.yamnet else skipped
    print(note)
    yamnet = (yamnet_model, yamnet_fn) if yamnet_model is not None else None
    with tempfile.TemporaryDirectory(prefix="acousticsense-bench-") as tmp_name:
        synthetic = Path(tmp_name) / TARGET_FILE
        sf.write(str(synthetic), synthetic_signal(180, SYNTHETIC_SR, 2), SYNTHETIC_SR, subtype="PCM_16")
        files = [synthetic]
        if not args.only_synthetic:
            shared = shared_audio_dir(args.shared)
            found = recordings(shared)
            print(f"recordings: {len(found)} from {shared}" if found else f"recordings: none at {shared}")
            files += found
        run_once(synthetic, fast, replay, yamnet)  # first use: librosa's and torch's lazy set-up
        if args.quiet_wait > 0:
            print(f"waited for a quiet machine: {describe(wait_for_quiet(args.quiet_wait))}", flush=True)
        results = {}
        with OtherLoad() as others:
            for path in files:
                runs = [run_once(path, fast, replay, yamnet) for _ in range(args.repeats)]
                results[path.name] = summarise(runs)
                print(f"  {path.name}: done", file=sys.stderr, flush=True)
    print_table(results, replay is not None, yamnet is not None)
    target = results[TARGET_FILE]
    line = f"\n{TARGET_FILE}: new musicnn MSD + MTT {target['new total']:.2f} s (best {target['new best']:.2f} s)"
    if replay is not None:
        ratio, best_ratio = target["old total"] / target["new total"], target["old best"] / target["new best"]
        verdict = "MET" if ratio >= TARGET_SPEEDUP else "MISSED"
        line += (
            f", old {target['old total']:.2f} s (best {target['old best']:.2f} s): {ratio:.1f}× "
            f"(best vs best {best_ratio:.1f}×; target ≥{TARGET_SPEEDUP:.0f}×: {verdict})"
        )
    if yamnet is not None:
        line += f"; YAMNet {target['yamnet total']:.2f} s with decode"
    print(line + f"; {describe(others.cores)}")
    audio_min = sum(r["duration"] for r in results.values()) / 60
    busy = sum(r["new total"] for r in results.values())
    print(f"new musicnn path: {audio_min / (busy / 60):.0f} audio-min per wall-min over {len(results)} files")


if __name__ == "__main__":
    main()
