"""Pictures editors look at: valid PNGs of the requested size, with the evidence visible."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib import colormaps
from PIL import Image

from inference.engine.analysis import analyze_samples
from inference.engine.datatypes import AnalysisResult, AttentionRegion, AudioInfo, PreprocessingConfig
from inference.engine.render import (
    SPECTROGRAM_PLOT_AREA,
    _box,
    render_analysis_images,
    render_spectrogram,
    render_top_k,
    spectrogram_plot_area,
)


def _png(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB")).astype(int)


def test_spectrogram_png_has_exactly_the_requested_size():
    cfg = PreprocessingConfig()
    mel = np.random.default_rng(0).uniform(-80, 0, (128, 2600)).astype(np.float32)
    assert _png(render_spectrogram(mel, cfg)).shape == (400, 1200, 3)
    assert _png(render_spectrogram(mel, cfg, width=801, height=333)).shape == (333, 801, 3)
    with pytest.raises(ValueError):
        render_spectrogram(mel, cfg, width=20)


def test_attention_overlay_visibly_changes_the_picture_where_attention_is_high():
    cfg = PreprocessingConfig()
    mel = np.full((128, 1000), -60.0, np.float32)
    attention = np.zeros_like(mel)
    attention[:, 500:] = 1.0  # right half attended
    plain = _png(render_spectrogram(mel, cfg, attention=np.zeros_like(mel)))
    heat = _png(render_spectrogram(mel, cfg, attention=attention))
    left, right = (slice(150, 250), slice(200, 400)), (slice(150, 250), slice(700, 900))
    assert np.abs(heat[left] - plain[left]).mean() < 2
    assert np.abs(heat[right] - plain[right]).mean() > 40


def test_top_k_chart_has_the_requested_size_and_flags_an_untrained_model():
    top_k = [("Jazz", 0.61), ("Blues", 0.2), ("Rock", 0.1)]
    trained, untrained = _png(render_top_k(top_k)), _png(render_top_k(top_k, untrained=True))
    assert trained.shape == untrained.shape == (300, 600, 3)

    def reddish(img):
        return ((img[..., 0] > 150) & (img[..., 1] < 80) & (img[..., 2] < 80)).sum()

    assert reddish(untrained[:30]) > 100 and reddish(trained) == 0  # the warning caption is drawn


def test_analysis_images_are_rendered_and_timed(tiny_model, tiny_cfg, tone):
    result = analyze_samples(tone(4.0, 16000), 16000, AudioInfo(4.0, 16000, 1, "wav"), tiny_model)
    images = render_analysis_images(result, tiny_cfg)
    assert set(images) == {"spectrogram", "attention", "top_k"}
    assert _png(images["spectrogram"]).shape == _png(images["attention"]).shape == (400, 1200, 3)
    assert images["spectrogram"] != images["attention"]
    assert result.timings_ms["render"] > 0


PLOT = _box(SPECTROGRAM_PLOT_AREA, 1200, 400)  # (left, top, right, bottom) px of the time × frequency area


def _plot_area(img: np.ndarray) -> np.ndarray:
    left, top, right, bottom = PLOT
    return img[top:bottom, left:right]


def test_spectrogram_colours_are_matplotlibs_magma_with_low_frequencies_at_the_bottom():
    cfg = PreprocessingConfig()
    mel = np.full((128, 1000), -80.0, np.float32)
    mel[:32] = 0.0  # loud low-frequency quarter
    mel[64:96] = -40.0
    area = _plot_area(_png(render_spectrogram(mel, cfg)))
    magma = colormaps["magma"](np.arange(256), bytes=True)[:, :3].astype(int)
    height = area.shape[0]
    assert np.all(area[-height // 8 :] == magma[255])  # bottom eighth: loudest colour
    assert np.all(area[: height // 8] == magma[0])  # top eighth: silence
    assert np.all(area[height // 4 + 10 : height // 2 - 10] == magma[128])  # -40 dB: the middle of the map


def test_time_runs_left_to_right_across_the_plot_area():
    cfg = PreprocessingConfig()
    mel = np.full((128, 2000), -80.0, np.float32)
    mel[:, 1500:] = 0.0  # the last quarter of the track is loud
    area = _plot_area(_png(render_spectrogram(mel, cfg))).sum(axis=(0, 2))
    quarter = area.size // 4
    assert area[-quarter + 5 :].min() > 3 * area[: 3 * quarter - 5].max()


def test_the_colour_bar_spans_the_colormap_from_silence_at_the_bottom_to_0_db_at_the_top():
    img = _png(render_spectrogram(np.zeros((128, 500), np.float32), PreprocessingConfig()))
    left, top, right, bottom = _box((0.89, 0.14, 0.015, 0.76), 1200, 400)
    magma = colormaps["magma"](np.arange(256), bytes=True)[:, :3].astype(int)
    column = img[top:bottom, (left + right) // 2]
    assert np.abs(column[0] - magma[255]).max() <= 1 and np.abs(column[-1] - magma[0]).max() <= 1


def test_a_hot_attention_region_lights_up_exactly_there():
    cfg = PreprocessingConfig()
    mel = np.full((128, 1000), -50.0, np.float32)
    attention = np.zeros_like(mel)
    attention[64:96, 250:500] = 1.0  # second quarter of the track, third quarter of the mel rows (from below)
    plain = _plot_area(_png(render_spectrogram(mel, cfg, attention=np.zeros_like(mel))))
    heat = _plot_area(_png(render_spectrogram(mel, cfg, attention=attention)))
    change = np.abs(heat - plain).sum(axis=2)
    h, w = change.shape
    inside = change[h // 4 + 4 : h // 2 - 4, w // 4 + 4 : w // 2 - 4]
    outside = np.ones_like(change, bool)
    outside[h // 4 - 4 : h // 2 + 4, w // 4 - 4 : w // 2 + 4] = False
    assert inside.min() > 150 and change[outside].max() == 0
    hot = heat[h // 4 + 4 : h // 2 - 4, w // 4 + 4 : w // 2 - 4]
    assert (hot[..., 0] > hot[..., 2] + 50).all()  # inferno's warm top over the grey spectrogram


def test_attention_regions_are_outlined_in_cyan():
    cfg = PreprocessingConfig()
    mel = np.full((128, 1000), -80.0, np.float32)
    duration = cfg.frames_to_seconds(1000)
    region = AttentionRegion(start_s=duration / 4, end_s=duration / 2, low_hz=500.0, high_hz=2000.0, score=1.0)
    img = _png(render_spectrogram(mel, cfg, attention=np.zeros_like(mel), regions=[region]))
    cyan = (img[..., 0] < 60) & (img[..., 1] > 200) & (img[..., 2] > 220)
    rows, cols = np.nonzero(cyan)
    left, top, right, bottom = PLOT
    assert abs(cols.min() - (left + (right - left) / 4)) <= 2 and abs(cols.max() - (left + (right - left) / 2)) <= 2
    edges = cfg.mel_band_edges()
    y_of = {hz: bottom - np.interp(hz, edges, np.arange(129)) / 128 * (bottom - top) for hz in (500.0, 2000.0)}
    assert abs(rows.min() - y_of[2000.0]) <= 2 and abs(rows.max() - y_of[500.0]) <= 2


def test_odd_inputs_still_render(tiny_cfg):
    mel = np.full((tiny_cfg.n_mels, 3), -20.0, np.float32)
    mel[0, 0] = np.nan  # a broken value must not break the picture
    assert _png(render_spectrogram(mel, tiny_cfg, attention=np.ones_like(mel))).shape == (400, 1200, 3)
    assert _png(render_top_k([])).shape == (300, 600, 3)
    assert _png(render_top_k([("Jazz", 1.3), ("Blues", -0.1)])).shape == (300, 600, 3)


def _bars(img: np.ndarray, colour: tuple[int, int, int]) -> list[tuple[int, int]]:
    """(pixel row of the bar's middle, length in px) of each bar, top to bottom."""
    filled = (np.abs(img - np.array(colour)).sum(axis=2) == 0).sum(axis=1)
    rows = np.nonzero(filled > 2)[0]
    runs = np.split(rows, np.nonzero(np.diff(rows) > 1)[0] + 1)
    return [(int(run.mean()), int(filled[run].max())) for run in runs]


def test_top_k_bars_are_ordered_by_score_scaled_to_100_and_labelled():
    top_k = [("Jazz", 0.86), ("Blues", 0.08), ("Rock", 0.04), ("Folk", 0.02)]
    img = _png(render_top_k(top_k))
    bars = _bars(img, (0x3B, 0x6F, 0xB6))
    assert len(bars) == 4
    lengths = [length for _, length in bars]
    assert lengths == sorted(lengths, reverse=True)  # best on top
    axis = 0.70 * 600  # the x axis spans 0 … 100 %
    for (_, length), (_, p) in zip(bars, top_k):
        assert abs(length - p * axis) <= 3
    left = round(0.22 * 600)
    for row, length in bars:
        assert (img[row - 4 : row + 4, left - 60 : left - 8] < 100).any()  # a genre name left of each bar
        if length < 0.8 * axis:
            value_label = img[row - 4 : row + 4, left + length + 3 : left + length + 40]
            assert (value_label < 100).any()  # its percentage, in black, right after the bar
    jazz_row, jazz_len = bars[0]
    inside = img[jazz_row - 4 : jazz_row + 4, left + jazz_len - 40 : left + jazz_len - 3]
    assert (inside.min(axis=2) > 200).any()  # white percentage inside a long bar


def test_png_writer_is_lossless_for_any_size():
    from inference.engine.render import _png as encode

    rng = np.random.default_rng(1)
    for size in ((100, 100), (101, 257), (1200, 400)):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        decoded = Image.open(io.BytesIO(encode(Image.fromarray(pixels))))
        decoded.load()
        assert decoded.mode == "RGB" and decoded.size == size
        np.testing.assert_array_equal(np.asarray(decoded), pixels)


def test_an_attention_map_of_another_shape_is_refused_not_misdrawn():
    mel = np.zeros((128, 1000), np.float32)
    with pytest.raises(ValueError, match="attention"):
        render_spectrogram(mel, PreprocessingConfig(), attention=np.zeros((128, 500), np.float32))


def _result_of(seconds: float, cfg: PreprocessingConfig, *, loud_from: float = 1.0) -> AnalysisResult:
    """An analysis result of synthetic arrays (no model run): silent, then loud from `loud_from` (a fraction)."""
    frames = cfg.seconds_to_frames(seconds)
    mel = np.full((cfg.n_mels, frames), -80.0, np.float32)
    mel[:, round(loud_from * frames) :] = 0.0
    return AnalysisResult(
        labels=["Jazz", "Blues"],
        probabilities=[0.7, 0.3],
        top_k=[("Jazz", 0.7), ("Blues", 0.3)],
        window_starts_s=[0.0],
        window_scores=[[0.7, 0.3]],
        embedding=[],
        mel_db=mel,
        attention=np.zeros_like(mel),
        regions=[],
        audio=AudioInfo(seconds, cfg.sample_rate, 1, "wav"),
        is_silent=False,
        timings_ms={},
        trained=True,
    )


def test_tracks_shorter_than_four_minutes_keep_the_1200_px_pictures():
    cfg = PreprocessingConfig()
    for seconds in (30.0, 239.0):
        images = render_analysis_images(_result_of(seconds, cfg), cfg)
        assert _png(images["spectrogram"]).shape == _png(images["attention"]).shape == (400, 1200, 3)
    assert spectrogram_plot_area(1200, 400) == pytest.approx(SPECTROGRAM_PLOT_AREA)


@pytest.mark.parametrize("seconds", [240.0, 600.0])
def test_long_tracks_get_at_least_8_px_per_second_with_time_drawn_where_the_plot_area_says(seconds):
    cfg = PreprocessingConfig()
    images = render_analysis_images(_result_of(seconds, cfg, loud_from=0.75), cfg)
    spectrogram, attention = _png(images["spectrogram"]), _png(images["attention"])
    assert spectrogram.shape == attention.shape  # the overlay toggle swaps two pictures of one geometry
    height, width = spectrogram.shape[:2]
    assert height == 400 and width > 1200
    left, bottom, plot_w, plot_h = spectrogram_plot_area(width, height)
    assert plot_w * width / cfg.frames_to_seconds(cfg.seconds_to_frames(seconds)) >= 8
    # the page positions its cursor and timeline by these fractions: the picture must agree
    x0, x1 = round(left * width), round((left + plot_w) * width)
    row = spectrogram[round((1 - bottom - plot_h / 2) * height)]
    loud = np.nonzero(row[x0:x1].sum(axis=1) > 3 * 3 * 60)[0]
    assert abs(loud.min() - 0.75 * (x1 - x0)) <= 2 and loud.max() == x1 - x0 - 1
    assert (row[x0 - 1] == 0).all() and (row[x1] == 0).all()  # the black spines frame exactly that area
    assert (x0, width - x1) == (90, 150)  # margins stay those of the 1200-px layout: the extra width is time
    narrow = render_analysis_images(_result_of(seconds, cfg), cfg, zoom_long_tracks=False)  # the workstation's
    assert _png(narrow["spectrogram"]).shape == _png(narrow["attention"]).shape == (400, 1200, 3)
