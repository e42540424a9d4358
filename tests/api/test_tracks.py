"""/api/v1/tracks/: upload through the ingest service, list with filters, detail, upsert by external id."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Track, TrackSource, TrackStatus
from review.models import Decision
from tests.api.conftest import upload, wav_bytes
from tests.factories import make_track

URL = "/api/v1/tracks/"
pytestmark = pytest.mark.usefixtures("tiny_model_version")


def by_external_id(external_id: str) -> str:
    return f"{URL}by-external-id/{external_id}"


def test_an_upload_creates_a_queued_track_and_the_same_bytes_find_it(cms):
    audio = wav_bytes(2.0, freq=300)
    response = cms.post(
        URL,
        {"audio": upload(audio), "title": "Blue", "artist": "Trio", "album": "Live", "external_id": "cms-1"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["title"], body["artist"], body["album"], body["external_id"]) == ("Blue", "Trio", "Live", "cms-1")
    assert body["status"] == TrackStatus.QUEUED and body["source"] == TrackSource.API
    assert body["latest_analysis"] is None and body["reviewed_genre"] is None
    again = cms.post(URL, {"audio": upload(audio, "copy.wav"), "title": "Other"}, format="multipart")
    assert again.status_code == 200 and again.json()["id"] == body["id"] and again.json()["title"] == "Blue"
    assert Track.objects.count() == 1


def test_upload_errors_have_codes(cms, settings):
    assert cms.post(URL, {"title": "no file"}, format="multipart").status_code == 400
    response = cms.post(URL, {"audio": upload(b"not audio" * 50, "x.mp3")}, format="multipart")
    assert response.status_code == 415 and response.json()["error"]["code"] == "undecodable"
    cms.post(URL, {"audio": upload(wav_bytes(1.0, freq=500)), "external_id": "taken"}, format="multipart")
    response = cms.post(URL, {"audio": upload(wav_bytes(1.0, freq=600)), "external_id": "taken"}, format="multipart")
    assert response.status_code == 409 and response.json()["error"]["code"] == "external_id_taken"
    settings.MAX_UPLOAD_BYTES = 1000
    response = cms.post(URL, {"audio": upload(wav_bytes(1.0, freq=700))}, format="multipart")
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_the_detail_has_the_latest_analysis_with_images_and_the_review(cms, tiny_model_version, decided):
    from inference.jobs import analyze_track

    track_id = cms.post(URL, {"audio": upload(wav_bytes(2.0, freq=900))}, format="multipart").json()["id"]
    assert analyze_track(track_id=track_id, model_version_id=tiny_model_version.pk) == "analysed"
    body = cms.get(f"{URL}{track_id}/").json()
    analysis = body["latest_analysis"]
    assert body["status"] == TrackStatus.AWAITING_REVIEW and body["failure_reason"] == ""
    assert analysis["model_version"] == "tiny" and analysis["trained"] is False and "untrained" in analysis["warning"]
    assert len(analysis["top_k"]) == 5 and set(analysis["images"]) == {"spectrogram", "attention", "top_k"}
    image = cms.get(analysis["images"]["attention"])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content).startswith(b"\x89PNG")
    decision = decided(genre="blues", track=Track.objects.get(pk=track_id))
    body = cms.get(f"{URL}{track_id}/").json()
    assert body["status"] == TrackStatus.REVIEWED and body["reviewed_genre"] == {"slug": "blues", "name": "Blues"}
    assert body["reviewed_at"] == decision.created_at.isoformat().replace("+00:00", "Z")


def test_a_failed_track_shows_its_reason_and_unknown_ids_are_404(cms):
    track = make_track(status=TrackStatus.FAILED, failure_reason="The file could not be decoded as audio.")
    body = cms.get(f"{URL}{track.pk}/").json()
    assert body["status"] == "failed" and body["failure_reason"].startswith("The file could not")
    response = cms.get(f"{URL}999999/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert cms.get(f"{URL}{track.pk}/images/attention.png").status_code == 404


def test_the_list_filters_by_status_reviewed_genre_and_update_time(cms, decided):
    queued = make_track(status=TrackStatus.QUEUED)
    jazz = decided(genre="jazz").track
    blues = decided(genre="blues").track
    ids = lambda response: [t["id"] for t in response.json()["results"]]  # noqa: E731
    assert set(ids(cms.get(URL))) == {queued.pk, jazz.pk, blues.pk}
    assert ids(cms.get(URL, {"status": "queued"})) == [queued.pk]
    assert ids(cms.get(URL, {"genre": "jazz"})) == [jazz.pk] == ids(cms.get(URL, {"genre": "Jazz"}))
    assert ids(cms.get(URL, {"status": "reviewed", "genre": "blues"})) == [blues.pk]
    Track.objects.update(updated_at=timezone.now() - timedelta(days=2))
    Decision.objects.update(created_at=timezone.now() - timedelta(days=2))  # age them (test only)
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(cms.get(URL, {"updated_since": since})) == []
    Track.objects.filter(pk=queued.pk).update(updated_at=timezone.now())
    decided(genre="rock", track=jazz)  # a correction: the genre changes, the status does not
    assert set(ids(cms.get(URL, {"updated_since": since}))) == {queued.pk, jazz.pk}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "lost"}, "invalid_parameter"),
        ({"updated_since": "yesterday"}, "invalid_parameter"),
        ({"genre": "polka"}, "unknown_genre"),
    ],
)
def test_bad_filters_are_a_400(cms, params, code):
    response = cms.get(URL, params)
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_the_list_is_paginated(cms):
    for _ in range(3):
        make_track()
    first = cms.get(URL, {"page_size": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["next"]
    second = cms.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    assert {t["id"] for t in first["results"] + second["results"]} == set(Track.objects.values_list("pk", flat=True))


def test_the_upsert_creates_once_and_repeating_it_changes_nothing(cms):
    audio = wav_bytes(2.0, freq=350)
    request = {"audio": upload(audio), "title": "Song", "artist": "Band"}
    created = cms.put(by_external_id("cms-42"), request, format="multipart")
    assert created.status_code == 201, created.content
    assert created.json()["external_id"] == "cms-42" and created.json()["source"] == "api"
    repeated = cms.put(
        by_external_id("cms-42"), {"audio": upload(audio), "title": "Song", "artist": "Band"}, format="multipart"
    )
    assert repeated.status_code == 200 and repeated.json() == created.json()  # updated_at unchanged too
    metadata_only = cms.put(by_external_id("cms-42"), {"title": "Song"}, format="multipart")
    assert metadata_only.status_code == 200 and metadata_only.json() == created.json()
    assert Track.objects.count() == 1


def test_the_upsert_updates_only_the_fields_sent(cms):
    cms.put(
        by_external_id("cms-7"),
        {"audio": upload(wav_bytes(1.0, freq=410)), "title": "A", "album": "X"},
        format="multipart",
    )
    body = cms.put(by_external_id("cms-7"), {"title": "B"}, format="multipart").json()
    assert (body["title"], body["album"]) == ("B", "X")
    assert cms.get(by_external_id("cms-7")).json()["title"] == "B"


def test_the_upsert_refuses_what_would_lose_data(cms):
    missing = cms.put(by_external_id("new-one"), {"title": "no audio"}, format="multipart")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "missing_file"
    audio = wav_bytes(1.0, freq=420)
    cms.put(by_external_id("first"), {"audio": upload(audio)}, format="multipart")
    other_audio = cms.put(by_external_id("first"), {"audio": upload(wav_bytes(1.0, freq=430))}, format="multipart")
    assert other_audio.status_code == 409 and other_audio.json()["error"]["code"] == "audio_differs"
    same_audio_elsewhere = cms.put(by_external_id("second"), {"audio": upload(audio)}, format="multipart")
    assert same_audio_elsewhere.status_code == 409
    assert same_audio_elsewhere.json()["error"]["code"] == "duplicate_audio"
    assert cms.get(by_external_id("second")).status_code == 404


def test_the_upsert_adopts_audio_held_without_an_external_id(cms):
    audio = wav_bytes(1.0, freq=440)
    track_id = cms.post(URL, {"audio": upload(audio)}, format="multipart").json()["id"]
    adopted = cms.put(by_external_id("cms/with/slashes"), {"audio": upload(audio), "artist": "Z"}, format="multipart")
    assert adopted.status_code == 200 and adopted.json()["id"] == track_id
    assert adopted.json()["external_id"] == "cms/with/slashes" and adopted.json()["artist"] == "Z"


def test_posting_held_audio_with_an_external_id_adopts_it_when_the_track_has_none(cms):
    audio = wav_bytes(1.0, freq=445)
    track_id = cms.post(URL, {"audio": upload(audio)}, format="multipart").json()["id"]
    for _ in range(2):  # idempotent: the second time the track already has it
        again = cms.post(URL, {"audio": upload(audio), "external_id": "cms-adopt"}, format="multipart")
        assert again.status_code == 200 and again.json()["id"] == track_id
        assert again.json()["external_id"] == "cms-adopt"
    assert cms.get(by_external_id("cms-adopt")).json()["id"] == track_id


def test_posting_held_audio_with_another_external_id_is_a_409_naming_the_track(cms):
    audio = wav_bytes(1.0, freq=447)
    track_id = cms.post(URL, {"audio": upload(audio), "external_id": "cms-a"}, format="multipart").json()["id"]
    other = cms.post(URL, {"audio": upload(audio), "external_id": "cms-b", "genre": "jazz"}, format="multipart")
    assert other.status_code == 409 and other.json()["error"]["code"] == "duplicate_audio"
    assert f"track {track_id}" in other.json()["error"]["message"] and "'cms-a'" in other.json()["error"]["message"]
    assert Track.objects.get(pk=track_id).external_id == "cms-a" and not Decision.objects.exists()
    assert cms.get(by_external_id("cms-b")).status_code == 404


def test_posting_held_audio_with_an_external_id_another_track_has_is_a_409(cms):
    held = cms.post(URL, {"audio": upload(wav_bytes(1.0, freq=449))}, format="multipart").json()["id"]
    taken = cms.post(
        URL, {"audio": upload(wav_bytes(1.0, freq=451)), "external_id": "cms-t"}, format="multipart"
    ).json()["id"]
    clash = cms.post(URL, {"audio": upload(wav_bytes(1.0, freq=449)), "external_id": "cms-t"}, format="multipart")
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "external_id_taken"
    assert f"track {taken}" in clash.json()["error"]["message"]
    assert Track.objects.get(pk=held).external_id is None


def test_the_upsert_takes_metadata_as_json(cms):
    cms.put(
        by_external_id("cms-j"),
        {"audio": upload(wav_bytes(1.0, freq=453)), "title": "A", "album": "X"},
        format="multipart",
    )
    updated = cms.put(by_external_id("cms-j"), {"title": "B", "genre": "jazz"}, format="json")
    assert updated.status_code == 200, updated.content
    assert (updated.json()["title"], updated.json()["album"]) == ("B", "X")
    assert updated.json()["reviewed_genre"]["slug"] == "jazz"
    again = cms.put(by_external_id("cms-j"), {"title": "B"}, format="json")
    assert again.status_code == 200 and again.json()["updated_at"] == updated.json()["updated_at"]


def test_a_json_upsert_for_a_new_external_id_is_a_404_missing_file_and_bad_json_bodies_are_400(cms):
    missing = cms.put(by_external_id("cms-new"), {"title": "no audio"}, format="json")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "missing_file"
    make_track(external_id="cms-k")
    for body in ({}, [], {"audio": "abc"}, {"title": 5}, {"title": "T", "colour": "red"}):
        response = cms.put(by_external_id("cms-k"), body, format="json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_parameter", body
    assert not Track.objects.filter(external_id="cms-new").exists()


def test_a_genre_sent_with_a_track_is_a_catalog_label_recorded_once(cms):
    audio = wav_bytes(1.0, freq=450)
    created = cms.post(URL, {"audio": upload(audio), "external_id": "cms-g", "genre": "jazz"}, format="multipart")
    assert created.status_code == 201, created.content
    assert created.json()["reviewed_genre"] == {"slug": "jazz", "name": "Jazz"}
    decision = Decision.objects.get()
    assert (decision.source, decision.action, decision.genre.name) == ("catalog", "labelled", "Jazz")
    assert decision.editor.username.startswith("api-client-") and not decision.editor.is_active
    assert cms.post(URL, {"audio": upload(audio), "genre": "Jazz"}, format="multipart").status_code == 200
    assert cms.put(by_external_id("cms-g"), {"genre": "Jazz"}, format="multipart").status_code == 200
    assert Decision.objects.count() == 1  # the same genre again records nothing

    changed = cms.put(by_external_id("cms-g"), {"genre": "Blues"}, format="multipart")
    assert changed.status_code == 200 and changed.json()["reviewed_genre"]["name"] == "Blues"
    assert list(Decision.objects.order_by("pk").values_list("genre__name", "editor__username")) == [
        ("Jazz", decision.editor.username),
        ("Blues", decision.editor.username),
    ]
    feed = cms.get("/api/v1/tags/changes").json()["changes"]
    assert [(c["genre"]["name"], c["source"], c["action"]) for c in feed] == [
        ("Jazz", "catalog", "labelled"),
        ("Blues", "catalog", "labelled"),
    ]


def test_a_new_track_by_upsert_gets_the_label_and_a_session_user_is_its_editor(session_of, staff):
    lead = session_of(staff)
    created = lead.put(
        by_external_id("cms-s"), {"audio": upload(wav_bytes(1.0, freq=460)), "genre": "Metal"}, format="multipart"
    )
    assert created.status_code == 201 and created.json()["reviewed_genre"]["name"] == "Metal"
    assert Decision.objects.get().editor == staff


def test_an_unknown_or_inactive_genre_is_a_400_and_nothing_is_stored(cms):
    from catalog.models import Genre

    response = cms.post(URL, {"audio": upload(wav_bytes(1.0, freq=470)), "genre": "Polka"}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_genre"
    assert "Polka" in response.json()["error"]["message"]
    response = cms.put(
        by_external_id("cms-u"), {"audio": upload(wav_bytes(1.0, freq=480)), "genre": "Polka"}, format="multipart"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_genre"
    Genre.objects.filter(name="World").update(active=False)
    response = cms.post(URL, {"audio": upload(wav_bytes(1.0, freq=490)), "genre": "World"}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "inactive_genre"
    assert not Track.objects.exists() and not Decision.objects.exists()


def test_a_cms_genre_never_overrides_an_editors_decision(cms, decided):
    track = decided(genre="blues", external_id="cms-e").track
    response = cms.put(by_external_id("cms-e"), {"genre": "Rock"}, format="multipart")
    assert response.status_code == 200 and response.json()["reviewed_genre"]["name"] == "Blues"
    assert track.decisions.count() == 1


def test_the_schema_documents_the_json_upsert_and_confidence_in_the_feed(cms):
    schema = cms.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    body = schema["paths"]["/api/v1/tracks/by-external-id/{external_id}"]["put"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    json_body = schema["components"]["schemas"]["TrackUpsertJsonRequest"]
    assert set(json_body["properties"]) == {"title", "artist", "album", "genre"} and json_body["minProperties"] == 1
    assert schema["components"]["schemas"]["Proposal"]["properties"]["top_k"]["items"] == {
        "$ref": "#/components/schemas/GenreScore"
    }
    change = schema["components"]["schemas"]["TagChange"]
    assert "source" in change["required"] and "bulk" in change["properties"]["source"]["description"]
