"""Synthetic, labelled grooves: MMA accompaniment styles rendered through General MIDI soundfonts.

The teachers hear little or no Latin, Reggae, Country, Blues, Disco, R&B, Hip-Hop, Jazz or
Folk in the openly licensed pool, so the recipe adds clips whose genre is known by intent: each
is a groove from Debian's ``mma`` library (Musical MIDI Accompaniment), played over a random
chord progression in a random key and tempo within the style's natural range, rendered by
``fluidsynth`` through one of three Debian soundfonts with a random mix, then trimmed, faded and
normalised. Their label is hard: the genre the style was written for. Rock, Pop, Metal and
Electronic, which the teachers cover, get half as much, so that "sounds like a General MIDI
synth" is not by itself a cue for the weak genres. Classical and World get none (no mma style
is convincing for them), nor does Rap: a beat with no voice is Hip-Hop at best, and labelling
it Rap would teach the student that the two are one genre (as ``teacher.mapping`` avoids too).

Which styles stand for which genre, and the progressions, are in ``groove_styles``. Reggae has
no bass-and-chords style in the library, so its ``+skank`` styles add a bass line, an off-beat
skank and an organ bubble written there to ``zoom/reggae`` drums (``own:OneDrop`` writes the
drums too); Hip-Hop's ``+keys`` do the same over ``zoom/hiphop``. Everything lands under
``work_dir/grooves``::

    <genre>/<name>.flac     mono, 22050 Hz, 16 bit
    manifest.tsv            one row per clip: GrooveClip's fields, path relative to grooves/

Each clip's parameters follow from (seed, genre, index) alone, so a run is deterministic and a
rerun keeps the clips the manifest already lists. No Django here.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from .groove_styles import (
    GROOVE_STYLES,
    KEY_NAMES,
    NO_GROOVES,
    PROGRESSIONS,
    SHARE,
    STYLES,
    GrooveStyle,
    library_groove,
    written_parts,
)
from .pool import dep5_licence

__all__ = [
    "GROOVE_STYLES",
    "SOUNDFONTS",
    "GrooveClip",
    "GrooveToolError",
    "check_tools",
    "missing_packages",
    "read_groove_manifest",
    "render_grooves",
]

SAMPLE_RATE = 22050
MMA_LIBRARY = Path("/usr/share/mma/lib")
MMA_LICENCE = "GPL-2+"  # /usr/share/doc/mma/copyright, "Files: *"


@dataclass(frozen=True)
class Soundfont:
    path: Path
    licence: str
    # For a free-text copyright file: words that must still be in it. Empty: the file is DEP-5
    # and must still give ``path`` this licence.
    licence_phrase: str = ""


# Licences from /usr/share/doc/<package>/copyright; two of the three are free text, read by hand.
SOUNDFONTS: dict[str, Soundfont] = {
    "fluid-soundfont-gm": Soundfont(
        Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), "MIT", "I hereby release Fluid under the MIT license"
    ),
    "timgm6mb-soundfont": Soundfont(Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "GPL-2"),
    "musescore-general-soundfont": Soundfont(
        Path("/usr/share/sounds/sf3/MuseScore_General_Full.sf3"),
        "MIT (parts PD or CC0)",
        "MuseScore_General_HQ SoundFont (MIT, parts PD or CC0)",
    ),
}


class GrooveToolError(RuntimeError):
    """mma, fluidsynth or a soundfont is missing, a style is not in the library, or a licence changed."""


@dataclass(frozen=True)
class GrooveClip:
    path: Path
    genre: str
    style: str
    soundfont: str
    tempo: int
    key: str
    seed: int
    duration_s: float
    licence: str


def _licence(style: GrooveStyle, soundfont: str) -> str:
    font = f"soundfont {soundfont} {SOUNDFONTS[soundfont].licence}"
    if style.name.startswith("own:"):
        return f"own groove (groove_styles.py) rendered with mma; {font}"
    if library_groove(style) != style.name:
        return f"mma styles {MMA_LICENCE} (drums), own bass and chords (groove_styles.py); {font}"
    return f"mma styles {MMA_LICENCE}; {font}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("&", "n")).strip("-")


def _clip_seed(seed: int, genre: str, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{genre}:{index}".encode()).digest()[:4], "big")


@dataclass(frozen=True)
class _Plan:
    """Everything a clip's render needs; all of it follows from (seed, genre, index)."""

    genre: str
    index: int
    seed: int
    style: GrooveStyle
    soundfont: str
    tempo: int
    transpose: int
    mode: str
    bars: tuple[str, ...]
    clip_seconds: float
    rel_path: str

    @property
    def key(self) -> str:
        return f"{KEY_NAMES[self.transpose % 12]} {self.mode}"


