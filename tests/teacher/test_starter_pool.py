"""The distillation pool: what is committed, how licences are read, how packages are unpacked."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
import zipfile
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from inference.engine.starter import STARTER_DIR
from inference.engine.starter import pool as pool_module
from inference.engine.starter.pool import (
    HAND_READ_LICENCES,
    MAX_WEIGHT,
    PoolError,
    PoolFile,
    assign_splits,
    assign_weights,
    audio_file,
    decoding_problem,
    dep5_copyright,
    dep5_licence,
    download_packages,
    file_licence,
    is_free_licence,
    plan_manifest,
    rcc_read,
    read_manifest,
    select_pool,
    unpack_package,
    write_manifest,
)
from tests.fixtures import wav_bytes

POOL_V1 = STARTER_DIR / "pool.tsv"
POOL_V2 = STARTER_DIR / "pool-v2.tsv"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed (Debian's dpkg)")

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
    files = read_manifest(POOL_V1)
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
    rows = [
        {"package": "a", "path_in_package": f"m/{i}.ogg", "duration_s": "1000", "mixed_stems": ""} for i in range(10)
    ]
    rows += [
        {
            "package": "b",
            "path_in_package": "song/guitar.ogg",
            "duration_s": "200",
            "mixed_stems": "guitar.ogg;drums.ogg",
        },
        {"package": "c", "path_in_package": "x.ogg", "duration_s": "100", "mixed_stems": ""},
    ]
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


@needs_dpkg
def test_a_real_deb_is_unpacked_once_and_a_failed_download_is_reported(tmp_path):
    root = tmp_path / "build"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        "Package: tiny-music\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n"
    )
    (root / "usr/share/tiny").mkdir(parents=True)
    (root / "usr/share/tiny/song.ogg").write_bytes(b"audio")
    debs = tmp_path / "debs"
    debs.mkdir()
    subprocess.run(
        ["dpkg-deb", "--build", str(root), str(debs / "tiny-music_1.0_all.deb")], check=True, capture_output=True
    )
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
    packages = {f.package for f in read_manifest(POOL_V2)}
    assert set(HAND_READ_LICENCES) <= packages


# --- pool v2: the committed manifest --------------------------------------------------------


def _hours(files) -> float:
    return sum(f.duration_s for f in files) / 3600


def test_pool_v2_holds_every_free_recording_and_keeps_pool_v1_as_it_was():
    files = read_manifest(POOL_V2)
    assert _hours(files) > 40 and len({f.package for f in files}) >= 90
    assert len({f.key for f in files}) == len(files)
    assert all(is_free_licence(f.licence) for f in files), [f.key for f in files if not is_free_licence(f.licence)][:3]
    assert all(f.teacher_top1 and f.group for f in files)
    by_key = {f.key: f for f in files}
    for old in read_manifest(POOL_V1):  # earlier held-out numbers stay comparable
        assert (by_key[old.key].split, by_key[old.key].licence) == (old.split, old.licence), old.key
    kinds = Counter("stems" if f.stems else "raw" if f.raw_pcm else f.path.split("/")[0] for f in files)
    assert kinds["_unzipped"] and kinds["_rcc"] and kinds["stems"] and kinds["raw"] and kinds["usr"]


def test_pool_v2_splits_keep_new_groups_whole_and_hold_out_a_tenth_each():
    files = read_manifest(POOL_V2)
    legacy = {f.package for f in read_manifest(POOL_V1)}
    splits_of = defaultdict(set)
    for item in files:
        if item.package not in legacy:
            splits_of[item.group].add(item.split)
    assert all(len(s) == 1 for s in splits_of.values()), [g for g, s in splits_of.items() if len(s) > 1]
    hours = {s: _hours(f for f in files if f.split == s) for s in ("train", "val", "test")}
    assert hours["train"] > 0.7 * _hours(files) and hours["val"] > 4 and hours["test"] > 4
    assert len({f.group for f in files if f.split == "test"}) >= 15


def test_pool_v2_weights_keep_any_package_or_genre_from_swamping_the_training_draws():
    files = read_manifest(POOL_V2)
    train = [f for f in files if f.split == "train"]
    draws = sum(f.duration_s * f.weight for f in train)

    def share(key):
        return max(Counter(dict.fromkeys({key(f) for f in train}, 0.0) | _sum_by(train, key)).values()) / draws

    raw_electronic = _hours(f for f in files if f.teacher_top1 == "Electronic") / _hours(files)
    assert raw_electronic > 0.55  # game music is mostly electronic ...
    assert share(lambda f: f.teacher_top1) < 0.4  # ... but not what the student mostly sees
    assert share(lambda f: f.package) < 0.1
    assert all(0 < f.weight <= MAX_WEIGHT for f in files)


def _sum_by(files, key) -> dict:
    out = defaultdict(float)
    for item in files:
        out[key(item)] += item.duration_s * item.weight
    return out


@pytest.mark.skipif(
    shutil.which("ffmpeg") is None or not pool_module._ffmpeg_reads_tracker_modules(),
    reason="needs ffmpeg with libopenmpt",
)
def test_this_machine_can_decode_every_pool_v2_recording():
    assert decoding_problem(read_manifest(POOL_V2)) == ""


# --- manifests ------------------------------------------------------------------------------


def test_an_old_manifest_reads_with_weight_one_and_every_column_round_trips(tmp_path):
    (tmp_path / "old.tsv").write_text("package\tpath\tduration_s\tsplit\tlicence\np\ta.ogg\t3.5\tval\tGPL-2+\n")
    assert read_manifest(tmp_path / "old.tsv") == [PoolFile("p", "a.ogg", 3.5, "val", "GPL-2+", weight=1.0)]
    full = [
        PoolFile(
            "p",
            "songs/x",
            10.0,
            "train",
            "CC0-1.0",
            weight=0.25,
            stems="song.ogg;guitar.ogg",
            teacher_top1="Rock",
            group="p/Band",
        ),
        PoolFile("q", "s/raw.raw", 2.0, "test", "GPL-2", raw_pcm="u8:22050:1", teacher_top1="Jazz", group="q"),
    ]
    write_manifest(full, tmp_path / "v2.tsv")
    assert read_manifest(tmp_path / "v2.tsv") == full
    write_manifest([PoolFile("p", "a.ogg", 1.0, "train", weight=-1.0)], tmp_path / "bad.tsv")
    with pytest.raises(PoolError, match="weight must be"):
        read_manifest(tmp_path / "bad.tsv")
    write_manifest([PoolFile("p", "a.raw", 1.0, "train", raw_pcm="pcm")], tmp_path / "bad.tsv")
    with pytest.raises(PoolError, match="raw_pcm must look like"):
        read_manifest(tmp_path / "bad.tsv")


# --- licences -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "licence",
    [
        "GPL-2+",
        "GPL",
        "GPL-3.0+",
        "LGPL-2.1",
        "CC-BY-SA-3.0",
        "CC-BY-SA-3.0+",
        "CC-BY-4.0",
        "CC-by-sa-3.0",
        "CC0-1.0",
        "Public Domain",
        "public-domain",
        "Expat or GPL-2 or GPL-3",
        "GPL-3 or CC-BY-3.0",
        "GPL-3.0+ and CC-BY-SA-3.0",
        "BSD-2-clause",
        "Free-Art-License-1.2",
        "OAL-1.0",
    ],
)
def test_free_licences_are_accepted(licence):
    assert is_free_licence(licence)


@pytest.mark.parametrize(
    "licence",
    [
        "",
        "CC-BY-NC-SA-3.0",
        "CC-BY-ND-4.0",
        "CC-BY-NC-3.0 or CC-BY-ND-3.0",
        "GPL-2+ and CC-BY-NC-3.0",
        "fair-use",
        "ETHYMONICS-FREE-MUSIC-LICENSE",
        "All Rights Reserved",
        "other",
        "?",
    ],
)
def test_non_free_or_unknown_licences_are_refused(licence):
    assert not is_free_licence(licence)


BLOBWARS_LIKE = """Format: http://dep.debian.net/deps/dep5/
Upstream-Name: Blobby

