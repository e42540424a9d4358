"""What the inference layer records in the database: the log of synchronous API classifications."""
from __future__ import annotations

from django.db import models


class ClassificationCall(models.Model):
    """One call of `POST /api/genre`, successful or not: the case study's latency, duration and
    mean-confidence record, kept so staff can watch the service."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    client = models.ForeignKey("catalog.ApiClient", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="classification_calls")
    caller = models.CharField(max_length=150, blank=True, help_text="Username for session calls (staff, editors).")
    filename = models.CharField(max_length=300, blank=True)
    latency_ms = models.FloatField(help_text="Server-side time from receiving the upload to the answer.")
    duration_s = models.FloatField(null=True, blank=True, help_text="Length of the audio.")
    mean_confidence = models.FloatField(null=True, blank=True, help_text="Mean confidence of the returned results.")
    top_k = models.PositiveSmallIntegerField(null=True, blank=True)
    model_version = models.ForeignKey("catalog.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")
    status_code = models.PositiveSmallIntegerField(db_index=True)
    error_code = models.CharField(max_length=32, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.status_code} {self.latency_ms:.0f} ms"
