"""Human decisions: who holds which track (claims) and what they decided (decisions)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import Analysis, Genre, ModelVersion, Track


class Claim(models.Model):
    """One editor holds one track for a limited time, so two editors never review the same track."""

    track = models.OneToOneField(Track, on_delete=models.CASCADE, related_name="claim")
    editor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="claims")
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("claimed_at")), name="claim_expires_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.track} held by {self.editor} until {self.expires_at:%H:%M}"


class DecisionAction(models.TextChoices):
    ACCEPTED = "accepted", "Accepted the top-1"
    CORRECTED = "corrected", "Picked another of the Top-5"
    OTHER = "other", "Chose a genre outside the Top-5"
    LABELLED = "labelled", "Known label (no proposal shown)"
    REJECTED = "rejected", "Rejected: not music / unusable"
    UNDONE = "undone", "Undid the editor's previous decision"


# Actions that carry no genre of their own: a rejection says "no genre"; an undo restores
# whatever the track had before (a genre, a rejection, or nothing).
GENRELESS_ACTIONS = (DecisionAction.REJECTED, DecisionAction.UNDONE)


class RejectReason(models.TextChoices):
    SPEECH = "speech", "Speech"
    NOISE = "noise", "Nature / noise"
    SILENCE = "silence", "Silence"
    BROKEN = "broken", "Broken audio"
    DUPLICATE = "duplicate", "Duplicate"
    OTHER = "other", "Other (say why in the note)"


class DecisionSource(models.TextChoices):
    REVIEW = "review", "Review screen"
    BULK = "bulk", "Bulk accept"
    CATALOG = "catalog", "Catalog label"


class Decision(models.Model):
    """An immutable record of one editor's decision on one track; a correction is a new row.

    A genre the catalog already knew (import manifest, CMS API) is a decision of source
    ``catalog`` by the importing user or a system user (review.system_users).

    Its id orders the change feed the CMS pulls: rows are inserted under a lock so ids commit
    in order (see review.decisions)."""

    track = models.ForeignKey(Track, on_delete=models.PROTECT, related_name="decisions")
    analysis = models.ForeignKey(Analysis, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions")
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    proposed = models.JSONField(default=list, help_text="The Top-5 shown: [{'genre': ..., 'probability': ...}]")
    genre = models.ForeignKey(
        Genre,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="decisions",
        help_text="Empty for a rejection, and for an undo that restores no genre.",
    )
    secondary_genre = models.ForeignKey(Genre, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=16, choices=DecisionAction.choices)
    reject_reason = models.CharField(
        max_length=16,
        choices=RejectReason.choices,
        blank=True,
        help_text="Why the track is not music / unusable (a rejection, or an undo that restores one).",
    )
    undoes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="undone_by",
        help_text="The decision this undo took back (action undone).",
    )
    source = models.CharField(max_length=16, choices=DecisionSource.choices, default=DecisionSource.REVIEW)
    note = models.TextField(blank=True)
    editor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions")
    seconds_on_screen = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("bulk_accept_decision", "Can bulk-accept confident proposals"),
            ("view_editor_statistics", "Can view editor statistics"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(secondary_genre=models.F("genre")), name="decision_secondary_differs"),
            models.CheckConstraint(condition=Q(action__in=DecisionAction.values), name="decision_action_known"),
            models.CheckConstraint(
                condition=Q(genre__isnull=False) | Q(action__in=GENRELESS_ACTIONS),
                name="decision_genre_unless_rejected_or_undone",
            ),
            models.CheckConstraint(
                condition=~Q(action=DecisionAction.REJECTED) | (Q(genre__isnull=True) & ~Q(reject_reason="")),
                name="decision_rejected_has_reason_no_genre",
            ),
            # An undo restores either a genre or a rejection (or nothing), never both.
            models.CheckConstraint(
                condition=Q(action__in=GENRELESS_ACTIONS) | Q(reject_reason=""),
                name="decision_reason_only_on_reject_or_undo",
            ),
            models.CheckConstraint(
                condition=Q(genre__isnull=True) | Q(reject_reason=""), name="decision_reason_or_genre"
            ),
            models.CheckConstraint(
                condition=(Q(undoes__isnull=True) & ~Q(action=DecisionAction.UNDONE))
                | (Q(undoes__isnull=False) & Q(action=DecisionAction.UNDONE)),
                name="decision_undo_names_what_it_undid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.track}: {self.outcome} ({self.get_action_display()}) by {self.editor}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("Decisions are append-only: record a new decision instead of changing one.")
        super().save(*args, **kwargs)

    @property
    def reject_reason_or_none(self) -> str | None:
        """The API's form: null rather than an empty string when the track is not rejected."""
        return self.reject_reason or None

    @property
    def outcome(self) -> str:
        """What the track is after this decision, in words: a genre, a rejection, or awaiting review."""
        if self.genre_id:
            return str(self.genre)
        if self.reject_reason:
            return f"not music ({self.get_reject_reason_display().lower()})"
        return "awaiting review"


class LabelExport(models.Model):
    """One versioned export of editors' final labels (the latest decision per track) for training.

    The files (manifest.jsonl, manifest.csv, export.json, optionally export.zip) hold no export id
    and no "now", so the same decisions always give the same bytes; ``files`` records each file's
    SHA-256. ``last_decision_id`` is the newest decision the export could see: an incremental
    export (``since``) takes only decisions after its predecessor's."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    since = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Incremental: only decisions made after this export.",
    )
    after_decision_id = models.PositiveBigIntegerField(default=0, help_text="Decisions with a larger id were exported.")
    last_decision_id = models.PositiveBigIntegerField(default=0, help_text="The newest decision this export saw.")
    labels = models.JSONField(default=list, help_text="The active genres at export time, in training order.")
    rows = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="Tracks per final genre.")
    split_counts = models.JSONField(default=dict, blank=True, help_text="Tracks per split (train/val/test).")
    directory = models.CharField(max_length=500, blank=True, help_text="Relative to MEDIA_ROOT unless absolute.")
    files = models.JSONField(default=dict, blank=True, help_text="{file name: {'sha256': ..., 'bytes': ...}}")

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        incremental = f" since #{self.since_id}" if self.since_id else ""
        return f"Export #{self.pk}{incremental} ({self.rows} tracks)"