Files: *
Copyright:
  Copyright (c) 2004-2011 Game Studio
License: GPL-2+

Files:
  music/cave
  music/hub
Copyright:
  Copyright (c) 2005 Lennaert van Driel
Comment:
  DJ Sjors
License: CC-BY-SA-3.0

Files: music/credits, music/arctic
Copyright: © 2005-2006, Sander van Oirschot
Licence: CC-BY-3.0

Files: music/fair
Copyright: A Broadcaster
License: fair-use

Files: sounds/*
Copyright: not-applicable
License:
 Public Domain
"""


def test_dep5_reads_multi_line_and_comma_separated_files_the_licence_spelling_and_the_artist():
    root = "usr/share/games/blobby/"
    assert dep5_licence(BLOBWARS_LIKE, root + "music/cave") == "CC-BY-SA-3.0"
    assert dep5_licence(BLOBWARS_LIKE, root + "music/arctic") == "CC-BY-3.0"  # "Licence", comma-separated
    assert dep5_licence(BLOBWARS_LIKE, root + "sounds/tuxi.ogg") == "Public Domain"  # licence name on the next line
    assert dep5_licence(BLOBWARS_LIKE, root + "music/title") == "GPL-2+"
    assert dep5_copyright(BLOBWARS_LIKE, root + "music/hub") == "Lennaert van Driel"
    assert dep5_copyright(BLOBWARS_LIKE, root + "music/credits") == "Sander van Oirschot"


def _package_with_copyright(tmp_path: Path, package: str, text: str) -> Path:
    package_dir = tmp_path / "unpacked" / package
    (package_dir / f"usr/share/doc/{package}").mkdir(parents=True)
    (package_dir / f"usr/share/doc/{package}/copyright").write_text(text)
    return package_dir


def test_a_non_free_file_is_refused_and_hand_read_licences_can_be_per_file(tmp_path, monkeypatch):
    package_dir = _package_with_copyright(tmp_path, "blobby-data", BLOBWARS_LIKE)
    assert (
        file_licence(PoolFile("blobby-data", "usr/share/games/blobby/music/cave", 1, "train"), package_dir)
        == "CC-BY-SA-3.0"
    )
    with pytest.raises(PoolError, match="fair-use is not a free licence"):
        file_licence(PoolFile("blobby-data", "usr/share/games/blobby/music/fair", 1, "train"), package_dir)
    monkeypatch.setitem(HAND_READ_LICENCES, "dink-data", {"*/Sound/1.ogg": "CC-BY-SA-3.0", "*/Sound/5.ogg": "GPL-3+"})
    assert file_licence(PoolFile("dink-data", "usr/share/games/dink/Sound/5.ogg", 1, "train"), tmp_path) == "GPL-3+"
    with pytest.raises(PoolError, match="names no licence"):
        file_licence(PoolFile("dink-data", "usr/share/games/dink/Sound/15.ogg", 1, "train"), tmp_path)


