"""The workstation page: drop one file, see progress, the Top-5 with exact values on hover, pictures."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from inference.models import ClassificationCall
from tests.fixtures import browser_log_in, wav_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def rita(tiny_model_version, reviewer):
    return reviewer


def test_the_analysis_endpoint_answers_top5_images_and_clear_errors(client, rita):
    client.force_login(rita)
    url = reverse("review_workstation_analyse")
    body = client.post(url, {"audio": SimpleUploadedFile("tone.wav", wav_bytes(seconds=8))}).json()
    assert len(body["results"]) == 5 and body["trained"] is False and "untrained" in body["warning"]
    assert {"spectrogram", "attention", "top_k"} <= set(body["images"])
    assert body["images"]["attention"].startswith("data:image/png;base64,")
    refused = client.post(url, {"audio": SimpleUploadedFile("notes.mp3", b"plain text")})
    assert refused.status_code == 415 and "could not be decoded" in refused.json()["error"]["message"]
    assert client.post(url, {}).status_code == 400
    assert ClassificationCall.objects.filter(caller="workstation:rita").count() == 3


def test_a_reviewer_drops_a_file_and_sees_the_results(live_server, browser, rita, tmp_path, artifacts_dir):
    clip = tmp_path / "tone.wav"
    clip.write_bytes(wav_bytes(seconds=12, freq=523.0))
    page = browser
    browser_log_in(page, live_server.url, "/admin/review/workstation/", rita.username)
    page.wait_for_selector("#drop")
    page.set_input_files("#file", str(clip))
    page.wait_for_selector("#result:not([hidden])", timeout=60000)
    rows = page.locator("#bars .ws-row")
    assert rows.count() == 5
    assert page.get_attribute("#bars .ws-row >> nth=0", "title").count(".") == 1  # "Genre: 0.123456"
    assert page.get_attribute("#ws-image", "src").startswith("data:image/png;base64,")
    assert "untrained" in page.inner_text("#warning")
    page.screenshot(path=str(artifacts_dir / "workstation.png"))
    attention = page.get_attribute("#ws-image", "src")
    page.uncheck("#overlay")
    assert page.get_attribute("#ws-image", "src") != attention


def test_the_workstation_shares_the_classify_rate_of_the_api(client, rita, settings, redis_url):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "classify": "2/min"}
    client.force_login(rita)
    url = reverse("review_workstation_analyse")
    answers = [client.post(url, {"audio": SimpleUploadedFile("tone.wav", wav_bytes(seconds=2))}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "throttled" and int(answers[2]["Retry-After"]) >= 1
    assert ClassificationCall.objects.filter(caller="workstation:rita").count() == 2  # the refused one cost nothing
