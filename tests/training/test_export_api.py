"""Label exports over the API: for people with the export permissions, never for CMS clients."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from catalog.api.clients import api_client_create
from review.exports import MANIFEST_JSONL

URL = "/api/v1/exports/"


@pytest.fixture
def ml_engineer(django_user_model):
    user = django_user_model.objects.create_user("mo", password="pw")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_labelexport", "view_labelexport"]))
    client = APIClient()
    client.force_login(user)
    return client


def test_an_ml_engineer_creates_an_export_and_downloads_its_files(ml_engineer, audio_track, decide):
    decide(audio_track("low", artist="A"), "Jazz")
    created = ml_engineer.post(URL, {}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["rows"] == 1 and body["counts"] == {"Jazz": 1}
    meta = body["files"][MANIFEST_JSONL]
    download = ml_engineer.get(meta["url"])
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == meta["sha256"] and b'"Jazz"' in content
    assert ml_engineer.get(f"{URL}{body['id']}/").json()["id"] == body["id"]
    assert [e["id"] for e in ml_engineer.get(URL).json()] == [body["id"]]

    decide(audio_track("high", artist="B"), "Rock")
    incremental = ml_engineer.post(URL, {"since": body["id"]}, format="json").json()
    assert incremental["rows"] == 1 and incremental["counts"] == {"Rock": 1} and incremental["since"] == body["id"]

    legacy = ml_engineer.post(URL, {"split": "hash"}, format="json")
    assert legacy.status_code == 201 and sum(legacy.json()["split_counts"].values()) == 2
    bad = ml_engineer.post(URL, {"split": "0.9,0.9,0.1"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_split"


def test_bad_requests_and_people_without_the_permission_are_refused(ml_engineer, django_user_model, db):
    unknown = ml_engineer.post(URL, {"since": 999}, format="json")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_export"
    assert ml_engineer.get(f"{URL}1/files/manifest.jsonl").status_code == 404

    cms = APIClient()
    cms.credentials(HTTP_AUTHORIZATION=f"Token {api_client_create(name='CMS')[1]}")
    assert cms.post(URL, {}, format="json").status_code == 403
    editor = APIClient()
    editor.force_login(django_user_model.objects.create_user("ed", is_staff=True))
    assert editor.get(URL).status_code == 403


def test_every_file_of_an_export_comes_with_a_content_type_the_schema_documents(
    ml_engineer, audio_track, decide, client
):
    decide(audio_track("low", artist="A"), "Jazz")
    body = ml_engineer.post(URL, {"with_audio": True}, format="json").json()
    schema = ml_engineer.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    documented = schema["paths"]["/api/v1/exports/{id}/files/{name}"]["get"]["responses"]["200"]["content"]
    assert len(body["files"]) == 4
    for name, meta in body["files"].items():
        assert ml_engineer.get(meta["url"])["Content-Type"] in documented, name