# --- balance and splits ---------------------------------------------------------------------


def test_weights_cap_each_package_and_temper_genres_with_a_mean_of_one_per_second():
    files = [PoolFile("big", f"e{i}.ogg", 3600.0, "train", teacher_top1="Electronic") for i in range(4)]
    files += [
        PoolFile("small", "e.ogg", 1800.0, "train", teacher_top1="Electronic"),
        PoolFile("other", "c.ogg", 1800.0, "train", teacher_top1="Classical"),
    ]
    weighted = assign_weights(files, cap_hours=1.0, genre_power=0.5, max_weight=4.0)
    w = {f.package: f.weight for f in weighted}
    assert w["small"] / w["big"] == pytest.approx(4, rel=1e-3)  # 4 h capped to 1 h, 0.5 h untouched
    assert w["other"] / w["small"] == pytest.approx(3**0.5, rel=1e-3)  # (1.5 h / 0.5 h) ** 0.5
    assert sum(f.duration_s * f.weight for f in weighted) == pytest.approx(sum(f.duration_s for f in files), rel=1e-3)
    capped = assign_weights(files, cap_hours=1.0, genre_power=0.5, max_weight=2.0)
    assert max(f.weight for f in capped) == 2.0


def _groups(n: int, hours: float, genre: str, prefix: str) -> list[PoolFile]:
    return [
        PoolFile(f"{prefix}{i}", "m.ogg", hours * 3600, "train", teacher_top1=genre, group=f"{prefix}{i}")
        for i in range(n)
    ]


