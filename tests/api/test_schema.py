"""The OpenAPI schema is the contract: generated, valid, complete, and the API keeps to it.

The property-based part (schemathesis) sends generated requests to every operation in-process
through the WSGI app, authenticated as an API client, and fails on any 5xx or on a response the
schema does not describe. Quick, but in-process: tests/reliability/test_schema_live.py runs every
check against a real gunicorn, which is what found what this missed (issue 17).
"""

from __future__ import annotations

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

OPERATIONS = {
    ("/api/genre", "post"): {400, 413, 415},
    ("/api/v1/tracks/", "get"): {400, 404},
    ("/api/v1/tracks/", "post"): {400, 409, 413, 415},
    ("/api/v1/tracks/{id}/", "get"): {404},
    ("/api/v1/tracks/{id}/images/{kind}.png", "get"): {404},
    ("/api/v1/tracks/by-external-id/{external_id}", "get"): {404},
    ("/api/v1/tracks/by-external-id/{external_id}", "put"): {400, 409, 413, 415},
    ("/api/v1/tags/changes", "get"): {400},
}
# For ML engineers signed in with the export permissions, not for CMS clients.
EXPORT_OPERATIONS = {
    ("/api/v1/exports/", "get"): {401, 403},
    ("/api/v1/exports/", "post"): {400, 401, 403},
    ("/api/v1/exports/{id}/", "get"): {401, 403, 404},
    ("/api/v1/exports/{id}/files/{name}", "get"): {401, 403, 404},
}


@pytest.fixture
def openapi(tiny_model_version) -> dict:
    """Generated as /api/schema/ does, on each request: genres and top_k come from the data."""
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_schema_is_valid_openapi_3(openapi):
    validate_schema(openapi)  # raises on an invalid document
    assert openapi["openapi"].startswith("3.")


def test_every_endpoint_and_its_errors_are_in_the_schema(openapi):
    found = {(path, method) for path, item in openapi["paths"].items() for method in item}
    assert found == set(OPERATIONS) | set(EXPORT_OPERATIONS)
    for (path, method), errors in EXPORT_OPERATIONS.items():
        assert errors <= {int(code) for code in openapi["paths"][path][method]["responses"]}, (path, method)
    for (path, method), errors in OPERATIONS.items():
        operation = openapi["paths"][path][method]
        responses = {int(code) for code in operation["responses"]}
        assert errors | {401, 403, 429} <= responses, (path, method, responses)
        assert {"apiClientToken": []} in operation["security"]
        for code in errors:
            content = operation["responses"][str(code)]["content"]["application/json"]["schema"]
            assert content == {"$ref": "#/components/schemas/Error"}
    classify = openapi["paths"]["/api/genre"]["post"]
    assert "audio" in openapi["components"]["schemas"]["ClassifyRequestRequest"]["properties"]
    assert any(p["name"] == "top_k" for p in classify["parameters"])


def test_the_schema_and_the_docs_are_served_without_any_cdn(admin_client, transactional_db):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and "/api/genre" in schema.json()["paths"]
    for url in ("/api/docs/", "/api/redoc/"):
        html = admin_client.get(url).content.decode()
        assert "drf_spectacular_sidecar" in html
        assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


@pytest.fixture
def api_schema(tiny_model_version, cms_token):
    from acousticsense_site.wsgi import application

    return schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", application, headers={"Authorization": f"Token {cms_token}"}
    )


def test_the_schema_and_the_docs_are_for_staff_and_api_clients(client, cms, django_user_model, transactional_db):
    """Integrators read them with their token, staff with their session; anonymous visitors do not."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 401 and schema["WWW-Authenticate"] == "Token"
    for url in ("/api/docs/", "/api/redoc/"):
        assert client.get(url)["Location"] == f"/admin/login/?next={url}"
        assert cms.get(url).status_code == 200
    assert cms.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").status_code == 200
    client.force_login(django_user_model.objects.create_user("visitor"))  # signed in, not staff
    assert client.get("/api/schema/").status_code == 403 and client.get("/api/docs/").status_code == 403


def test_generated_requests_never_get_a_server_error(api_schema, cms_token):
    """Every operation, with generated parameters and bodies. (schemathesis' own pytest plugin
    does not support pytest 9 yet, so Hypothesis drives each operation's strategy here.)"""
    headers = {"Authorization": f"Token {cms_token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == len(OPERATIONS) + len(EXPORT_OPERATIONS)  # exports answer this token 403
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case: schemathesis.Case) -> None:
            # Not positive_data_acceptance: a schema cannot say "decodable audio", so schema-valid
            # random bytes are rightly refused (415, which the schema documents).
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        check()
