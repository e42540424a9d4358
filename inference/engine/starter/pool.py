"""The distillation pool: openly licensed recordings shipped in Debian packages.

The committed manifests (``pool.tsv``: 208 recordings, 11 h; ``pool-v2.tsv``: every free
recording of ``shared/teacher/pool-files.tsv`` plus seven more packages) name every recording
by package and path, with its duration, its split and the licence the package's copyright file
gives it. The recipe downloads the packages with ``apt-get download``, unpacks them with
``dpkg-deb -x`` and checks each file's licence against the copyright file again, so a package
update that changes a licence stops the build instead of slipping into the model.

Where a recording lives (``path``, inside the unpacked package):

- a plain path: the file itself;
- ``_unzipped/ARCHIVE/inner/path``: inside a zip (or .pk3, which is a zip) the package ships;
- ``_rcc/NAME/inner/path``: inside the Qt resource file ``NAME.rcc`` the package ships;
- a folder with ``stems`` (``a.ogg;b.ogg``): a song shipped as stems, mixed down by ffmpeg;
- ``raw_pcm`` (``u8:22050:1``: sample format, rate, channels): a headerless PCM file.

``audio_file`` hands back something the product's own decoder reads: shipped files as they are
when their extension is one it decodes (ogg, wav, flac, mp3; opus through ffmpeg), otherwise
a FLAC rendered by ffmpeg into ``scratch/`` (stems, raw PCM, WavPack, files without an
extension, tracker modules through ffmpeg's libopenmpt). Everything in ``scratch/`` is written
under a temporary name and moved into place, so an interrupted fetch resumes cleanly.

Licences: the last matching paragraph of a DEP-5 copyright file, or a licence read by hand
(``HAND_READ_LICENCES``) where the copyright file is free text. Only licences that
``is_free_licence`` accepts are used; anything else (non-commercial, no-derivatives,
"fair use", the Ethymonics licence that grants no right to modify, no licence named) is left
out of the manifest and stops the build if a package update introduces it.

Balance (the ``weight`` column; see ``assign_weights``). The trainer draws a recording with
probability proportional to ``duration_s × weight`` and then a random window inside it, so
``weight`` is a per-second factor and 1.0 means "as often as its length says". Three rules:

1. big packages are cut down to ``PACKAGE_CAP_HOURS`` (1 h): a package of ``h`` hours gets
   the factor ``min(1, 1 h / h)``, so warzone2100's and ufoai's 4 h count as one hour each;
2. the teacher's top-1 genres are tempered: after rule 1, a genre holding ``H_g`` hours
   gets the factor ``H_g ** -GENRE_POWER`` (square root: Electronic, ≈60 % of the raw
   hours, falls to about a third of the draws, and no rare genre gets the draws of a big one);
   a package rich in rare genres can so end above its hour (0ad-data: ≈8 % of the draws);
3. the weights are scaled so that their mean over all seconds of audio is 1, then capped at
   ``MAX_WEIGHT`` (4) so no single recording of a rare genre is drawn over and over.

Weights are computed over the whole manifest, independent of the split. A trainer that
applies them should switch off its own genre balancing (``DistilConfig.balance_power = 0``)
or the genres are tempered twice.

Splits (see ``assign_splits``): the 208 recordings of ``pool.tsv`` keep their split so that
earlier held-out numbers stay comparable (they were split per file, so their 15 packages
straddle the splits); every other recording of those 15 packages goes to training, so no new
package-mate joins the old validation and test files. All other recordings are split by
``group`` (the package, or the package and the artist where its DEP-5 copyright file names
several): whole groups go to one split, largest first, each to the split that most lacks
hours of the genres it holds (targets: 80/10/10 % of every genre's hours); a group larger
than a quarter of a held-out split's target always goes to training.
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import functools
import hashlib
import math
import os
import re
import shutil
import struct
import subprocess
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..audio import FFMPEG_EXTENSIONS, SNDFILE_EXTENSIONS

SPLITS = ("train", "val", "test")
# Chosen for genre variety per download: orchestral and folk (0ad, wesnoth, widelands, flare),
# rock and jazz (hedgewars, supertux, asterisk's music on hold), electronic (warzone2100,
# singularity, planetblupi) and smaller soundtracks; ≈1 GB of downloads without 0ad-data.
DEFAULT_PACKAGES: tuple[str, ...] = (
    "0ad-data",
    "wesnoth-1.16-music",
    "planetblupi-music-ogg",
    "hedgewars-data",
    "supertux-data",
    "widelands-data",
    "warzone2100-music",
    "singularity-music",
    "drascula-music",
    "flare-game",
    "pushover-data",
    "hyperrogue-music",
    "asterisk-moh-opsound-wav",
    "lordsawar-data",
    "wordwarvi-sound",
)
# Outside shared/teacher/pool-files.tsv, measured to hold ≈4 h of real music (pool-v2.tsv).
EXTRA_PACKAGES: tuple[str, ...] = (
    "marsshooter-data",
    "blobwars-data",
    "trackballs-data",
    "wizznic-data",
    "btanks-data",
    "ardentryst",
    "freecol",
)
_KENTA_CHO = "BSD-2-clause"  # "Redistribution and use ... with or without modification" for the whole game
# Packages whose copyright file is free text, not DEP-5: the licence of their music, read by hand
# (a package-wide statement covers the music when nothing in the file or the package's docs
# gives the music other terms). A dict gives licences per file pattern instead.
# tuxtype-data is left out: its two songs are "free alternatives" of unnamed origin and licence.
HAND_READ_LICENCES: dict[str, str | dict[str, str]] = {
    "wesnoth-1.16-music": "GPL-2+",
    "singularity-music": "CC-BY-SA-3.0",
    "asterisk-moh-opsound-wav": "CC-BY-SA-3.0",
    "a7xpg-data": _KENTA_CHO,
    "gunroar-data": _KENTA_CHO,
    "mu-cade-data": _KENTA_CHO,
    "noiz2sa-data": _KENTA_CHO,
    "parsec47-data": _KENTA_CHO,
    "rrootage-data": _KENTA_CHO,
    "titanion-data": _KENTA_CHO,
    "torus-trooper-data": _KENTA_CHO,
    "tumiki-fighters-data": _KENTA_CHO,
    "val-and-rick-data": _KENTA_CHO,
    "enigma-data": "GPL-2",  # "This package is free software ... version 2 dated June, 1991"
    "fillets-ng-data": "GPL-2",
    "glob2-data": "GPL-3+",
    "nexuiz-music": "GPL-2+",
    "searchandrescue-data": "GPL",  # "under the terms of the GNU General Public License", no version
    "toppler": "GPL-2+",
    "warmux-data": "GPL-2+",
    "xblast-tnt-musics": "GPL-2",
    "openclonk-data": "CC-BY-3.0",  # Music.ocg/authors.txt; the copyright file: content is CC-BY-3.0 or CC0
    "fretsonfire-songs-muldjord": "CC-BY-SA-3.0",
    "fretsonfire-songs-sectoid": "Expat",
    # README-REPLACEMENTS.txt: the free recordings that replaced the original MIDI music.
    "freedink-data": {
        "*/Sound/1.ogg": "CC-BY-SA-3.0",
        "*/Sound/5.ogg": "GPL-3+",
        "*/Sound/106.ogg": "OAL-1.0",
        "*/Sound/denube.ogg": "public-domain",
        "*/Sound/lovin.ogg": "CC-BY-3.0",
    },
}
# Licence names (lower case) accepted besides the GPL family and CC BY / BY-SA, each read in full.
_FREE_NAMES = frozenset(
    {
        "cc0-1.0",
        "public-domain",
        "public domain",
        "expat",
        "mit",
        "isc",
        "zlib",
        "bsd-2-clause",
        "bsd-3-clause",
        "free-art-license-1.2",  # Licence Art Libre: copyleft, modification allowed
        "oal-1.0",  # EFF Open Audio License 1.0: copyleft, modification allowed
        "drascula-license",  # BSD-like, in Debian main (see drascula-music's copyright)
        "battle-tanks-license",  # GPL-2 with an exception that only adds rights for the copyright holder
    }
)
_FREE_PATTERN = re.compile(r"(a|l)?gpl(-\d+(\.\d+)*)?(\+|-or-later|-only)?|cc-by(-sa)?-\d\.\d\+?")
# Old manifests: no package may dominate the 11-h selection.
DEFAULT_CAP_HOURS = 1.0
# pool-v2 balance (module docstring).
PACKAGE_CAP_HOURS = 1.0
GENRE_POWER = 0.5
MAX_WEIGHT = 4.0
SPLIT_SHARES = {"train": 0.8, "val": 0.1, "test": 0.1}
MAX_HELD_OUT_GROUP = 0.25  # of a held-out split's target hours
TRACKER_EXTENSIONS = frozenset({"mod", "xm", "it", "s3m", "mptm", "669", "med", "okt", "stm", "ult"})
_RAW_PCM = re.compile(r"(u8|s8|s16le|s16be|s24le|s32le|f32le):\d+:[12]")


class PoolError(RuntimeError):
    """A package could not be fetched or unpacked, or a file is missing or changed licence."""


@dataclass(frozen=True)
class PoolFile:
    package: str
    path: str  # inside the unpacked package; see the module docstring for _unzipped/ and _rcc/
    duration_s: float
    split: str
    licence: str = ""
    weight: float = 1.0  # per-second sampling factor for training (module docstring)
    stems: str = ""  # ";"-separated files in the folder ``path`` to mix into one recording
    raw_pcm: str = ""  # "u8:22050:1" for a headerless PCM file
    teacher_top1: str = ""  # the teacher's top genre (60 s from the middle), used for balancing
    group: str = ""  # what a split keeps together: the package, or "package/artist"

    @property
    def key(self) -> str:
        return f"{self.package}/{self.path}"

    @property
    def file_id(self) -> str:
        return hashlib.sha1(self.key.encode()).hexdigest()[:16]


def read_manifest(path: Path) -> list[PoolFile]:
    """A manifest's recordings; columns a manifest lacks (older ones) take their defaults."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    files = [
        PoolFile(
            package=r["package"],
            path=r["path"],
            duration_s=float(r["duration_s"]),
            split=r["split"],
            licence=r.get("licence") or "",
            weight=float(r.get("weight") or 1.0),
            stems=r.get("stems") or "",
            raw_pcm=r.get("raw_pcm") or "",
            teacher_top1=r.get("teacher_top1") or "",
            group=r.get("group") or "",
        )
        for r in rows
    ]
    for item in files:
        if item.split not in SPLITS:
            raise PoolError(f"{item.key}: split must be one of {SPLITS}, not {item.split!r}")
        if not (math.isfinite(item.weight) and item.weight >= 0):
            raise PoolError(f"{item.key}: weight must be a number ≥ 0, not {item.weight!r}")
        if item.raw_pcm and not _RAW_PCM.fullmatch(item.raw_pcm):
            raise PoolError(f"{item.key}: raw_pcm must look like u8:22050:1, not {item.raw_pcm!r}")
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


