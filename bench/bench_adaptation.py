"""Does adapting to the unlabelled catalog (teacher ensemble targets) help? The measurement behind
``train_model --adapt-on catalog`` and its defaults (``--adapt-target``, ``--adapt-weight``).

    .venv/bin/python bench/bench_adaptation.py [--grooves ../starter-work/grooves] [--labels-per-genre 3]
        [--seeds 0,1,2,3] [--weights 0.1,0.3,1] [--epochs 6] [--limit-per-genre N] [--base CKPT] [--json OUT]

Data (no labelled real music exists here): the synthetic labelled grooves of the starter recipe
(``inference/engine/starter/grooves.py``: MMA styles rendered through three soundfonts, 30-s clips with
hard genre labels), split *grouped by MMA style* (one style never spans two sets) and stratified
by genre into a pool (55 %), a validation set (15 %) and a held-out test set (30 %). Per seed,
``--labels-per-genre`` clips of every genre in the pool are the editors' labels (each from
another style where possible); every other pool clip is the unlabelled catalog. The test set is
used only for the table.

Every model starts from the bundled starter v1 checkpoint (``inference/engine/starter``; it never heard
a groove) and trains the same way (``inference.engine.training.train``, same epochs and learning rate,
no validation split: the last epoch is kept):

- base: the starter as it is;
- adaptation alone: the catalog only, against the teacher ensemble's clip distributions;
- labels alone: the labelled clips only;
- labels + adaptation: both, the soft loss weighted by W, against the teachers' distribution as
  mapping v2 maps it (``--adapt-target clip``);
- labels + recalibrated adaptation: the same, against the teachers' clip scores recalibrated to
  the labels (a logistic regression fitted on the labelled clips' teacher scores only:
  ``--adapt-target recalibrated``).

Each W of both is also scored on the validation set, and the row it would pick is printed; the
row of the product's defaults (``--adapt-target recalibrated``, ``--adapt-weight``
``DEFAULT_ADAPT_WEIGHT``) is marked. How those defaults were chosen, and why not by the
validation set alone: README, "Measured: does adaptation help?".

Teacher targets are computed once per clip with the product's code (``inference.engine.teacher.ensemble``,
mapping ``ENSEMBLE_VERSION``) and cached under ``var/bench/adaptation/targets/``; each trained
model's scores are kept under ``var/bench/adaptation/runs/``, so a rerun only does what is missing
(another seed, another W). Scores: top-1, top-3 and macro F1 of the served probabilities (every window, mean of
the softmax: what a worker's analysis reports), over the test clips.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo: run from anywhere

import numpy as np
import torch
from common import OtherLoad, describe

from inference.engine.checkpoint import load_checkpoint
from inference.engine.evaluation import EvaluationItem, Predictions, predict, score_predictions
from inference.engine.model import model_from_checkpoint
from inference.engine.splits import stratified_group_split
from inference.engine.starter import STARTER_DIR
from inference.engine.starter.grooves import read_groove_manifest
from inference.engine.teacher import mapping
from inference.engine.teacher.ensemble import (
    TeacherTargets,
    fit_teacher_calibration,
    over_labels,
    teacher_features,
    teacher_targets,
)
from inference.engine.training import (
    DEFAULT_ADAPT_WEIGHT,
    SoftExample,
    TrainingConfig,
    TrainingExample,
    initial_state,
    train,
)

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "var" / "bench" / "adaptation"
FRACTIONS = {"train": 0.55, "val": 0.15, "test": 0.30}  # pool / validation / test
# v1 never heard a groove (later starters may train on them: pass --base to choose another).
BASE = STARTER_DIR / "acousticsense-starter-v1.safetensors"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--grooves",
        type=Path,
        default=REPO.parent / "starter-work" / "grooves",
        help="folder holding manifest.tsv and the rendered clips",
    )
    parser.add_argument("--base", type=Path, default=BASE, help="the checkpoint every model starts from")
    parser.add_argument("--labels-per-genre", type=int, default=3)
    parser.add_argument("--seeds", default="0,1,2,3", help="each seed draws other labelled clips and trains anew")
    parser.add_argument("--weights", default="0.1,0.3,1", help="adaptation weights tried on the validation set")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--crops", type=int, default=4)
    parser.add_argument("--limit-per-genre", type=int, default=None, help="use at most N clips of each genre")
    parser.add_argument("--targets-only", action="store_true", help="compute the cached teacher targets and stop")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", type=Path, default=WORK / "results.json")
    return parser.parse_args()


def _digest(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def clips(args: argparse.Namespace) -> list:
    chosen = read_groove_manifest(args.grooves.parent)
    chosen = [c for c in chosen if c.path.is_file()]
    if args.limit_per_genre:
        by_genre: dict[str, list] = defaultdict(list)
        for clip in sorted(chosen, key=lambda c: _digest("limit", c.path.name)):
            by_genre[clip.genre].append(clip)
        chosen = sorted(
            (c for group in by_genre.values() for c in group[: args.limit_per_genre]), key=lambda c: str(c.path)
        )
    return chosen


def cached_targets(clip, models: dict | None) -> TeacherTargets:
    """The clip's ensemble targets, from the cache or computed (and cached) with the product's code."""
    from inference.engine.audio import load_audio

    path = WORK / "targets" / mapping.ENSEMBLE_VERSION / (clip.path.stem + ".json")
    if path.is_file():
        return TeacherTargets.from_dict(json.loads(path.read_text()))
    if models is None:
        raise SystemExit(f"{path} is missing")
    samples = load_audio(clip.path, target_sr=16000).samples
    targets = teacher_targets(samples, musicnn=models["musicnn"], yamnet=models["yamnet"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(targets.to_dict()))
    partial.replace(path)
    return targets


def all_targets(chosen: list) -> dict[str, TeacherTargets]:
    models = None
    missing = [
        c for c in chosen if not (WORK / "targets" / mapping.ENSEMBLE_VERSION / (c.path.stem + ".json")).is_file()
    ]
    if missing:
        from inference.engine.teacher.musicnn import load_shipped_musicnn
        from inference.engine.teacher.yamnet import load_yamnet

        models = {"musicnn": load_shipped_musicnn(), "yamnet": load_yamnet()}
        print(f"teacher targets: computing {len(missing)} of {len(chosen)} clips (cached after)", flush=True)
    out, started = {}, time.perf_counter()
    for i, clip in enumerate(chosen, 1):
        out[str(clip.path)] = cached_targets(clip, models)
        if models is not None and i % 20 == 0:
            print(f"  {i}/{len(chosen)} clips, {time.perf_counter() - started:.0f} s", flush=True)
    return out


def splits(chosen: list) -> dict[str, str]:
    items = [(clip.style, clip.genre) for clip in chosen]
    return {str(c.path): name for c, name in zip(chosen, stratified_group_split(items, FRACTIONS))}


def labelled_pick(pool: list, per_genre: int, seed: int) -> set[str]:
    """``per_genre`` clips of each genre, each from another style while styles last."""
    picked: set[str] = set()
    by_genre: dict[str, list] = defaultdict(list)
    for clip in pool:
        by_genre[clip.genre].append(clip)
    for group in by_genre.values():
        group = sorted(group, key=lambda c: _digest(seed, c.path.name))
        styles_used: set[str] = set()
        first = [c for c in group if not (c.style in styles_used or styles_used.add(c.style))]
        rest = [c for c in group if c not in first]
        picked.update(str(c.path) for c in (first + rest)[:per_genre])
    return picked


def leave_one_out(
    examples: list[TrainingExample], targets: dict[str, TeacherTargets], labels: list[str]
) -> tuple[float, float]:
    """Top-1 of the mapped teacher, and of the recalibration fitted on the other labelled clips, on
    each labelled clip: what a platform can measure with its labels alone to choose the target."""
    features = np.stack([teacher_features(targets[e.path]) for e in examples])
    y = [e.label for e in examples]
    mapped = np.mean(
        [int(np.argmax(over_labels(targets[e.path].clip, mapping.GENRES, labels))) == e.label for e in examples]
    )
    hits = []
    for i in range(len(examples)):
        rest = [j for j in range(len(examples)) if j != i]
        fitted = fit_teacher_calibration(features[rest], [y[j] for j in rest], labels)
        hits.append(int(np.argmax(fitted.distribution(features[i]))) == y[i])
    return float(mapped), float(np.mean(hits))


def evaluate(result_or_ckpt, items: list[EvaluationItem], labels: list[str], features: dict | None = None) -> dict:
    ckpt = result_or_ckpt.checkpoint() if hasattr(result_or_ckpt, "checkpoint") else result_or_ckpt
    model = model_from_checkpoint(ckpt, device="cpu")
    scores = score_predictions([i.genre for i in items], predict(model, items), labels)
    return {k: scores[k] for k in ("top1", "top3", "macro_f1")}


def teacher_scores(items: list[EvaluationItem], targets: dict[str, TeacherTargets], labels: list[str]) -> dict:
    probs = np.stack(
        [
            over_labels(targets[str(i.path)].clip, mapping.GENRES, labels)
            if targets[str(i.path)].has_signal
            else np.zeros(len(labels))
            for i in items
        ]
    )
    pred = Predictions(labels, probs, probs, 1.0, "teacher")
    scores = score_predictions([i.genre for i in items], pred, labels)
    return {k: scores[k] for k in ("top1", "top3", "macro_f1")}


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = clips(args)
    if not chosen:
        raise SystemExit(f"no rendered grooves under {args.grooves} (build_starter_model renders them)")
    targets = all_targets(chosen)
    if args.targets_only:
        return
    base = load_checkpoint(args.base)
    labels, cfg = list(base.labels), base.preprocessing
    split_of = splits(chosen)
    pool = [c for c in chosen if split_of[str(c.path)] == "train"]
    sets = {
        name: [EvaluationItem(path=c.path, genre=c.genre) for c in chosen if split_of[str(c.path)] == name]
        for name in ("val", "test")
    }
    print(
        f"{len(chosen)} groove clips, {len({c.genre for c in chosen})} genres, {len({c.style for c in chosen})} "
        f"styles: pool {len(pool)}, validation {len(sets['val'])}, test {len(sets['test'])} (grouped by style)"
    )
    init, note = initial_state(args.base, architecture=base.architecture, labels=labels, cfg=cfg)
    features: dict[str, np.ndarray] = {}
    load = OtherLoad().__enter__()
    signature = {k: getattr(args, k) for k in ("labels_per_genre", "epochs", "lr", "crops", "limit_per_genre")}
    signature["base"] = hashlib.sha256(args.base.read_bytes()).hexdigest()[:16]

    def cached_run(name: str, seed: int | None, compute) -> dict:
        """One model's scores on the validation and test sets, kept on disk: a rerun skips it."""
        key = _digest(json.dumps({**signature, "run": name, "seed": seed}, sort_keys=True))[:20]
        path = WORK / "runs" / f"{key}.json"
        if path.is_file():
            return json.loads(path.read_text())
        started = time.perf_counter()
        model = compute()
        entry = {
            "run": name,
            "seed": seed,
            **signature,
            "seconds": round(time.perf_counter() - started, 1),
            **{
                set_name: (
                    teacher_scores(items, targets, labels) if isinstance(model, str) else evaluate(model, items, labels)
                )
                for set_name, items in sets.items()
            },
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entry))
        print(
            f"  {name}{'' if seed is None else f' (seed {seed})'}: {entry['seconds']:.0f} s; "
            f"val top-1 {entry['val']['top1']:.1%}, test top-1 {entry['test']['top1']:.1%}",
            flush=True,
        )
        return entry

    results: dict[str, dict] = defaultdict(lambda: {"val": [], "test": []})
    timings: dict[str, list[float]] = defaultdict(list)

    def add(name: str, entry: dict) -> None:
        for set_name in sets:
            results[name][set_name].append(entry[set_name])
        timings[name].append(entry["seconds"])

    add("base", cached_run("base", None, lambda: base))
    add("teacher", cached_run("teacher", None, lambda: "teacher"))
    weights = [float(w) for w in args.weights.split(",")]
    for seed in (int(s) for s in args.seeds.split(",")):
        picked = labelled_pick(pool, args.labels_per_genre, seed)
        examples = [TrainingExample(str(c.path), labels.index(c.genre), "train") for c in pool if str(c.path) in picked]
        catalog = [c for c in pool if str(c.path) not in picked and targets[str(c.path)].has_signal]
        soft = []
        for c in catalog:
            t = targets[str(c.path)]
            soft.append(
                SoftExample(
                    str(c.path),
                    over_labels(t.clip, t.genres, labels).astype(np.float32),
                    over_labels(t.windows, t.genres, labels).astype(np.float32),
                    t.window_s,
                )
            )
        # The teachers recalibrated to the labels: fitted on the labelled clips' teacher scores only.
        calibration = fit_teacher_calibration(
            np.stack([teacher_features(targets[e.path]) for e in examples]), [e.label for e in examples], labels
        )
        calibrated = [
            SoftExample(
                str(c.path), calibration.distribution(teacher_features(targets[str(c.path)])).astype(np.float32)
            )
            for c in catalog
        ]
        hits = np.mean([labels[int(np.argmax(e.clip))] == c.genre for e, c in zip(calibrated, catalog)])
        raw = np.mean([labels[int(np.argmax(e.clip))] == c.genre for e, c in zip(soft, catalog)])
        loo_mapped, loo_recalibrated = leave_one_out(examples, targets, labels)
        print(
            f"seed {seed}: {len(examples)} labelled clips, {len(soft)} unlabelled catalog clips; teacher top-1 on "
            f"them {raw:.1%} as mapped, {hits:.1%} recalibrated on the labels (on the labelled clips alone, "
            f"leave-one-out: {loo_mapped:.1%} mapped, {loo_recalibrated:.1%} recalibrated)",
            flush=True,
        )
        runs = [
            ("adaptation alone", [], soft, 1.0),
            ("labels alone", examples, [], 0.0),
            *[(f"labels + adaptation W={w:g}", examples, soft, w) for w in weights],
            *[(f"labels + recalibrated adaptation W={w:g}", examples, calibrated, w) for w in weights],
        ]
        for name, labelled, adaptation, weight in runs:
            config = TrainingConfig(
                architecture=base.architecture,
                epochs=args.epochs,
                lr=args.lr,
                crops_per_track=args.crops,
                class_weights="none",
                seed=seed,
                patience=0,
                adapt_weight=weight,
                device="cpu",
            )

            def run(labelled=labelled, config=config, adaptation=adaptation):
                return train(
                    labelled,
                    labels,
                    cfg,
                    config,
                    init_state=init,
                    init_note=note,
                    features=features,
                    adaptation=adaptation,
                )

            add(name, cached_run(name, seed, run))
    load.__exit__(None, None, None)
    candidates = [k for k in results if k.startswith("labels + ")]
    best = max(
        candidates,
        key=lambda k: (
            statistics.mean(r["top1"] for r in results[k]["val"]),
            statistics.mean(r["macro_f1"] for r in results[k]["val"]),
        ),
    )
    report(results, sets, best, args, timings, load, len(pool), base)