def _bars_needed(style: GrooveStyle, tempo: int, clip_seconds: float) -> int:
    bar_s = style.beats * 60.0 / tempo
    return math.ceil(clip_seconds / bar_s) + 2  # one bar for a random start inside the first, one to spare


def _progression(style: GrooveStyle, rng: random.Random, n_bars: int) -> tuple[str, tuple[str, ...]]:
    """A form of one or two progressions (A A B A) filling ``n_bars``; bars in 3 time take one chord."""
    family = PROGRESSIONS[style.harmony]
    mode, first = rng.choice(family)
    others = [bars for m, bars in family if m == mode and bars != first]
    second = rng.choice(others) if others and rng.random() < 0.4 else first
    out: list[str] = []
    while len(out) < n_bars:
        for section in (first, first, second, first):
            for bar in section:
                out += bar.split() if style.beats % 2 else [bar]
    return mode, tuple(out[:n_bars])


def _plan(genre: str, index: int, seed: int, clip_seconds: float, soundfonts: Sequence[str]) -> _Plan:
    styles = list(STYLES[genre])
    random.Random(f"{seed}:{genre}:order").shuffle(styles)  # round robin over a seeded order: balanced styles
    style = styles[index % len(styles)]
    clip_seed = _clip_seed(seed, genre, index)
    rng = random.Random(clip_seed)
    tempo = rng.randint(*style.tempo)
    mode, bars = _progression(style, rng, _bars_needed(style, tempo, clip_seconds))
    name = f"{_slug(genre)}-{index:03d}-{_slug(style.name.split(':')[-1])}-{clip_seed:08x}"
    return _Plan(
        genre,
        index,
        clip_seed,
        style,
        rng.choice(list(soundfonts)),
        tempo,
        rng.randint(-5, 6),
        mode,
        bars,
        clip_seconds,
        f"{_slug(genre)}/{name}.flac",
    )


def _song(plan: _Plan, rng: random.Random) -> str:
    """The mma source of one clip: groove, written parts, tempo, key, mix balance and chords."""
    lines = [f"RndSeed {plan.seed}"]
    if not plan.style.name.startswith("own:"):
        lines.append(f"Groove {library_groove(plan.style)}")
    lines.append(written_parts(plan.style, rng))
    # Tempo after Groove: a few style files set their own.
    lines += [f"Tempo {plan.tempo}", f"Transpose {plan.transpose}"]
    for types in ("DRUM", "BASS WALK", "CHORD ARPEGGIO PLECTRUM SCALE"):
        lines.append(f"AllTracks {types} Volume {rng.randint(-30, 30):+d}%")
    spread = {4: "{} / {} /", 6: "{} / / {} / /"}
    for number, bar in enumerate(plan.bars, 1):
        chords = bar.split()
        lines.append(f"{number} {spread[plan.style.beats].format(*chords) if len(chords) == 2 else chords[0]}")
    return "\n".join(lines) + "\n"


def _fluidsynth_args(plan: _Plan, rng: random.Random) -> list[str]:
    args = ["-o", "synth.dynamic-sample-loading=1", "-o", "audio.file.format=float", "-r", str(SAMPLE_RATE)]
    reverb, chorus = rng.random() < 0.6, rng.random() < 0.4
    args += ["-R", str(int(reverb)), "-C", str(int(chorus))]
    if reverb:
        args += [
            "-o",
            f"synth.reverb.room-size={rng.uniform(0.2, 0.9):.2f}",
            "-o",
            f"synth.reverb.level={rng.uniform(0.3, 0.9):.2f}",
            "-o",
            f"synth.reverb.damp={rng.uniform(0, 0.6):.2f}",
        ]
    if chorus:
        args += [
            "-o",
            f"synth.chorus.depth={rng.uniform(3, 15):.1f}",
            "-o",
            f"synth.chorus.level={rng.uniform(0.5, 2.5):.2f}",
        ]
    return args


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # mma is Python: keep its set/dict order fixed too
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or "Error" in output:
        raise RuntimeError(f"{what} failed ({result.returncode}): {output[-800:]}")