def select_pool(
    rows: Iterable[dict[str, str]], *, packages: Sequence[str] = DEFAULT_PACKAGES, cap_hours: float = DEFAULT_CAP_HOURS
) -> list[PoolFile]:
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


def download_packages(
    packages: Iterable[str], debs_dir: Path, runner: Callable[..., subprocess.CompletedProcess] = subprocess.run
) -> dict[str, Path]:
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
        raise PoolError(
            f"dpkg-deb -x {deb.name} failed (an interrupted download? delete it and run again): "
            f"{result.stderr.strip()[-500:]}"
        )
    marker.write_text(deb.name)
    return dest


# --- Qt resource files (.rcc) -------------------------------------------------------------
# Layout (all integers big-endian): "qres", version, tree offset, data offset, names offset
# [, flags when version ≥ 3]. The tree is an array of nodes (14 bytes, 22 from version 2 on:
# + 8 bytes of modification time): name offset u32, flags u16, then for a directory the child
# count u32 and the index of its first child u32, for a file country u16, language u16 and the
# data offset u32. A name is u16 length, u32 hash, UTF-16BE characters; data is u32 size then
# the bytes, zlib-compressed (qCompress: u32 size + zlib stream) when flag 1 is set.
_RCC_COMPRESSED, _RCC_DIRECTORY, _RCC_ZSTD = 1, 2, 4