def _cell(runs: list[dict], key: str, n: int) -> str:
    values = [r[key] for r in runs]
    mean = statistics.mean(values)
    if key == "macro_f1":
        return f"{mean:.3f}" + (f" ± {statistics.pstdev(values):.3f}" if len(values) > 1 else "")
    hits = f"{mean * n:.1f}/{n}" if len(values) > 1 else f"{round(mean * n)}/{n}"
    return f"{mean:.1%} ({hits})" + (f" ± {statistics.pstdev(values):.1%}" if len(values) > 1 else "")


def report(results: dict, sets: dict, best: str, args, timings, load, pool_size: int, base) -> None:
    n = len(sets["test"])
    print()
    print(
        f"Held-out test: {n} groove clips of styles no model trained on; base = {args.base.name}; "
        f"{args.labels_per_genre} labels per genre; mean ± spread over seeds {args.seeds}; "
        f"the validation set would pick: {best}"
    )
    print()
    print("| model | top-1 | top-3 | macro F1 | val top-1 |")
    print("|---|---:|---:|---:|---:|")
    order = ["base", "teacher", "adaptation alone", "labels alone", *[k for k in results if k.startswith("labels + ")]]
    for name in order:
        test, val = results[name]["test"], results[name]["val"]
        label = {"base": "base (starter, no training)", "teacher": "teacher ensemble itself (reference)"}.get(
            name, name
        )
        if name == f"labels + recalibrated adaptation W={DEFAULT_ADAPT_WEIGHT:g}":
            label = f"**{name}** (the default)"
        print(
            f"| {label} | {_cell(test, 'top1', n)} | {_cell(test, 'top3', n)} | {_cell(test, 'macro_f1', n)} | "
            f"{statistics.mean(r['top1'] for r in val):.1%} |"
        )
    print()
    for name, values in timings.items():
        if name not in ("base", "teacher"):
            print(f"training {name}: {statistics.mean(values):.0f} s per run")
    print(describe(load.cores))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "results": results,
                "best": best,
                "pool": pool_size,
                "test": n,
                "val": len(sets["val"]),
                "args": {k: str(v) for k, v in vars(args).items()},
                "timings": timings,
            },
            indent=1,
        )
    )
    print(f"(full results: {args.json})")


if __name__ == "__main__":
    main()