def _master(audio: np.ndarray, plan: _Plan, rng: random.Random) -> np.ndarray:
    """Mono, a random start inside the first bar, random tone and drive, fades, a random loudness."""
    from scipy.signal import butter, sosfilt

    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    bar = int(plan.style.beats * 60.0 / plan.tempo * SAMPLE_RATE)
    start, length = rng.randrange(0, bar), int(round(plan.clip_seconds * SAMPLE_RATE))
    if len(mono) < start + length:
        raise RuntimeError(
            f"{plan.rel_path}: rendered {len(mono) / SAMPLE_RATE:.1f} s, needed "
            f"{(start + length) / SAMPLE_RATE:.1f} s (is {plan.style.name} in {plan.style.beats}?)"
        )
    y = mono[start : start + length].astype(np.float64)
    if np.sqrt(np.mean(y**2)) < 1e-4:
        raise RuntimeError(f"{plan.rel_path}: {plan.style.name} rendered silence")
    if rng.random() < 0.35:
        y = sosfilt(butter(2, rng.uniform(3500, 9000), "lowpass", fs=SAMPLE_RATE, output="sos"), y)
    if rng.random() < 0.25:
        y = sosfilt(butter(2, rng.uniform(60, 250), "highpass", fs=SAMPLE_RATE, output="sos"), y)
    if rng.random() < 0.4:  # a hot, limited master
        drive = rng.uniform(1.5, 4.0)
        y = np.tanh(drive * y / np.max(np.abs(y))) / math.tanh(drive)
    fade_in = int(rng.uniform(0.02, 0.4) * SAMPLE_RATE)
    fade_out = int(min(rng.uniform(0.5, 2.0), plan.clip_seconds / 4) * SAMPLE_RATE)
    y[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
    y[len(y) - fade_out :] *= np.linspace(1.0, 0.0, fade_out)
    y *= 10 ** (rng.uniform(-23, -15) / 20) / np.sqrt(np.mean(y**2))
    peak = np.max(np.abs(y))
    return (y * (0.97 / peak) if peak > 0.97 else y).astype(np.float32)


def _render_clip(plan: _Plan, grooves_dir: Path) -> None:
    """mma → MIDI → fluidsynth → mastered FLAC, written under a temporary name and moved into place."""
    import soundfile as sf

    rng = random.Random(plan.seed ^ 0x5EED)
    target = grooves_dir / plan.rel_path
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=grooves_dir, prefix=".render-") as tmp:
        work = Path(tmp)
        (work / "clip.mma").write_text(_song(plan, rng), encoding="utf-8")
        _run(["mma", "-f", "clip.mid", "clip.mma"], work, f"mma ({plan.style.name})")
        _run(
            [
                "fluidsynth",
                "-ni",
                "-q",
                "-F",
                "clip.wav",
                "-T",
                "wav",
                *_fluidsynth_args(plan, rng),
                str(SOUNDFONTS[plan.soundfont].path),
                "clip.mid",
            ],
            work,
            f"fluidsynth ({plan.soundfont})",
        )
        audio, rate = sf.read(work / "clip.wav", dtype="float32", always_2d=True)
        if rate != SAMPLE_RATE:
            raise RuntimeError(f"fluidsynth wrote {rate} Hz, not {SAMPLE_RATE}")
        partial = work / "clip.flac"
        sf.write(partial, _master(audio, plan, rng), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        os.replace(partial, target)


def missing_packages(soundfonts: Sequence[str] | None = None) -> list[str]:
    """The Debian packages (mma, fluidsynth, the soundfonts asked for) that are not installed."""
    wanted = list(soundfonts) if soundfonts is not None else list(SOUNDFONTS)
    unknown = [name for name in wanted if name not in SOUNDFONTS]
    if unknown or not wanted:
        raise GrooveToolError(f"soundfonts must be among {sorted(SOUNDFONTS)}, not {unknown or 'none'}")
    missing = [tool for tool in ("mma", "fluidsynth") if shutil.which(tool) is None]
    return missing + [pkg for pkg in wanted if not SOUNDFONTS[pkg].path.is_file()]


def check_tools(soundfonts: Sequence[str] | None = None) -> None:
    """Raise GrooveToolError naming the Debian package to install, a style the installed mma
    library lacks, or a copyright file that no longer says the licence recorded here."""
    wanted = list(soundfonts) if soundfonts is not None else list(SOUNDFONTS)
    missing = missing_packages(wanted)
    if missing:
        raise GrooveToolError(f"missing Debian package(s): {', '.join(missing)} (apt-get install {' '.join(missing)})")
    mma_style = Soundfont(MMA_LIBRARY / "stdlib" / "swing.mma", MMA_LICENCE)
    for package, recorded in [("mma", mma_style), *((p, SOUNDFONTS[p]) for p in wanted)]:
        copyright_path = Path("/usr/share/doc") / package / "copyright"
        text = copyright_path.read_text(encoding="utf-8", errors="replace") if copyright_path.is_file() else ""
        if recorded.licence_phrase:
            found = recorded.licence if recorded.licence_phrase in text else "(the words recorded here are gone)"
        else:
            found = dep5_licence(text, str(recorded.path).lstrip("/")) or "(none)"
        if found != recorded.licence:
            raise GrooveToolError(
                f"{copyright_path} now gives {recorded.path.name} {found}, not {recorded.licence}: "
                "re-read it and update inference/engine/starter/grooves.py"
            )
    for style in (s for styles in STYLES.values() for s in styles if not s.name.startswith("own:")):
        library_file, groove = library_groove(style).split(":")
        path = MMA_LIBRARY / f"{library_file}.mma"
        defined = path.is_file() and re.search(
            rf"^\s*DefGroove\s+{re.escape(groove)}\s", path.read_text(encoding="utf-8", errors="replace"), re.M | re.I
        )
        if not defined:
            raise GrooveToolError(f"the mma library has no groove {style.name} (looked in {path})")


def _manifest_path(work_dir: Path) -> Path:
    return work_dir / "grooves" / "manifest.tsv"


def _read_rows(work_dir: Path) -> dict[str, GrooveClip]:
    path = _manifest_path(work_dir)
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return {
        r["path"]: GrooveClip(
            path=Path(r["path"]),
            genre=r["genre"],
            style=r["style"],
            soundfont=r["soundfont"],
            tempo=int(r["tempo"]),
            key=r["key"],
            seed=int(r["seed"]),
            duration_s=float(r["duration_s"]),
            licence=r["licence"],
        )
        for r in rows
    }


def _write_rows(work_dir: Path, rows: dict[str, GrooveClip]) -> None:
    path = _manifest_path(work_dir)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=[f.name for f in fields(GrooveClip)], delimiter="\t", lineterminator="\n"
        )
        writer.writeheader()
        for rel in sorted(rows):
            writer.writerow({**asdict(rows[rel]), "path": rel})
    os.replace(partial, path)