def rcc_read(blob: bytes, inner: str) -> bytes:
    """The file at ``inner`` ("a/b/c.ogg") inside a Qt resource file's bytes."""
    if blob[:4] != b"qres":
        raise PoolError("not a Qt resource file (no qres header)")
    try:
        return _rcc_read(blob, inner)
    except (struct.error, zlib.error, UnicodeDecodeError) as error:
        raise PoolError(f"{inner}: the resource file is damaged ({error})") from None


def _rcc_read(blob: bytes, inner: str) -> bytes:
    version, tree, data, names = struct.unpack_from(">IIII", blob, 4)
    node_size = 14 if version == 1 else 22

    def name_of(node: int) -> str:
        (offset,) = struct.unpack_from(">I", blob, tree + node * node_size)
        (length,) = struct.unpack_from(">H", blob, names + offset)
        return blob[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

    node = 0
    for part in [p for p in inner.split("/") if p]:
        (flags,) = struct.unpack_from(">H", blob, tree + node * node_size + 4)
        if not flags & _RCC_DIRECTORY:
            raise PoolError(f"{inner}: not in the resource file")
        count, first = struct.unpack_from(">II", blob, tree + node * node_size + 6)
        node = next((child for child in range(first, first + count) if name_of(child) == part), -1)
        if node < 0:
            raise PoolError(f"{inner}: not in the resource file")
    (flags,) = struct.unpack_from(">H", blob, tree + node * node_size + 4)
    if flags & _RCC_DIRECTORY:
        raise PoolError(f"{inner}: a folder in the resource file, not a file")
    (offset,) = struct.unpack_from(">I", blob, tree + node * node_size + 10)
    (size,) = struct.unpack_from(">I", blob, data + offset)
    payload = blob[data + offset + 4 : data + offset + 4 + size]
    if flags & _RCC_ZSTD:
        raise PoolError(f"{inner}: zstd-compressed in the resource file (not supported)")
    if flags & _RCC_COMPRESSED:
        return zlib.decompress(payload[4:])
    return payload


# --- Shipped files and rendering -----------------------------------------------------------


def _write_atomically(target: Path, write: Callable[[Path], None]) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        write(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _find_archive(package_dir: Path, name: str, item: PoolFile) -> Path:
    archives = sorted(p for p in package_dir.rglob(name) if p.is_file())
    if not archives:
        raise PoolError(f"{item.key}: archive {name} not in the unpacked package")
    return archives[0]


def _shipped_file(item: PoolFile, package_dir: Path, scratch_dir: Path) -> Path:
    """The file as the package ships it; one inside a zip or .rcc is extracted to scratch first."""
    parts = Path(item.path).parts
    if parts[0] not in ("_unzipped", "_rcc"):
        path = package_dir / item.path
        if not path.is_file():
            raise PoolError(f"{item.key}: not in the unpacked package")
        return path
    inner = "/".join(parts[2:])
    target = scratch_dir / item.file_id / Path(inner).name
    if target.exists():
        return target
    if parts[0] == "_unzipped":
        archive = _find_archive(package_dir, parts[1], item)

        def extract(out_path: Path) -> None:
            with zipfile.ZipFile(archive) as handle:
                try:
                    source = handle.open(inner)
                except KeyError:
                    raise PoolError(f"{item.key}: not in {archive.name}") from None
                with source, open(out_path, "wb") as out:
                    shutil.copyfileobj(source, out)
    else:
        archive = _find_archive(package_dir, f"{parts[1]}.rcc", item)

        def extract(out_path: Path) -> None:
            try:
                out_path.write_bytes(rcc_read(archive.read_bytes(), inner))
            except PoolError as error:
                raise PoolError(f"{item.key}: {error}") from None

    return _write_atomically(target, extract)


def _extension(path: str) -> str:
    return Path(path).suffix.lower().lstrip(".")


def _rendered(item: PoolFile) -> bool:
    """Whether ``audio_file`` makes a FLAC with ffmpeg rather than handing back the shipped file."""
    return bool(item.stems or item.raw_pcm) or _extension(item.path) not in (*SNDFILE_EXTENSIONS, *FFMPEG_EXTENSIONS)


def _ffmpeg_flac(sources: Sequence[Path], target: Path, *, raw_pcm: str = "", key: str) -> Path:
    """Decode ``sources`` (mixed when several) into a FLAC at ``target``."""
    if shutil.which("ffmpeg") is None:
        raise PoolError(f"{key}: needs ffmpeg (apt-get install ffmpeg)")
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for source in sources:
        if raw_pcm:
            sample_format, rate, channels = raw_pcm.split(":")
            command += ["-f", sample_format, "-ar", rate, "-ac", channels]
        command += ["-i", str(source)]
    if len(sources) > 1:
        command += ["-filter_complex", f"amix=inputs={len(sources)}:duration=longest"]

    def render(out_path: Path) -> None:
        result = subprocess.run(
            [*command, "-vn", "-c:a", "flac", "-f", "flac", str(out_path)], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise PoolError(f"{key}: ffmpeg could not render it: {result.stderr.strip()[-300:]}")

    return _write_atomically(target, render)


def audio_file(item: PoolFile, package_dir: Path, scratch_dir: Path) -> Path:
    """The recording on disk in a format the product's decoder reads (see the module docstring)."""
    if not _rendered(item):
        return _shipped_file(item, package_dir, scratch_dir)
    recipe = hashlib.sha1(f"{item.stems}|{item.raw_pcm}".encode()).hexdigest()[:8]  # new stems: a new mix
    target = scratch_dir / item.file_id / f"{'mix' if item.stems else Path(item.path).stem or 'audio'}-{recipe}.flac"
    if target.exists():
        return target
    if item.stems:
        parts = [dataclasses.replace(item, path=f"{item.path}/{stem}", stems="") for stem in item.stems.split(";")]
    else:
        parts = [item]
    sources = [_shipped_file(part, package_dir, scratch_dir) for part in parts]
    return _ffmpeg_flac(sources, target, raw_pcm=item.raw_pcm, key=item.key)


@functools.lru_cache(maxsize=1)
def _ffmpeg_reads_tracker_modules() -> bool:
    result = subprocess.run(["ffmpeg", "-hide_banner", "-formats"], capture_output=True, text=True)
    return "libopenmpt" in result.stdout


def decoding_problem(files: Sequence[PoolFile]) -> str:
    """Why this machine cannot turn every file into audio the product decodes ("" when it can)."""
    needs_ffmpeg = sorted(
        {
            "stems" if f.stems else "raw PCM" if f.raw_pcm else _extension(f.path) or "no extension"
            for f in files
            if _rendered(f) or _extension(f.path) in FFMPEG_EXTENSIONS
        }
    )
    if needs_ffmpeg and shutil.which("ffmpeg") is None:
        return f"this machine cannot decode {', '.join(needs_ffmpeg)} (the pool needs ffmpeg: apt-get install ffmpeg)"
    modules = sorted({_extension(f.path) for f in files} & TRACKER_EXTENSIONS)
    if modules and not _ffmpeg_reads_tracker_modules():
        return f"this machine's ffmpeg cannot render {', '.join(modules)} (it needs libopenmpt)"
    return ""


# --- Licences ------------------------------------------------------------------------------


def copyright_file(package: str, package_dir: Path) -> Path:
    return package_dir / "usr" / "share" / "doc" / package / "copyright"


@functools.lru_cache(maxsize=8)
def _dep5_paragraphs(text: str) -> tuple[dict[str, str], ...]:
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
            last = "License" if last == "Licence" else last  # an older draft of the format spelled it so
            current[last] = value.strip()
    if current:
        paragraphs.append(current)
    return tuple(paragraphs)


def _dep5_paragraph(copyright_text: str, path: str) -> dict[str, str] | None:
    """The last paragraph whose ``Files`` patterns match ``path`` (see ``dep5_licence``)."""
    parts = [p for p in path.split("/") if p]
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    found = None
    for paragraph in _dep5_paragraphs(copyright_text):
        patterns = []
        for pattern in paragraph.get("Files", "").replace(",", " ").split():
            pieces = pattern.split("/")
            patterns += [pattern, *("/".join(pieces[i:]) for i in range(1, len(pieces) - 1))]
        if any(fnmatch.fnmatchcase(tail, pattern) for pattern in patterns for tail in tails):
            found = paragraph
    return found


def _first_line(value: str) -> str:
    return next((line.strip() for line in value.split("\n") if line.strip()), "")


def dep5_licence(copyright_text: str, path: str) -> str:
    """The licence a machine-readable copyright file gives ``path`` ("" when it is not DEP-5).

    Patterns are written against the source tree and files are installed elsewhere
    (``data/music/*`` ends up as ``usr/share/games/supertux2/music/a.ogg``), so a pattern
    matches when it, or a tail of it that still names a folder, matches a tail of the installed
    path. As in DEP-5, the last matching paragraph wins.
    """
    paragraph = _dep5_paragraph(copyright_text, path)
    return _first_line(paragraph.get("License", "")) if paragraph else ""


def dep5_copyright(copyright_text: str, path: str) -> str:
    """Who the matching paragraph names first (years and "Copyright (c)" dropped): the artist, often."""
    paragraph = _dep5_paragraph(copyright_text, path)
    holder = _first_line(paragraph.get("Copyright", "")) if paragraph else ""
    return re.sub(r"^(copyright\s*)?(\(c\)|©)?[\s\d,\-–/]*", "", holder, flags=re.IGNORECASE).strip()


def is_free_licence(licence: str) -> bool:
    """A licence that lets anyone use, change and share the music: one free choice of an "or",
    every part of an "and"; unknown names are not free."""

    def free(name: str) -> bool:
        name = name.strip().lower().replace(" ", "-").replace("licence", "license")
        return name in _FREE_NAMES or name.replace("-", " ") in _FREE_NAMES or bool(_FREE_PATTERN.fullmatch(name))

    return bool(licence.strip()) and any(
        all(free(part) for part in re.split(r"\s+and\s+", choice)) for choice in re.split(r"\s+or\s+", licence.strip())
    )


def _hand_read(item: PoolFile) -> str | None:
    entry = HAND_READ_LICENCES.get(item.package)
    if entry is None or isinstance(entry, str):
        return entry
    return next((licence for pattern, licence in entry.items() if fnmatch.fnmatchcase(item.path, pattern)), "")


def file_licence(item: PoolFile, package_dir: Path) -> str:
    """The licence on record for a pool file: DEP-5 where the package has it, else read by hand.
    Raises when there is none, or when it is not a free licence."""
    licence = _hand_read(item)
    if licence is None:
        path = copyright_file(item.package, package_dir)
        if not path.exists():
            raise PoolError(f"{item.package}: no copyright file at {path}")
        licence = dep5_licence(path.read_text(encoding="utf-8", errors="replace"), item.path)
    if not licence:
        raise PoolError(f"{item.key}: the copyright file names no licence for it; add it by hand or drop it")
    if not is_free_licence(licence):
        raise PoolError(f"{item.key}: {licence} is not a free licence")
    return licence


# --- Building a manifest -------------------------------------------------------------------


def _hours_by(
    files: Iterable[PoolFile], key: Callable[[PoolFile], str], factor: Callable[[PoolFile], float] = lambda f: 1.0
) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for item in files:
        out[key(item)] += item.duration_s * factor(item) / 3600
    return out


def assign_weights(
    files: Sequence[PoolFile],
    *,
    cap_hours: float = PACKAGE_CAP_HOURS,
    genre_power: float = GENRE_POWER,
    max_weight: float = MAX_WEIGHT,
) -> list[PoolFile]:
    """Per-second sampling weights: packages capped, teacher genres tempered (module docstring)."""
    package_hours = _hours_by(files, lambda f: f.package)
    capped = {p: min(1.0, cap_hours / h) if h > 0 else 1.0 for p, h in package_hours.items()}
    genre_hours = _hours_by(files, lambda f: f.teacher_top1, lambda f: capped[f.package])
    raw = [
        capped[f.package] * genre_hours[f.teacher_top1] ** -genre_power if genre_hours[f.teacher_top1] > 0 else 0.0
        for f in files
    ]
    seconds = sum(f.duration_s for f in files)
    weighted = sum(f.duration_s * w for f, w in zip(files, raw))
    scale = seconds / weighted if weighted > 0 else 1.0
    return [dataclasses.replace(f, weight=round(min(max_weight, w * scale), 4)) for f, w in zip(files, raw)]


def assign_splits(files: Sequence[PoolFile], *, previous: Sequence[PoolFile] = ()) -> list[PoolFile]:
    """Splits by ``group``: ``previous`` recordings keep theirs, their packages' others train,
    and other groups go whole where their genres are most lacking (module docstring)."""
    kept = {f.key: f.split for f in previous}
    legacy = {f.package for f in previous}
    total = _hours_by(files, lambda f: f.teacher_top1)
    target = {s: {g: SPLIT_SHARES[s] * h for g, h in total.items()} for s in SPLITS}
    have: dict[str, dict[str, float]] = {s: defaultdict(float) for s in SPLITS}
    chosen: dict[str, str] = {}
    groups: dict[str, list[PoolFile]] = defaultdict(list)
    for item in files:
        if item.package in legacy:
            chosen[item.key] = kept.get(item.key, "train")
            have[chosen[item.key]][item.teacher_top1] += item.duration_s / 3600
        else:
            groups[item.group or item.package].append(item)
    all_hours = sum(total.values())
    by_size = sorted(groups.items(), key=lambda kv: (-sum(f.duration_s for f in kv[1]), kv[0]))
    for _, members in by_size:
        hours = _hours_by(members, lambda f: f.teacher_top1)
        size = sum(hours.values())
        options = [s for s in SPLITS if s == "train" or size <= MAX_HELD_OUT_GROUP * SPLIT_SHARES[s] * all_hours]
        split = max(
            options,
            key=lambda s: sum(h * (target[s][g] - have[s][g]) / max(target[s][g], 1e-9) for g, h in hours.items()),
        )
        for genre, h in hours.items():
            have[split][genre] += h
        chosen.update({f.key: split for f in members})
    return [dataclasses.replace(f, split=chosen[f.key]) for f in files]


def plan_manifest(
    rows: Iterable[Mapping[str, str]], unpacked_dir: Path, *, previous: Sequence[PoolFile] = ()
) -> tuple[list[PoolFile], list[tuple[str, str]]]:
    """A balanced, split manifest from listing rows (pool-files.tsv columns, plus ``raw_pcm``)
    over unpacked packages; also what was left out and why (no licence, or not a free one)."""
    candidates: list[PoolFile] = []
    left_out: list[tuple[str, str]] = []
    holders: dict[str, str] = {}
    for row in rows:
        item = PoolFile(
            row["package"],
            row["path_in_package"],
            float(row["duration_s"]),
            "train",
            stems=(row.get("mixed_stems") or "").replace(",", ";"),
            raw_pcm=row.get("raw_pcm") or "",
            teacher_top1=row.get("teacher_top1") or "",
        )
        package_dir = unpacked_dir / item.package
        try:
            licence = file_licence(item, package_dir)
        except PoolError as error:
            left_out.append((item.key, str(error)))
            continue
        holder = ""
        if item.package not in HAND_READ_LICENCES:
            text = copyright_file(item.package, package_dir).read_text(encoding="utf-8", errors="replace")
            holder = dep5_copyright(text, item.path)
        holders[item.key] = holder
        candidates.append(dataclasses.replace(item, licence=licence))
    artists = defaultdict(set)
    for item in candidates:
        artists[item.package].add(holders[item.key])
    grouped = [
        dataclasses.replace(
            f, group=f"{f.package}/{holders[f.key]}" if len(artists[f.package]) > 1 and holders[f.key] else f.package
        )
        for f in candidates
    ]
    return assign_weights(assign_splits(grouped, previous=previous)), left_out
