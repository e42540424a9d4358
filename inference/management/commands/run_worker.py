"""Run analysis workers: a supervisor that starts a fresh worker process after every
--max-jobs jobs (bounding memory), warms the model once per process, and re-queues lost work
(on start and every maintenance pass, see inference/worker.py)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time

import django_rq
from django.core.management.base import BaseCommand, CommandParser

from catalog.selectors import active_model_version
from inference.pipeline import QUEUE
from inference.worker import AnalysisWorker

log = logging.getLogger("inference.worker")


class Command(BaseCommand):
    help = "Run an analysis worker on the inference and default queues (recycled every --max-jobs jobs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--max-jobs", type=int, default=500, help="Jobs before the worker process is replaced.")
        parser.add_argument("--burst", action="store_true", help="Exit when the queues are empty.")
        parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args: object, max_jobs: int, burst: bool, child: bool, **options: object) -> None:
        if child or burst:
            self._work(max_jobs=max_jobs, burst=burst)
        else:
            self._supervise(max_jobs=max_jobs)

    def _work(self, *, max_jobs: int, burst: bool) -> None:
        # Before torch loads libgomp: spinning OpenMP threads make a busy machine (web server,
        # a second worker) several times slower (model step 2–6 s instead of ≈0.8 s, measured).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from inference.runtime import inference_precision, model_for

        inference_precision()  # chosen (fp32 / bf16 / fp16) and logged once, with why
        version = active_model_version()
        if version is not None:
            model_for(version, trigger="start")  # load and warm once, before the first job
        # The worker's first maintenance pass, before its first job, runs `tracks_recover`
        # (as the pipeline page's button does), then one every heartbeat period (at most 30 s).
        queues = [django_rq.get_queue(QUEUE), django_rq.get_queue("default")]
        worker = AnalysisWorker(queues, connection=queues[0].connection)
        worker.work(burst=burst, max_jobs=max_jobs, with_scheduler=True, logging_level="INFO")

    def _supervise(self, *, max_jobs: int) -> None:
        command = [sys.executable, sys.argv[0], "run_worker", "--child", "--max-jobs", str(max_jobs)]
        child: subprocess.Popen | None = None
        stopping = False

        def forward(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True
            if child and child.poll() is None:
                child.send_signal(signal.SIGTERM)  # RQ: finish the current job, then exit

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        while not stopping:
            child = subprocess.Popen(command)
            code = child.wait()
            if stopping:
                break
            if code != 0:
                log.warning("Worker process exited with code %s; starting a new one in 5 s", code)
                time.sleep(5)
            else:
                log.info("Worker process recycled after %d jobs", max_jobs)
