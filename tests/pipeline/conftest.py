"""Pipeline tests are transactional (worker processes must see committed rows)."""

import pytest


@pytest.fixture(autouse=True)
def _taxonomy(default_genres) -> None:
    """Every pipeline test starts with the default genres, even after a flush."""
