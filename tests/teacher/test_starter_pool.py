"""The distillation pool: what is committed, how licences are read, how packages are unpacked."""
from __future__ import annotations

import shutil
import subprocess
import zipfile
from collections import Counter

import pytest

from inference.starter import POOL_MANIFEST
from inference.starter.pool import (
    HAND_READ_LICENCES, PoolError, PoolFile, audio_file, dep5_licence, download_packages, read_manifest,
    select_pool, unpack_package, write_manifest,
)

SUPERTUX_LIKE = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2003-2021 SuperTux Devel Team
License: GPL-3+

Files: data/music/*
Copyright: various
License: GPL-2+
 Long licence text continues
 over several lines.

Files: debian/*
License: GPL-3+

Files: data/music/theme*.ogg
License: CC-BY-SA-3.0
"""


def test_the_committed_pool_has_ten_hours_from_six_packages_each_file_licensed():
    files = read_manifest(POOL_MANIFEST)
    hours = sum(f.duration_s for f in files) / 3600
    packages = Counter(f.package for f in files)
    assert hours >= 10 and len(packages) >= 6
    assert all(f.licence for f in files), [f.key for f in files if not f.licence][:3]
    assert len({f.key for f in files}) == len(files)
    per_package_h = {p: sum(f.duration_s for f in files if f.package == p) / 3600 for p in packages}
    assert max(per_package_h.values()) <= 1.0  # no soundtrack swamps the others
    split_h = {s: sum(f.duration_s for f in files if f.split == s) / 3600 for s in ("train", "val", "test")}
    assert split_h["train"] > 7 and split_h["val"] > 0.5 and split_h["test"] > 0.5


def test_a_dep5_pattern_written_for_the_source_tree_matches_the_installed_file():
    installed = "usr/share/games/supertux2/music/forest.ogg"  # installed without the data/ folder
    assert dep5_licence(SUPERTUX_LIKE, installed) == "GPL-2+"
    assert dep5_licence(SUPERTUX_LIKE, "usr/share/games/supertux2/music/theme_sad.ogg") == "CC-BY-SA-3.0"
    assert dep5_licence(SUPERTUX_LIKE, "usr/share/games/supertux2/images/a.png") == "GPL-3+"
    assert dep5_licence("This package was debianized by someone.\nLicense: see below", installed) == ""


def test_selection_caps_each_package_skips_stems_and_keeps_the_split_stable():
    rows = [{"package": "a", "path_in_package": f"m/{i}.ogg", "duration_s": "1000", "mixed_stems": ""}
            for i in range(10)]
    rows += [{"package": "b", "path_in_package": "song/guitar.ogg", "duration_s": "200",
              "mixed_stems": "guitar.ogg;drums.ogg"},
             {"package": "c", "path_in_package": "x.ogg", "duration_s": "100", "mixed_stems": ""}]
    chosen = select_pool(rows, packages=("a", "b", "c"), cap_hours=1.0)
    assert [f.package for f in chosen].count("a") == 3  # 3 × 1000 s fit under one hour, a 4th does not
    assert {f.package for f in chosen} == {"a", "c"}
    again = select_pool(list(reversed(rows)), packages=("a", "b", "c"), cap_hours=1.0)
    assert [(f.key, f.split) for f in again] == [(f.key, f.split) for f in chosen]


def test_manifest_round_trip_and_a_bad_split_is_refused(tmp_path):
    files = [PoolFile("p", "a/b.ogg", 12.5, "train", "GPL-2+"), PoolFile("p", "a/c.ogg", 3.0, "test", "CC0-1.0")]
    write_manifest(files, tmp_path / "pool.tsv")
    assert read_manifest(tmp_path / "pool.tsv") == files
    write_manifest([PoolFile("p", "a/b.ogg", 1.0, "holdout")], tmp_path / "bad.tsv")
    with pytest.raises(PoolError, match="split must be one of"):
        read_manifest(tmp_path / "bad.tsv")


def test_a_file_inside_a_shipped_zip_is_extracted_once(tmp_path):
    package_dir = tmp_path / "unpacked" / "game-data"
    archive = package_dir / "usr/share/games/game/public.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("audio/music/theme.ogg", b"OggS-not-really")
    item = PoolFile("game-data", "_unzipped/public.zip/audio/music/theme.ogg", 10.0, "train")
    path = audio_file(item, package_dir, tmp_path / "scratch")
    assert path.read_bytes() == b"OggS-not-really"
    with pytest.raises(PoolError, match="not in the unpacked package"):
        audio_file(PoolFile("game-data", "usr/missing.ogg", 1.0, "train"), package_dir, tmp_path / "scratch")


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed (Debian's dpkg)")
def test_a_real_deb_is_unpacked_once_and_a_failed_download_is_reported(tmp_path):
    root = tmp_path / "build"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text("Package: tiny-music\nVersion: 1.0\nArchitecture: all\n"
                                         "Maintainer: t <t@example.org>\nDescription: test\n")
    (root / "usr/share/tiny").mkdir(parents=True)
    (root / "usr/share/tiny/song.ogg").write_bytes(b"audio")
    debs = tmp_path / "debs"
    debs.mkdir()
    subprocess.run(["dpkg-deb", "--build", str(root), str(debs / "tiny-music_1.0_all.deb")], check=True,
                   capture_output=True)
    found = download_packages(["tiny-music"], debs, runner=_never_called)  # present: no download
    dest = unpack_package(found["tiny-music"], tmp_path / "unpacked" / "tiny-music")
    assert (dest / "usr/share/tiny/song.ogg").read_bytes() == b"audio"
    (dest / "usr/share/tiny/song.ogg").write_bytes(b"changed")
    unpack_package(found["tiny-music"], dest)  # already unpacked: left alone
    assert (dest / "usr/share/tiny/song.ogg").read_bytes() == b"changed"

    def failing(*args, **kwargs):
        return subprocess.CompletedProcess(args, 100, "", "E: Unable to locate package no-such-music")

    with pytest.raises(PoolError, match="Unable to locate package no-such-music"):
        download_packages(["no-such-music"], debs, runner=failing)


def _never_called(*args, **kwargs):
    raise AssertionError("apt-get download ran although the .deb was there")


def test_hand_read_licences_are_only_for_packages_in_the_pool():
    packages = {f.package for f in read_manifest(POOL_MANIFEST)}
    assert set(HAND_READ_LICENCES) <= packages
