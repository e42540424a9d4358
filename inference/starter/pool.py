"""The distillation pool: openly licensed recordings shipped in Debian packages.

The committed manifest (``pool.tsv``) names every recording by package and path, with its
duration, its split and the licence the package's DEP-5 copyright file gives it. The recipe
downloads the packages with ``apt-get download``, unpacks them with ``dpkg-deb -x`` and checks
each file's licence against the copyright file again, so a package update that changes a
licence stops the build instead of slipping into the model.
"""
from __future__ import annotations

import csv
import fnmatch
import hashlib
import shutil
import subprocess
import zipfile
from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterable, Sequence

SPLITS = ("train", "val", "test")
# Chosen for genre variety per download: orchestral and folk (0ad, wesnoth, widelands, flare),
# rock and jazz (hedgewars, supertux, asterisk's music on hold), electronic (warzone2100,
# singularity, planetblupi) and smaller soundtracks; ≈1 GB of downloads without 0ad-data.
DEFAULT_PACKAGES: tuple[str, ...] = (
    "0ad-data", "wesnoth-1.16-music", "planetblupi-music-ogg", "hedgewars-data", "supertux-data",
    "widelands-data", "warzone2100-music", "singularity-music", "drascula-music", "flare-game",
    "pushover-data", "hyperrogue-music", "asterisk-moh-opsound-wav", "lordsawar-data", "wordwarvi-sound",
)
# Packages whose copyright file is free text, not DEP-5: the licence of their music, read by hand.
# (enigma-data is left out: its copyright file names no licence for the music.)
HAND_READ_LICENCES: dict[str, str] = {
    "wesnoth-1.16-music": "GPL-2+",
    "singularity-music": "CC-BY-SA-3.0",
    "asterisk-moh-opsound-wav": "CC-BY-SA-3.0",
}
# No package may dominate: game music is mostly electronic, and the big soundtracks would swamp
# the rest.
DEFAULT_CAP_HOURS = 1.0


class PoolError(RuntimeError):
    """A package could not be fetched or unpacked, or a file is missing or changed licence."""


@dataclass(frozen=True)
class PoolFile:
    package: str
    path: str  # inside the unpacked package; "_unzipped/ARCHIVE/inner/path" is inside a zip
    duration_s: float
    split: str
    licence: str = ""

    @property
    def key(self) -> str:
        return f"{self.package}/{self.path}"

    @property
    def file_id(self) -> str:
        return hashlib.sha1(self.key.encode()).hexdigest()[:16]


def read_manifest(path: Path) -> list[PoolFile]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    files = [PoolFile(package=r["package"], path=r["path"], duration_s=float(r["duration_s"]),
                      split=r["split"], licence=r.get("licence", "")) for r in rows]
    bad = [f for f in files if f.split not in SPLITS]
    if bad:
        raise PoolError(f"{bad[0].key}: split must be one of {SPLITS}, not {bad[0].split!r}")
    return files


