"""A full disk while a worker writes an analysis's images leaves no truncated PNG behind: each
image is written to a temporary file beside it and moved into place, and a failed analysis
removes what it wrote (the audit found truncated PNGs under the names rows point to)."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
from django.conf import settings

from catalog.models import Analysis, Track, TrackStatus
from inference.jobs import analyze_track
from tests.reliability.conftest import figures

pytestmark = pytest.mark.django_db(transaction=True)


class FullDisk(io.FileIO):
    """A file on a disk that fills up after `room` bytes, as os.write does on ENOSPC."""

    room = 0

    def write(self, data) -> int:
        written = super().write(bytes(data)[: FullDisk.room])
        raise OSError(errno.ENOSPC, "No space left on device") if written < len(data) else None


@pytest.mark.parametrize("failing_image", [0, 1])
def test_a_full_disk_mid_image_leaves_no_truncated_png_and_no_analysis(
    ingest, tiny_model_version, monkeypatch, settings, tmp_path, failing_image
):
    settings.MEDIA_ROOT = tmp_path / "media"  # this test's own: other tests' images are not counted
    track = ingest()
    opened = []
    real_fdopen = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        opened.append(fd)
        if len(opened) - 1 == failing_image:  # this image hits the full disk half-way
            FullDisk.room = 1000
            return FullDisk(fd, "wb")
        return real_fdopen(fd, mode, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)  # the product's write and Django's storage both use it
    with pytest.raises(OSError) as full:
        analyze_track(track_id=track.pk, model_version_id=tiny_model_version.pk)
    assert full.value.errno == errno.ENOSPC

    left = [p for p in (Path(settings.MEDIA_ROOT) / "analyses").rglob("*") if p.is_file()]
    track.refresh_from_db()
    figures(
        "full disk",
        image_that_failed=failing_image + 1,
        files_left=len(left),
        analyses=Analysis.objects.count(),
        status=track.status,
    )
    assert left == [], "no image, whole or truncated, and no temporary file"
    assert not Analysis.objects.filter(track=track).exists()
    assert track.status == TrackStatus.FAILED and "No space left on device" in track.failure_reason
    assert Track.objects.get(pk=track.pk).audio.storage.exists(track.audio.name)  # the audio is untouched


def test_images_are_whole_pngs_when_the_disk_has_room(ingest, tiny_model_version):
    track = ingest()
    assert analyze_track(track_id=track.pk, model_version_id=tiny_model_version.pk) == "analysed"
    analysis = Analysis.objects.get(track=track)
    folder = Path(settings.MEDIA_ROOT) / "analyses" / str(track.pk) / str(tiny_model_version.pk)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        Path(f.name).name for f in (analysis.spectrogram_image, analysis.attention_image, analysis.top_k_image) if f
    )
    for png in folder.iterdir():
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[-8:-4] == b"IEND"
