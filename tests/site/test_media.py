"""Uploaded audio and images: staff only, and seekable (byte ranges) for the audio player."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "tracks").mkdir()
    (tmp_path / "tracks" / "a.ogg").write_bytes(bytes(range(100)))
    return "/media/tracks/a.ogg"


def test_media_needs_a_staff_login(client, stored):
    assert client.get(stored).status_code == 302  # to the admin login


def test_byte_ranges_let_the_player_seek(admin_client, stored):
    whole = admin_client.get(stored)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    assert b"".join(whole.streaming_content) == bytes(range(100))
    part = admin_client.get(stored, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and part.content == bytes(range(10, 20))
    assert part["Content-Range"] == "bytes 10-19/100"
    assert admin_client.get(stored, HTTP_RANGE="bytes=90-").content == bytes(range(90, 100))
    assert admin_client.get(stored, HTTP_RANGE="bytes=-5").content == bytes(range(95, 100))
    assert admin_client.get(stored, HTTP_RANGE="bytes=200-").status_code == 416


def test_paths_outside_the_media_folder_are_not_served(admin_client, stored):
    assert admin_client.get("/media/../../etc/passwd").status_code in (400, 404)  # refused as suspicious
    assert admin_client.get("/media/tracks/missing.ogg").status_code == 404
