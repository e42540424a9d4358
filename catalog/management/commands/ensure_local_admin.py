"""Create the local admin login on first run and print how to sign in, every run."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create a local superuser if none exists and print the URL and login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")

    def handle(self, *args: object, url: str, **options: object) -> None:
        credentials_file = Path(settings.VAR_DIR) / "local-admin.json"
        User = get_user_model()
        if not User.objects.filter(is_superuser=True).exists():
            username = "admin"
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            credentials_file.write_text(json.dumps({"username": username, "password": password}))
            credentials_file.chmod(0o600)
        lines = ["", "=" * 64, f"  AcousticSense is running at {url}"]
        saved = json.loads(credentials_file.read_text()) if credentials_file.exists() else None
        user = User.objects.filter(username=saved["username"]).first() if saved else None
        if user and user.check_password(saved["password"]):
            lines += [f"  Username: {saved['username']}", f"  Password: {saved['password']}"]
            lines.append(f"  (kept in {credentials_file}; change it in the admin once signed in)")
        else:
            lines.append("  Sign in with your own superuser (manage.py changepassword USER to reset one).")
        lines += ["=" * 64, ""]
        self.stdout.write("\n".join(lines))