def write_manifest(files: Iterable[PoolFile], path: Path) -> None:
    names = [f.name for f in fields(PoolFile)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        for item in files:
            writer.writerow(asdict(item))


def _split_for(key: str) -> str:
    """A stable split from the path alone: 1 file in 10 for validation, 1 in 10 for the test."""
    bucket = int(hashlib.sha1(key.encode()).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "val" if bucket == 5 else "train"


def select_pool(rows: Iterable[dict[str, str]], *, packages: Sequence[str] = DEFAULT_PACKAGES,
                cap_hours: float = DEFAULT_CAP_HOURS) -> list[PoolFile]:
    """Pick recordings from a pool listing (shared/teacher/pool-files.tsv columns): the listed
    packages' single files (no stems to mix), in path order, up to ``cap_hours`` per package."""
    by_package: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        if row["package"] in packages and not row.get("mixed_stems"):
            by_package[row["package"]].append(row)
    chosen: list[PoolFile] = []
    for package in packages:
        total = 0.0
        for row in sorted(by_package[package], key=lambda r: r["path_in_package"]):
            duration = float(row["duration_s"])
            if total + duration > cap_hours * 3600:
                continue
            total += duration
            key = f"{package}/{row['path_in_package']}"
            chosen.append(PoolFile(package, row["path_in_package"], duration, _split_for(key)))
    return chosen


def download_packages(packages: Iterable[str], debs_dir: Path,
                      runner: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> dict[str, Path]:
    """``apt-get download`` what is not already in ``debs_dir``; returns {package: .deb}."""
    debs_dir.mkdir(parents=True, exist_ok=True)
    wanted = list(dict.fromkeys(packages))
    missing = [p for p in wanted if not list(debs_dir.glob(f"{p}_*.deb"))]
    if missing:
        result = runner(["apt-get", "download", *missing], cwd=debs_dir, capture_output=True, text=True)
        if result.returncode != 0:
            raise PoolError(f"apt-get download failed: {result.stderr.strip()[-500:]}")
    found = {}
    for package in wanted:
        debs = sorted(debs_dir.glob(f"{package}_*.deb"))
        if not debs:
            raise PoolError(f"{package}: no .deb in {debs_dir} after apt-get download")
        found[package] = debs[-1]
    return found


def unpack_package(deb: Path, dest: Path) -> Path:
    """``dpkg-deb -x`` into ``dest`` once; a marker file says the unpack finished."""
    marker = dest / ".unpacked"
    if marker.exists() and marker.read_text() == deb.name:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    result = subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True)
    if result.returncode != 0:
        raise PoolError(f"dpkg-deb -x {deb.name} failed: {result.stderr.strip()[-500:]}")
    marker.write_text(deb.name)
    return dest


def audio_file(item: PoolFile, package_dir: Path, scratch_dir: Path) -> Path:
    """The recording on disk; a file inside a shipped zip is extracted to ``scratch_dir`` first."""
    parts = Path(item.path).parts
    if parts[0] != "_unzipped":
        path = package_dir / item.path
        if not path.is_file():
            raise PoolError(f"{item.key}: not in the unpacked package")
        return path
    archive_name, inner = parts[1], "/".join(parts[2:])
    archives = [p for p in package_dir.rglob(archive_name) if p.is_file()]
    if not archives:
        raise PoolError(f"{item.key}: archive {archive_name} not in the unpacked package")
    target = scratch_dir / item.file_id / Path(inner).name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archives[0]) as archive, archive.open(inner) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out)
    return target


def copyright_file(package: str, package_dir: Path) -> Path:
    return package_dir / "usr" / "share" / "doc" / package / "copyright"


def _dep5_paragraphs(text: str) -> list[dict[str, str]]:
    paragraphs, current, last = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, last = {}, None
        elif line[0] in " \t" and last:
            current[last] += "\n" + line.strip()
        elif ":" in line:
            last, value = line.split(":", 1)
            current[last] = value.strip()
    if current:
        paragraphs.append(current)
    return paragraphs


def dep5_licence(copyright_text: str, path: str) -> str:
    """The licence a machine-readable copyright file gives ``path`` ("" when it is not DEP-5).

    Patterns are written against the source tree and files are installed elsewhere
    (``data/music/*`` ends up as ``usr/share/games/supertux2/music/a.ogg``), so a pattern
    matches when it, or a tail of it that still names a folder, matches a tail of the installed
    path. As in DEP-5, the last matching paragraph wins.
    """
    parts = [p for p in path.replace("_unzipped/", "").split("/") if p]
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    licence = ""
    for paragraph in _dep5_paragraphs(copyright_text):
        patterns = []
        for pattern in paragraph.get("Files", "").split():
            pieces = pattern.split("/")
            patterns += [pattern, *("/".join(pieces[i:]) for i in range(1, len(pieces) - 1))]
        if any(fnmatch.fnmatchcase(tail, pattern) for pattern in patterns for tail in tails):
            licence = paragraph.get("License", "").split("\n")[0].strip()
    return licence


def file_licence(item: PoolFile, package_dir: Path) -> str:
    """The licence on record for a pool file: DEP-5 where the package has it, else read by hand."""
    if item.package in HAND_READ_LICENCES:
        return HAND_READ_LICENCES[item.package]
    path = copyright_file(item.package, package_dir)
    if not path.exists():
        raise PoolError(f"{item.package}: no copyright file at {path}")
    licence = dep5_licence(path.read_text(encoding="utf-8", errors="replace"), item.path)
    if not licence:
        raise PoolError(f"{item.key}: the copyright file names no licence for it; add it by hand or drop it")
    return licence
