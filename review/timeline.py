"""Reads for the review screen's time axis: the spectrogram's geometry and the genre timeline under it.

Segment extents: analysis windows may overlap (the last window is moved back to end at the
track's end, and a model may hop by less than a window), so each window's segment runs from its
start to the next window's start, and the last one to its own end (start + window length, at
most the track's end). Segments tile the track without overlapping; a second is shown with the
latest window that starts at or before it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from catalog.models import Analysis
from inference.engine.datatypes import PreprocessingConfig
from inference.engine.render import SPECTROGRAM_SIZE, spectrogram_plot_area

# Kelly's colours of maximum contrast (less white and black): 20, all visible on the admin's white.
PALETTE = (
    "#f3c300",
    "#875692",
    "#f38400",
    "#a1caf1",
    "#be0032",
    "#c2b280",
    "#848482",
    "#008856",
    "#e68fac",
    "#0067a5",
    "#f99379",
    "#604e97",
    "#f6a600",
    "#b3446c",
    "#dcd300",
    "#882d17",
    "#8db600",
    "#654522",
    "#e25822",
    "#2b3d26",
)


@dataclass(frozen=True)
class SpectrogramGeometry:
    """Pixel size of an analysis' spectrogram image and where its time axis lies in it."""

    width: int
    height: int
    plot_area: tuple[float, float, float, float]  # left, bottom, width, height as fractions, from the bottom left

    @property
    def zoom(self) -> float:
        """How many times wider than the page's pane the picture is shown: 1 up to 1200 px wide."""
        return max(1.0, self.width / SPECTROGRAM_SIZE[0])

    @property
    def zoomed(self) -> bool:
        return self.zoom > 1.0

    @property
    def zoom_pct(self) -> float:
        """The picture's width in % of the pane."""
        return 100 * self.zoom

    @property
    def plot_left_pct(self) -> float:
        return 100 * self.plot_area[0]

    @property
    def plot_width_pct(self) -> float:
        return 100 * self.plot_area[2]


@dataclass(frozen=True)
class TimelineSegment:
    start_s: float
    end_s: float
    genre: str  # the window's top genre
    colour: str
    top3: tuple[tuple[str, float], ...]
    left_pct: float  # of the time axis (the plot area's width)
    width_pct: float

    @property
    def tip(self) -> str:
        """What hovering the segment shows: its time span, then its Top-3 with percentages, one per line."""
        return "\n".join(
            [f"{_clock(self.start_s)}–{_clock(self.end_s)}", *(f"{genre} {p:.1%}" for genre, p in self.top3)]
        )


@dataclass(frozen=True)
class LegendEntry:
    genre: str
    colour: str
    share: float  # fraction of the track's time where it is the top genre


@dataclass(frozen=True)
class GenreTimeline:
    duration_s: float
    segments: tuple[TimelineSegment, ...]
    legend: tuple[LegendEntry, ...]  # genres that top at least one segment, longest first


def _clock(seconds: float) -> str:
    whole = int(max(0.0, seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def genre_colours(labels: Sequence[str]) -> dict[str, str]:
    """A colour per genre: the palette slot its name hashes to, or the next free one when taken,
    names taken in sorted order. So a label list gets the same colours on every track and page,
    whatever its order, and up to len(PALETTE) genres never share a colour."""
    taken: set[int] = set()
    colours: dict[str, str] = {}
    for name in sorted(set(labels)):
        slot = zlib.crc32(name.encode()) % len(PALETTE)
        if len(taken) < len(PALETTE):
            while slot in taken:
                slot = (slot + 1) % len(PALETTE)
        taken.add(slot)
        colours[name] = PALETTE[slot]
    return colours


def _window_seconds(preprocessing: object) -> float:
    """Window length of a model version's input; the defaults when it does not say (or says nonsense)."""
    try:
        cfg = PreprocessingConfig.from_dict(dict(preprocessing or {}))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        cfg = PreprocessingConfig()
    return cfg.seconds_per_window


def genre_timeline(*, analysis: Analysis, duration_s: float | None = None) -> GenreTimeline | None:
    """Each window's top genre and Top-3 over time (see the module docstring for the extents);
    None when the analysis has no usable window scores (older or imported analyses)."""
    labels = list(analysis.model_version.labels)
    starts, scores = list(analysis.window_starts_s or []), list(analysis.window_scores or [])
    if not starts or len(starts) != len(scores) or any(len(row) != len(labels) for row in scores):
        return None
    window_s = _window_seconds(analysis.model_version.preprocessing)
    windows = sorted(zip((float(s) for s in starts), scores), key=lambda pair: pair[0])
    duration = float(duration_s or analysis.track.duration_s or 0.0) or windows[-1][0] + window_s
    colours = genre_colours(labels)
    segments: list[TimelineSegment] = []
    for index, (start, row) in enumerate(windows):
        end = windows[index + 1][0] if index + 1 < len(windows) else start + window_s
        start, end = max(0.0, start), min(end, duration)
        if end <= start:  # two windows at one start, or one beyond the track's end
            continue
        top3 = tuple(sorted(zip(labels, (float(p) for p in row)), key=lambda pair: pair[1], reverse=True)[:3])
        segments.append(
            TimelineSegment(
                start_s=start,
                end_s=end,
                genre=top3[0][0],
                colour=colours[top3[0][0]],
                top3=top3,
                left_pct=100 * start / duration,
                width_pct=100 * (end - start) / duration,
            )
        )
    if not segments:
        return None
    seconds: dict[str, float] = {}
    for segment in segments:
        seconds[segment.genre] = seconds.get(segment.genre, 0.0) + segment.end_s - segment.start_s
    legend = tuple(
        LegendEntry(genre=genre, colour=colours[genre], share=total / duration)
        for genre, total in sorted(seconds.items(), key=lambda item: (-item[1], item[0]))
    )
    return GenreTimeline(duration_s=duration, segments=tuple(segments), legend=legend)


def spectrogram_geometry(analysis: Analysis | None) -> SpectrogramGeometry:
    """Size and plot area of the analysis' stored pictures (both share one), read from the PNG header:
    analyses rendered before long tracks got wide pictures keep their 1200 × 400 ones."""
    width, height = SPECTROGRAM_SIZE
    image = (analysis.attention_image or analysis.spectrogram_image) if analysis else None
    if image:
        try:
            width, height = image.width or width, image.height or height
        except (OSError, ValueError, TypeError):  # a missing or unreadable file: the page still opens
            width, height = SPECTROGRAM_SIZE
    return SpectrogramGeometry(width=width, height=height, plot_area=spectrogram_plot_area(width, height))
