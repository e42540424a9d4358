"""An editor's morning, in a real headless Chromium: log in, start reviewing, press 2 then Enter."""

from __future__ import annotations

import pytest

from catalog.models import Track
from inference.jobs import analyze_track
from review.models import Decision
from tests.fixtures import browser_log_in, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def analysed_tracks(ingest, tiny_model_version, redis_url) -> list[Track]:
    tracks = [
        ingest(wav_bytes(seconds=20, freq=freq), name=f"tone-{freq}.wav", title=title, artist="Test Band")
        for freq, title in ((220.0, "First Light"), (660.0, "Second Wind"))
    ]
    for track in tracks:  # in-process: the worker path has its own tests
        analyze_track(track_id=track.pk, model_version_id=tiny_model_version.pk)
    return [Track.objects.get(pk=t.pk) for t in tracks]


def test_a_reviewer_presses_2_then_enter_and_sees_the_next_track(
    live_server, browser, analysed_tracks, reviewer, artifacts_dir
):
    page = browser
    browser_log_in(page, live_server.url, "/admin/review/queue/", reviewer.username)
    page.wait_for_selector("#queue-table")
    assert page.inner_text("#queue-total") == "2"
    page.click("#start-reviewing")
    page.wait_for_selector("#decision-form")
    page.wait_for_function("document.querySelector('#spectro img') && document.querySelector('#spectro img').complete")
    first_url, first_title = page.url, page.inner_text("#track-title")
    first = Track.objects.get(title=first_title)
    second_choice = first.analyses.get().top_k(5)[1][0]

    fits = page.evaluate("[document.documentElement.scrollHeight, window.innerHeight]")
    assert fits[0] <= fits[1], f"the review screen scrolls at 1366×768: {fits}"
    for text in ("Model's Top-5", "Most attended", "Earlier decisions", "Untrained model"):
        assert text in page.content()
    page.screenshot(path=str(artifacts_dir / "review-screen.png"))

    page.wait_for_function("document.getElementById('player').readyState >= 1")  # metadata loaded
    start = page.evaluate("parseFloat(document.getElementById('cursor').style.left)")
    # Playback is simulated (headless Chromium has no audio device): the page must follow the
    # position the player reports.
    page.evaluate(
        "() => { const p = document.getElementById('player');"
        " Object.defineProperty(p, 'currentTime', {get: () => 10, configurable: true});"
        " p.dispatchEvent(new Event('timeupdate')); }"
    )  # half of the 20-s track
    middle = page.evaluate("parseFloat(document.getElementById('cursor').style.left)")
    assert start == pytest.approx(7.5, abs=0.1) and middle == pytest.approx(7.5 + 80 / 2, abs=1.0), (start, middle)

    page.keyboard.press("2")
    assert page.is_checked(f"#topk input[value='{second_choice}']")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url != first_url and "/review/track/" in url)
    page.wait_for_selector("#decision-form")
    assert page.inner_text("#track-title") != first_title
    assert "Saved" in page.inner_text(".messagelist")

    decision = Decision.objects.get()
    assert (decision.track, decision.genre.name, decision.editor, decision.action) == (
        first,
        second_choice,
        reviewer,
        "corrected",
    )
    assert decision.seconds_on_screen is not None and decision.seconds_on_screen > 0
