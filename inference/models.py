"""What the inference layer records in the database: the log of synchronous API classifications."""

from __future__ import annotations

from django.db import models


class ClassificationCall(models.Model):
    """One call of `POST /api/genre`, successful or not: the case study's latency, duration and
    mean-confidence record, kept so staff can watch the service."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    client = models.ForeignKey(
        "catalog.ApiClient", null=True, blank=True, on_delete=models.SET_NULL, related_name="classification_calls"
    )
    caller = models.CharField(max_length=150, blank=True, help_text="Username for session calls (staff, editors).")
    filename = models.CharField(max_length=300, blank=True)
    latency_ms = models.FloatField(help_text="Server-side time from receiving the upload to the answer.")
    duration_s = models.FloatField(null=True, blank=True, help_text="Length of the audio.")
    mean_confidence = models.FloatField(null=True, blank=True, help_text="Mean confidence of the returned results.")
    top_k = models.PositiveSmallIntegerField(null=True, blank=True)
    model_version = models.ForeignKey(
        "catalog.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status_code = models.PositiveSmallIntegerField(db_index=True)
    error_code = models.CharField(max_length=32, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.status_code} {self.latency_ms:.0f} ms"


class TeacherTargetStatus(models.TextChoices):
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class TeacherTarget(models.Model):
    """The teacher ensemble's genre distribution for one track under one mapping version: what
    adaptation trains a student on (inference.engine.teacher.ensemble). Written by a worker's job;
    queueing the track again skips it. Rows live with their track (deleted with it), and the
    database allows one per track and mapping version."""

    track = models.ForeignKey("catalog.Track", on_delete=models.CASCADE, related_name="teacher_targets")
    mapping_version = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=TeacherTargetStatus.choices, default=TeacherTargetStatus.DONE)
    weights = models.JSONField(default=dict, help_text="The teacher weights of the ensemble (TeacherWeights).")
    genres = models.JSONField(default=list, help_text="The genres the distributions are over, in order.")
    clip = models.JSONField(default=list, help_text="The clip's distribution (sums to 1; all 0: no teacher signal).")
    window_s = models.FloatField(default=0.0, help_text="Length and hop of a teacher window in seconds.")
    windows = models.JSONField(default=list, help_text="The ensemble's distribution per teacher window.")
    teacher_clips = models.JSONField(default=dict, help_text="Each teacher's own clip-level genre scores.")
    seconds = models.FloatField(null=True, blank=True, help_text="Time the teachers took.")
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="Host and process that computed it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["track", "mapping_version"], name="one_teacher_target_per_track_and_mapping"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TeacherTargetStatus.values), name="teacher_target_status_known"
            ),
            models.CheckConstraint(
                condition=~models.Q(status=TeacherTargetStatus.FAILED) | ~models.Q(error=""),
                name="teacher_target_failed_has_error",
            ),
        ]

    def __str__(self) -> str:
        return f"Teacher target of track {self.track_id} ({self.mapping_version}, {self.status})"


class RetrainRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ABANDONED = "abandoned", "Abandoned (its process stopped)"


class RetrainRun(models.Model):
    """One run of the closed loop (``manage.py retrain`` or its queued job): its steps and what it
    made. The database allows one running run; a run whose heartbeat stopped (its process
    crashed or was killed) is marked abandoned by the next one and no longer blocks it."""

    status = models.CharField(max_length=16, choices=RetrainRunStatus.choices, default=RetrainRunStatus.RUNNING)
    step = models.CharField(max_length=32, blank=True, help_text="export, teacher targets, train, evaluate, report")
    options = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    export = models.ForeignKey("review.LabelExport", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    candidate = models.ForeignKey(
        "catalog.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    host = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_by = models.CharField(max_length=150, blank=True, help_text="Who or what started it (user, cron, job).")
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="running"), name="one_running_retrain"
            ),
            models.CheckConstraint(condition=models.Q(status__in=RetrainRunStatus.values), name="retrain_status_known"),
        ]

    def __str__(self) -> str:
        return f"Retrain run {self.pk} ({self.status})"

    @property
    def last_line(self) -> str:
        lines = [line for line in self.log.splitlines() if line.strip()]
        return lines[-1] if lines else ""
