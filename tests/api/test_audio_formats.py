"""Formats: every container libsndfile decodes is accepted at each door (GTZAN's own .au too);
ffmpeg's (m4a, opus, …) only where ffmpeg is installed; every page lists what this install accepts."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from django.contrib.auth.models import User
from django.urls import reverse

from catalog.models import Track
from inference.engine import audio
from tests.api.conftest import upload

TRACKS = "/api/v1/tracks/"
GENRE = "/api/genre"
pytestmark = pytest.mark.usefixtures("tiny_model_version")


def encoded(container: str, *, seconds: float = 2.0, freq: float = 440.0, sr: int = 16000) -> bytes:
    """A sine written by libsndfile in ``container`` (e.g. "AU", "AIFF")."""
    t = np.arange(int(seconds * sr)) / sr
    buffer = io.BytesIO()
    sf.write(buffer, (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format=container, subtype="PCM_16")
    return buffer.getvalue()


def fake_m4a() -> bytes:
    return b"\x00\x00\x00\x18ftypM4A " + bytes(64)


@pytest.fixture
def no_ffmpeg(monkeypatch) -> None:
    """This install as one without ffmpeg (the detection every door asks)."""
    monkeypatch.setattr(audio, "ffmpeg_available", lambda: False)


@pytest.mark.parametrize(
    ("container", "name", "reported"),
    [
        ("AU", "blues.00000.au", "au"),
        ("AIFF", "take.aiff", "aiff"),
        ("CAF", "bounce.caf", "caf"),
        ("W64", "field.w64", "w64"),
    ],
)
def test_au_aiff_caf_and_w64_uploads_become_tracks(cms, container, name, reported):
    response = cms.post(TRACKS, {"audio": upload(encoded(container), name)}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["format"], body["original_filename"]) == (reported, name)
    assert body["duration_s"] == pytest.approx(2.0, abs=0.01)
    assert Track.objects.get().format == reported


@pytest.mark.parametrize(("container", "name"), [("AU", "blues.00000.au"), ("AIFF", "take.aiff")])
def test_au_and_aiff_clips_get_genres(cms, container, name):
    response = cms.post(
        f"{GENRE}?top_k=3", {"audio": upload(encoded(container, seconds=3.0), name)}, format="multipart"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["results"]) == 3 and body["duration_s"] == pytest.approx(3.0, abs=0.01)


def test_without_ffmpeg_an_m4a_is_a_415_that_lists_what_is_accepted(cms, no_ffmpeg):
    for url in (TRACKS, GENRE):
        response = cms.post(url, {"audio": upload(fake_m4a(), "song.m4a")}, format="multipart")
        assert response.status_code == 415, (url, response.content)
        error = response.json()["error"]
        assert error["code"] == "unsupported_format"
        assert error["message"].startswith(
            "Unsupported audio format 'm4a (needs ffmpeg, which is not installed)'. Supported: wav, flac, ogg"
        )
        assert "au, snd" in error["message"] and "m4a, " not in error["message"]
    assert not Track.objects.exists()


def test_an_unknown_extension_is_a_415_that_lists_what_is_accepted(cms):
    response = cms.post(TRACKS, {"audio": upload(encoded("WAV"), "clip.xyz")}, format="multipart")
    assert response.status_code == 415
    message = response.json()["error"]["message"]
    assert message == f"Unsupported audio format 'xyz'. Supported: {', '.join(audio.supported_extensions())}."


@pytest.fixture
def lead_client(client, transactional_db):
    client.force_login(User.objects.create_superuser("lead", "lead@example.com", "pw"))
    return client


@pytest.mark.parametrize("ffmpeg", [True, False])
def test_the_upload_page_and_workstation_list_what_this_install_accepts(lead_client, monkeypatch, ffmpeg):
    monkeypatch.setattr(audio, "ffmpeg_available", lambda: ffmpeg)
    upload_page = lead_client.get(reverse("admin:catalog_track_upload")).content.decode()
    workstation = lead_client.get(reverse("review_workstation")).content.decode()
    for page in (upload_page, workstation):
        assert f"This install accepts: {audio.supported_formats_text()}." in page
        assert "au, snd" in page and "aiff" in page and "caf" in page and "w64" in page
        assert (".m4a," in page) is ffmpeg  # the file picker's accept list
        assert ("need ffmpeg, which is not installed" in page) is not ffmpeg
    assert f'accept="{",".join("." + ext for ext in audio.supported_extensions())}"' in upload_page


def test_the_api_schema_lists_what_this_install_accepts(cms):
    schema = cms.get("/api/schema/?format=json").content.decode()
    accepted = audio.supported_formats_text()  # read when the schema was built, in this process
    assert schema.count(f"Accepted by this install: {accepted}.") >= 3  # /api/genre, create, upsert
    assert f"this install accepts: {accepted}." in schema  # the audio part's Content-Disposition
    assert ("m4a, aac, mp4, opus, webm" in schema) is audio.ffmpeg_available()
    assert ("need ffmpeg, which is not installed" in schema) is not audio.ffmpeg_available()
