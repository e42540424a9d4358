"""The track admin's extension point: another app adds its inlines and actions here, so the
catalog's admin never imports that app and that app never imports the catalog's admin.

``review.admin`` adds a track's decision history and the bulk-accept action this way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin


@dataclass(frozen=True)
class TrackAdminAction:
    function: Callable
    permission: str  # "app_label.codename" the user needs to see and run it


TRACK_INLINES: list[type[admin.options.InlineModelAdmin]] = []
TRACK_ACTIONS: list[TrackAdminAction] = []


def track_admin_extend(
    *, inlines: tuple[type[admin.options.InlineModelAdmin], ...] = (), actions: tuple[TrackAdminAction, ...] = ()
) -> None:
    """Called once from an app's admin module, before the first request."""
    TRACK_INLINES.extend(inline for inline in inlines if inline not in TRACK_INLINES)
    TRACK_ACTIONS.extend(action for action in actions if action not in TRACK_ACTIONS)
