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
    for response in (
        reviewer.get(ENDPOINTS[0]),
        reviewer.post("/api/v1/tracks/", {}, format="multipart"),
        reviewer.post("/api/genre", {}, format="multipart"),
    ):
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert not ClassificationCall.objects.exists()


def issued_token(response) -> str:
    """The token shown on the page that issued it."""
    import re

    return re.search(r'<code class="issued-token">([^<]+)</code>', response.content.decode()).group(1)


def assert_shown_once_in_the_body_only(response, token: str) -> None:
    assert response.status_code == 200, "rendered by the POST itself: no redirect to carry it"
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies or all(token not in morsel.value for morsel in response.cookies.values())
    assert token not in "".join(response.headers.values())


def test_staff_issue_a_token_in_the_admin_and_it_works(transactional_db, anonymous):
    from django.contrib.auth.models import User

    admin_user = User.objects.create_superuser("boss", password="pw")
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post("/admin/catalog/apiclient/add/", {"name": "Partner CMS", "active": "on", "notes": ""})
    token = issued_token(response)
    assert_shown_once_in_the_body_only(response, token)
    client = ApiClient.objects.get(name="Partner CMS")
    for later in (
        browser.get("/admin/catalog/apiclient/"),
        browser.get(f"/admin/catalog/apiclient/{client.pk}/change/"),
    ):
        assert token not in later.content.decode()  # a reload or the next page: gone
        assert not later.context or not list(later.context.get("messages", []))
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous.get(ENDPOINTS[0]).status_code == 200


def test_a_reissued_token_is_shown_once_in_the_body_and_the_old_one_stops_working(transactional_db, anonymous):
    from django.contrib.auth.models import User

    client, old = api_client_create(name="Partner CMS")
    browser = Client()
    browser.force_login(User.objects.create_superuser("boss", password="pw"))
    response = browser.post("/admin/catalog/apiclient/", {"action": "issue_new_token", "_selected_action": [client.pk]})
    token = issued_token(response)
    assert token != old
    assert_shown_once_in_the_body_only(response, token)
    assert token not in browser.get("/admin/catalog/apiclient/").content.decode()
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert anonymous.get(ENDPOINTS[0]).status_code == 401
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous.get(ENDPOINTS[0]).status_code == 200
