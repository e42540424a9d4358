"""An editor's and a lead's flows in a real headless Chromium at 1366×768 (issue 15, item 6): the
workstation with a good then a bad file, the bulk-accept count, an export's downloads, and the
track list and classification calls fitting the screen. Screenshots go to var/test-artifacts/."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from django.contrib.auth.models import Group, User

from catalog.models import Genre, TrackStatus
from inference.models import ClassificationCall
from review.decisions import DecisionInput, decision_submit
from review.models import Decision, LabelExport
from tests.factories import GENRES16, make_analysis, make_model_version, make_track
from tests.fixtures import REVIEWER_PASSWORD, browser_log_in, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_TITLE = (
    "The Extraordinarily Long Title of a Progressive Rock Suite in Seven Movements (Remastered 2019 Deluxe Edition)"
)
LONG_ARTIST = "An Artist With A Really Quite Long Name And The Symphonic Orchestra Of Somewhere"


def distribution(top: float, genre: str = "Jazz") -> list[float]:
    rest = (1 - top) / (len(GENRES16) - 1)
    return [top if name == genre else rest for name in GENRES16]


@pytest.fixture
def lead(default_genres) -> User:
    """lena, an Editorial lead, with a password for browser logins."""
    user = User.objects.create_user("lena", password=REVIEWER_PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Editorial lead"))
    return user


def fits_the_screen(page) -> None:
    """Neither the page nor a change list's table scrolls sideways at this width."""
    widths = page.evaluate("""() => ({page: [document.documentElement.scrollWidth, window.innerWidth],
        tables: [...document.querySelectorAll('#changelist .results')].map(e => [e.scrollWidth, e.clientWidth])})""")
    assert widths["page"][0] <= widths["page"][1], f"the page scrolls sideways: {widths}"
    assert all(scroll <= client for scroll, client in widths["tables"]), f"a table is cut off: {widths}"


def test_a_bad_file_after_a_good_one_replaces_its_result_by_a_clear_error(
    live_server, browser, reviewer, tiny_model_version, tmp_path, artifacts_dir
):
    good, bad = tmp_path / "tone.wav", tmp_path / "notes.mp3"
    good.write_bytes(wav_bytes(seconds=8, freq=523.0))
    bad.write_bytes(b"just some text, not audio")
    page = browser
    browser_log_in(page, live_server.url, "/admin/review/workstation/", reviewer.username)
    page.wait_for_selector("#drop")
    assert page.is_hidden("#result") and page.is_hidden("#ws-image"), "an empty result shows before any file"

    page.set_input_files("#file", str(good))
    page.wait_for_selector("#result:not([hidden])", timeout=60000)
    assert page.locator("#bars .ws-row").count() == 5 and page.is_visible("#ws-image")
    page.screenshot(path=str(artifacts_dir / "workstation-good-file.png"))

    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#status.errornote", timeout=60000)
    error = page.inner_text("#status")
    assert "notes.mp3 could not be analysed" in error and "could not be decoded" in error, error
    assert page.is_hidden("#result") and page.is_hidden("#ws-image"), "the good file's result stayed on screen"
    assert page.locator("#bars .ws-row").count() == 0 and page.get_attribute("#ws-image", "src") is None
    assert page.get_attribute("#status", "role") == "alert"
    page.screenshot(path=str(artifacts_dir / "workstation-bad-file-after-good.png"))

    page.set_input_files("#file", str(good))  # and a good one again clears the error
    page.wait_for_selector("#result:not([hidden])", timeout=60000)
    assert "errornote" not in (page.get_attribute("#status", "class") or "")


def test_the_bulk_accept_count_is_what_confirming_accepts(live_server, browser, lead, artifacts_dir):
    version = make_model_version(is_active=True)
    for n, top in enumerate((0.95, 0.75, 0.72, 0.6, 0.55)):
        track = make_track(status=TrackStatus.AWAITING_REVIEW, title=f"Bulk {n} ({top})")
        make_analysis(track=track, model_version=version, probabilities=distribution(top))
    page = browser
    browser_log_in(page, live_server.url, "/admin/catalog/track/", lead.username)
    page.wait_for_selector("#result_list")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "bulk_accept")
    page.click("button[name=index]")
    page.wait_for_selector("#qualifying")
    assert (page.inner_text("#counted-at"), page.inner_text("#qualifying")) == ("0.9", "1")

    page.fill("#id_threshold", "0.7")
    page.click("input[name=recount]")
    page.wait_for_function("document.getElementById('counted-at').textContent === '0.7'")
    shown = int(page.inner_text("#qualifying"))
    assert shown == 3 and page.get_attribute("input[name=confirm]", "value") == "Yes, accept 3"
    accepted_rows = page.locator("#content-main table tbody tr", has_text="Yes").count()
    assert accepted_rows == shown
    page.screenshot(path=str(artifacts_dir / "bulk-accept-confirmation.png"), full_page=True)

    page.click("input[name=confirm]")
    page.wait_for_selector(".messagelist")
    assert f"Accepted the model's top-1 for {shown} track(s)" in page.inner_text(".messagelist")
    assert Decision.objects.filter(source="bulk").count() == shown
    assert sorted(Decision.objects.values_list("track__title", flat=True)) == [
        "Bulk 0 (0.95)",
        "Bulk 1 (0.75)",
        "Bulk 2 (0.72)",
    ]
    page.screenshot(path=str(artifacts_dir / "bulk-accept-done.png"))


