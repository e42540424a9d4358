"""The editor's flows in a real headless Chromium at 1366×768, by keyboard: reject (X), undo (U),
back (B), the progress line, skip feedback and Enter with nothing picked."""

from __future__ import annotations

import re
from statistics import median

import pytest

from catalog.models import Track, TrackStatus
from inference.jobs import analyze_track
from review.models import Claim, Decision
from tests.fixtures import browser_log_in, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def analysed_tracks(ingest, tiny_model_version, redis_url) -> list[Track]:
    tracks = [
        ingest(wav_bytes(seconds=12, freq=freq), name=f"tone-{freq}.wav", title=title, artist="Test Band")
        for freq, title in ((220.0, "First Light"), (660.0, "Second Wind"), (990.0, "Third Rail"))
    ]
    for track in tracks:  # in-process: the worker path has its own tests
        analyze_track(track_id=track.pk, model_version_id=tiny_model_version.pk)
    return [Track.objects.get(pk=t.pk) for t in tracks]


@pytest.fixture
def reviewing(live_server, browser, analysed_tracks, reviewer):
    """The reviewer's browser on the first track of the queue, its page loaded."""
    page = browser
    browser_log_in(page, live_server.url, "/admin/review/queue/", reviewer.username)
    page.wait_for_selector("#queue-table")
    page.click("#start-reviewing")
    page.wait_for_selector("#decision-form")
    return page


def current(page) -> Track:
    return Track.objects.get(title=page.inner_text("#track-title"))


def next_page(page, previous_url: str) -> None:
    page.wait_for_url(lambda url: url != previous_url and "/review/track/" in url)
    page.wait_for_selector("#decision-form", state="attached")


def assert_fits(page) -> None:
    fits = page.evaluate("[document.documentElement.scrollHeight, window.innerHeight]")
    assert fits[0] <= fits[1], f"the review screen scrolls at 1366×768: {fits}"


def test_x_rejects_with_a_reason_and_opens_the_next_track(reviewing, reviewer, artifacts_dir):
    page = reviewing
    first, first_url = current(page), page.url
    page.keyboard.press("x")
    assert page.is_visible("#reject-form") and not page.is_visible("#decision-form")
    page.keyboard.press("2")  # Nature / noise
    assert page.is_checked("#reject-reasons input[value='noise']")
    assert_fits(page)
    page.screenshot(path=str(artifacts_dir / "review-reject-panel.png"))
    page.keyboard.press("Enter")
    next_page(page, first_url)
    assert current(page) != first
    assert "Rejected “" in page.inner_text("#undo-banner") and "not music (nature / noise)" in page.inner_text(
        "#undo-banner"
    )
    assert_fits(page)
    page.screenshot(path=str(artifacts_dir / "review-after-reject.png"))
    decision = Decision.objects.get()
    assert (decision.track, decision.action, decision.reject_reason, decision.genre, decision.editor) == (
        first,
        "rejected",
        "noise",
        None,
        reviewer,
    )
    assert Track.objects.get(pk=first.pk).status == TrackStatus.REJECTED


def test_u_undoes_the_last_save_and_reopens_that_track(reviewing, reviewer, artifacts_dir):
    page = reviewing
    first, first_url = current(page), page.url
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    next_page(page, first_url)
    assert "Saved " in page.inner_text("#undo-banner") and "Undo" in page.inner_text("#undo-banner")
    page.screenshot(path=str(artifacts_dir / "review-undo-banner.png"))
    saved = Decision.objects.get()
    second_url = page.url
    page.keyboard.press("u")
    page.wait_for_url(lambda url: url != second_url and url.split("?")[0].endswith(f"/review/track/{first.pk}/"))
    page.wait_for_selector("#decision-form")
    assert current(page) == first and "is awaiting review again" in page.inner_text(".messagelist")
    assert not page.query_selector("#undo-banner")
    page.screenshot(path=str(artifacts_dir / "review-after-undo.png"))
    undo = Decision.objects.latest("pk")
    assert (undo.action, undo.undoes, undo.editor, undo.genre) == ("undone", saved, reviewer, None)
    assert Track.objects.get(pk=first.pk).status == TrackStatus.AWAITING_REVIEW
    assert Claim.objects.get(track=first).editor == reviewer  # held for the editor again


def test_b_goes_back_to_the_track_decided_before(reviewing, reviewer):
    page = reviewing
    first, first_url = current(page), page.url
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    next_page(page, first_url)
    assert "Back to “" in page.inner_text("#back")
    second_url = page.url
    page.keyboard.press("b")
    page.wait_for_url(lambda url: url != second_url and url.split("?")[0].endswith(f"/review/track/{first.pk}/"))
    page.wait_for_selector("#decision-form")
    assert current(page) == first and "held by you" in page.inner_text(".as-head")
    assert Claim.objects.get(track=first).editor == reviewer


def test_the_progress_line_counts_down_and_counts_your_day(reviewing, reviewer, artifacts_dir):
    page = reviewing
    line = re.compile(r"(\d+) left in this queue · (\d+) done by you today · your median (\S+) s")
    assert line.search(page.inner_text("#progress")).groups() == ("2", "0", "–")
    for _ in range(2):
        url = page.url
        page.wait_for_timeout(300)  # some seconds on screen
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        next_page(page, url)
    left, done, seconds = line.search(page.inner_text("#progress")).groups()
    times = list(Decision.objects.filter(editor=reviewer).values_list("seconds_on_screen", flat=True))
    assert (left, done) == ("0", "2") and abs(int(seconds) - median(times)) <= 0.5, (seconds, times)
    page.screenshot(path=str(artifacts_dir / "review-progress.png"))


def test_skip_says_the_track_comes_back(reviewing):
    page = reviewing
    first, first_url = current(page), page.url
    page.keyboard.press("s")
    next_page(page, first_url)
    assert f"Skipped “{first}”; it comes back when you return to the queue." in page.inner_text(".messagelist")
    assert not Decision.objects.exists()


def test_enter_with_nothing_picked_shows_a_hint_and_saves_nothing(reviewing, artifacts_dir):
    page = reviewing
    url = page.url
    assert not page.is_visible("#pick-hint")
    page.keyboard.press("Enter")
    page.wait_for_selector("#pick-hint", state="visible")
    assert page.inner_text("#pick-hint") == "Pick a genre first: 1–5, O, or X to reject"
    assert page.url == url and not Decision.objects.exists()
    assert_fits(page)
    page.screenshot(path=str(artifacts_dir / "review-pick-hint.png"))
    page.keyboard.press("1")
    assert not page.is_visible("#pick-hint")
