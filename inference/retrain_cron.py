"""RQ's own cron scheduler for the closed loop (rq ≥ 2.5, no rq-scheduler needed):

    DJANGO_SETTINGS_MODULE=acousticsense_site.settings .venv/bin/rq cron inference.retrain_cron --url "$REDIS_URL"

enqueues ``inference.retrain.retrain_job`` on the ``default`` queue at ``ACOUSTICSENSE_RETRAIN_CRON``
(a cron string, default Sundays 03:00) with ``ACOUSTICSENSE_RETRAIN_MIN_NEW`` (default 20) as
``--min-new-decisions``; a worker runs it. A run already going makes the job a no-op (the lock in
inference.retrain), so a slow run is never doubled.
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acousticsense_site.settings")
django.setup()

from rq import cron  # noqa: E402

from inference.retrain import RETRAIN_JOB_TIMEOUT_S, RETRAIN_QUEUE, retrain_job  # noqa: E402

cron.register(
    retrain_job,
    RETRAIN_QUEUE,
    cron=os.environ.get("ACOUSTICSENSE_RETRAIN_CRON", "0 3 * * 0"),
    kwargs={
        "options": {
            "adapt_on": "catalog",
            "min_new_decisions": int(os.environ.get("ACOUSTICSENSE_RETRAIN_MIN_NEW", "20")),
        },
        "started_by": "rq cron",
    },
    job_timeout=RETRAIN_JOB_TIMEOUT_S,
)
