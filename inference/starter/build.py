"""The recipe's steps, each resumable: fetch the pool, cache targets, distil, evaluate, write.

Everything lands under one work folder (default ``var/starter``)::

    debs/ unpacked/ scratch/     packages, their files, audio pulled out of zips
    targets/<file_id>.npz        per-recording student features and teacher tags
    runs/<init>/                 distillation state per initialisation (resumes per epoch)
    report.json                  what was measured, for the model card
    training-curves.png          validation loss and agreement per epoch, per initialisation
    test-confusion.png           teacher vs student top-1 on the held-out recordings
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

from ..features import PreprocessingConfig
from ..model import LoadedModel
from ..teacher import mapping
from ..training import initial_state
from .charts import training_curves_png
from .distil import DistilConfig, Recording, agreement, distil, student_checkpoint
from .pool import (SPLITS, PoolError, PoolFile, audio_file, decoding_problem, download_packages, file_licence,
                   read_manifest, unpack_package)
from .targets import compute_targets, load_targets, save_targets

Say = Callable[[str], None]


def fetch_pool(files: Sequence[PoolFile], work_dir: Path, *, say: Say = print) -> list[PoolFile]:
    """Download and unpack the packages; check every file is there under the licence on record."""
    packages = list(dict.fromkeys(f.package for f in files))
    say(f"[pool] {len(files)} recordings, {sum(f.duration_s for f in files) / 3600:.1f} h "
        f"from {len(packages)} packages")
    problem = decoding_problem(files)  # before hours of downloading
    if problem:
        raise PoolError(problem)
    debs = download_packages(packages, work_dir / "debs")
    for index, package in enumerate(packages, 1):
        say(f"[pool] unpacking {package} ({index}/{len(packages)})")
        unpack_package(debs[package], work_dir / "unpacked" / package)
    checked = []
    for item in files:
        licence = file_licence(item, work_dir / "unpacked" / item.package)
        if item.licence and licence != item.licence:
            raise PoolError(f"{item.key}: the manifest says {item.licence}, the package now says {licence}")
        audio_file(item, work_dir / "unpacked" / item.package, work_dir / "scratch")
        checked.append(dataclasses.replace(item, licence=licence))
    return checked


def targets_path(work_dir: Path, item: PoolFile) -> Path:
    return work_dir / "targets" / f"{item.file_id}.npz"


def prepare_targets(files: Sequence[PoolFile], work_dir: Path, *, teacher_dir: Path, cfg: PreprocessingConfig,
                    progress: bool = True) -> None:
    """Compute and cache what is missing; cached recordings are skipped (resume)."""
    from tqdm import tqdm

    from ..teacher.musicnn import load_musicnn

    todo = [f for f in files if not targets_path(work_dir, f).exists()]
    if not todo:
        return
    teachers = {name: load_musicnn(teacher_dir / f"{name}_musicnn.h5")[0] for name in ("MSD", "MTT")}
    bar = tqdm(total=sum(f.duration_s for f in todo), unit="s audio", desc="teacher targets",
               disable=not progress, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")
    for item in todo:
        path = audio_file(item, work_dir / "unpacked" / item.package, work_dir / "scratch")
        save_targets(compute_targets(path, teachers=teachers, cfg=cfg), targets_path(work_dir, item))
        bar.update(item.duration_s)
    bar.close()


@dataclasses.dataclass(frozen=True)
class RecipeOptions:
    work_dir: Path
    teacher_dir: Path
    output: Path
    manifest: Path
    deit_init: Path | None = None
    inits: tuple[str, ...] = ("random", "deit")
    config: DistilConfig = DistilConfig()
    listen_dir: Path | None = None
    progress: bool = True


def recordings_by_split(files: Sequence[PoolFile], work_dir: Path) -> dict[str, list[Recording]]:
    out: dict[str, list[Recording]] = {split: [] for split in SPLITS}
    for item in files:
        targets = load_targets(targets_path(work_dir, item))
        out[item.split].append(Recording(item.file_id, targets.mel, targets.genre_scores()))
    return out


def _initial_weights(init: str, options: RecipeOptions, cfg: PreprocessingConfig) -> tuple[dict | None, str]:
    """No weights for a random start; DeiT-Tiny's ImageNet weights adapted to one channel otherwise."""
    if init == "random":
        return None, "random"
    state, _ = initial_state(options.deit_init, architecture=options.config.architecture,
                             labels=mapping.GENRES, cfg=cfg)
    return state, "deit"


def majority_baseline(splits: dict[str, list[Recording]]) -> dict[str, object]:
    """What always answering the training pool's most common teacher genre scores on the test
    recordings: the floor the student's agreement has to beat."""
    import numpy as np

    top = [int(np.argmax(r.teacher_mean())) for r in splits["train"]]
    majority = max(set(top), key=top.count)
    test_top = [int(np.argmax(r.teacher_mean())) for r in splits["test"]]
    return {"genre": mapping.GENRES[majority], "track_top1": sum(t == majority for t in test_top) / len(test_top)}


