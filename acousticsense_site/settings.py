"""AcousticSense settings: everything that differs between machines comes from the environment.

Defaults are safe for a local run (SQLite and media under var/, DEBUG off, localhost only).
Set ACOUSTICSENSE_ENV=production to require an explicit SECRET_KEY.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from acousticsense_site.env import SettingsError, env_bool, env_int, env_list, env_megabytes, secret_key

ENV = os.environ
BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(ENV.get("ACOUSTICSENSE_VAR_DIR", BASE_DIR / "var")).resolve()
PRODUCTION = ENV.get("ACOUSTICSENSE_ENV", "local").strip().lower() == "production"

SECRET_KEY = secret_key(ENV, production=PRODUCTION, var_dir=VAR_DIR)
DEBUG = env_bool(ENV, "DEBUG", False)
ALLOWED_HOSTS = env_list(ENV, "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list(ENV, "CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / Redoc assets served locally: no CDN
    "django_rq",
    "catalog",
    "inference",
    "review",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "acousticsense_site.middleware.AnonymousBodyLimitMiddleware",  # after auth: it asks who is calling
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "acousticsense_site.urls"
WSGI_APPLICATION = "acousticsense_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = ENV.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'acousticsense.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The web server and the worker write at the same time: wait for locks instead of failing,
    # and take the write lock up front so two writers never deadlock on a lock upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = ENV.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(ENV.get("STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(ENV.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Uploads: audio can be large; Django streams anything above the memory limit to a temp file.
MAX_UPLOAD_BYTES = env_megabytes(ENV, "ACOUSTICSENSE_MAX_UPLOAD_MB", 200)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Without a session or an Authorization header a request body may be at most this large (413 above).
ANONYMOUS_BODY_MAX_BYTES = 2 * 1024 * 1024
MAX_AUDIO_SECONDS = env_int(ENV, "ACOUSTICSENSE_MAX_AUDIO_SECONDS", 20 * 60, minimum=1)

# Model: a checkpoint to register and activate on start (bring your own model), and where
# checkpoints created by the product live.
MODEL_CHECKPOINT = ENV.get("ACOUSTICSENSE_MODEL_CHECKPOINT", "")
DEFAULT_MODEL = ENV.get("ACOUSTICSENSE_DEFAULT_MODEL", "starter")
if DEFAULT_MODEL not in ("starter", "untrained"):
    raise SettingsError(f"ACOUSTICSENSE_DEFAULT_MODEL={DEFAULT_MODEL!r}: must be 'starter' or 'untrained'")
MODELS_DIR = Path(ENV.get("ACOUSTICSENSE_MODELS_DIR", VAR_DIR / "models"))
INFERENCE_DEVICE = ENV.get("ACOUSTICSENSE_DEVICE", "")  # "", "cpu", "cuda", "cuda:1"
# CPU threads torch may use per process; 0 keeps torch's default (one per core). With several
# workers on one machine, cores / workers avoids them fighting over cores.
TORCH_THREADS = env_int(ENV, "ACOUSTICSENSE_TORCH_THREADS", 0)
# The ViT's arithmetic: auto = bf16 autocast on CPUs with bf16 instructions where a short probe
# finds it faster (fp32 elsewhere; bf16 ran ≈8× slower on AVX2-only CPUs), bf16 or fp16 on CUDA.
INFERENCE_PRECISION = ENV.get("ACOUSTICSENSE_INFERENCE_PRECISION", "auto").strip().lower()
if INFERENCE_PRECISION not in ("auto", "fp32", "bf16", "fp16"):
    raise SettingsError(f"ACOUSTICSENSE_INFERENCE_PRECISION={INFERENCE_PRECISION!r}: must be auto, fp32, bf16 or fp16")
# Every analysis also says music / speech / other (YAMNet on ≤ 32 frames, shipped weights).
CONTENT_CHECK = env_bool(ENV, "ACOUSTICSENSE_CONTENT_CHECK", True)
# How long opening a track in the review screen holds it for that editor.
REVIEW_CLAIM_MINUTES = env_int(ENV, "ACOUSTICSENSE_REVIEW_CLAIM_MINUTES", 10, minimum=1)
# How long a worker may stay silent before its running job is retried by another worker.
WORKER_HEARTBEAT_S = env_int(ENV, "ACOUSTICSENSE_WORKER_HEARTBEAT_S", 30, minimum=3)

REDIS_URL = ENV.get("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},
    "inference": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},
}

REST_FRAMEWORK = {
    # API clients' tokens first, so an anonymous call gets 401 with a WWW-Authenticate header;
    # sessions for staff in the browsable API and Swagger UI.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "catalog.api.auth.ApiClientAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "catalog.api.errors.api_exception_handler",
}
# Per API client (or per signed-in user), counted in Redis so all web processes share the count.
# "classify" is POST /api/genre (runs the model in the web process); "cms" is everything else.
API_THROTTLE_RATES = {
    "classify": ENV.get("ACOUSTICSENSE_API_CLASSIFY_RATE", "60/min"),
    "cms": ENV.get("ACOUSTICSENSE_API_RATE", "600/min"),
}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "acousticsense:api",
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AcousticSense CMS API",
    "DESCRIPTION": "Genre tagging for CMS integrators: classify audio, push tracks, pull reviewed tags.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/schema/, /api/docs/, /api/redoc/: staff sessions and API client tokens only.
    "SERVE_PERMISSIONS": ["catalog.api.auth.CanReadApiDocs"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "catalog.api.schema.strings_without_nul",
        "catalog.api.schema.uri_too_long",
    ],
}

LOGIN_URL = "admin:login"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION and env_bool(ENV, "HTTPS", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": ENV.get("LOG_LEVEL", "INFO")},
    "filters": {"client_errors_one_line": {"()": "acousticsense_site.log_filters.ClientErrorsWithoutTraceback"}},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"filters": ["client_errors_one_line"]},  # a 403 is a warning line, not a traceback
    },
}
