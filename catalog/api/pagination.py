"""Page-number pagination for lists (the change feed has its own cursor)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class ApiPagination(PageNumberPagination):
    """`?page=` (404 past the end) and `?page_size=` (at most 500 are returned), whole numbers from
    1; anything else is 400, as the schema says, rather than quietly replaced by the default."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    last_page_strings = ()  # the schema documents an integer

    def get_page_number(self, request: Request, paginator: Any) -> int:
        return self._whole_number(request, self.page_query_param) or 1

    def get_page_size(self, request: Request) -> int:
        return min(self._whole_number(request, self.page_size_query_param) or self.page_size, self.max_page_size)

    @staticmethod
    def _whole_number(request: Request, name: str) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            raise ValidationError({name: [f"A whole number of at least 1, got {raw[:20]!r}."]})
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["default"] = self.page_size
                parameter["description"] = (
                    f"Results per page (default {self.page_size}; at most {self.max_page_size} are returned)."
                )
        return parameters
