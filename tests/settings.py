"""The product's settings for tests.

var/ (database file, secret key, media) moves to a temporary folder so tests never touch a
developer's data. DATABASE_URL from the environment is kept (CI points it at PostgreSQL). Every
run starts a real redis-server of its own on a free port (tests flush it); a server it finds
running is never touched.
"""

import atexit
import os
import tempfile
from pathlib import Path

# Before torch loads: worker processes run beside the tests, and spinning OpenMP threads
# would slow both several-fold on a 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("ACOUSTICSENSE_VAR_DIR", tempfile.mkdtemp(prefix="acousticsense-test-var-"))

from acousticsense_site.localredis import free_port, start_redis


def _test_redis_url() -> str:
    """A Redis this run owns: tests flush it before every test, so never one found running (another
    process's data would go). ACOUSTICSENSE_TEST_REDIS_URL names one on purpose."""
    if explicit := os.environ.get("ACOUSTICSENSE_TEST_REDIS_URL"):
        return explicit
    port = free_port()
    process = start_redis(port=port, data_dir=Path(tempfile.mkdtemp(prefix="redis-")), persist=False)
    atexit.register(process.terminate)
    return f"redis://127.0.0.1:{port}/15"


# Before the settings module reads it. Processes the tests start (workers, gunicorn) load these
# settings too: they inherit the URL and use the same server instead of starting their own.
os.environ["REDIS_URL"] = os.environ["ACOUSTICSENSE_TEST_REDIS_URL"] = _test_redis_url()

from acousticsense_site.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory, so worker and web processes started by tests see the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - WhiteNoise warns when it is missing