def test_a_lead_creates_an_export_and_downloads_its_files_and_zip(
    live_server, browser, lead, reviewer, settings, tmp_path, artifacts_dir
):
    settings.MEDIA_ROOT = tmp_path / "media"
    version = make_model_version(is_active=True)
    for genre in ("Jazz", "Blues"):
        track = make_track(status=TrackStatus.AWAITING_REVIEW, artist=f"{genre} Band")
        make_analysis(track=track, model_version=version, probabilities=distribution(0.6))
        decision_submit(editor=reviewer, track=track, data=DecisionInput(genre=Genre.objects.get(name=genre)))
    page = browser
    browser_log_in(page, live_server.url, "/admin/review/labelexport/add/", lead.username)
    page.wait_for_selector("input[name=_save]")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    export = LabelExport.objects.get()
    assert export.rows == 2 and set(export.files) == {"manifest.jsonl", "manifest.csv", "export.json"}

    page.goto(f"{live_server.url}/admin/review/labelexport/{export.pk}/change/")
    page.wait_for_selector("#export-zip")
    page.screenshot(path=str(artifacts_dir / "export-downloads.png"), full_page=True)
    for name, info in export.files.items():
        with page.expect_download() as download:
            page.click(f"a[download]:text-is('{name}')")
        data = download.value.path().read_bytes()
        assert download.value.suggested_filename == name
        assert (len(data), hashlib.sha256(data).hexdigest()) == (info["bytes"], info["sha256"]), name

    with page.expect_download() as download:
        page.click("#export-zip")
    assert download.value.suggested_filename == f"acousticsense-export-{export.pk}.zip"
    with zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes())) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    assert {name: hashlib.sha256(data).hexdigest() for name, data in members.items()} == {
        name: info["sha256"] for name, info in export.files.items()
    }


def test_the_track_list_and_the_classification_calls_fit_1366_pixels(live_server, browser, lead, artifacts_dir):
    version = make_model_version(is_active=True, name="starter-vit-base-patch16-2026-11-30")
    for n in range(6):
        track = make_track(
            status=TrackStatus.AWAITING_REVIEW,
            title=f"{LONG_TITLE} {n}",
            artist=LONG_ARTIST,
            external_id=f"cms-external-identifier-{n:06d}-with-a-long-suffix",
            duration_s=132.98902,
        )
        make_analysis(track=track, model_version=version, probabilities=distribution(0.41597253238034165))
    make_track(
        status=TrackStatus.FAILED,
        title=LONG_TITLE,
        artist=LONG_ARTIST,
        failure_reason="The file could not be decoded as audio (not a readable mp3 file): " + "x" * 200,
    )
    for n in range(6):
        ClassificationCall.objects.create(
            latency_ms=212.3456 + n,
            duration_s=132.98902,
            mean_confidence=0.41597,
            status_code=415 if n % 2 else 200,
            error_code="unsupported_format" if n % 2 else "",
            top_k=5,
            model_version=version,
            caller="lena",
            filename=f"a-very-long-file-name-from-the-cms-upload-folder-of-the-label-{n}.mp3",
        )
    page = browser
    browser_log_in(page, live_server.url, "/admin/catalog/track/", lead.username)
    page.wait_for_selector("#result_list")
    fits_the_screen(page)
    assert page.locator("#result_list tbody tr").count() == 7
    page.screenshot(path=str(artifacts_dir / "layout-track-list.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/inference/classificationcall/")
    page.wait_for_selector("#result_list")
    fits_the_screen(page)
    page.screenshot(path=str(artifacts_dir / "layout-classification-calls.png"), full_page=True)
    assert page.evaluate(
        "document.querySelector('#changelist figure img').getBoundingClientRect().right"
        " <= document.querySelector('#changelist .results').getBoundingClientRect().right + 1"
    )
    page.screenshot(path=str(artifacts_dir / "layout-classification-calls.png"), full_page=True)
