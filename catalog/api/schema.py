"""What the schema must say so that a request it allows is one the server accepts, and one it
refuses is refused: values from the data (the genres a sender may name, the active model's top_k
range), the change feed's cursor pattern, and rules drf-spectacular cannot see (no NUL in text, an
upsert sends something).

The schema is generated on each request to /api/schema/, so it states what the server accepts now
(staff edit the taxonomy; a promotion changes the label count). Validation stays in the views,
with the API's own error codes.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from catalog.api.cursor import CURSOR_PATTERN
from catalog.models import Genre
from catalog.selectors import active_model_version

DEFAULT_TOP_K = 5  # what /api/genre answers without ?top_k (capped at the model's labels)


class GenreField(serializers.CharField):
    """A genre by name or slug; the view resolves it (400 `unknown_genre` / `inactive_genre`).
    Spaces around it are refused, not trimmed: the schema's list has none (and "\r" is not blank)."""

    def __init__(self, *, active_only: bool, **kwargs: Any) -> None:
        self.active_only = active_only
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if value != value.strip():
            raise serializers.ValidationError("A genre's name or slug, without spaces around it.")
        return value


class TopKField(serializers.IntegerField):
    """`?top_k=`; parsed by the classify service (400 `invalid_top_k`), documented 1..labels."""


class CursorField(serializers.CharField):
    """The change feed's cursor; decoded by the view (400 `invalid_cursor`), untrimmed: "\r" is not
    the empty cursor (the beginning)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(trim_whitespace=False, **kwargs)


def genre_values(*, active_only: bool) -> list[str]:
    """Every spelling the API accepts, in the taxonomy's order: each genre's name and slug."""
    genres = Genre.objects.order_by("order", "name")
    if active_only:
        genres = genres.filter(active=True)
    values: list[str] = []
    for name, slug in genres.values_list("name", "slug"):
        values += [name] if name == slug else [name, slug]
    return values


class GenreFieldSchema(OpenApiSerializerFieldExtension):
    target_class = GenreField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        schema.pop("maxLength", None)
        schema["enum"] = genre_values(active_only=self.target.active_only) + ([""] if self.target.allow_blank else [])
        return schema


class TopKFieldSchema(OpenApiSerializerFieldExtension):
    target_class = TopKField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        schema.update(minimum=1, default=DEFAULT_TOP_K)
        if (model_version := active_model_version()) is not None:
            schema.update(maximum=len(model_version.labels), default=min(DEFAULT_TOP_K, len(model_version.labels)))
        return schema


class CursorFieldSchema(OpenApiSerializerFieldExtension):
    target_class = CursorField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        schema["pattern"] = CURSOR_PATTERN
        return schema


class _RequestBodyRules(OpenApiSerializerExtension):
    """A serializer's schema with ``REQUEST_RULES`` added to its request body (not its responses)."""

    REQUEST_RULES: dict[str, Any] = {}

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema.update(self.REQUEST_RULES)
        return schema


class TrackUpsertSchema(_RequestBodyRules):
    """An upsert sets something: a form with at least one field (400 `invalid_parameter` else)."""

    target_class = "catalog.api.serializers.TrackUpsertSerializer"
    REQUEST_RULES = {"minProperties": 1}


class TrackUpsertJsonSchema(_RequestBodyRules):
    """The JSON upsert: at least one of the metadata fields, strings only, nothing else (400 else)."""

    target_class = "catalog.api.serializers.TrackUpsertJsonSerializer"
    REQUEST_RULES = {"minProperties": 1, "additionalProperties": False}


class BodyRequiredSchema(AutoSchema):
    """For views whose every field is optional but whose request must send one (the upsert)."""

    def _get_request_body(self, direction: str = "request") -> dict[str, Any] | None:
        body = super()._get_request_body(direction)
        if body is not None:
            body["required"] = True
        return body


NO_NUL = r"^[^\x00]*$"
# 1 to 200 characters, not only spaces (the API strips them), no NUL (PostgreSQL text cannot hold it).
# "Not only spaces" must mean the same to the schema (ECMA regex: \s) and to the server (Python:
# str.isspace): \x1c-\x1f are spaces only to Python, \ufeff only to ECMA. So both name every
# character of either set, written with escapes both regex engines read alike.
SPACE_CLASS = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000\ufeff")
)
EXTERNAL_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "pattern": rf"^[^\x00]*[^\x00{SPACE_CLASS}][^\x00]*$",
}


def strings_without_nul(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: every free-text string a client sends refuses NUL (DRF's CharField
    does, and PostgreSQL text cannot store it), so the schema says so."""

    def mark(schema: dict[str, Any]) -> None:
        if schema.get("type") == "string" and not ({"enum", "pattern", "format"} & schema.keys()):
            schema["pattern"] = NO_NUL

    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):  # COMPONENT_SPLIT_REQUEST: the shapes clients send
            for field in component.get("properties", {}).values():
                mark(field)
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                mark(parameter.get("schema", {}))
    return result


# gunicorn answers a request line over its limit (4094 bytes) itself, in HTML, before the API sees
# it. Only refused requests are that long (every parameter the schema allows is short), but the
# schema must still say what an integrator can get.
URI_TOO_LONG = {
    "description": "URI too long: the web server refuses a request line over 4094 bytes (its own "
    "HTML page, before the API).",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def uri_too_long(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: every operation documents the web server's 414."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("414", URI_TOO_LONG)
    return result
