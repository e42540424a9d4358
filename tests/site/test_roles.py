"""Who gets what: every page and endpoint of the URLconf, asked by each role, answers as README says.

Roles (README, "Reviewing" and "REST API"): a *Reviewer* reviews and does nothing more (no CMS
API by session, no django-rq, no operator pages, no exports); an *Editorial lead* has every
editorial tool and may use the CMS API with the session; a superuser may do everything; an API
client's token opens the CMS endpoints and nothing else. The page list is read from the URLconf,
so a page added without an expected answer here fails this test.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass

import django_rq
import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rq import Worker

from acousticsense_site.log_filters import ClientErrorsWithoutTraceback
from catalog.api.clients import api_client_create
from catalog.models import Genre, ImportBatch, TrackSource, TrackStatus
from inference.models import ClassificationCall, RetrainRun, TeacherTarget
from review.decisions import DecisionInput, decision_submit
from review.exports import label_export_create
from review.models import Claim
from tests.factories import make_analysis, make_model_version, make_track

ROLES = ("anonymous", "reviewer", "lead", "superuser", "token")
LOGIN = "login"  # 302 to the admin's login page
REDIRECT = "302"  # 302 somewhere else
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 32
MEDIA_ROUTE = "media/<path:path>"

# route → the answers of: anonymous, reviewer, lead, superuser, API client token (GET).
# "login": a redirect to the admin's login page; "302": a redirect elsewhere.
EXPECTED = {
    # Site
    "": "302 302 302 302 302",  # to the admin's start page
    "health": "200 200 200 200 200",
    "favicon.ico": "302 302 302 302 302",
    # Review and lead pages (review/urls.py, the pipeline page)
    "admin/pipeline/": "login 403 200 200 login",
    "admin/review/queue/": "login 200 200 200 login",
    "admin/review/next/": "login 302 302 302 login",
    "admin/review/track/<int:track_id>/": "login 200 200 200 login",  # rita holds it: others see who does
    "admin/review/track/<int:track_id>/hold/": "login 405 405 405 login",
    "admin/review/track/<int:track_id>/skip/": "login 405 405 405 login",
    "admin/review/track/<int:track_id>/reject/": "login 405 405 405 login",
    "admin/review/decision/<int:decision_id>/undo/": "login 405 405 405 login",
    "admin/review/workstation/": "login 200 200 200 login",
    "admin/review/workstation/analyse/": "login 405 405 405 login",
    "admin/review/stats/": "login 403 200 200 login",
    "admin/review/models/": "login 403 200 200 login",
    "admin/review/models/<int:model_version_id>/promote/": "login 403 200 200 login",
    "admin/review/models/<int:model_version_id>/reanalyze/": "login 405 405 405 login",
    "admin/review/models/<int:model_version_id>/report/": "login 403 200 200 login",
    "admin/review/models/<int:model_version_id>/report.pdf": "login 403 404 404 login",  # no report for this version
    "admin/review/agreement/": "login 403 200 200 login",
    "admin/review/agreement/trend.png": "login 403 200 200 login",
    "admin/review/agreement/<int:model_version_id>/confusion.png": "login 403 200 200 login",
    # The admin itself
    "admin/": "login 200 200 200 login",
    "admin/login/": "200 302 302 302 200",
    "admin/logout/": "302 405 405 405 302",
    "admin/password_change/": "login 200 200 200 login",
    "admin/password_change/done/": "login 200 200 200 login",
    "admin/autocomplete/": "login 403 403 403 login",
    "admin/jsi18n/": "login 200 200 200 login",
    "admin/r/<path:content_type_id>/<path:object_id>/": "login 404 404 404 login",
    "admin/^(?P<app_label>auth|catalog|django_rq|inference|review)/$": "login 200 200 200 login",  # /admin/catalog/
    "admin/(?P<url>.*)$": "login 404 404 404 login",
    # Users and groups: superusers only
    "admin/auth/group/": "login 403 403 200 login",
    "admin/auth/group/add/": "login 403 403 200 login",
    "admin/auth/group/<path:object_id>/history/": "login 403 403 200 login",
    "admin/auth/group/<path:object_id>/delete/": "login 403 403 200 login",
    "admin/auth/group/<path:object_id>/change/": "login 403 403 200 login",
    "admin/auth/group/<path:object_id>/": "login 302 302 302 login",
    "admin/auth/user/<id>/password/": "login 403 403 200 login",
    "admin/auth/user/": "login 403 403 200 login",
    "admin/auth/user/add/": "login 403 403 200 login",
    "admin/auth/user/<path:object_id>/history/": "login 403 403 200 login",
    "admin/auth/user/<path:object_id>/delete/": "login 403 403 200 login",
    "admin/auth/user/<path:object_id>/change/": "login 403 403 200 login",
    "admin/auth/user/<path:object_id>/": "login 302 302 302 login",
    # Catalog: reviewers view tracks, analyses and genres; leads edit
    "admin/catalog/genre/": "login 200 200 200 login",
    "admin/catalog/genre/add/": "login 403 200 200 login",
    "admin/catalog/genre/<path:object_id>/history/": "login 200 200 200 login",
    "admin/catalog/genre/<path:object_id>/delete/": "login 403 200 200 login",
    "admin/catalog/genre/<path:object_id>/change/": "login 200 200 200 login",
    "admin/catalog/genre/<path:object_id>/": "login 302 302 302 login",
    "admin/catalog/track/upload/": "login 403 200 200 login",
    "admin/catalog/track/": "login 200 200 200 login",
    "admin/catalog/track/add/": "login 302 302 302 login",  # to the upload page
    "admin/catalog/track/<path:object_id>/history/": "login 200 200 200 login",
    "admin/catalog/track/<path:object_id>/delete/": "login 403 200 200 login",
    "admin/catalog/track/<path:object_id>/change/": "login 200 200 200 login",
    "admin/catalog/track/<path:object_id>/": "login 302 302 302 login",
    "admin/catalog/modelversion/": "login 403 200 200 login",
    "admin/catalog/modelversion/add/": "login 403 403 403 login",
    "admin/catalog/modelversion/<path:object_id>/history/": "login 403 200 200 login",
    "admin/catalog/modelversion/<path:object_id>/delete/": "login 403 200 200 login",
    "admin/catalog/modelversion/<path:object_id>/change/": "login 403 200 200 login",
    "admin/catalog/modelversion/<path:object_id>/": "login 302 302 302 login",
    "admin/catalog/analysis/": "login 200 200 200 login",
    "admin/catalog/analysis/add/": "login 403 403 403 login",
    "admin/catalog/analysis/<path:object_id>/history/": "login 200 200 200 login",
    "admin/catalog/analysis/<path:object_id>/delete/": "login 403 200 200 login",
    "admin/catalog/analysis/<path:object_id>/change/": "login 200 200 200 login",
    "admin/catalog/analysis/<path:object_id>/": "login 302 302 302 login",
    "admin/catalog/importbatch/": "login 403 200 200 login",
    "admin/catalog/importbatch/add/": "login 403 403 403 login",
    "admin/catalog/importbatch/<path:object_id>/history/": "login 403 200 200 login",
    "admin/catalog/importbatch/<path:object_id>/delete/": "login 403 200 200 login",
    "admin/catalog/importbatch/<path:object_id>/change/": "login 403 200 200 login",
    "admin/catalog/importbatch/<path:object_id>/": "login 302 302 302 login",
    "admin/catalog/apiclient/": "login 403 200 200 login",
    "admin/catalog/apiclient/add/": "login 403 200 200 login",
    "admin/catalog/apiclient/<path:object_id>/history/": "login 403 200 200 login",
    "admin/catalog/apiclient/<path:object_id>/delete/": "login 403 200 200 login",
    "admin/catalog/apiclient/<path:object_id>/change/": "login 403 200 200 login",
    "admin/catalog/apiclient/<path:object_id>/": "login 302 302 302 login",
    # django-rq: operators only (superusers or django_rq.admin); the JSON answers to RQ_API_TOKEN
    "admin/django_rq/dashboard/^stats.json/?$": "401 401 401 200 401",
    "admin/django_rq/dashboard/^stats.json/(?P<token>[\\w]+)?/?$": "401 401 401 200 401",
    "admin/django_rq/dashboard/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/details/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/finished/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/failed/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/failed/clear/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/scheduled/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/started/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/deferred/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/empty/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/requeue-all/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/results/<str:result_id>/": "login 403 403 404 login",  # noqa: E501 - Django's route, verbatim
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/delete/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/requeue/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/enqueue/": "login 403 403 200 login",
    "admin/django_rq/dashboard/queues/<int:queue_index>/<str:job_id>/stop/": "login 403 403 405 login",
    "admin/django_rq/dashboard/queues/confirm-action/<int:queue_index>/": "login 403 403 302 login",
    "admin/django_rq/dashboard/queues/actions/<int:queue_index>/": "login 403 403 302 login",
    "admin/django_rq/dashboard/workers/<int:queue_index>/": "login 403 403 200 login",
    "admin/django_rq/dashboard/workers/<int:queue_index>/<str:key>/": "login 403 403 200 login",
    "admin/django_rq/dashboard/cron-schedulers/<int:connection_index>/<str:scheduler_name>/": "login 403 403 404 login",
    "admin/django_rq/dashboard/cron-schedulers/<int:connection_index>/<str:scheduler_name>/jobs/<path:cron_job_name>/": "login 403 403 404 login",  # noqa: E501 - Django's route, verbatim
    # Inference logs: leads view them (inference/migrations/0003), superusers may also delete
    "admin/inference/classificationcall/latency.png": "login 403 200 200 login",
    "admin/inference/classificationcall/": "login 403 200 200 login",
    "admin/inference/classificationcall/add/": "login 403 403 403 login",
    "admin/inference/classificationcall/<path:object_id>/history/": "login 403 200 200 login",
    "admin/inference/classificationcall/<path:object_id>/delete/": "login 403 403 200 login",
    "admin/inference/classificationcall/<path:object_id>/change/": "login 403 200 200 login",
    "admin/inference/classificationcall/<path:object_id>/": "login 302 302 302 login",
    "admin/inference/teachertarget/": "login 403 200 200 login",
    "admin/inference/teachertarget/add/": "login 403 403 403 login",
    "admin/inference/teachertarget/<path:object_id>/history/": "login 403 200 200 login",
    "admin/inference/teachertarget/<path:object_id>/delete/": "login 403 403 200 login",
    "admin/inference/teachertarget/<path:object_id>/change/": "login 403 200 200 login",
    "admin/inference/teachertarget/<path:object_id>/": "login 302 302 302 login",
    "admin/inference/retrainrun/": "login 403 200 200 login",
    "admin/inference/retrainrun/add/": "login 403 403 403 login",
    "admin/inference/retrainrun/<path:object_id>/history/": "login 403 200 200 login",
    "admin/inference/retrainrun/<path:object_id>/delete/": "login 403 403 200 login",
    "admin/inference/retrainrun/<path:object_id>/change/": "login 403 200 200 login",
    "admin/inference/retrainrun/<path:object_id>/": "login 302 302 302 login",
    # Review records; label exports for leads (the export permission) only
    "admin/review/decision/": "login 200 200 200 login",
    "admin/review/decision/add/": "login 403 403 403 login",
    "admin/review/decision/<path:object_id>/history/": "login 200 200 200 login",
    "admin/review/decision/<path:object_id>/delete/": "login 403 403 403 login",
    "admin/review/decision/<path:object_id>/change/": "login 200 200 200 login",
    "admin/review/decision/<path:object_id>/": "login 302 302 302 login",
    "admin/review/claim/": "login 200 200 200 login",
    "admin/review/claim/add/": "login 403 403 403 login",
    "admin/review/claim/<path:object_id>/history/": "login 200 200 200 login",
    "admin/review/claim/<path:object_id>/delete/": "login 403 200 200 login",
    "admin/review/claim/<path:object_id>/change/": "login 200 200 200 login",
    "admin/review/claim/<path:object_id>/": "login 302 302 302 login",
    "admin/review/labelexport/<int:export_id>/files/<str:name>": "login 403 200 200 login",
    "admin/review/labelexport/<int:export_id>/download.zip": "login 403 200 200 login",
    "admin/review/labelexport/": "login 403 200 200 login",
    "admin/review/labelexport/add/": "login 403 200 200 login",
    "admin/review/labelexport/<path:object_id>/history/": "login 403 200 200 login",
    "admin/review/labelexport/<path:object_id>/delete/": "login 403 200 200 login",
    "admin/review/labelexport/<path:object_id>/change/": "login 403 200 200 login",
    "admin/review/labelexport/<path:object_id>/": "login 302 302 302 login",
    # CMS API: tokens, leads and superusers; never a reviewer's session.
    # Exports: people with the permission, never tokens
    "api/genre": "401 403 405 405 405",
    "api/v1/tracks/": "401 403 200 200 200",
    "api/v1/tracks/<int:pk>/": "401 403 200 200 200",
    "api/v1/tracks/<int:pk>/images/<str:kind>.png": "401 403 200 200 200",
    "api/v1/tracks/by-external-id/<path:external_id>": "401 403 200 200 200",
    "api/v1/tags/changes": "401 403 200 200 200",
    "api/v1/exports/": "401 403 200 200 403",
    "api/v1/exports/<int:pk>/": "401 403 200 200 403",
    "api/v1/exports/<int:pk>/files/<str:name>": "401 403 200 200 403",
    # The schema and its docs: staff sessions and API tokens; anonymous visitors sign in first
    "api/schema/": "401 200 200 200 200",
    "api/docs/": "login 200 200 200 200",
    "api/redoc/": "login 200 200 200 200",
    "api/^[\\s\\S]*$": "404 404 404 404 404",  # any character, a line break too: JSON 404
}
MEDIA = {  # MEDIA_ROUTE, asked for each kind of file
    "audio": "login 200 200 200 login",
    "image": "login 200 200 200 login",
    "export": "login 403 200 200 login",  # exports name editors: the export permission only
}


def walk(patterns: list, prefix: str = "") -> list[str]:
    """Every route of the URLconf as written (converters and regexes included)."""
    routes = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            routes += walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            routes.append(prefix + str(pattern.pattern))
    return routes


@dataclass
class World:
    """Real objects (fixtures) for every path parameter."""

    ids: dict[str, str]
    job_id: str
    worker_key: str
    media: dict[str, str]


@pytest.fixture
def world(settings, tmp_path, reviewer, redis_url) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    version = make_model_version(is_active=True)
    track = make_track(status=TrackStatus.AWAITING_REVIEW, external_id="cms-1")
    (settings.MEDIA_ROOT / "tracks").mkdir(parents=True)
    (settings.MEDIA_ROOT / track.audio.name).write_bytes(b"RIFF" + b"0" * 64)
    images = settings.MEDIA_ROOT / "analyses"
    images.mkdir()
    (images / "spec.png").write_bytes(PNG)
    analysis = make_analysis(track=track, model_version=version, spectrogram_image="analyses/spec.png")
    reviewed = make_track(status=TrackStatus.AWAITING_REVIEW)
    make_analysis(track=reviewed, model_version=version)
    decision = decision_submit(
        editor=reviewer, track=reviewed, data=DecisionInput(genre=Genre.objects.get(slug="jazz"))
    )
    export = label_export_create(created_by=reviewer)
    claim = Claim.objects.create(
        track=track,
        editor=reviewer,
        claimed_at=timezone.now(),
        expires_at=timezone.now() + timezone.timedelta(minutes=10),
    )
    batch = ImportBatch.objects.create(name="Batch", source=TrackSource.UPLOAD, imported=1)
    api_client, _ = api_client_create(name="Some CMS")
    call = ClassificationCall.objects.create(latency_ms=12.5, status_code=200, filename="a.wav")
    target = TeacherTarget.objects.create(track=track, mapping_version="m1")
    run = RetrainRun.objects.create(step="export", heartbeat_at=timezone.now())
    queue = django_rq.get_queue("default")
    job = queue.enqueue("builtins.print", "hello")
    worker = Worker([queue], connection=queue.connection, name="matrix-worker")
    worker.register_birth()
    models = {
        "catalog/genre": Genre.objects.get(slug="jazz").pk,
        "catalog/track": track.pk,
        "catalog/modelversion": version.pk,
        "catalog/analysis": analysis.pk,
        "catalog/importbatch": batch.pk,
        "catalog/apiclient": api_client.pk,
        "inference/classificationcall": call.pk,
        "inference/teachertarget": target.pk,
        "inference/retrainrun": run.pk,
        "review/decision": decision.pk,
        "review/claim": claim.pk,
        "review/labelexport": export.pk,
        "auth/user": reviewer.pk,
        "auth/group": Group.objects.get(name="Reviewer").pk,
    }
    return World(
        ids={k: str(v) for k, v in models.items()}
        | {"track": str(track.pk), "version": str(version.pk), "export": str(export.pk), "ct": "0"},
        job_id=job.id,
        worker_key=worker.key,
        media={
            "audio": f"/media/{track.audio.name}",
            "image": "/media/analyses/spec.png",
            "export": f"/media/exports/{export.pk}/manifest.jsonl",
        },
    )


def url_for(route: str, world: World) -> str:
    """A real URL for a route: path parameters filled with the world's objects."""
    special = {
        "admin/(?P<url>.*)$": "/admin/nowhere/",
        "api/^[\\s\\S]*$": "/api/nowhere",
        "admin/^(?P<app_label>auth|catalog|django_rq|inference|review)/$": "/admin/catalog/",
        "admin/django_rq/dashboard/^stats.json/?$": "/admin/django_rq/dashboard/stats.json",
        "admin/django_rq/dashboard/^stats.json/(?P<token>[\\w]+)?/?$": "/admin/django_rq/dashboard/stats.json/nottherqtoken/",  # noqa: E501 - Django's route, verbatim
    }
    if route in special:
        return special[route]
    model = re.match(r"admin/(\w+/\w+)/<path:object_id>/", route)
    values = {
        "object_id": world.ids[model.group(1)] if model else "",
        "track_id": world.ids["track"],
        "pk": world.ids["export"] if "exports" in route else world.ids["track"],
        "model_version_id": world.ids["version"],
        "decision_id": world.ids["review/decision"],
        "kind": "spectrogram",
        "external_id": "cms-1",
        "name": "manifest.jsonl",
        "export_id": world.ids["export"],
        "queue_index": "0",
        "job_id": world.job_id,
        "result_id": "none",
        "key": world.worker_key,
        "scheduler_index": "0",
        "connection_index": "0",
        "scheduler_name": "none",
        "cron_job_name": "none",
        "content_type_id": world.ids["ct"],
        "app_label": "catalog",
        "id": world.ids["auth/user"],
    }
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route)


