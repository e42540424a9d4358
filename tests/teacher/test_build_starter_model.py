"""`build_starter_model` end to end on a tiny pool: a real .deb, the real (shipped) teachers, a
short distillation, the float16 checkpoint and the report; then a second run resumes without
redoing anything."""

from __future__ import annotations

import json
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from inference.engine.checkpoint import load_checkpoint
from inference.engine.starter.pool import PoolFile, write_manifest
from inference.engine.teacher import mapping
from tests.fixtures import wav_bytes

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
License: GPL-2+

Files: music/*
License: CC0-1.0
"""
SONGS = {"low.wav": (220.0, "train"), "mid.wav": (440.0, "val"), "high.wav": (1760.0, "test")}


def _tiny_pool(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "build"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        "Package: tiny-music\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test pool\n"
    )
    (root / "usr/share/doc/tiny-music").mkdir(parents=True)
    (root / "usr/share/doc/tiny-music/copyright").write_text(COPYRIGHT)
    (root / "usr/share/games/tiny/music").mkdir(parents=True)
    for name, (freq, _) in SONGS.items():
        (root / "usr/share/games/tiny/music" / name).write_bytes(wav_bytes(8.0, freq, sr=22050))
    work = tmp_path / "work"
    (work / "debs").mkdir(parents=True)
    subprocess.run(
        ["dpkg-deb", "--build", str(root), str(work / "debs/tiny-music_1.0_all.deb")], check=True, capture_output=True
    )
    manifest = tmp_path / "pool.tsv"
    write_manifest(
        [
            PoolFile("tiny-music", f"usr/share/games/tiny/music/{name}", 8.0, split, "CC0-1.0")
            for name, (_, split) in SONGS.items()
        ],
        manifest,
    )
    return work, manifest


def _build(work: Path, manifest: Path, output: Path, *extra: str) -> str:
    out = StringIO()
    call_command(
        "build_starter_model",
        "--work-dir",
        str(work),
        "--manifest",
        str(manifest),
        "--output",
        str(output),
        "--inits",
        "random",
        "--epochs",
        "1",
        "--crops-per-epoch",
        "16",
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--groove-minutes",
        "0",
        *extra,
        stdout=out,
        verbosity=0,
    )
    return out.getvalue()


def test_the_recipe_writes_a_float16_starter_checkpoint_and_a_report_then_resumes(tmp_path):
    work, manifest = _tiny_pool(tmp_path)
    listen_dir = tmp_path / "listen"
    listen_dir.mkdir()
    (listen_dir / "tone.wav").write_bytes(wav_bytes(7.0, 330.0, sr=22050))
    output = tmp_path / "starter.safetensors"
    text = _build(work, manifest, output, "--listen", str(listen_dir))
    assert "[pool] 3 recordings, 0.0 h from 1 packages" in text and "[done]" in text

    ckpt = load_checkpoint(output)
    assert ckpt.trained and ckpt.labels == list(mapping.GENRES)
    assert ckpt.training["mapping_version"] == mapping.ENSEMBLE_VERSION
    assert ckpt.training["teacher_weights"] == {"musicnn": 0.5, "yamnet": 0.5}
    assert ckpt.training["uncovered_genres"] == []
    from safetensors import safe_open

    with safe_open(str(output), framework="pt") as handle:
        assert handle.get_tensor("head.weight").dtype.is_floating_point
        assert str(handle.get_tensor("head.weight").dtype) == "torch.float16"
    report = json.loads((work / "report.json").read_text())
    assert report["chosen_run"] == "random" and report["test"]["recordings"] == 1
    assert [row["file"] for row in report["listen"]] == ["tone.wav"]
    assert len(report["listen"][0]["student"]) == 3 and len(report["listen"][0]["ensemble"]) == 3
    assert report["listen"][0]["content"] in {"music", "speech", "other"}
    assert (work / "test-confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert (work / "training-curves.png").read_bytes()[:4] == b"\x89PNG"
    assert [e["epoch"] for e in report["runs"]["random"]["history"]] == [1]

    cached = {p: p.stat().st_mtime_ns for p in (work / "targets-v2").glob("*.npz")}
    assert len(cached) == 3
    again = _build(work, manifest, output)
    assert "[distil:random] resuming after epoch 1" in again
    assert {p: p.stat().st_mtime_ns for p in (work / "targets-v2").glob("*.npz")} == cached  # no teacher rerun


def test_a_licence_that_changed_in_the_package_stops_the_build(tmp_path):
    work, manifest = _tiny_pool(tmp_path)
    text = manifest.read_text().replace("CC0-1.0", "CC-BY-4.0", 1)
    manifest.write_text(text)
    with pytest.raises(CommandError, match="the manifest says CC-BY-4.0, the package now says CC0-1.0"):
        _build(work, manifest, tmp_path / "never.safetensors")
    assert not (tmp_path / "never.safetensors").exists() and not (work / "targets-v2").exists()


def test_the_deit_init_without_its_weights_is_a_clear_error(tmp_path):
    work, manifest = _tiny_pool(tmp_path)
    with pytest.raises(CommandError, match="needs --deit-init"):
        _build(work, manifest, tmp_path / "x.safetensors", "--inits", "deit")


def test_missing_teacher_or_init_weights_stop_the_build_before_any_download(tmp_path):
    work, manifest = _tiny_pool(tmp_path)
    shutil.rmtree(work / "debs")  # anything fetched would land here
    with pytest.raises(CommandError, match="missing: .*MSD_musicnn.h5"):
        _build(work, manifest, tmp_path / "x.safetensors", "--teacher-dir", str(tmp_path))
    with pytest.raises(CommandError, match="missing: .*nope.npz"):
        _build(
            work,
            manifest,
            tmp_path / "x.safetensors",
            "--inits",
            "random,deit",
            "--deit-init",
            str(tmp_path / "nope.npz"),
        )
    assert not (work / "debs").exists()