def test_splits_keep_the_previous_ones_send_its_packages_new_files_to_training_and_keep_groups_whole():
    previous = [PoolFile("old", "a.ogg", 600.0, "test"), PoolFile("old", "b.ogg", 600.0, "val")]
    files = [PoolFile("old", p, 600.0, "train", teacher_top1="Rock", group="old") for p in ("a.ogg", "b.ogg", "c.ogg")]
    files += [
        PoolFile("band", f"{artist}/{i}.ogg", 1200.0, "train", teacher_top1="Rock", group=f"band/{artist}")
        for artist in ("x", "y")
        for i in range(3)
    ]
    files += _groups(12, 0.5, "Electronic", "e") + _groups(6, 0.5, "Jazz", "j")
    files += [PoolFile("huge", "h.ogg", 40 * 3600.0, "train", teacher_top1="Electronic", group="huge")]
    split = {f.key: f.split for f in assign_splits(files, previous=previous)}
    assert (split["old/a.ogg"], split["old/b.ogg"], split["old/c.ogg"]) == ("test", "val", "train")
    assert split["huge/h.ogg"] == "train"  # too big for a held-out split
    for artist in ("x", "y"):
        assert len({split[f"band/{artist}/{i}.ogg"] for i in range(3)}) == 1
    for genre in ("e", "j"):
        held_out = Counter(split[f"{genre}{i}/m.ogg"] for i in range(12 if genre == "e" else 6))
        assert held_out["val"] >= 1 and held_out["test"] >= 1  # every genre reaches both held-out splits
    shuffled = files[:]
    random.Random(1).shuffle(shuffled)
    assert {f.key: f.split for f in assign_splits(shuffled, previous=previous)} == split


def test_plan_manifest_leaves_out_what_is_not_free_and_groups_a_package_by_artist(tmp_path):
    _package_with_copyright(tmp_path, "blobby-data", BLOBWARS_LIKE)
    music = "usr/share/games/blobby/music/"
    rows = [
        {
            "package": "blobby-data",
            "path_in_package": music + name,
            "mixed_stems": "",
            "duration_s": "100",
            "teacher_top1": "Electronic",
        }
        for name in ("cave", "hub", "credits", "fair")
    ]
    files, left_out = plan_manifest(rows, tmp_path / "unpacked")
    assert [key for key, _ in left_out] == ["blobby-data/" + music + "fair"]
    assert {f.path.rsplit("/", 1)[1]: f.group for f in files} == {
        "cave": "blobby-data/Lennaert van Driel",
        "hub": "blobby-data/Lennaert van Driel",
        "credits": "blobby-data/Sander van Oirschot",
    }
    assert all(f.weight > 0 and f.licence for f in files)


# --- Qt resource files ----------------------------------------------------------------------