def session(role: str, reviewer: User) -> Client:
    client = Client()
    if role == "reviewer":
        client.force_login(reviewer)
    elif role == "lead":
        lead, _ = User.objects.get_or_create(username="lena", defaults={"is_staff": True})
        lead.groups.add(Group.objects.get(name="Editorial lead"))
        client.force_login(lead)
    elif role == "superuser":
        root = User.objects.filter(username="root").first() or User.objects.create_superuser("root", password="pw")
        client.force_login(root)
    elif role == "token":
        client = Client(HTTP_AUTHORIZATION=f"Token {api_client_create(name='Token CMS')[1]}")
    return client


def answer(response) -> str:
    if response.status_code == 302:
        return LOGIN if response["Location"].startswith("/admin/login/") else REDIRECT
    return str(response.status_code)


def cases(world: World) -> list[tuple[str, str, str]]:
    """(what, url, expected answers) for every route of the URLconf."""
    found = []
    for route in walk(get_resolver().url_patterns):
        if route == MEDIA_ROUTE:
            found += [(f"{route} ({kind})", world.media[kind], answers) for kind, answers in MEDIA.items()]
        else:
            found.append((route, url_for(route, world), EXPECTED.get(route, "")))
    return found


def test_every_page_of_the_urlconf_has_an_intended_answer():
    routes = walk(get_resolver().url_patterns)
    missing = [route for route in routes if route not in EXPECTED and route != MEDIA_ROUTE]
    assert not missing, f"New pages without an expected answer per role in EXPECTED: {missing}"
    stale = [route for route in EXPECTED if route not in routes]
    assert not stale, f"EXPECTED names pages the URLconf no longer has: {stale}"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_intended_answer_on_every_page(role, world, reviewer):
    client = session(role, reviewer)
    column = ROLES.index(role)
    wrong = []
    for what, url, answers in cases(world):
        want, got = answers.split()[column], answer(client.get(url))
        if got != want:
            wrong.append(f"{what} ({url}): {got}, expected {want}")
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


