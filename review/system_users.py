"""Users that stand for a system rather than a person, so every decision keeps an editor.

A catalog label (a genre the import manifest or a CMS already knew) is a decision like any
other; its editor is the importing person, or one of these. They are created on demand,
inactive and without a usable password: nobody can sign in as them.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from catalog.models import ApiClient

CATALOG_IMPORT_USERNAME = "catalog-import"


def system_user(*, username: str, display_name: str = "") -> AbstractBaseUser:
    """The inactive user named `username`, created the first time it is asked for."""
    User = get_user_model()
    # get_or_create retries the read when a concurrent caller inserted the row first.
    user, created = User.objects.get_or_create(
        username=username, defaults={"is_active": False, "first_name": display_name[:150]}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def catalog_import_user() -> AbstractBaseUser:
    """The default editor of labels that `import_tracks` records."""
    return system_user(username=CATALOG_IMPORT_USERNAME, display_name="Catalog import")


def api_client_user(client: ApiClient) -> AbstractBaseUser:
    """The editor of labels an API client sends: one per client, named by its id (stable across
    renames), with the client's name as display name."""
    return system_user(username=f"api-client-{client.pk}", display_name=f"API client {client.name}")
