"""The command-line entry points: import_tracks, reanalyze, classify."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import django_rq
import pytest
from django.core.management import CommandError, call_command

from catalog.models import Genre, ImportBatch, Track, TrackSource, TrackStatus
from inference.engine.checkpoint import create_random_checkpoint, save_checkpoint
from inference.pipeline import QUEUE
from inference.registry import model_version_register
from review.models import Decision
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

    # The last row's audio is held already, but its unknown genre still rejects the row.
    assert "3 imported, 1 duplicates, 3 rejected" in output
    assert "broken.mp3: The file could not be decoded as audio" in output
    assert "missing.wav: No such file" in output and "c.wav: Unknown genre 'Polka'" in output
    c = Track.objects.get(external_id="cms-c")
    assert (c.title, c.artist, c.album, c.known_genre.name, c.source) == (
        "Song C",
        "Artist C",
        "Album C",
        "Jazz",
        TrackSource.IMPORT,
    )
    assert c.reviewed_genre.name == "Jazz" and c.decisions.get().source == "catalog"
    batch = ImportBatch.objects.get()
    assert (batch.imported, batch.duplicates, batch.rejected) == (3, 1, 3)
    assert Track.objects.filter(status=TrackStatus.QUEUED).count() == 3
    assert django_rq.get_queue(QUEUE).count == 3


def test_a_manifest_with_an_unknown_genre_rejects_only_that_row(tmp_path, tiny_model_version, redis_url):
    write(tmp_path / "x.wav", wav_bytes(freq=500))
    (tmp_path / "m.csv").write_text("path,genre\nx.wav,Polka\n")
    output = run("import_tracks", str(tmp_path / "m.csv"))
    assert "0 imported, 0 duplicates, 1 rejected" in output and "Unknown genre 'Polka'" in output
    assert "no import batch was kept" in output and not ImportBatch.objects.exists()  # nothing to filter on


def test_a_manifest_genre_is_a_catalog_label_recorded_once_and_exported(
    tmp_path, tiny_model_version, redis_url, settings
):
    from review.exports import export_rows, label_export_create

    write(tmp_path / "x.wav", wav_bytes(freq=510))
    write(tmp_path / "y.wav", wav_bytes(freq=520))
    write(tmp_path / "z.wav", wav_bytes(freq=530))
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,external_id,genre\nx.wav,cms-x,Jazz\ny.wav,cms-y,blues\nz.wav,cms-z,\n")
    assert "Catalog labels: 2 recorded, 0 unchanged" in run("import_tracks", str(manifest))
    x = Track.objects.get(external_id="cms-x")
    decision = Decision.objects.get(track=x)
    assert (decision.source, decision.genre.name, decision.editor.username) == ("catalog", "Jazz", "catalog-import")
    assert Track.objects.get(external_id="cms-y").reviewed_genre.name == "Blues"
    assert Track.objects.get(external_id="cms-z").reviewed_genre is None

    again = run("import_tracks", str(manifest))
    assert "0 imported, 3 duplicates" in again and "Catalog labels: 0 recorded, 2 unchanged" in again
    assert Decision.objects.count() == 2

    manifest.write_text("path,external_id,genre\nx.wav,cms-x,Rock\ny.wav,cms-y,Blues\n")
    assert "Catalog labels: 1 recorded, 1 unchanged" in run("import_tracks", str(manifest))
    assert list(x.decisions.order_by("pk").values_list("genre__name", flat=True)) == ["Jazz", "Rock"]

    settings.MEDIA_ROOT = tmp_path / "media"
    rows = {row["external_id"]: row for row in export_rows(label_export_create())}
    assert set(rows) == {"cms-x", "cms-y"}
    assert (rows["cms-x"]["genre"], rows["cms-x"]["source"], rows["cms-x"]["editor"]) == (
        "Rock",
        "catalog",
        "catalog-import",
    )


def test_a_reimport_never_overrides_an_editor_and_says_so(tmp_path, tiny_model_version, redis_url, django_user_model):
    from review.decisions import DecisionInput, decision_submit
    from tests.factories import make_analysis

    write(tmp_path / "x.wav", wav_bytes(freq=540))
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,genre\nx.wav,Jazz\n")
    importer = django_user_model.objects.create_user("ida")
    run("import_tracks", str(manifest), "--editor", "ida", "--no-analysis")
    track = Track.objects.get()
    assert track.decisions.get().editor == importer and ImportBatch.objects.get().created_by == importer
    Track.objects.filter(pk=track.pk).update(status=TrackStatus.AWAITING_REVIEW)
    make_analysis(track=track, model_version=tiny_model_version)
    editor = django_user_model.objects.create_user("ann")
    decision_submit(editor=editor, track=track, data=DecisionInput(genre=Genre.objects.get(name="Blues")))

    manifest.write_text("path,genre\nx.wav,Rock\n")
    output = run("import_tracks", str(manifest), "--no-analysis")
    assert "1 kept an editor's decision" in output and "ann decided Blues; the manifest says Rock" in output
    assert Track.objects.get(pk=track.pk).reviewed_genre.name == "Blues" and track.decisions.count() == 2
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        run("import_tracks", str(manifest), "--editor", "nobody")


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
            "tiny",
            "candidate",
        }
    assert "Queued 0 track(s)" in run("reanalyze", "--model", "candidate")
    with pytest.raises(CommandError, match="No model version nope"):
        run("reanalyze", "--model", "nope")


def test_classify_prints_top_k_and_flags_the_untrained_model(tmp_path, tiny_model_version, capsys):
    good = write(tmp_path / "tone.wav", wav_bytes())
    out = run("classify", str(good), "--top-k", "3")
    assert "untrained model" in out
    assert len([line for line in out.splitlines() if line.strip()[:2] in {"1.", "2.", "3."}]) == 3
    assert "content: other" in out and "not music?" in out  # a bare sine tone
    json_out = StringIO()
    with pytest.raises(CommandError, match="1 of 2 file"):
        call_command(
            "classify",
            str(good),
            str(write(tmp_path / "bad.wav", b"")),
            "--json",
            "--images",
            str(tmp_path / "img"),
            stdout=json_out,
            stderr=StringIO(),
        )
    documents = json.loads(json_out.getvalue())
    assert len(documents[0]["top_k"]) == 5 and documents[1]["error"] == "The file is empty (0 bytes)."
    assert documents[0]["content"]["label"] == "other"
    assert set(documents[0]["top_k"][0]) == {"genre", "confidence"}  # the API's key names
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == [
        "tone.attention.png",
        "tone.spectrogram.png",
        "tone.top_k.png",
    ]
    with pytest.raises(CommandError, match="--top-k must be between 1 and 16"):
        run("classify", str(good), "--top-k", "17")
