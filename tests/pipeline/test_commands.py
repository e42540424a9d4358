"""The command-line entry points: import_tracks, reanalyze, classify."""
from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import django_rq
import pytest
from django.core.management import CommandError, call_command

from catalog.models import ImportBatch, Track, TrackSource, TrackStatus
from inference.checkpoint import create_random_checkpoint, save_checkpoint
from inference.pipeline import QUEUE
from inference.registry import model_version_register
from tests.factories import GENRES16
from tests.fixtures import TINY, wav_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_import_walks_folders_and_manifests_and_summarises(tmp_path, tiny_model_version, redis_url):
    write(tmp_path / "music" / "a.wav", wav_bytes(freq=220))
    write(tmp_path / "music" / "deep" / "b.wav", wav_bytes(freq=330))
    write(tmp_path / "music" / "readme.txt", b"not audio, not an audio extension: ignored in folders")
    write(tmp_path / "manifest" / "c.wav", wav_bytes(freq=440))
    write(tmp_path / "manifest" / "copy-of-a.wav", wav_bytes(freq=220))
    write(tmp_path / "manifest" / "broken.mp3", b"this is text")
    (tmp_path / "manifest" / "tracks.csv").write_text(
        "path,title,artist,album,external_id,genre\n"
        "c.wav,Song C,Artist C,Album C,cms-c,Jazz\n"
        "copy-of-a.wav,,,,,\n"
        "broken.mp3,,,,,\n"
        "missing.wav,,,,,\n"
        "c.wav,Song C again,,,cms-c2,Polka\n"
    )
    output = run("import_tracks", str(tmp_path / "music"), str(tmp_path / "manifest" / "tracks.csv"))

    assert "3 imported, 2 duplicates, 2 rejected" in output
    assert "broken.mp3: The file could not be decoded as audio" in output
    assert "missing.wav: No such file" in output
    c = Track.objects.get(external_id="cms-c")
    assert (c.title, c.artist, c.album, c.known_genre.name, c.source) == ("Song C", "Artist C", "Album C", "Jazz",
                                                                          TrackSource.IMPORT)
    batch = ImportBatch.objects.get()
    assert (batch.imported, batch.duplicates, batch.rejected) == (3, 2, 2)
    assert Track.objects.filter(status=TrackStatus.QUEUED).count() == 3
    assert django_rq.get_queue(QUEUE).count == 3


def test_a_manifest_with_an_unknown_genre_rejects_only_that_row(tmp_path, tiny_model_version, redis_url):
    write(tmp_path / "x.wav", wav_bytes(freq=500))
    (tmp_path / "m.csv").write_text("path,genre\nx.wav,Polka\n")
    output = run("import_tracks", str(tmp_path / "m.csv"))
    assert "0 imported, 0 duplicates, 1 rejected" in output and "Unknown genre 'Polka'" in output


def test_a_manifest_with_unknown_columns_is_refused_before_anything_is_imported(tmp_path, tiny_model_version):
    write(tmp_path / "x.wav", wav_bytes())
    (tmp_path / "m.csv").write_text("path,colour\nx.wav,blue\n")
    with pytest.raises(CommandError, match="unknown manifest column"):
        run("import_tracks", str(tmp_path / "m.csv"))
    assert Track.objects.count() == 0


def test_reanalyze_queues_tracks_for_another_model_version(ingest, run_worker, tiny_model_version, settings):
    tracks = [ingest(), ingest()]
    run_worker()
    other = Path(settings.MODELS_DIR) / "other.safetensors"
    save_checkpoint(create_random_checkpoint(labels=GENRES16, preprocessing=TINY, seed=4), other)
    model_version_register(path=other, name="candidate")

    output = run("reanalyze", "--model", "candidate")
    assert "Queued 2 track(s) for analysis with candidate" in output
    run_worker()
    for track in tracks:
        assert set(Track.objects.get(pk=track.pk).analyses.values_list("model_version__name", flat=True)) == {
            "tiny", "candidate"}
    assert "Queued 0 track(s)" in run("reanalyze", "--model", "candidate")
    with pytest.raises(CommandError, match="No model version nope"):
        run("reanalyze", "--model", "nope")


def test_classify_prints_top_k_and_flags_the_untrained_model(tmp_path, tiny_model_version, capsys):
    good = write(tmp_path / "tone.wav", wav_bytes())
    out = run("classify", str(good), "--top-k", "3")
    assert "untrained model" in out and out.count("%") == 3
    json_out = StringIO()
    with pytest.raises(CommandError, match="1 of 2 file"):
        call_command("classify", str(good), str(write(tmp_path / "bad.wav", b"")), "--json", "--images",
                     str(tmp_path / "img"), stdout=json_out, stderr=StringIO())
    documents = json.loads(json_out.getvalue())
    assert len(documents[0]["top_k"]) == 5 and documents[1]["error"] == "The file is empty (0 bytes)."
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == ["tone.attention.png", "tone.spectrogram.png",
                                                                     "tone.top_k.png"]
    with pytest.raises(CommandError, match="--top-k must be between 1 and 16"):
        run("classify", str(good), "--top-k", "17")
