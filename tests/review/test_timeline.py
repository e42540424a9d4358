"""The genre timeline under the review screen's spectrogram, and the spectrogram's geometry."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from catalog.models import Analysis, ModelVersion
from inference.engine.datatypes import PreprocessingConfig
from inference.engine.render import SPECTROGRAM_PLOT_AREA, render_spectrogram, spectrogram_plot_area, spectrogram_width
from review.timeline import PALETTE, genre_colours, genre_timeline, spectrogram_geometry
from tests.factories import GENRES16

LABELS = ["Jazz", "Blues", "Rock", "Folk"]
# 16 kHz, hop 256, 64-frame windows: 1.024 s per window
PREPROCESSING = {
    "sample_rate": 16000,
    "n_fft": 512,
    "hop_length": 256,
    "n_mels": 32,
    "window_frames": 64,
    "window_hop_frames": 64,
}


def _analysis(
    starts: list[float], scores: list[list[float]], labels: list[str] = LABELS, preprocessing: dict | None = None
) -> Analysis:
    version = ModelVersion(
        name="m", labels=labels, preprocessing=PREPROCESSING if preprocessing is None else preprocessing
    )
    return Analysis(model_version=version, window_starts_s=starts, window_scores=scores)


def test_each_window_runs_to_the_next_start_and_the_last_one_to_its_own_end():
    # The last window was moved back to end at the track's end (3.2 s): it overlaps the one before.
    scores = [[0.7, 0.2, 0.06, 0.04], [0.1, 0.6, 0.2, 0.1], [0.5, 0.1, 0.3, 0.1], [0.2, 0.1, 0.6, 0.1]]
    timeline = genre_timeline(analysis=_analysis([0.0, 1.024, 2.048, 2.176], scores), duration_s=3.2)
    edges = [edge for s in timeline.segments for edge in (s.start_s, s.end_s)]
    assert edges == pytest.approx([0.0, 1.024, 1.024, 2.048, 2.048, 2.176, 2.176, 3.2])
    assert [s.genre for s in timeline.segments] == ["Jazz", "Blues", "Jazz", "Rock"]
    assert [s.left_pct for s in timeline.segments] == pytest.approx([0.0, 32.0, 64.0, 68.0])
    assert sum(s.width_pct for s in timeline.segments) == pytest.approx(100.0)


def test_a_window_shows_its_top_3_with_percentages_best_first():
    timeline = genre_timeline(
        analysis=_analysis([0.0, 61.0], [[0.1, 0.25, 0.6, 0.05], [0.4, 0.3, 0.2, 0.1]]), duration_s=62.0
    )
    first, second = timeline.segments
    assert [genre for genre, _ in first.top3] == ["Rock", "Blues", "Jazz"]
    assert [p for _, p in first.top3] == pytest.approx([0.6, 0.25, 0.1])
    assert first.tip == "0:00–1:01\nRock 60.0%\nBlues 25.0%\nJazz 10.0%"
    assert second.tip.splitlines()[0] == "1:01–1:02"  # the last window: its start + 1.024 s, cut at the end


def test_a_clip_shorter_than_one_window_is_one_segment_over_the_whole_clip():
    timeline = genre_timeline(analysis=_analysis([0.0], [[0.1, 0.2, 0.3, 0.4]]), duration_s=0.5)
    (segment,) = timeline.segments
    assert (segment.start_s, segment.end_s, segment.width_pct, segment.genre) == (0.0, 0.5, 100.0, "Folk")


def test_the_window_length_comes_from_the_model_versions_preprocessing():
    defaults = PreprocessingConfig().seconds_per_window  # ≈ 5.94 s
    (segment,) = genre_timeline(analysis=_analysis([0.0], [[1, 0, 0, 0]], preprocessing={}), duration_s=60.0).segments
    assert segment.end_s == pytest.approx(defaults)


def test_the_legend_lists_only_the_genres_that_top_a_window_longest_first_in_their_segments_colours():
    scores = [
        [0.1, 0.7, 0.1, 0.1],
        [0.6, 0.2, 0.1, 0.1],
        [0.6, 0.2, 0.1, 0.1],
        [0.1, 0.7, 0.1, 0.1],
        [0.6, 0.2, 0.1, 0.1],
    ]
    timeline = genre_timeline(analysis=_analysis([0.0, 1.0, 2.0, 3.0, 4.0], scores), duration_s=5.0)
    assert [(e.genre, round(e.share, 3)) for e in timeline.legend] == [("Jazz", 0.6), ("Blues", 0.4)]
    colours = {e.genre: e.colour for e in timeline.legend}
    assert all(s.colour == colours[s.genre] for s in timeline.segments)


def test_genre_colours_are_stable_whatever_the_label_order_and_distinct_for_the_whole_taxonomy():
    colours = genre_colours(GENRES16)
    assert genre_colours(list(reversed(GENRES16))) == colours == genre_colours(GENRES16)
    assert len(set(colours.values())) == len(GENRES16) and set(colours.values()) <= set(PALETTE)
    reordered = list(reversed(GENRES16))  # another model version, its labels in another order
    one = genre_timeline(
        analysis=_analysis([0.0], [[float(g == "Jazz") for g in GENRES16]], labels=GENRES16), duration_s=9
    )
    other = genre_timeline(
        analysis=_analysis([0.0], [[float(g == "Jazz") for g in reordered]], labels=reordered), duration_s=30
    )
    assert one.segments[0].genre == other.segments[0].genre == "Jazz"
    assert one.segments[0].colour == other.segments[0].colour == colours["Jazz"]


@pytest.mark.parametrize("starts, scores", [([], []), ([0.0, 1.0], [[0.5, 0.5, 0, 0]]), ([0.0], [[0.5, 0.5]])])
def test_no_timeline_without_usable_window_scores(starts, scores):
    assert genre_timeline(analysis=_analysis(starts, scores), duration_s=10.0) is None


def _stored_png(name: str, width: int) -> str:
    cfg = PreprocessingConfig(sample_rate=16000, n_fft=512, hop_length=256, n_mels=32)
    png = render_spectrogram(np.full((32, 200), -40.0, np.float32), cfg, width=width)
    return default_storage.save(name, ContentFile(png))


def test_the_geometry_is_read_from_the_stored_picture_so_older_narrow_ones_keep_working(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    narrow = spectrogram_geometry(Analysis(spectrogram_image=_stored_png("old/spectrogram.png", 1200)))
    assert (narrow.width, narrow.height, narrow.zoomed, narrow.zoom_pct) == (1200, 400, False, 100.0)
    assert narrow.plot_area == pytest.approx(SPECTROGRAM_PLOT_AREA)

    width = spectrogram_width(300.0)
    wide = spectrogram_geometry(
        Analysis(
            attention_image=_stored_png("new/attention.png", width),
            spectrogram_image=_stored_png("new/spectrogram.png", width),
        )
    )
    assert wide.zoomed and wide.zoom_pct == pytest.approx(100 * width / 1200)
    assert wide.plot_area == pytest.approx(spectrogram_plot_area(width, 400))
    assert wide.plot_width_pct * width / 100 / 300.0 >= 8  # ≥ 8 px of picture per second

    missing = spectrogram_geometry(Analysis(spectrogram_image="gone/spectrogram.png"))
    assert missing.plot_area == pytest.approx(SPECTROGRAM_PLOT_AREA) and not missing.zoomed
    assert spectrogram_geometry(None).plot_area == pytest.approx(SPECTROGRAM_PLOT_AREA)


@pytest.mark.django_db
def test_the_review_screen_draws_the_strip_aligned_with_the_plot_area(client, make_editor, awaiting):
    track = awaiting({"Jazz": 0.5, "Blues": 0.3}, duration_s=4.0)
    analysis = track.analyses.get()
    blues, jazz = [0.0] * 16, [0.0] * 16
    blues[GENRES16.index("Blues")], jazz[GENRES16.index("Jazz")] = 0.8, 0.9
    analysis.window_starts_s, analysis.window_scores = [0.0, 1.0, 2.0], [jazz, blues, jazz]
    analysis.save()
    client.force_login(make_editor("rita"))
    page = client.get(reverse("review_track", args=[track.pk])).content.decode()
    strip = re.search(r'<div class="as-timeline" id="timeline"[^>]*style="([^"]*)"', page).group(1)
    assert strip == "margin-left: 7.5000%; width: 80.0000%"  # SPECTROGRAM_PLOT_AREA of a 1200-px picture
    segments = re.findall(
        r'class="as-seg"[^>]*data-genre="([^"]+)"[^>]*'
        r'style="left: ([\d.]+)%; width: calc\(([\d.]+)% \+ 1px\)',
        page,
    )
    assert segments == [("Jazz", "0.0000", "25.0000"), ("Blues", "25.0000", "25.0000"), ("Jazz", "50.0000", "50.0000")]
    legend = re.findall(r'class="as-legend-item" data-genre="([^"]+)"', page)
    assert legend == ["Jazz", "Blues"]
    assert 'data-tip="0:01–0:02\nBlues 80.0%\nClassical 0.0%\nCountry 0.0%"' in page
