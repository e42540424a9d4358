"""Create an editor who can review and nothing more (the Reviewer role)."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Create a reviewer login (staff user in the Reviewer group) and print its password."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", help="Default: a generated one, printed once.")
        parser.add_argument("--lead", action="store_true", help="Editorial lead instead: all editorial tools.")

    def handle(self, *args: object, username: str, password: str | None, lead: bool, **options: object) -> None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            raise CommandError(f"A user named {username!r} already exists.")
        role = Group.objects.get(name="Editorial lead" if lead else "Reviewer")
        password = password or secrets.token_urlsafe(10)
        user = User.objects.create_user(username=username, password=password, is_staff=True)
        user.groups.add(role)
        self.stdout.write(f"Created {role.name.lower()} {username!r} with password: {password}")