def listen(loaded: LoadedModel, teachers: dict[str, object], folder: Path) -> list[dict[str, object]]:
    """The student's and the teacher's Top-3 on every recording in ``folder`` (e.g. shared/audio)."""
    from ..analysis import analyze_file
    from ..teacher.musicnn import tag_audio

    rows = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in {".ogg", ".wav", ".mp3", ".flac"}):
        result = analyze_file(path, loaded, top_k=3, with_attention=False)
        scores = mapping.genre_scores_dict({name: tag_audio(path, model)[1] for name, model in teachers.items()})
        teacher_top = sorted(scores.items(), key=lambda kv: -kv[1])[:3]
        rows.append({"file": path.name,
                     "student": [[label, round(float(p), 3)] for label, p in result.top_k],
                     "teacher": [[label, round(float(p), 3)] for label, p in teacher_top]})
    return rows


def run_recipe(options: RecipeOptions, *, say: Say = print) -> dict[str, object]:
    """All steps; a step whose output exists is skipped, so running again resumes."""
    import json

    import torch

    from ..checkpoint import save_checkpoint
    from ..evaluation import confusion_png_bytes
    from ..model import build_vit, load_model, select_device
    from ..teacher.musicnn import load_musicnn

    cfg = PreprocessingConfig()
    work = options.work_dir
    unknown = set(options.inits) - {"random", "deit"}
    if unknown or not options.inits:
        raise ValueError(f"initialisations must be random and/or deit, not {sorted(unknown) or 'none'}")
    if "deit" in options.inits and options.deit_init is None:
        raise PoolError("the deit initialisation needs --deit-init (deit_tiny_patch16_224_imagenet.npz)")
    # Checked before hours of downloading and teacher runs, not when the file is first needed.
    needed = [options.teacher_dir / f"{name}_musicnn.h5" for name in ("MSD", "MTT")]
    needed += [options.deit_init] if "deit" in options.inits else []
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        raise PoolError(f"missing: {', '.join(missing)}")
    files = fetch_pool(read_manifest(options.manifest), work, say=say)
    say("[targets] teacher soft targets and student features (cached per recording)")
    prepare_targets(files, work, teacher_dir=options.teacher_dir, cfg=cfg, progress=options.progress)
    splits = recordings_by_split(files, work)
    say("[distil] " + ", ".join(f"{len(v)} {k} recordings" for k, v in splits.items()))
    runs = {}
    for init in options.inits:
        state, note = _initial_weights(init, options, cfg)
        runs[init] = distil(splits["train"], splits["val"], cfg, options.config, run_dir=work / "runs" / init,
                            init_state=state, init_note=note, progress=options.progress, say=say)
    chosen = min(runs, key=lambda name: runs[name].best["val_loss"])
    comparison = {name: {"best": run.best, "seconds": round(run.seconds), "history": run.history}
                  for name, run in runs.items()}
    (work / "training-curves.png").write_bytes(training_curves_png({n: r.history for n, r in runs.items()}))
    say(f"[choose] {chosen} initialisation (lowest validation loss)")
    facts = {"teacher": "musicnn MSD + MTT (ISC)", "mapping_version": mapping.MAPPING_VERSION,
             "uncovered_genres": list(mapping.UNCOVERED_GENRES), "pool_manifest": options.manifest.name,
             "pool_hours": round(sum(f.duration_s for f in files) / 3600, 2),
             "pool_packages": sorted({f.package for f in files}), "init_comparison": comparison}
    # Score the weights as they will ship: rounded to float16, as the saved checkpoint holds them.
    device = select_device(options.config.device)
    shipped = {k: v.half().float() if v.is_floating_point() else v for k, v in runs[chosen].state_dict.items()}
    student = build_vit(options.config.architecture, num_classes=len(mapping.GENRES), n_mels=cfg.n_mels,
                        window_frames=cfg.window_frames)
    student.load_state_dict(shipped)
    say("[evaluate] held-out test recordings, float16 weights")
    test = agreement(student.to(device), splits["test"], cfg, device)
    metrics = {f"teacher_{key}": round(test[key], 4) for key in ("track_top1", "track_top3", "window_top1")}
    notes = (f"Starter model distilled from the musicnn taggers on {facts['pool_hours']} h of openly licensed "
             f"game music; no signal for {', '.join(mapping.UNCOVERED_GENRES)}. See inference/starter/MODEL_CARD.md.")
    ckpt = student_checkpoint(runs[chosen], mapping.GENRES, cfg, options.config, metrics=metrics, notes=notes,
                              **facts)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(ckpt, options.output, dtype=torch.float16)
    (work / "test-confusion.png").write_bytes(confusion_png_bytes(
        list(mapping.GENRES), list(mapping.GENRES), test["confusion"], row_label="teacher top-1",
        column_label="student top-1", title="Held-out pool recordings: teacher vs starter model"))
    report: dict[str, object] = {**facts, "chosen_init": chosen, "majority_baseline": majority_baseline(splits), "checkpoint": str(options.output),
                                 "checkpoint_bytes": options.output.stat().st_size, "test": test,
                                 "config": dataclasses.asdict(options.config)}
    if options.listen_dir is not None:
        teachers = {n: load_musicnn(options.teacher_dir / f"{n}_musicnn.h5")[0] for n in ("MSD", "MTT")}
        report["listen"] = listen(load_model(options.output, device=device), teachers, options.listen_dir)
    (work / "report.json").write_text(json.dumps(report, indent=2))
    say(f"[done] {options.output} ({report['checkpoint_bytes'] / 1e6:.1f} MB); test agreement with the teacher: "
        f"recording top-1 {test['track_top1']:.1%}, top-3 {test['track_top3']:.1%}, window top-1 "
        f"{test['window_top1']:.1%}; report in {work / 'report.json'}")
    return report
