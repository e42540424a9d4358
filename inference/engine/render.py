"""PNG pictures for editors: spectrogram, attention overlay, Top-K bars.

Drawn straight into Pillow images: arrays are colour-mapped through 256-entry lookup tables
taken once from matplotlib's colormaps (the same colours matplotlib paints), then axes, ticks,
labels and the colour bar are drawn with DejaVu Sans (the font matplotlib ships). The layout
copies the matplotlib figures this module used to make (100 dpi, the same axes fractions and
font sizes), at ≈1/10 of the cost; matplotlib stays for reports and plots elsewhere. Pure
functions of their inputs: safe in worker threads, no display needed.
"""

from __future__ import annotations

import math
import struct
import time
import zlib
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import colormaps
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageFont

from .datatypes import AnalysisResult, AttentionRegion, PreprocessingConfig

_DPI = 100
_PX_PER_PT = _DPI / 72  # font sizes and line lengths below are in points, as they were in matplotlib
_TICK_PX = round(3.5 * _PX_PER_PT)  # matplotlib's default tick length and tick-label pad
_HZ_TICKS = (0, 100, 250, 500, 1000, 2000, 4000, 8000, 16000)
_MIN_TICK_GAP = 0.07  # fraction of the axis height between frequency labels
# Where the time axis sits in the spectrogram PNG (left, bottom, width, height as fractions, from
# the bottom left as in matplotlib): the review screen uses it to draw its playback cursor and to seek.
SPECTROGRAM_PLOT_AREA = (0.075, 0.14, 0.80, 0.76)
_COLOUR_BAR_AREA = (0.89, 0.14, 0.015, 0.76)
SPECTROGRAM_SIZE = (1200, 400)  # px; the layout the fractions above were made for
# Tracks this long or longer get a wider spectrogram, with at least ZOOM_PX_PER_S pixels per
# second of time axis, which the review screen shows in a horizontally scrolling pane.
ZOOM_FROM_S = 240.0
ZOOM_PX_PER_S = 8
_REGION_COLOUR = (0x00, 0xE5, 0xFF)
_BAR_COLOUR, _UNTRAINED_BAR_COLOUR, _WARNING_COLOUR = (0x3B, 0x6F, 0xB6), (0x99, 0x99, 0x99), (0xB0, 0x00, 0x20)
_BLACK, _WHITE = (0, 0, 0), (255, 255, 255)
# RGB bytes per colormap index, exactly what matplotlib's `cmap(index, bytes=True)` gives.
_LUTS = {
    name: np.ascontiguousarray(colormaps[name](np.arange(256), bytes=True)[:, :3])
    for name in ("magma", "gray", "inferno")
}
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@cache
def _font(points: float, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at `points` (100 dpi); Pillow's default font if matplotlib's copy is missing."""
    try:
        return ImageFont.truetype(
            str(_FONT_DIR / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")), points * _PX_PER_PT
        )
    except OSError:
        return ImageFont.load_default(points * _PX_PER_PT)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(image: Image.Image) -> bytes:
    """RGB image → PNG bytes: every row "Up"-filtered, zlib level 1 with run-length matching.

    Written here rather than by Pillow, whose encoder tries all five PNG filters on every row:
    ≈8 ms instead of ≈18 ms for a 1200×400 spectrogram, files ≈5 % smaller. The one place PNG
    bytes are made; nothing here writes files (inference/results.py stores them).
    """
    rows = np.asarray(image.convert("RGB")).reshape(image.height, -1)
    raw = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
    raw[:, 0] = 2  # filter "Up": each byte minus the one above (the first row: minus 0)
    raw[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])  # uint8 arithmetic wraps, as PNG wants
    packer = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    header = struct.pack(">IIBBBBB", image.width, image.height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", packer.compress(raw) + packer.flush()),
            _png_chunk(b"IEND", b""),
        )
    )


def _canvas(width: int, height: int) -> Image.Image:
    if width < 100 or height < 100:
        raise ValueError("images must be at least 100×100 px")
    return Image.new("RGB", (width, height), _WHITE)


def _box(area: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """Axes fractions (left, bottom, width, height from the bottom left) → pixels (left, top, right, bottom)."""
    left, bottom, w, h = area
    return (
        round(left * width),
        round(height - (bottom + h) * height),
        round((left + w) * width),
        round(height - bottom * height),
    )


@lru_cache(maxsize=512)
def _text_mask(text: str, points: float, bold: bool, anchor: str, vertical: bool) -> tuple[Image.Image, int, int]:
    """Anti-aliased coverage of `text` and its offset from the anchor point; the same labels recur in every image."""
    font = _font(points, bold)
    left, top, right, bottom = font.getbbox(text, anchor=anchor)
    mask = Image.new("L", (max(right - left, 1), max(bottom - top, 1)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=font, anchor=anchor)
    if vertical:  # turned 90° to read upwards, anchored at the middle of its right edge
        mask = mask.rotate(90, expand=True)
        return mask, -mask.width, -(mask.height // 2)
    return mask, left, top


def _text(
    canvas: Image.Image,
    xy: tuple[float, float],
    text: str,
    points: float,
    *,
    anchor: str = "la",
    fill: tuple[int, int, int] = _BLACK,
    bold: bool = False,
    vertical: bool = False,
) -> tuple[int, int, int, int]:
    """Draw text (Pillow anchors: "mt" = middle/top, "rm" = right/middle …); returns its pixel box."""
    mask, dx, dy = _text_mask(text, points, bold, anchor, vertical)
    x, y = round(xy[0]) + dx, round(xy[1]) + dy
    canvas.paste(fill, (x, y), mask)
    return x, y, x + mask.width, y + mask.height


def _clock(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _hz_label(hz: float) -> str:
    return f"{hz / 1000:g} kHz" if hz >= 1000 else f"{hz:g} Hz"


def _fit_columns(image: np.ndarray, max_columns: int) -> np.ndarray:
    """Mean-pool time frames down to about the axis' pixel width: same picture, far less resampling."""
    image = np.asarray(image, dtype=np.float32)
    factor = image.shape[-1] // max_columns
    if factor < 2:
        return image
    usable = image.shape[-1] - image.shape[-1] % factor
    # A product with 1/factor weights is the mean, ≈10× faster than .mean(axis=-1) over short rows.
    pooled = image[..., :usable].reshape(*image.shape[:-1], usable // factor, factor) @ np.full(
        factor, 1 / factor, np.float32
    )
    if usable == image.shape[-1]:
        return pooled
    return np.concatenate([pooled, image[..., usable:].mean(axis=-1, keepdims=True)], axis=-1)


def _lut_index(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """matplotlib's Normalize + colormap lookup: index floor((v - low) / (high - low) · 256), clipped."""
    scaled = (values - np.float32(low)) * np.float32(256.0 / (high - low))
    if not np.isfinite(scaled).all():
        scaled = np.nan_to_num(scaled, nan=0.0)
    return np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)


def _plot_image(rgb: np.ndarray, width: int, height: int) -> Image.Image:
    """Colour-mapped [rows, columns, 3] with row 0 at the bottom → the plot area's [height, width] image.

    Resampled after colour-mapping, as matplotlib's "antialiased" interpolation does: smooth
    (bilinear, which also averages when shrinking) unless an axis grows 3× or more, where
    pixels stay crisp (nearest).
    """
    image = Image.fromarray(np.ascontiguousarray(rgb[::-1]))
    crisp_x, crisp_y = width >= 3 * image.width, height >= 3 * image.height
    steps = [(width, height)] if crisp_x == crisp_y else [(width, image.height), (width, height)]
    for size in steps:  # one pass when both axes take the same filter
        if image.size != size:
            grow = max(size[0] / image.width, size[1] / image.height)
            image = image.resize(size, Image.Resampling.NEAREST if grow >= 3 else Image.Resampling.BILINEAR)
    return image


def _plot_box(width: int, height: int) -> tuple[int, int, int, int]:
    """Pixels of the time × frequency area. Up to 1200 px wide: SPECTROGRAM_PLOT_AREA's fractions;
    wider (a zoomed long track): the 1200-px layout's margins in pixels, all extra width going to time."""
    reference = SPECTROGRAM_SIZE[0]
    if width <= reference:
        return _box(SPECTROGRAM_PLOT_AREA, width, height)
    left, top, right, bottom = _box(SPECTROGRAM_PLOT_AREA, reference, height)
    return left, top, right + width - reference, bottom


def _colour_bar_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The colour bar keeps its distance from the right edge when the image is wider than 1200 px."""
    reference = SPECTROGRAM_SIZE[0]
    left, top, right, bottom = _box(_COLOUR_BAR_AREA, min(width, reference), height)
    shift = max(width - reference, 0)
    return left + shift, top, right + shift, bottom


def spectrogram_plot_area(width: int, height: int) -> tuple[float, float, float, float]:
    """SPECTROGRAM_PLOT_AREA of a spectrogram image of this size (fractions from the bottom left, as
    the review screen's cursor, seeking and genre timeline use them); any stored image's size works."""
    left, top, right, bottom = _plot_box(width, height)
    return left / width, (height - bottom) / height, (right - left) / width, (bottom - top) / height


def spectrogram_width(duration_s: float) -> int:
    """1200 px; for a track of ZOOM_FROM_S or more, wide enough for ZOOM_PX_PER_S px per second of time axis."""
    reference = SPECTROGRAM_SIZE[0]
    if duration_s < ZOOM_FROM_S:
        return reference
    left, _, right, _ = _box(SPECTROGRAM_PLOT_AREA, reference, SPECTROGRAM_SIZE[1])
    return max(reference, reference - (right - left) + math.ceil(ZOOM_PX_PER_S * duration_s))


def _frame(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], sides: str = "ltrb") -> None:
    """Axis spines one pixel outside the drawn area, like matplotlib's 0.8-pt black lines."""
    left, top, right, bottom = box
    lines = {
        "l": (left - 1, top - 1, left - 1, bottom),
        "r": (right, top - 1, right, bottom),
        "t": (left - 1, top - 1, right, top - 1),
        "b": (left - 1, bottom, right, bottom),
    }
    for side in sides:
        draw.line(lines[side], fill=_BLACK, width=1)


def _x_position(value: float, low: float, high: float, box: tuple[int, int, int, int]) -> int:
    """Pixel column of a value on a horizontal axis; the limits fall on the spines."""
    left, _, right, _ = box
    return left - 1 + round((value - low) / (high - low) * (right - left + 1))


def _x_ticks(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    ticks: Sequence[tuple[float, str]],
    low: float,
    high: float,
    points: float,
) -> int:
    """Ticks and labels below the axis; returns the bottom of the labels' line (descenders included)."""
    bottom = box[3]
    ascent, descent = _font(points).getmetrics()
    for value, label in ticks:
        x = _x_position(value, low, high, box)
        draw.line((x, bottom, x, bottom + _TICK_PX), fill=_BLACK, width=1)
        _text(canvas, (x, bottom + 2 * _TICK_PX), label, points, anchor="mt")
    return bottom + 2 * _TICK_PX + ascent + descent - 4  # where matplotlib puts the bottom of its text box


def _y_ticks(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    ticks: Sequence[tuple[int, str]],
    points: float,
) -> int:
    """Ticks and labels left of the axis at pixel rows; returns the leftmost pixel column the labels use."""
    left, leftmost = box[0] - 1, box[0] - 1 - _TICK_PX
    for y, label in ticks:
        draw.line((left - _TICK_PX, y, left, y), fill=_BLACK, width=1)
        leftmost = min(leftmost, _text(canvas, (left - 2 * _TICK_PX, y), label, points, anchor="rm")[0])
    return leftmost


@lru_cache(maxsize=16)
def _colour_bar_image(lut_name: str, width: int, rows: int) -> Image.Image:
    index = np.clip(((rows - 0.5 - np.arange(rows)) / rows * 256).astype(int), 0, 255)
    return Image.fromarray(np.ascontiguousarray(np.broadcast_to(_LUTS[lut_name][index][:, None], (rows, width, 3))))


def _colour_bar(canvas: Image.Image, draw: ImageDraw.ImageDraw, lut_name: str, low: float, high: float) -> None:
    """The colormap from `low` (bottom) to `high` (top), five ticks labelled "%+.0f dB" on its right."""
    left, top, right, bottom = _colour_bar_box(canvas.width, canvas.height)
    canvas.paste(_colour_bar_image(lut_name, right - left, bottom - top), (left, top))
    _frame(draw, (left, top, right, bottom))
    for value in np.linspace(low, high, 5):
        y = top + round((high - value) / (high - low) * (bottom - top - 1))
        draw.line((right, y, right + _TICK_PX, y), fill=_BLACK, width=1)
        _text(canvas, (right + 2 * _TICK_PX, y), f"{value:+.0f} dB", 8, anchor="lm")


def render_spectrogram(
    mel_db: np.ndarray,
    cfg: PreprocessingConfig,
    *,
    attention: np.ndarray | None = None,
    regions: Sequence[AttentionRegion] = (),
    width: int = 1200,
    height: int = 400,
) -> bytes:
    """Log-mel spectrogram PNG (time in m:ss, mel-spaced Hz axis, dB colour bar), optionally with attention."""
    if attention is not None and np.shape(attention) != np.shape(mel_db):
        raise ValueError(f"attention {np.shape(attention)} must cover the spectrogram {np.shape(mel_db)} cell by cell")
    left, _, right, _ = _plot_box(width, height)
    columns = right - left
    pooled_attention = None if attention is None else _fit_columns(attention, columns)
    return _spectrogram_png(
        _fit_columns(mel_db, columns), mel_db.shape[1], cfg, pooled_attention, regions, width, height
    )


def _spectrogram_png(
    mel_db: np.ndarray,
    frames: int,
    cfg: PreprocessingConfig,
    attention: np.ndarray | None,
    regions: Sequence[AttentionRegion],
    width: int,
    height: int,
) -> bytes:
    """render_spectrogram on time-pooled arrays (`frames`: the track's frame count before pooling)."""
    canvas = _canvas(width, height)
    n_mels = mel_db.shape[0]
    duration = cfg.frames_to_seconds(frames)
    box = left, top, right, bottom = _plot_box(width, height)
    plot_w, plot_h = right - left, bottom - top
    lut_name = "gray" if attention is not None else "magma"
    rgb = _LUTS[lut_name][_lut_index(mel_db, -cfg.top_db, 0.0)]
    if attention is not None:
        level = np.clip(attention, 0.0, 1.0)
        heat = _LUTS["inferno"][_lut_index(level, 0.0, 1.0)]
        alpha = (level * level * np.float32(0.8))[..., None]  # low attention stays see-through
        rgb = (rgb + alpha * (heat.astype(np.float32) - rgb) + np.float32(0.5)).astype(np.uint8)
    canvas.paste(_plot_image(rgb, plot_w, plot_h), (left, top))
    draw = ImageDraw.Draw(canvas)
    edges = cfg.mel_band_edges()

    def row_to_y(row: float) -> float:  # mel row (0 at the bottom edge) → pixel row
        return bottom - row / n_mels * plot_h

    if attention is not None:
        for region in regions:
            y0, y1 = np.interp([region.high_hz, region.low_hz], edges, np.arange(n_mels + 1))
            x0, x1 = (left + min(max(s / duration, 0.0), 1.0) * plot_w for s in (region.start_s, region.end_s))
            rect = (x0 - 1, max(row_to_y(y0) - 1, top), x1, min(row_to_y(y1), bottom - 1))
            draw.rectangle(tuple(round(v) for v in rect), outline=_REGION_COLOUR, width=2)
    _frame(draw, box)
    y_ticks, rows = [], []
    for hz in _HZ_TICKS:  # low mel rows are wide apart in Hz: skip labels that would collide
        row = float(np.interp(hz, edges, np.arange(n_mels + 1)))
        if cfg.fmin <= hz <= cfg.max_frequency and (not rows or row - rows[-1] >= _MIN_TICK_GAP * n_mels):
            y_ticks.append((min(round(row_to_y(row)), bottom), _hz_label(hz)))
            rows.append(row)
    leftmost = _y_ticks(canvas, draw, box, y_ticks, 10)
    # 12 ticks at 1200 px; a zoomed image keeps about one per 100 px instead of stretching them apart.
    times = MaxNLocator(nbins=max(12, plot_w // 100), steps=[1, 2, 2.5, 5, 10]).tick_values(0.0, duration)
    x_ticks = [(t, _clock(t)) for t in times if -1e-9 <= t <= duration * (1 + 1e-9)]
    lowest = _x_ticks(canvas, draw, box, x_ticks, 0.0, duration, 10)
    label_pad = round(4 * _PX_PER_PT)
    _text(canvas, ((left + right) / 2, lowest + label_pad), "time (m:ss)", 10, anchor="mt")
    _text(canvas, (leftmost - label_pad + 1, (top + bottom) / 2), "frequency (mel scale)", 10, vertical=True)
    title = "attention over log-mel spectrogram" if attention is not None else "log-mel spectrogram"
    _text(canvas, (left, top - round(6 * _PX_PER_PT)), title, 10, anchor="ls")
    _colour_bar(canvas, draw, lut_name, -cfg.top_db, 0.0)
    return _png(canvas)


def render_top_k(
    top_k: Sequence[tuple[str, float]], *, width: int = 600, height: int = 300, untrained: bool = False
) -> bytes:
    """Horizontal bars with percentages, best on top; an untrained model gets a visible warning."""
    canvas = _canvas(width, height)
    draw = ImageDraw.Draw(canvas)
    box = left, top, right, bottom = _box(
        (0.22, 0.16 if untrained else 0.08, 0.70, 0.72 if untrained else 0.84), width, height
    )
    n = len(top_k)
    margin = 0.05 * (n - 0.2)  # matplotlib's 5 % margins around bars 0.8 high at rows 0 … n-1
    low, high = -0.4 - margin, n - 0.6 + margin

    def row_to_y(row: float) -> float:  # bar row (0 at the bottom) → pixel row
        return bottom - (row - low) / (high - low) * (bottom - top)

    y_ticks = []
    for rank, (name, p) in enumerate(top_k):  # best first, drawn on top
        row, value = n - 1 - rank, 100 * float(p)
        x1 = _x_position(min(max(value, 0.0), 100.0), 0.0, 100.0, box)
        y0, y1 = round(row_to_y(row + 0.4)), round(row_to_y(row - 0.4))
        if x1 >= left:
            draw.rectangle((left, y0, x1, y1 - 1), fill=_UNTRAINED_BAR_COLOUR if untrained else _BAR_COLOUR)
        y = round(row_to_y(row))
        inside = value > 80
        x = _x_position(value - 1 if inside else value + 1, 0.0, 100.0, box)
        _text(canvas, (x, y), f"{value:.1f} %", 9, fill=_WHITE if inside else _BLACK, anchor="rm" if inside else "lm")
        y_ticks.append((y, name))
    _frame(draw, box, "lb")
    _y_ticks(canvas, draw, box, y_ticks, 10)
    lowest = _x_ticks(canvas, draw, box, [(v, f"{v:g}") for v in range(0, 101, 20)], 0.0, 100.0, 10)
    _text(canvas, ((left + right) / 2, lowest + round(4 * _PX_PER_PT)), "confidence (%)", 9, anchor="mt")
    if untrained:
        _text(
            canvas,
            (width / 2, 0.025 * height),
            "untrained model — not a real prediction",
            11,
            fill=_WARNING_COLOUR,
            bold=True,
            anchor="mt",
        )
    return _png(canvas)


def render_analysis_images(
    result: AnalysisResult, cfg: PreprocessingConfig, *, zoom_long_tracks: bool = True
) -> dict[str, bytes]:
    """PNG bytes keyed 'spectrogram', 'attention' (only when the result has a map) and 'top_k'.

    Both spectrograms share one size: 1200×400, or for long tracks wider (spectrogram_width), which
    pages without a scrolling pane (the workstation) turn off with `zoom_long_tracks=False`.
    """
    start = time.perf_counter()
    frames = result.mel_db.shape[1]
    width = spectrogram_width(cfg.frames_to_seconds(frames)) if zoom_long_tracks else SPECTROGRAM_SIZE[0]
    height = SPECTROGRAM_SIZE[1]
    left, _, right, _ = _plot_box(width, height)
    mel_db = _fit_columns(result.mel_db, right - left)  # pooled once for both
    images = {"spectrogram": _spectrogram_png(mel_db, frames, cfg, None, (), width, height)}
    if result.attention is not None:
        images["attention"] = _spectrogram_png(
            mel_db, frames, cfg, _fit_columns(result.attention, right - left), result.regions, width, height
        )
    images["top_k"] = render_top_k(result.top_k, untrained=not result.trained)
    result.timings_ms["render"] = round((time.perf_counter() - start) * 1000, 1)
    return images
