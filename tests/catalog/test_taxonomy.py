"""The default taxonomy arrives by migration and can be rolled back and forth."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from catalog.models import Genre
from tests.factories import GENRES16

pytestmark = pytest.mark.django_db


def test_a_fresh_install_has_the_16_default_genres_in_order():
    assert list(Genre.objects.values_list("name", flat=True)) == GENRES16
    assert Genre.objects.filter(active=True).count() == 16
    assert Genre.objects.get(name="R&B").slug == "r-and-b"
    assert all(Genre.objects.values_list("description", flat=True))


@pytest.mark.django_db(transaction=True)
def test_the_taxonomy_migration_is_reversible_and_never_duplicates():
    executor = MigrationExecutor(connection)
    executor.migrate([("catalog", "0001_initial")])
    assert Genre.objects.count() == 0
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Genre.objects.count() == 16
    # Re-running the data migration over existing rows never duplicates or resets them.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Genre.objects.count() == 16
