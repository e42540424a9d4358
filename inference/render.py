"""PNG pictures for editors: spectrogram, attention overlay, Top-K bars.

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly (no pyplot): no global state,
safe in worker threads, no display needed. Spectrogram and attention are both drawn with
``imshow`` on the same row-index axis; mixing methods (specshow + imshow) hides the overlay.
"""
from __future__ import annotations

import io
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .attention import AttentionRegion
from .features import PreprocessingConfig

if TYPE_CHECKING:
    from .analysis import AnalysisResult

_DPI = 100
_HZ_TICKS = (0, 100, 250, 500, 1000, 2000, 4000, 8000, 16000)
_MIN_TICK_GAP = 0.07  # fraction of the axis height between frequency labels
# Where the time axis sits in the spectrogram PNG (left, bottom, width, height as fractions):
# the review screen uses it to draw its playback cursor and to seek on click.
SPECTROGRAM_PLOT_AREA = (0.075, 0.14, 0.80, 0.76)


def _figure(width: int, height: int) -> Figure:
    if width < 100 or height < 100:
        raise ValueError("images must be at least 100×100 px")
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # zlib level 1: ≈3× faster than the default on spectrogram noise, files ≈15 % larger.
    fig.savefig(buf, format="png", dpi=_DPI, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def _clock(seconds: float, _pos: object = None) -> str:
    seconds = max(0.0, seconds)
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _hz_label(hz: float) -> str:
    return f"{hz / 1000:g} kHz" if hz >= 1000 else f"{hz:g} Hz"


def _fit_columns(image: np.ndarray, max_columns: int) -> np.ndarray:
    """Mean-pool time frames down to about the axis' pixel width: same picture, far less resampling."""
    factor = image.shape[-1] // max_columns
    if factor < 2:
        return image
    usable = image.shape[-1] - image.shape[-1] % factor
    pooled = image[..., :usable].reshape(*image.shape[:-1], usable // factor, factor).mean(axis=-1)
    if usable == image.shape[-1]:
        return pooled
    return np.concatenate([pooled, image[..., usable:].mean(axis=-1, keepdims=True)], axis=-1)


def render_spectrogram(mel_db: np.ndarray, cfg: PreprocessingConfig, *, attention: np.ndarray | None = None,
                       regions: Sequence[AttentionRegion] = (), width: int = 1200, height: int = 400) -> bytes:
    """Log-mel spectrogram PNG (time in m:ss, mel-spaced Hz axis, dB colour bar), optionally with attention."""
    n_mels, frames = mel_db.shape
    duration = cfg.frames_to_seconds(frames)
    extent = (0.0, duration, 0.0, float(n_mels))  # rows are evenly spaced on the mel scale
    fig = _figure(width, height)
    ax = fig.add_axes(SPECTROGRAM_PLOT_AREA)
    cax = fig.add_axes((0.89, 0.14, 0.015, 0.76))
    common = dict(origin="lower", aspect="auto", extent=extent, interpolation="antialiased")
    cmap = "gray" if attention is not None else "magma"
    columns = int(width * SPECTROGRAM_PLOT_AREA[2])
    image = ax.imshow(_fit_columns(mel_db, columns), cmap=cmap, vmin=-cfg.top_db, vmax=0.0, **common)
    if attention is not None:
        level = np.clip(_fit_columns(attention, columns), 0, 1)
        heat = colormaps["inferno"](level)
        heat[..., 3] = 0.8 * level ** 2  # low attention stays see-through
        ax.imshow(heat, **common)
        edges = cfg.mel_band_edges()
        for region in regions:
            y0, y1 = np.interp([region.low_hz, region.high_hz], edges, np.arange(n_mels + 1))
            ax.add_patch(Rectangle((region.start_s, y0), region.end_s - region.start_s, y1 - y0,
                                   fill=False, edgecolor="#00e5ff", linewidth=1.5))
    edges = cfg.mel_band_edges()
    ticks, rows = [], []
    for hz in _HZ_TICKS:  # low mel rows are wide apart in Hz: skip labels that would collide
        row = float(np.interp(hz, edges, np.arange(n_mels + 1)))
        if cfg.fmin <= hz <= cfg.max_frequency and (not rows or row - rows[-1] >= _MIN_TICK_GAP * n_mels):
            ticks.append(hz)
            rows.append(row)
    ax.set_yticks(rows, [_hz_label(hz) for hz in ticks])
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(_clock))
    ax.set_xlim(0, duration)
    ax.set_xlabel("time (m:ss)")
    ax.set_ylabel("frequency (mel scale)")
    ax.set_title("attention over log-mel spectrogram" if attention is not None else "log-mel spectrogram",
                 fontsize=10, loc="left")
    bar = fig.colorbar(image, cax=cax, format="%+.0f dB", ticks=np.linspace(-cfg.top_db, 0, 5))
    bar.ax.tick_params(labelsize=8)
    return _png(fig)


def render_top_k(top_k: Sequence[tuple[str, float]], *, width: int = 600, height: int = 300,
                 untrained: bool = False) -> bytes:
    """Horizontal bars with percentages, best on top; an untrained model gets a visible warning."""
    fig = _figure(width, height)
    ax = fig.add_axes((0.22, 0.16 if untrained else 0.08, 0.70, 0.72 if untrained else 0.84))
    names = [name for name, _ in top_k][::-1]
    values = [100 * float(p) for _, p in top_k][::-1]
    bars = ax.barh(range(len(values)), values, color="#999999" if untrained else "#3b6fb6")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlim(0, 100)
    ax.set_xlabel("confidence (%)", fontsize=9)
    for bar, value in zip(bars, values):
        inside = value > 80
        ax.text(value - 1 if inside else value + 1, bar.get_y() + bar.get_height() / 2, f"{value:.1f} %",
                va="center", ha="right" if inside else "left", fontsize=9, color="white" if inside else "black")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if untrained:
        fig.text(0.5, 0.975, "untrained model — not a real prediction", ha="center", va="top",
                 fontsize=11, fontweight="bold", color="#b00020")
    return _png(fig)


def render_analysis_images(result: AnalysisResult, cfg: PreprocessingConfig) -> dict[str, bytes]:
    """PNG bytes keyed 'spectrogram', 'attention' (only when the result has a map) and 'top_k'."""
    start = time.perf_counter()
    images = {"spectrogram": render_spectrogram(result.mel_db, cfg)}
    if result.attention is not None:
        images["attention"] = render_spectrogram(result.mel_db, cfg, attention=result.attention,
                                                 regions=result.regions)
    images["top_k"] = render_top_k(result.top_k, untrained=not result.trained)
    result.timings_ms["render"] = round((time.perf_counter() - start) * 1000, 1)
    return images
