"""POST /api/genre: synchronous Top-K for an uploaded clip, every call recorded."""

from __future__ import annotations

import pytest

from catalog.models import ModelVersion
from inference.models import ClassificationCall
from tests.api.conftest import upload, wav_bytes

URL = "/api/genre"
pytestmark = pytest.mark.usefixtures("tiny_model_version")


def error_of(response) -> str:
    return response.json()["error"]["code"]


def test_a_clip_gets_top_k_genres_and_an_untrained_model_says_so(cms):
    response = cms.post(f"{URL}?top_k=3", {"audio": upload(wav_bytes(3.0))}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [set(r) for r in body["results"]] == [{"genre", "confidence"}] * 3
    confidences = [r["confidence"] for r in body["results"]]
    assert confidences == sorted(confidences, reverse=True) and all(0 <= c <= 1 for c in confidences)
    assert body["model_version"] == "tiny" and body["trained"] is False
    assert "untrained" in body["warning"]
    assert body["duration_s"] == pytest.approx(3.0, abs=0.01) and body["latency_ms"] > 0
    assert body["content"]["label"] == "other"  # a bare sine tone is not music (YAMNet: "Sine wave")
    assert set(body["content"]["scores"]) == {"music", "speech", "other"}
    assert body["is_silent"] is False
    call = ClassificationCall.objects.get()
    assert (call.status_code, call.error_code, call.top_k, call.model_version.name) == (200, "", 3, "tiny")
    assert call.client.name == "Token CMS" and call.duration_s == pytest.approx(3.0, abs=0.01)
    assert call.mean_confidence == pytest.approx(sum(confidences) / 3, abs=1e-5)
    assert call.latency_ms > 0


def test_the_default_is_top_5_and_a_trained_model_gives_no_warning(cms, tiny_model_version):
    ModelVersion.objects.filter(pk=tiny_model_version.pk).update(trained=True)
    body = cms.post(URL, {"audio": upload(wav_bytes(2.0))}, format="multipart").json()
    assert len(body["results"]) == 5 and body["trained"] is True and "warning" not in body


def test_silence_is_flagged_as_it_is_on_a_tracks_analysis(cms):
    """A CMS must not file the Top-K of a silent clip as its genres (issue 15: no silence flag)."""
    import io

    import numpy as np
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(16000 * 2, dtype=np.float32), 16000, format="WAV")
    body = cms.post(URL, {"audio": upload(buffer.getvalue())}, format="multipart").json()
    assert body["is_silent"] is True and len(body["results"]) == 5


@pytest.mark.parametrize("top_k", ["0", "17", "-1", "abc", "2.5", "%EF%BC%93"])  # last: a full-width 3
def test_a_bad_top_k_is_refused(cms, top_k):
    response = cms.post(f"{URL}?top_k={top_k}", {"audio": upload(wav_bytes(1.0))}, format="multipart")
    assert response.status_code == 400 and error_of(response) == "invalid_top_k"
    assert "1 to 16" in response.json()["error"]["message"]
    assert ClassificationCall.objects.get().error_code == "invalid_top_k"


def test_no_file_is_a_400(cms):
    response = cms.post(URL, {}, format="multipart")
    assert response.status_code == 400 and error_of(response) == "missing_file"
    assert ClassificationCall.objects.get().status_code == 400


@pytest.mark.parametrize(
    ("data", "name", "status", "code"),
    [
        (b"this is not audio at all" * 20, "song.mp3", 415, "undecodable"),
        (b"hello", "notes.txt", 415, "unsupported_format"),
        (b"", "empty.wav", 400, "empty_file"),
    ],
)
def test_bad_audio_gets_its_status_and_stable_code(cms, data, name, status, code):
    response = cms.post(URL, {"audio": upload(data, name)}, format="multipart")
    assert response.status_code == status and error_of(response) == code, response.content
    call = ClassificationCall.objects.get()
    assert (call.status_code, call.error_code, call.filename) == (status, code, name)


def test_too_long_audio_is_a_400(cms, settings):
    settings.MAX_AUDIO_SECONDS = 2
    response = cms.post(URL, {"audio": upload(wav_bytes(3.0))}, format="multipart")
    assert response.status_code == 400 and error_of(response) == "too_long"


@pytest.mark.parametrize("limit", [1000, 50_000])  # refused by Content-Length / while copying
def test_an_oversized_upload_is_a_413(cms, settings, limit):
    settings.MAX_UPLOAD_BYTES = limit
    response = cms.post(URL, {"audio": upload(wav_bytes(3.0))}, format="multipart")  # 96 kB
    assert response.status_code == 413 and error_of(response) == "too_large"
    assert ClassificationCall.objects.get().status_code == 413


def test_no_active_model_is_a_503(cms, tiny_model_version):
    ModelVersion.objects.filter(pk=tiny_model_version.pk).update(is_active=False)
    response = cms.post(URL, {"audio": upload(wav_bytes(1.0))}, format="multipart")
    assert response.status_code == 503 and error_of(response) == "no_active_model"


def test_classifying_is_throttled_per_client(cms, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "classify": "2/min"}
    statuses = [cms.post(URL, {}, format="multipart").status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
    response = cms.post(URL, {}, format="multipart")
    assert error_of(response) == "throttled" and "Retry-After" in response.headers
    assert cms.get("/api/v1/tracks/").status_code == 200  # another scope, its own budget