def _rcc_bytes(files: dict[str, bytes], *, version: int = 3, compressed: tuple[str, ...] = ()) -> bytes:
    """A Qt resource file as rcc writes it: nodes breadth first, each folder's children together."""
    root: dict = {}
    for path, data in files.items():
        node = root
        *folders, name = path.split("/")
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = data
    names, name_at = bytearray(), {}
    nodes = [("", root, "")]
    tree, data = bytearray(), bytearray()
    index = 0
    while index < len(nodes):
        name, value, path = nodes[index]
        if name and name not in name_at:
            name_at[name] = len(names)
            names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
        if isinstance(value, dict):
            children = sorted(value.items())
            tree += struct.pack(">IHII", name_at.get(name, 0), 2, len(children), len(nodes))
            nodes += [(n, v, f"{path}/{n}".lstrip("/")) for n, v in children]
        else:
            payload, flags = value, 0
            if path in compressed:
                payload, flags = struct.pack(">I", len(value)) + zlib.compress(value), 1
            tree += struct.pack(">IHHHI", name_at[name], flags, 0, 0, len(data))
            data += struct.pack(">I", len(payload)) + payload
        tree += struct.pack(">Q", 0) if version >= 2 else b""
        index += 1
    header = 24 if version >= 3 else 20
    offsets = (header + len(data) + len(names), header, header + len(data))  # tree, data, names
    flags = struct.pack(">I", 1) if version >= 3 else b""
    return b"qres" + struct.pack(">IIII", version, *offsets) + flags + bytes(data) + bytes(names) + bytes(tree)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_file_is_read_from_a_qt_resource_file_compressed_or_not(version):
    files = {"gcompris/music/a.ogg": b"OggS-a", "gcompris/music/b.ogg": b"OggS-b" * 50, "gcompris/x.qml": b"qml"}
    blob = _rcc_bytes(files, version=version, compressed=("gcompris/music/b.ogg",))
    assert rcc_read(blob, "gcompris/music/a.ogg") == b"OggS-a"
    assert rcc_read(blob, "gcompris/music/b.ogg") == b"OggS-b" * 50
    assert rcc_read(blob, "/gcompris/x.qml") == b"qml"
    with pytest.raises(PoolError, match="not in the resource file"):
        rcc_read(blob, "gcompris/music/c.ogg")
    with pytest.raises(PoolError, match="a folder"):
        rcc_read(blob, "gcompris/music")
    with pytest.raises(PoolError, match="not a Qt resource file"):
        rcc_read(b"PK\x03\x04", "a")
    with pytest.raises(PoolError, match="damaged"):
        rcc_read(blob[:40], "gcompris/music/a.ogg")


def test_a_file_inside_a_shipped_rcc_is_extracted_once(tmp_path):
    package_dir = tmp_path / "unpacked" / "edu-data"
    (package_dir / "usr/share/edu/rcc").mkdir(parents=True)
    (package_dir / "usr/share/edu/rcc/world_music.rcc").write_bytes(_rcc_bytes({"edu/music/japan.ogg": b"song"}))
    item = PoolFile("edu-data", "_rcc/world_music/edu/music/japan.ogg", 25.0, "train")
    path = audio_file(item, package_dir, tmp_path / "scratch")
    assert path.read_bytes() == b"song" and path.name == "japan.ogg"
    (package_dir / "usr/share/edu/rcc/world_music.rcc").unlink()
    assert audio_file(item, package_dir, tmp_path / "scratch") == path  # extracted once: the .rcc is not needed again
    with pytest.raises(PoolError, match="archive other.rcc not in the unpacked package"):
        audio_file(PoolFile("edu-data", "_rcc/other/a.ogg", 1.0, "train"), package_dir, tmp_path / "scratch")


# --- rendering with ffmpeg --------------------------------------------------------------------


def _tone(seconds: float, freq: float, sr: int = 22050) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


@needs_ffmpeg
def test_stems_are_mixed_into_one_recording_as_long_as_the_longest_stem(tmp_path):
    song = tmp_path / "unpacked/fof/usr/share/games/fof/songs/band/Metal madness"
    song.mkdir(parents=True)
    sf.write(song / "song.ogg", _tone(2.0, 220), 22050, format="OGG", subtype="VORBIS")
    sf.write(song / "guitar.ogg", _tone(3.0, 330), 22050, format="OGG", subtype="VORBIS")
    item = PoolFile("fof", "usr/share/games/fof/songs/band/Metal madness", 3.0, "train", stems="song.ogg;guitar.ogg")
    path = audio_file(item, tmp_path / "unpacked/fof", tmp_path / "scratch")
    assert path.suffix == ".flac" and sf.info(str(path)).duration == pytest.approx(3.0, abs=0.05)
    stamp = path.stat().st_mtime_ns
    assert audio_file(item, tmp_path / "unpacked/fof", tmp_path / "scratch").stat().st_mtime_ns == stamp  # once
    broken = PoolFile("fof", "usr/share/games/fof/songs/band/Metal madness", 3.0, "train", stems="song.ogg;drums.ogg")
    with pytest.raises(PoolError, match="drums.ogg: not in the unpacked package"):
        audio_file(broken, tmp_path / "unpacked/fof", tmp_path / "scratch")


