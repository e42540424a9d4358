"""Exit 0 when an analysis worker on this host is registered in Redis (container healthcheck)."""

from __future__ import annotations

import socket

import django_rq
from django.core.management.base import BaseCommand, CommandError
from rq import Worker

from inference.pipeline import QUEUE


class Command(BaseCommand):
    help = "Check that an analysis worker on this host is alive (registered and heartbeating)."

    def handle(self, *args: object, **options: object) -> None:
        queue = django_rq.get_queue(QUEUE)
        host = socket.gethostname()
        workers = [w for w in Worker.all(queue=queue) if w.hostname == host]
        if not workers:
            raise CommandError(f"No analysis worker registered from {host}.")
        self.stdout.write(f"{len(workers)} worker(s) alive on {host}: {', '.join(w.name for w in workers)}")
