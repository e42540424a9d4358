"""Label exports: manifest format, artist-grouped deterministic splits, byte-identical re-runs,
incremental exports, the command and the admin."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.urls import reverse

from review.exports import (
    CSV_COLUMNS,
    EXPORT_JSON,
    EXPORT_ZIP,
    MANIFEST_CSV,
    MANIFEST_JSONL,
    ExportError,
    export_directory,
    export_rows,
    label_export_create,
    split_for,
)
from review.models import LabelExport
from tests.factories import make_track
from tests.training.conftest import artist_in

ROW_KEYS = {
    "track_id",
    "external_id",
    "sha256",
    "audio",
    "artist",
    "title",
    "genre",
    "secondary_genre",
    "label_index",
    "split",
    "action",
    "source",
    "model_version",
    "proposed",
    "editor",
    "decided_at",
    "decision_id",
}


def _files(export: LabelExport) -> dict[str, bytes]:
    directory = export_directory(export)
    return {name: (directory / name).read_bytes() for name in export.files}


def test_manifest_has_one_row_per_reviewed_track_from_its_latest_decision(
    audio_track, decide, editor, media, django_user_model, active_model
):
    colleague = django_user_model.objects.create_user(username="colm", password="pw", is_staff=True)
    first = audio_track("low", external_id="cms-1", artist="Ada", title="Low one")
    second = audio_track("high", artist="")
    audio_track("noise")  # awaiting review: not exported
    decide(first, "Jazz")
    latest = decide(first, "Blues", by=colleague, secondary="Jazz")  # a correction: the latest decision wins
    decide(second, "Metal")

    export = label_export_create(created_by=editor)

    assert set(export.files) == {MANIFEST_JSONL, MANIFEST_CSV, EXPORT_JSON}
    assert export.directory == f"exports/{export.pk}" and (media / export.directory / MANIFEST_JSONL).is_file()
    rows = export_rows(export)
    assert [row["track_id"] for row in rows] == [first.pk, second.pk]
    assert all(set(row) == ROW_KEYS for row in rows)
    row = rows[0]
    assert (row["genre"], row["secondary_genre"], row["editor"], row["external_id"]) == (
        "Blues",
        "Jazz",
        "colm",
        "cms-1",
    )
    assert row["audio"] == first.audio.name and not row["audio"].startswith("/")
    assert row["sha256"] == first.sha256 and row["model_version"] == active_model.name
    assert row["action"] == latest.action == "accepted" and row["source"] == "review"  # Blues was the top-1
    assert row["decision_id"] == latest.pk and row["decided_at"].startswith(f"{latest.created_at:%Y-%m-%dT%H:%M:%S}")
    assert len(row["proposed"]) == 5 and set(row["proposed"][0]) == {"genre", "probability"}
    assert row["label_index"] == export.labels.index("Blues")
    # Default split: stratified by genre, grouped by artist; a genre's only artist trains.
    assert [r["split"] for r in rows] == ["train", "train"]

    table = list(csv.DictReader(io.StringIO((export_directory(export) / MANIFEST_CSV).read_text())))
    assert list(table[0]) == CSV_COLUMNS
    assert [int(r["track_id"]) for r in table] == [first.pk, second.pk]
    assert json.loads(table[0]["proposed"]) == row["proposed"]

    meta = json.loads((export_directory(export) / EXPORT_JSON).read_text())
    assert meta["split_rule"]["rule"] == "stratified"
    assert meta["split_rule"]["fractions"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert meta["labels"] == export.labels  # active genres, taxonomy order
    assert meta["labels"][:3] == ["Blues", "Classical", "Country"]
    assert export.rows == 2 and export.counts == {"Blues": 1, "Metal": 1}
    assert sum(export.split_counts.values()) == 2 and export.created_by == editor


def test_one_artist_never_spans_two_splits():
    assert split_for(artist="The Band", sha256="a" * 64) == split_for(artist="  the   BAND ", sha256="b" * 64)
    splits = {split_for(artist=f"Artist {n}", sha256="") for n in range(200)}
    assert splits == {"train", "val", "test"}
    shares = [split_for(artist=f"Artist {n}", sha256="") for n in range(2000)]
    assert 0.75 < shares.count("train") / 2000 < 0.85 and 0.07 < shares.count("test") / 2000 < 0.13
    # No artist: each track is its own group.
    assert len({split_for(artist="", sha256=f"{n:064x}") for n in range(50)}) == 3


def test_a_second_track_of_the_same_artist_lands_in_the_same_split(audio_track, decide):
    # The artist-hash rule of earlier exports is still there, and still stable as labels grow.
    artist = artist_in("test")
    decide(audio_track("low", artist=artist), "Jazz")
    first = label_export_create(split="hash")
    decide(audio_track("high", artist=artist.upper() + " "), "Rock")
    second = label_export_create(split="hash")
    assert [row["split"] for row in export_rows(first)] == ["test"]
    assert [row["split"] for row in export_rows(second)] == ["test", "test"]
    meta = json.loads((export_directory(second) / EXPORT_JSON).read_text())
    assert meta["split_rule"] == {  # byte for byte what earlier exports wrote
        "key": "sha256 of the artist (case-folded, whitespace collapsed), else of the track's sha256",
        "percent": {"train": 80, "val": 10, "test": 10},
    }


def test_the_default_split_is_stratified_by_genre_and_grouped_by_artist(audio_track, decide, media):
    genres = ["Jazz"] * 10 + ["Rock"] * 10 + ["Metal"] * 2
    for n, genre in enumerate(genres):
        decide(audio_track("low", artist=f"{genre} {n // 2}"), genre)  # two tracks per artist
    export = label_export_create()
    rows = export_rows(export)
    per_artist = {}
    for row in rows:
        per_artist.setdefault(row["artist"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in per_artist.values())
    for genre in ("Jazz", "Rock"):  # 5 artists each: 4 train, the fifth in val or test
        splits = [r["split"] for r in rows if r["genre"] == genre]
        assert splits.count("train") == 8 and len(set(splits)) == 2
    assert {r["split"] for r in rows if r["genre"] == "Metal"} == {"train"}  # its only artist trains
    assert export.split_counts["train"] == 18

    again = label_export_create(split="0.8,0.1,0.1", out=media / "again")
    assert _files(again) == _files(export)  # the same labels give the same split, byte for byte
    call_command("export_labels", "--split", "0.6,0.2,0.2", stdout=io.StringIO())
    meta = json.loads((export_directory(LabelExport.objects.latest("pk")) / EXPORT_JSON).read_text())
    assert meta["split_rule"]["fractions"] == {"train": 0.6, "val": 0.2, "test": 0.2}
    with pytest.raises(ExportError, match="sum to 1"):
        label_export_create(split="0.8,0.8,0.1")


def test_running_the_export_again_gives_byte_identical_files(audio_track, decide, editor, tmp_path):
    for n, kind in enumerate(["low", "high", "noise", "low"]):
        decide(audio_track(kind, artist=f"Artist {n}"), ["Jazz", "Rock", "Metal", "Jazz"][n])
    one = label_export_create(created_by=editor, with_audio=True)
    two = label_export_create(with_audio=True, out=tmp_path / "elsewhere")

    assert two.pk == one.pk + 1 and str(export_directory(two)) == str(tmp_path / "elsewhere")
    assert _files(one) == _files(two)
    assert one.files == two.files and set(one.files) == {MANIFEST_JSONL, MANIFEST_CSV, EXPORT_JSON, EXPORT_ZIP}
    with zipfile.ZipFile(export_directory(one) / EXPORT_ZIP) as archive:
        names = archive.namelist()
        assert names[:3] == [MANIFEST_JSONL, MANIFEST_CSV, EXPORT_JSON]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        for row in export_rows(one):  # audio at its MEDIA_ROOT-relative path, bytes unchanged
            assert archive.read(row["audio"]) == (export_directory(one).parents[1] / row["audio"]).read_bytes()


def test_an_incremental_export_holds_only_decisions_made_after_the_earlier_export(audio_track, decide):
    early, revised, later = audio_track("low"), audio_track("high"), audio_track("noise")
    decide(early, "Jazz")
    decide(revised, "Rock")
    first = label_export_create()
    decide(revised, "Metal")  # re-decided after export 1
    decide(later, "Folk")

    second = label_export_create(since=first.pk)

    rows = export_rows(second)
    assert [(row["track_id"], row["genre"]) for row in rows] == [(revised.pk, "Metal"), (later.pk, "Folk")]
    assert second.since == first and second.after_decision_id == first.last_decision_id
    assert second.counts == {"Folk": 1, "Metal": 1}
    assert export_rows(label_export_create(since=second.pk)) == []  # nothing new since
    full = export_rows(label_export_create())
    assert [(row["track_id"], row["genre"]) for row in full] == [
        (early.pk, "Jazz"),
        (revised.pk, "Metal"),
        (later.pk, "Folk"),
    ]


def test_export_command_writes_files_and_supports_since(audio_track, decide, media):
    decide(audio_track("low"), "Jazz")
    out = io.StringIO()
    call_command("export_labels", stdout=out)
    first = LabelExport.objects.get()
    assert f"Export #{first.pk}: 1 track(s)" in out.getvalue() and "manifest.jsonl  sha256" in out.getvalue()
    assert (media / "exports" / str(first.pk) / MANIFEST_JSONL).is_file()

    decide(audio_track("high"), "Rock")
    call_command("export_labels", "--since", str(first.pk), "--zip", stdout=io.StringIO())
    second = LabelExport.objects.latest("pk")
    assert second.rows == 1 and EXPORT_ZIP in second.files

    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no export #999"):
        call_command("export_labels", "--since", "999")


def test_zip_export_refuses_missing_audio(db, decide, active_model, media):
    track = make_track(status="awaiting_review")  # its audio file does not exist
    decide(track, "Jazz")
    with pytest.raises(ExportError, match="missing"):
        label_export_create(with_audio=True)
    assert not LabelExport.objects.exists()


def test_staff_create_exports_in_the_admin(client, django_user_model, audio_track, decide):
    lead = django_user_model.objects.create_superuser(username="lead", password="pw")
    client.force_login(lead)
    decide(audio_track("low"), "Jazz")

    page = client.get(reverse("admin:review_labelexport_add"))
    assert page.status_code == 200 and b"Create export" in page.content
    response = client.post(reverse("admin:review_labelexport_add"), {"since": "", "with_audio": "on"})
    assert response.status_code == 302
    export = LabelExport.objects.get()
    assert export.created_by == lead and export.rows == 1 and EXPORT_ZIP in export.files

    decide(audio_track("high"), "Rock")
    response = client.post(
        reverse("admin:review_labelexport_changelist"),
        {"action": "export_since_selected", "_selected_action": [export.pk]},
        follow=True,
    )
    incremental = LabelExport.objects.latest("pk")
    assert incremental.since == export and incremental.rows == 1
    assert f"Created export #{incremental.pk}" in response.content.decode()
    detail = client.get(reverse("admin:review_labelexport_change", args=[export.pk]))
    assert detail.status_code == 200 and export.files[MANIFEST_JSONL]["sha256"] in detail.content.decode()


def _downloaded(response) -> bytes:
    return b"".join(response.streaming_content)


def test_leads_download_each_file_and_a_zip_of_an_export_from_the_admin(client, django_user_model, audio_track, decide):
    from django.contrib.auth.models import Group

    from tests.fixtures import restore_data_migrations

    restore_data_migrations()
    lead = django_user_model.objects.create_user(username="lena", password="pw", is_staff=True)
    lead.groups.add(Group.objects.get(name="Editorial lead"))
    client.force_login(lead)
    decide(audio_track("low"), "Jazz")
    export = label_export_create(created_by=lead)

    detail = client.get(reverse("admin:review_labelexport_change", args=[export.pk])).content.decode()
    for name in export.files:
        link = reverse("admin:review_labelexport_file", args=[export.pk, name])
        assert f'href="{link}"' in detail
        response = client.get(link)
        assert response.status_code == 200 and response["Content-Disposition"] == f'attachment; filename="{name}"'
        assert _downloaded(response) == (export_directory(export) / name).read_bytes()
    zip_link = reverse("admin:review_labelexport_zip", args=[export.pk])
    assert f'href="{zip_link}"' in detail
    assert zip_link in client.get(reverse("admin:review_labelexport_changelist")).content.decode()
    response = client.get(zip_link)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(_downloaded(response))) as archive:
        assert sorted(archive.namelist()) == sorted(export.files)
        assert all(archive.read(name) == (export_directory(export) / name).read_bytes() for name in export.files)
    assert client.get(reverse("admin:review_labelexport_file", args=[export.pk, "other.txt"])).status_code == 404


def test_an_export_made_with_the_audio_downloads_as_its_own_zip(admin_client, audio_track, decide):
    decide(audio_track("low"), "Jazz")
    export = label_export_create(with_audio=True)
    response = admin_client.get(reverse("admin:review_labelexport_zip", args=[export.pk]))
    assert _downloaded(response) == (export_directory(export) / EXPORT_ZIP).read_bytes()


def test_a_reviewer_cannot_download_exports(client, reviewer, audio_track, decide):
    decide(audio_track("low"), "Jazz")
    export = label_export_create()
    client.force_login(reviewer)
    for url in (
        reverse("admin:review_labelexport_file", args=[export.pk, MANIFEST_JSONL]),
        reverse("admin:review_labelexport_zip", args=[export.pk]),
        f"/media/{export.directory}/{MANIFEST_JSONL}",
    ):
        response = client.get(url)
        assert response.status_code == 403 and b"export permission" in response.content, url