@needs_ffmpeg
def test_headerless_pcm_and_files_without_an_extension_are_rendered_to_flac(tmp_path):
    package_dir = tmp_path / "unpacked/game"
    (package_dir / "sounds").mkdir(parents=True)
    (package_dir / "sounds/song.raw").write_bytes(bytes((128 + 60 * np.sin(np.arange(22050) / 5)).astype(np.uint8)))
    sf.write(package_dir / "sounds/cave", _tone(1.5, 440), 22050, format="OGG", subtype="VORBIS")  # as blobwars
    raw = audio_file(
        PoolFile("game", "sounds/song.raw", 1.0, "train", raw_pcm="u8:22050:1"), package_dir, tmp_path / "scratch"
    )
    assert sf.info(str(raw)).duration == pytest.approx(1.0, abs=0.01)
    bare = audio_file(PoolFile("game", "sounds/cave", 1.5, "train"), package_dir, tmp_path / "scratch")
    assert bare.suffix == ".flac" and sf.info(str(bare)).duration == pytest.approx(1.5, abs=0.05)
    (package_dir / "sounds/noise.wv").write_bytes(b"not wavpack at all")
    with pytest.raises(PoolError, match="ffmpeg could not render it"):
        audio_file(PoolFile("game", "sounds/noise.wv", 1.0, "train"), package_dir, tmp_path / "scratch")
    assert not list((tmp_path / "scratch").rglob("*noise*"))  # nothing half-written is left to pass for done