WRITES = [  # method, url (format keys from the world), body, answers per role
    ("post", "/api/v1/tracks/", {}, "401 403 400 400 400"),  # 400: no audio, so past the permission check
    ("post", "/api/genre", {}, "401 403 400 400 400"),
    ("put", "/api/v1/tracks/by-external-id/cms-1", {"title": "Retitled"}, "401 403 200 200 200"),
    ("post", "/api/v1/exports/", {}, "401 403 201 201 403"),
    ("post", "/admin/pipeline/", {"action": "recover"}, "login 403 302 302 login"),
    ("post", "/admin/django_rq/dashboard/queues/0/empty/", {"post": "yes"}, "login 403 403 302 login"),
]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_the_intended_answer_on_writes(role, world, reviewer):
    client = session(role, reviewer)
    queue = django_rq.get_queue("default")
    wrong = []
    for method, url, body, answers in WRITES:
        before = queue.count
        if method == "put":  # multipart, as the API documents it (the test client's default is octet-stream)
            response = client.put(url, encode_multipart(BOUNDARY, body), content_type=MULTIPART_CONTENT)
        else:
            response = getattr(client, method)(url, body)
        got, want = answer(response), answers.split()[ROLES.index(role)]
        if got != want:
            wrong.append(f"{method.upper()} {url}: {got}, expected {want}")
        if "django_rq" in url and role != "superuser":
            assert queue.count == before, f"{role} emptied the queue"
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


