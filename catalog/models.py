"""The data the platform cares about: genres, tracks, model versions and analyses.

Invariants the database can hold are declared in Meta.constraints; services check them
again only to give friendlier errors.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Genre(models.Model):
    """One entry of the editable taxonomy. Models carry their own label lists; these are
    what editors may choose from."""

    name = models.CharField(max_length=64, unique=True)
    slug = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True, help_text="Inactive genres cannot be chosen by editors.")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class TrackSource(models.TextChoices):
    UPLOAD = "upload", "Upload"
    IMPORT = "import", "Bulk import"
    API = "api", "CMS API"


class TrackStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    ANALYZING = "analyzing", "Analyzing"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    REVIEWED = "reviewed", "Reviewed"
    REJECTED = "rejected", "Rejected (not music)"
    FAILED = "failed", "Failed"


class ImportBatch(models.Model):
    """One upload or import run, so staff can follow it and editors can filter by it."""

    name = models.CharField(max_length=200)
    source = models.CharField(max_length=16, choices=TrackSource.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    rejections = models.JSONField(default=list, blank=True, help_text="[{'name': ..., 'reason': ...}]")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"{self.name} ({self.created_at:%Y-%m-%d %H:%M})" if self.created_at else self.name


def track_upload_path(instance: Track, filename: str) -> str:
    # Content-addressed: the same bytes always land at the same place, whatever they were called.
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"tracks/{instance.sha256[:2]}/{instance.sha256}.{suffix}"


class Track(models.Model):
    title = models.CharField(max_length=300, blank=True)
    artist = models.CharField(max_length=300, blank=True)
    album = models.CharField(max_length=300, blank=True)
    external_id = models.CharField(
        max_length=200, null=True, blank=True, help_text="The CMS's id for this track; unique when set."
    )
    audio = models.FileField(upload_to=track_upload_path, max_length=300)
    original_filename = models.CharField(max_length=300, blank=True)
    sha256 = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the audio bytes.")
    duration_s = models.FloatField(null=True, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    channels = models.PositiveSmallIntegerField(null=True, blank=True)
    format = models.CharField(max_length=16, blank=True)
    source = models.CharField(max_length=16, choices=TrackSource.choices, default=TrackSource.UPLOAD)
    status = models.CharField(max_length=20, choices=TrackStatus.choices, default=TrackStatus.PENDING, db_index=True)
    failure_reason = models.TextField(blank=True)
    reviewed_genre = models.ForeignKey(
        Genre, null=True, blank=True, on_delete=models.PROTECT, related_name="reviewed_tracks"
    )
    known_genre = models.ForeignKey(
        Genre,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A genre the import manifest already gave (unverified by an editor).",
    )
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="tracks"
    )
    status_changed_at = models.DateTimeField(auto_now_add=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False) & ~Q(external_id=""),
                name="track_external_id_unique_when_set",
            ),
            models.CheckConstraint(condition=Q(status__in=TrackStatus.values), name="track_status_known"),
            models.CheckConstraint(
                condition=~Q(status=TrackStatus.FAILED) | ~Q(failure_reason=""),
                name="track_failed_has_reason",
            ),
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="track_sha256_hex"),
        ]

    def __str__(self) -> str:
        label = " – ".join(part for part in (self.artist, self.title) if part)
        return label or self.original_filename or f"Track {self.pk}"


class ModelVersion(models.Model):
    """A registered checkpoint. Its labels and preprocessing are copied from the file so the
    catalog can show them without loading torch."""

    name = models.CharField(max_length=100, unique=True)
    architecture = models.CharField(max_length=100)
    checkpoint_path = models.CharField(max_length=500)
    checkpoint_sha256 = models.CharField(max_length=64)
    labels = models.JSONField(help_text="Ordered label list; probabilities are stored in this order.")
    preprocessing = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, blank=True)
    trained = models.BooleanField(
        default=False, help_text="Untrained (random) models run the pipeline but never give real predictions."
    )
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model_version"),
        ]

    def __str__(self) -> str:
        return self.name if self.trained else f"{self.name} (untrained)"


def analysis_image_path(instance: Analysis, filename: str) -> str:
    return f"analyses/{instance.track_id}/{instance.model_version_id}/{filename}"


class Analysis(models.Model):
    """One model version's reading of one track; written whole by the worker, never edited."""

    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="analyses")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="analyses")
    probabilities = models.JSONField(help_text="One probability per label of the model version, in its order.")
    top_label = models.CharField(max_length=64, db_index=True)
    top_probability = models.FloatField(db_index=True)
    margin = models.FloatField(help_text="Top-1 minus top-2 probability: small means uncertain.")
    window_starts_s = models.JSONField(default=list)
    window_scores = models.JSONField(default=list, help_text="Per window, one probability per label.")
    embedding = models.JSONField(default=list)
    attention_regions = models.JSONField(default=list)
    is_silent = models.BooleanField(default=False)
    content = models.CharField(
        max_length=16,
        blank=True,
        db_index=True,
        help_text="What the sound-event teacher hears: music, speech or other; empty when not measured.",
    )
    content_scores = models.JSONField(
        default=dict, blank=True, help_text="The content classes' mean scores over the sampled frames."
    )
    spectrogram_image = models.ImageField(upload_to=analysis_image_path, blank=True, max_length=300)
    attention_image = models.ImageField(upload_to=analysis_image_path, blank=True, max_length=300)
    top_k_image = models.ImageField(upload_to=analysis_image_path, blank=True, max_length=300)
    timings_ms = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "analyses"
        constraints = [
            models.UniqueConstraint(fields=["track", "model_version"], name="one_analysis_per_track_and_model"),
            models.CheckConstraint(
                condition=Q(top_probability__gte=0) & Q(top_probability__lte=1),
                name="analysis_top_probability_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.track} by {self.model_version.name}"

    def top_k(self, k: int = 5) -> list[tuple[str, float]]:
        pairs = zip(self.model_version.labels, self.probabilities)
        return sorted(pairs, key=lambda pair: pair[1], reverse=True)[:k]


class ApiClient(models.Model):
    """A CMS integration that calls the REST API with its own token.

    Only a SHA-256 of the token is stored: the token is shown once, when it is issued, so a
    leaked database does not leak working credentials. The client is its own principal (no
    Django user), so throttles and the call log are per client.
    """

    name = models.CharField(max_length=100, unique=True, help_text="Which CMS or integration this is.")
    token_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(max_length=8, editable=False, help_text="First characters, to recognise a token.")
    active = models.BooleanField(default=True, help_text="Inactive clients are refused (401).")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API client"
        # Granted to people (e.g. an editor) who may call the CMS endpoints with their session.
        permissions = [("use_cms_api", "Can call the CMS REST API")]

    def __str__(self) -> str:
        return self.name if self.active else f"{self.name} (inactive)"


class ModelPromotion(models.Model):
    """Each change of the active model version: who, when, from what to what, and why; what the
    promotion gate found and, when it was overridden, the written reason."""

    from_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotions")
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the system activated it (first start).",
    )
    note = models.TextField(blank=True)
    gate_passed = models.BooleanField(
        null=True, blank=True, help_text="Whether the promotion gate found nothing against it (empty: before the gate)."
    )
    gate = models.JSONField(
        default=dict,
        blank=True,
        help_text="The gate's findings and the figures it compared (catalog.promotion.GateResult.as_record).",
    )
    override_reason = models.TextField(
        blank=True, help_text="Why it was promoted although the gate found reasons against."
    )
    promoted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-promoted_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.from_version or '–'} → {self.to_version} ({self.promoted_at:%Y-%m-%d %H:%M})"