def _tiny_mod() -> bytes:
    """A ProTracker module: one looping square-wave sample, one note, one 64-row pattern."""
    sample = (b"\x40" * 16 + b"\xc0" * 16) * 32
    header = b"tiny".ljust(20, b"\0")
    header += b"square".ljust(22, b"\0") + struct.pack(">HBBHH", len(sample) // 2, 0, 64, 0, len(sample) // 2)
    header += (b"\0" * 22 + struct.pack(">HBBHH", 0, 0, 0, 0, 1)) * 30
    header += bytes([1, 127]) + bytes(128) + b"M.K."
    pattern = bytearray(64 * 4 * 4)
    pattern[0:4] = bytes([0x01, 0xAC, 0x10, 0x00])  # sample 1, period 428 (C-2)
    return header + bytes(pattern) + sample


@pytest.mark.skipif(
    shutil.which("ffmpeg") is None or not pool_module._ffmpeg_reads_tracker_modules(),
    reason="needs ffmpeg with libopenmpt",
)
def test_a_tracker_module_is_rendered_through_libopenmpt(tmp_path):
    (tmp_path / "game").mkdir()
    (tmp_path / "game/theme.mod").write_bytes(_tiny_mod())
    path = audio_file(PoolFile("game", "theme.mod", 7.7, "train"), tmp_path / "game", tmp_path / "scratch")
    info = sf.info(str(path))
    assert path.suffix == ".flac" and 5 < info.duration < 10
    samples, _ = sf.read(str(path))
    assert np.abs(samples).max() > 0.05  # the note sounds


def test_decoding_problems_are_named_before_anything_is_downloaded(monkeypatch):
    files = [
        PoolFile("p", "a.ogg", 1, "train"),
        PoolFile("p", "b.opus", 1, "train"),
        PoolFile("p", "c.raw", 1, "train", raw_pcm="u8:22050:1"),
        PoolFile("p", "song", 1, "train", stems="a;b"),
    ]
    monkeypatch.setattr(pool_module.shutil, "which", lambda name: None)
    assert decoding_problem(files) == (
        "this machine cannot decode opus, raw PCM, stems (the pool needs ffmpeg: apt-get install ffmpeg)"
    )
    assert decoding_problem(files[:1]) == ""
    monkeypatch.setattr(pool_module.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(pool_module, "_ffmpeg_reads_tracker_modules", lambda: False)
    assert "cannot render xm (it needs libopenmpt)" in decoding_problem([PoolFile("p", "x.xm", 1, "train")])


# --- the recipe's fetch, end to end -----------------------------------------------------------

TINY_COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2020 Tiny Team
License: GPL-2+

Files: music/secret.wav
Copyright: 2020 A Label
License: CC-BY-NC-3.0
"""


@needs_dpkg
@needs_ffmpeg
def test_fetch_pool_checks_and_prepares_every_kind_of_recording_once(tmp_path):
    from inference.engine.starter.build import fetch_pool

    root = tmp_path / "build"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        "Package: tiny-game-data\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n"
    )
    (root / "usr/share/doc/tiny-game-data").mkdir(parents=True)
    (root / "usr/share/doc/tiny-game-data/copyright").write_text(TINY_COPYRIGHT)
    game = root / "usr/share/games/tiny"
    (game / "music").mkdir(parents=True)
    (game / "music/plain.wav").write_bytes(wav_bytes(1.0, 220.0, sr=22050))
    (game / "music/secret.wav").write_bytes(wav_bytes(1.0, 220.0, sr=22050))
    with zipfile.ZipFile(game / "music.pk3", "w") as handle:
        handle.writestr("sound/cdtracks/zipped.wav", wav_bytes(1.0, 330.0, sr=22050))
    (game / "rcc").mkdir()
    (game / "rcc/world.rcc").write_bytes(
        _rcc_bytes({"tiny/music/res.wav": wav_bytes(1.0, 440.0, sr=22050)}, compressed=("tiny/music/res.wav",))
    )
    (game / "songs/band").mkdir(parents=True)
    (game / "songs/band/song.wav").write_bytes(wav_bytes(1.0, 220.0, sr=22050))
    (game / "songs/band/guitar.wav").write_bytes(wav_bytes(1.5, 330.0, sr=22050))
    (game / "sounds").mkdir()
    (game / "sounds/old.raw").write_bytes(bytes([128, 140, 128, 116]) * 5512)
    work = tmp_path / "work"
    (work / "debs").mkdir(parents=True)
    subprocess.run(
        ["dpkg-deb", "--build", str(root), str(work / "debs/tiny-game-data_1.0_all.deb")],
        check=True,
        capture_output=True,
    )
    base = "usr/share/games/tiny/"
    items = [
        PoolFile("tiny-game-data", base + "music/plain.wav", 1.0, "train", "GPL-2+"),
        PoolFile("tiny-game-data", "_unzipped/music.pk3/sound/cdtracks/zipped.wav", 1.0, "train", "GPL-2+"),
        PoolFile("tiny-game-data", "_rcc/world/tiny/music/res.wav", 1.0, "val", "GPL-2+"),
        PoolFile("tiny-game-data", base + "songs/band", 1.5, "test", "GPL-2+", stems="song.wav;guitar.wav"),
        PoolFile("tiny-game-data", base + "sounds/old.raw", 1.0, "train", "GPL-2+", raw_pcm="u8:22050:1"),
    ]
    write_manifest(items, tmp_path / "pool.tsv")
    checked = fetch_pool(read_manifest(tmp_path / "pool.tsv"), work, say=lambda line: None)
    assert [f.licence for f in checked] == ["GPL-2+"] * 5
    paths = [audio_file(f, work / "unpacked/tiny-game-data", work / "scratch") for f in checked]
    durations = [sf.info(str(p)).duration for p in paths]
    assert durations == pytest.approx([1.0, 1.0, 1.0, 1.5, 1.0], abs=0.01)
    stamps = [p.stat().st_mtime_ns for p in paths]
    fetch_pool(read_manifest(tmp_path / "pool.tsv"), work, say=lambda line: None)  # resumes: nothing redone
    assert [p.stat().st_mtime_ns for p in paths] == stamps
    write_manifest([PoolFile("tiny-game-data", base + "music/secret.wav", 1.0, "train")], tmp_path / "bad.tsv")
    with pytest.raises(PoolError, match="CC-BY-NC-3.0 is not a free licence"):
        fetch_pool(read_manifest(tmp_path / "bad.tsv"), work, say=lambda line: None)