def read_groove_manifest(work_dir: Path) -> list[GrooveClip]:
    """The clips listed in ``work_dir/grooves/manifest.tsv``, with absolute paths."""
    grooves_dir = Path(work_dir) / "grooves"
    return [replace(clip, path=grooves_dir / rel) for rel, clip in sorted(_read_rows(Path(work_dir)).items())]


def render_grooves(
    work_dir: Path,
    *,
    minutes_per_genre: float = 20.0,
    clip_seconds: float = 30.0,
    seed: int = 0,
    genres: Sequence[str] | None = None,
    progress: bool = True,
    soundfonts: Sequence[str] | None = None,
) -> list[GrooveClip]:
    """Render what is missing of the seed's clips (``minutes_per_genre`` each, half for genres the
    teachers cover) and return them all; clips the manifest lists with their file are kept."""
    from tqdm import tqdm

    work_dir = Path(work_dir)
    chosen = list(genres) if genres is not None else list(STYLES)
    refused = [g for g in chosen if g not in STYLES]
    if refused:
        why = "; ".join(f"{g}: {NO_GROOVES.get(g, 'not a genre')}" for g in refused)
        raise ValueError(f"no grooves for {', '.join(refused)} ({why})")
    if clip_seconds < 2:
        raise ValueError("clip_seconds must be at least 2")
    fonts = list(soundfonts) if soundfonts is not None else list(SOUNDFONTS)
    check_tools(fonts)
    plans = [
        _plan(genre, index, seed, clip_seconds, fonts)
        for genre in chosen
        for index in range(max(1, round(minutes_per_genre * SHARE.get(genre, 1.0) * 60 / clip_seconds)))
    ]
    grooves_dir = work_dir / "grooves"
    grooves_dir.mkdir(parents=True, exist_ok=True)
    rows = {rel: clip for rel, clip in _read_rows(work_dir).items() if (grooves_dir / rel).is_file()}

    def clip_of(plan: _Plan) -> GrooveClip:
        return GrooveClip(
            path=Path(plan.rel_path),
            genre=plan.genre,
            style=plan.style.name,
            soundfont=plan.soundfont,
            tempo=plan.tempo,
            key=plan.key,
            seed=plan.seed,
            duration_s=round(plan.clip_seconds, 3),
            licence=_licence(plan.style, plan.soundfont),
        )

    todo = [p for p in plans if rows.get(p.rel_path) != clip_of(p)]
    bar = tqdm(total=len(todo), unit="clip", desc="grooves", disable=not progress)
    for plan in todo:
        _render_clip(plan, grooves_dir)
        rows[plan.rel_path] = clip_of(plan)
        _write_rows(work_dir, rows)
        bar.update(1)
    bar.close()
    _write_rows(work_dir, rows)
    return [replace(clip_of(p), path=grooves_dir / p.rel_path) for p in plans]
