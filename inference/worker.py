"""The analysis worker: one process that keeps its model loaded, never forks, still heartbeats
while a job runs, and repairs lost work on start and every maintenance interval.

RQ's default worker forks a child per job; a child forked after torch has run an operation
deadlocks in libgomp, and CUDA cannot be used across a fork. A SimpleWorker runs jobs in its
own process but sends no heartbeat during a job, so a dead worker's job would look alive until
its timeout. This worker adds a heartbeat thread: a worker killed mid-job is noticed within
settings.WORKER_HEARTBEAT_S. Its maintenance (on start, then every heartbeat period, at most
RECOVERY_INTERVAL_S, idle or not) runs `tracks_recover` before RQ's own registry cleaning.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.db import close_old_connections
from rq.job import Job
from rq.queue import Queue
from rq.utils import as_text, current_timestamp
from rq.worker import SimpleWorker, WorkerStatus

PRECISION_FIELD = "acousticsense_precision"
PRECISION_REASON_FIELD = "acousticsense_precision_reason"


class AnalysisWorker(SimpleWorker):
    def __init__(self, *args: object, **kwargs: object) -> None:
        from inference.pipeline import RECOVERY_INTERVAL_S

        self.heartbeat_ttl_s = settings.WORKER_HEARTBEAT_S
        kwargs.setdefault("maintenance_interval", min(self.heartbeat_ttl_s, RECOVERY_INTERVAL_S))
        super().__init__(*args, **kwargs)
        self.job_monitoring_interval = max(1, self.heartbeat_ttl_s // 3)

    @property
    def dequeue_timeout(self) -> int:
        # RQ waits up to worker_ttl - 15 s (405 s) for a job before its loop comes round again;
        # an idle worker must wake for each maintenance pass, so recovery runs while idle too.
        return max(1, min(super().dequeue_timeout, self.maintenance_interval))

    def run_maintenance_tasks(self) -> None:
        from inference.pipeline import tracks_recover

        close_old_connections()  # an idle worker's database connection may have been closed by the server
        try:
            report = tracks_recover()
            if report.requeued or report.failed:
                self.log.warning(
                    "Recovery: re-queued %d track(s) whose jobs were lost, failed %d", report.requeued, report.failed
                )
        except Exception:  # a recovery pass that fails is tried again next interval; never stop working for it
            self.log.warning("Recovery pass failed", exc_info=True)
        super().run_maintenance_tasks()

    def serialize(self) -> dict:
        # Kept in the worker's registry hash, so the pipeline page can show each worker's kernel.
        from inference.serving import process_status

        status = process_status()
        return {
            **super().serialize(),
            PRECISION_FIELD: status["precision"] or "",
            PRECISION_REASON_FIELD: status["precision_reason"] or "",
        }

    def get_heartbeat_ttl(self, job: Job) -> int:
        # Short on purpose: the heartbeat thread renews it for as long as the job runs.
        return self.heartbeat_ttl_s

    def execute_job(self, job: Job, queue: Queue) -> None:
        if self._running_elsewhere(job, queue):
            # A duplicate queue entry (RQ's own retry racing a recovery): the live run finishes it.
            self.log.warning("Job %s is already running on a live worker; skipping this copy", job.id)
            return
        self.prepare_execution(job)
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, stop), name="rq-heartbeat", daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue)
        finally:
            stop.set()
            beat.join()
        self.set_state(WorkerStatus.IDLE)

    def _running_elsewhere(self, job: Job, queue: Queue) -> bool:
        fresh = self.connection.zrangebyscore(queue.started_job_registry.key, current_timestamp(), "+inf")
        return any(as_text(member).split(":", 1)[0] == job.id for member in fresh)

    def _beat(self, job: Job, stop: threading.Event) -> None:
        while not stop.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job)
            except Exception:  # a missed beat is retried next interval; never kill the job for it
                self.log.warning("Heartbeat for job %s failed", job.id, exc_info=True)
