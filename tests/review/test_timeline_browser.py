"""The genre timeline and a long track's zoomed, scrolling spectrogram, in a real headless Chromium at 1366×768."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import soundfile as sf

from catalog.models import Track
from inference.jobs import analyze_track
from review.timeline import genre_timeline
from tests.fixtures import browser_log_in, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Playback is simulated (headless Chromium has no audio device): the player reports the position
# a test sets, and a seek (a click) sets it.
FAKE_PLAYER = (
    "() => { const p = document.getElementById('player'); window.__t = 0;"
    " Object.defineProperty(p, 'currentTime', {get: () => window.__t,"
    " set: (v) => { window.__t = v; p.dispatchEvent(new Event('seeked')); }, configurable: true}); }"
)
PLAY_AT = "(t) => { window.__t = t; document.getElementById('player').dispatchEvent(new Event('timeupdate')); }"


def _stepped_tones(seconds: float, sr: int = 8000) -> bytes:
    """A tone that climbs a step every 20 s: the untrained tiny model tops different genres over time."""
    t = np.arange(int(seconds * sr)) / sr
    freq = 200.0 * 2 ** ((t // 20) % 6)
    buffer = io.BytesIO()
    sf.write(
        buffer, (0.4 * np.sin(2 * np.pi * np.cumsum(freq) / sr)).astype(np.float32), sr, format="WAV", subtype="PCM_16"
    )
    return buffer.getvalue()


def _analysed(ingest, model_version, data: bytes, title: str) -> Track:
    track = ingest(data, name=f"{title}.wav", title=title, artist="Test Band")
    analyze_track(track_id=track.pk, model_version_id=model_version.pk)  # in-process, the tiny model
    return Track.objects.get(pk=track.pk)


def _open(page, base_url: str, track: Track, username: str) -> None:
    browser_log_in(page, base_url, f"/admin/review/track/{track.pk}/", username)
    page.wait_for_selector("#timeline .as-seg")
    page.wait_for_function("Array.from(document.querySelectorAll('#spectro img')).every(i => i.complete)")
    page.wait_for_function("document.getElementById('player').readyState >= 1")


def _boxes(page) -> dict[str, dict[str, float]]:
    return page.evaluate("""() => {
        const box = (el) => { const r = el.getBoundingClientRect();
            return {left: r.left, right: r.right, width: r.width, top: r.top, bottom: r.bottom}; };
        const img = document.querySelector('#spectro img:not([hidden])');
        const root = document.getElementById('review').dataset;
        const pane = document.getElementById('spectro-pane');
        return {img: {...box(img), natural: img.naturalWidth}, strip: box(document.getElementById('timeline')),
                cursor: box(document.getElementById('cursor')), pane: {...box(pane), scrollLeft: pane.scrollLeft,
                scrollWidth: pane.scrollWidth, clientWidth: pane.clientWidth},
                plot: {left: parseFloat(root.plotLeft), width: parseFloat(root.plotWidth)},
                page: [document.documentElement.scrollHeight, window.innerHeight]};
    }""")


def test_the_timeline_lines_up_with_the_spectrogram_and_hovering_a_window_shows_its_top_3(
    live_server, browser, ingest, tiny_model_version, redis_url, reviewer, artifacts_dir
):
    track = _analysed(ingest, tiny_model_version, wav_bytes(seconds=20, freq=330.0), "Short Tone")
    timeline = genre_timeline(analysis=track.analyses.get(), duration_s=track.duration_s)
    page = browser
    _open(page, live_server.url, track, reviewer.username)

    boxes = _boxes(page)
    assert boxes["page"][0] <= boxes["page"][1], f"the review screen scrolls at 1366×768: {boxes['page']}"
    img, strip, plot = boxes["img"], boxes["strip"], boxes["plot"]
    assert img["natural"] == 1200 and boxes["pane"]["scrollWidth"] <= boxes["pane"]["clientWidth"]  # no zoom
    assert page.locator("#zoom-note").count() == 0
    assert strip["left"] == pytest.approx(img["left"] + plot["left"] * img["width"], abs=1.0)
    assert strip["width"] == pytest.approx(plot["width"] * img["width"], abs=1.0)
    assert 0 <= strip["top"] - img["bottom"] <= 4 and strip["bottom"] - strip["top"] <= 18  # right under, compact

    shown = page.eval_on_selector_all("#timeline .as-seg", "els => els.map(e => e.dataset.genre)")
    assert shown == [s.genre for s in timeline.segments] and len(shown) >= 15  # 1.024-s windows over 20 s
    legend = page.eval_on_selector_all("#timeline-legend .as-legend-item", "els => els.map(e => e.dataset.genre)")
    assert sorted(legend) == sorted(set(shown)) and "%" in page.inner_text("#timeline-legend")

    assert page.is_hidden("#timeline-tip")
    segment = timeline.segments[5]
    page.locator("#timeline .as-seg").nth(5).hover()
    page.wait_for_selector("#timeline-tip", state="visible")
    tip = page.inner_text("#timeline-tip").splitlines()
    assert tip[1:] == [f"{genre} {p:.1%}" for genre, p in segment.top3] and len(tip) == 4
    tip_box = page.eval_on_selector("#timeline-tip", "e => e.getBoundingClientRect().toJSON()")
    seg_box = page.locator("#timeline .as-seg").nth(5).bounding_box()
    assert tip_box["bottom"] <= seg_box["y"] and tip_box["left"] < seg_box["x"] + seg_box["width"]  # above it
    page.screenshot(path=str(artifacts_dir / "review-timeline-hover.png"))
    page.mouse.move(5, 5)
    page.wait_for_selector("#timeline-tip", state="hidden")


def test_a_four_minute_track_is_zoomed_and_its_pane_follows_the_player(
    live_server, browser, ingest, tiny_model_version, redis_url, reviewer, artifacts_dir
):
    started = time.perf_counter()
    track = _analysed(ingest, tiny_model_version, _stepped_tones(240.0), "Long Climb")
    analysis_s = time.perf_counter() - started
    assert analysis_s < 20, f"the 4-min analysis took {analysis_s:.1f} s"
    page = browser
    _open(page, live_server.url, track, reviewer.username)
    page.evaluate(FAKE_PLAYER)

    boxes = _boxes(page)
    img, strip, plot, pane = boxes["img"], boxes["strip"], boxes["plot"], boxes["pane"]
    assert img["natural"] * plot["width"] >= 8 * 240  # ≥ 8 px of picture per second
    assert pane["scrollWidth"] > 1.5 * pane["clientWidth"] and pane["scrollLeft"] == 0
    assert page.is_visible("#zoom-note")
    assert boxes["page"][0] <= boxes["page"][1], f"the review screen scrolls at 1366×768: {boxes['page']}"
    assert strip["left"] == pytest.approx(img["left"] + plot["left"] * img["width"], abs=1.0)
    assert strip["width"] == pytest.approx(plot["width"] * img["width"], abs=1.0)  # the same scale
    page.screenshot(path=str(artifacts_dir / "review-zoom-start.png"))

    page.evaluate(PLAY_AT, 200.0)  # far right of the picture, beyond the visible part
    page.wait_for_function("document.getElementById('spectro-pane').scrollLeft > 0")
    after = _boxes(page)
    cursor, view = after["cursor"], after["pane"]
    assert view["left"] < cursor["left"] < view["right"], (cursor, view)  # the cursor is in view
    expected = after["img"]["left"] + (plot["left"] + plot["width"] * 200 / track.duration_s) * after["img"]["width"]
    assert cursor["left"] == pytest.approx(expected, abs=2.0)
    shift = img["left"] - after["img"]["left"]
    assert shift > 0 and img["left"] - after["img"]["left"] == pytest.approx(strip["left"] - after["strip"]["left"])
    segment_at_cursor = page.evaluate(
        """(x) => Array.from(document.querySelectorAll('#timeline .as-seg'))
        .some(s => { const r = s.getBoundingClientRect(); return r.left <= x && x <= r.right; })""",
        cursor["left"],
    )
    assert segment_at_cursor  # the strip scrolled with the picture
    starts = page.eval_on_selector_all("#timeline .as-seg", "els => els.map(e => parseFloat(e.dataset.start))")
    now = page.eval_on_selector("#timeline .as-seg-now", "e => parseFloat(e.dataset.start)")
    assert now == max(s for s in starts if s <= 200.0)  # the window playing now is marked
    page.screenshot(path=str(artifacts_dir / "review-zoom-following.png"))

    # Clicking the (scrolled) spectrogram still seeks to the time under the mouse.
    target_s = 190.0
    x = after["img"]["left"] + (plot["left"] + plot["width"] * target_s / track.duration_s) * after["img"]["width"]
    assert view["left"] < x < view["right"]
    page.mouse.click(x, page.locator("#spectro").bounding_box()["y"] + 60)
    assert page.evaluate("window.__t") == pytest.approx(target_s, abs=0.5)
    strip_x = after["strip"]["left"] + after["strip"]["width"] * 185.0 / track.duration_s
    page.mouse.click(strip_x, page.locator("#timeline").bounding_box()["y"] + 5)  # the strip seeks too
    assert page.evaluate("window.__t") == pytest.approx(185.0, abs=0.5)

    page.evaluate(PLAY_AT, 5.0)  # back at the start: the pane follows back
    page.wait_for_function("document.getElementById('spectro-pane').scrollLeft < 50")

    page.keyboard.press("t")  # the overlay toggle swaps in the plain spectrogram: same geometry, same place
    assert page.is_visible("#img-spectrogram") and page.is_hidden("#img-attention")
    toggled = _boxes(page)
    plain = toggled["img"]
    assert plain["natural"] == img["natural"] and plain["width"] == pytest.approx(img["width"], abs=0.5)
    assert toggled["strip"]["left"] == pytest.approx(plain["left"] + plot["left"] * plain["width"], abs=1.0)
