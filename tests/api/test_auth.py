"""Who may call the CMS endpoints: API clients by token; by session only leads, superusers and people
granted the permission, never a reviewer (although reviewers are staff)."""
from __future__ import annotations

import pytest
from django.test import Client

from catalog.api.clients import api_client_create
from catalog.models import ApiClient
from inference.models import ClassificationCall
from tests.api.conftest import grant_cms_api

ENDPOINTS = ["/api/v1/tracks/", "/api/v1/tags/changes"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_no_credentials_is_a_401_asking_for_a_token(anonymous, url):
    response = anonymous.get(url)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_wrong_token_is_a_401(anonymous, transactional_db):
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anonymous.get(ENDPOINTS[0])
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"


def test_a_deactivated_client_is_refused_and_bearer_works_too(anonymous, transactional_db):
    client, token = api_client_create(name="Old CMS")
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anonymous.get(ENDPOINTS[0]).status_code == 200
    assert ApiClient.objects.get().last_used_at is not None
    ApiClient.objects.filter(pk=client.pk).update(active=False)
    assert anonymous.get(ENDPOINTS[0]).status_code == 401


def test_only_a_hash_of_the_token_is_stored(transactional_db):
    client, token = api_client_create(name="CMS")
    stored = ApiClient.objects.filter(pk=client.pk).values()[0]
    assert token not in str(stored) and stored["token_prefix"] == token[:8]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_an_editor_without_the_permission_gets_a_403(session_of, editor, url):
    response = session_of(editor).get(url)
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def test_an_editor_cannot_classify_either(session_of, editor, tiny_model_version):
    assert session_of(editor).post("/api/genre", {}, format="multipart").status_code == 403
    assert not ClassificationCall.objects.exists()


def test_an_editor_granted_the_permission_may_call(session_of, editor):
    assert session_of(grant_cms_api(editor)).get(ENDPOINTS[0]).status_code == 200


def test_leads_use_their_session_and_the_browsable_api(session_of, staff):
    response = session_of(staff).get(ENDPOINTS[0], HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and b"Track List" in response.content


def test_a_reviewers_staff_session_cannot_push_tracks_or_classify(session_of, staff_reviewer, tiny_model_version):
    reviewer = session_of(staff_reviewer)
    for response in (reviewer.get(ENDPOINTS[0]), reviewer.post("/api/v1/tracks/", {}, format="multipart"),
                     reviewer.post("/api/genre", {}, format="multipart")):
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert not ClassificationCall.objects.exists()


def test_staff_issue_a_token_in_the_admin_and_it_works(transactional_db, anonymous):
    from django.contrib.auth.models import User

    admin_user = User.objects.create_superuser("boss", password="pw")
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post("/admin/catalog/apiclient/add/", {"name": "Partner CMS", "active": "on", "notes": ""},
                            follow=True)
    assert response.status_code == 200
    message = next(str(m) for m in response.context["messages"] if "Partner CMS" in str(m))
    token = message.rsplit(": ", 1)[1]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous.get(ENDPOINTS[0]).status_code == 200
