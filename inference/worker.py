"""The analysis worker: one process that keeps its model loaded, never forks, and still
heartbeats while a job runs.

RQ's default worker forks a child per job; a child forked after torch has run an operation
deadlocks in libgomp, and CUDA cannot be used across a fork. A SimpleWorker runs jobs in its
own process but sends no heartbeat during a job, so a dead worker's job would look alive until
its timeout. This worker adds a heartbeat thread: a worker killed mid-job is noticed within
settings.WORKER_HEARTBEAT_S, and its job is retried by the next registry cleanup on any live worker.
"""
from __future__ import annotations

import threading

from django.conf import settings
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker, WorkerStatus


class AnalysisWorker(SimpleWorker):
    def __init__(self, *args: object, **kwargs: object) -> None:
        self.heartbeat_ttl_s = settings.WORKER_HEARTBEAT_S
        kwargs.setdefault("maintenance_interval", self.heartbeat_ttl_s)
        super().__init__(*args, **kwargs)
        self.job_monitoring_interval = max(1, self.heartbeat_ttl_s // 3)

    def get_heartbeat_ttl(self, job: Job) -> int:
        # Short on purpose: the heartbeat thread renews it for as long as the job runs.
        return self.heartbeat_ttl_s

    def execute_job(self, job: Job, queue: Queue) -> None:
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

    def _beat(self, job: Job, stop: threading.Event) -> None:
        while not stop.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job)
            except Exception:  # a missed beat is retried next interval; never kill the job for it
                self.log.warning("Heartbeat for job %s failed", job.id, exc_info=True)