def test_only_operators_see_django_rq_and_the_pipeline_page_on_the_start_page(world, reviewer):
    pages = {
        role: session(role, reviewer).get("/admin/").content.decode() for role in ("reviewer", "lead", "superuser")
    }
    assert "/admin/django_rq/" not in pages["reviewer"] and "/admin/django_rq/" not in pages["lead"]
    assert "/admin/django_rq/" in pages["superuser"]
    assert "/admin/pipeline/" not in pages["reviewer"] and "/admin/pipeline/" in pages["lead"]
    lead_pipeline = session("lead", reviewer).get("/admin/pipeline/").content.decode()
    assert "django-rq dashboard" not in lead_pipeline and "Re-queue tracks whose jobs are missing" in lead_pipeline
    assert "django-rq dashboard" in session("superuser", reviewer).get("/admin/pipeline/").content.decode()


def test_a_403_is_the_admins_page_and_one_log_line_while_the_api_keeps_json(world, reviewer, caplog):
    client = session("reviewer", reviewer)
    with caplog.at_level("WARNING", logger="django.request"):
        page = client.get("/admin/pipeline/")
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    assert '<div id="site-name"><a href="/admin/">AcousticSense</a></div>' in html
    assert 'id="permission-denied">The pipeline page is for editorial leads and operators.</p>' in html
    assert "acousticsense/favicon.svg" in html
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelname == "WARNING" and record.exc_info is None and record.exc_text is None
    assert "Traceback" not in caplog.text
    api = client.get("/api/v1/tracks/")
    assert api.status_code == 403 and api.json()["error"]["code"] == "permission_denied"


def test_server_errors_keep_their_traceback():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error", (), exc_info)
    record.status_code = 500
    assert ClientErrorsWithoutTraceback().filter(record) and record.exc_info is exc_info
