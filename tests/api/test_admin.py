"""Staff see every /api/genre call in the admin: a table and a latency histogram."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from inference.admin import render_latency_histogram
from inference.models import ClassificationCall


@pytest.fixture
def admin_browser(transactional_db) -> Client:
    browser = Client()
    browser.force_login(User.objects.create_superuser("boss", password="pw"))
    return browser


def test_the_call_log_is_a_table_with_a_latency_histogram(admin_browser):
    for latency, code in ((120.0, 200), (180.0, 200), (15.0, 415)):
        ClassificationCall.objects.create(
            latency_ms=latency, status_code=code, duration_s=30.0, error_code="" if code == 200 else "undecodable"
        )
    page = admin_browser.get("/admin/inference/classificationcall/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "latency.png" in html and "undecodable" in html
    chart = admin_browser.get("/admin/inference/classificationcall/latency.png?status_code__exact=200")
    assert chart.status_code == 200 and chart["Content-Type"] == "image/png" and chart.content[:4] == b"\x89PNG"


def test_the_histogram_is_a_plain_function_that_copes_with_no_calls():
    assert render_latency_histogram([]).startswith(b"\x89PNG")
    assert render_latency_histogram([100.0, 120.5, 300.0, float("nan")]).startswith(b"\x89PNG")


def test_editors_cannot_see_the_call_log(transactional_db):
    browser = Client()
    browser.force_login(User.objects.create_user("editor", password="pw"))
    assert browser.get("/admin/inference/classificationcall/latency.png").status_code == 302
