"""Request and response shapes; the OpenAPI schema is generated from these."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.api.schema import CursorField, GenreField, TopKField
from catalog.models import Analysis, Genre, Track, TrackStatus
from inference.engine.audio import supported_formats_text
from review.models import Decision, DecisionAction, DecisionSource, RejectReason

UNTRAINED_ANALYSIS_WARNING = "Made by an untrained model: placeholder genres, not predictions."
IMAGE_KINDS = {"spectrogram": "spectrogram_image", "attention": "attention_image", "top_k": "top_k_image"}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable code, e.g. unsupported_format.")
    message = serializers.CharField(help_text="What went wrong, for people.")
    fields = serializers.DictField(required=False, help_text="Per-field problems of an invalid parameter.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# -- POST /api/genre ---------------------------------------------------------------------------

# Read once, when the schema's serializers are built: what this install decodes.
AUDIO_FORMATS_HELP = f"Accepted by this install: {supported_formats_text()}."


class ClassifyRequestSerializer(serializers.Serializer):
    audio = serializers.FileField(help_text=AUDIO_FORMATS_HELP)


class ClassifyQuerySerializer(serializers.Serializer):
    top_k = TopKField(
        required=False, help_text="How many genres, 1 to the active model's number of labels (default 5)."
    )


class GenreScoreSerializer(serializers.Serializer):
    genre = serializers.CharField()
    confidence = serializers.FloatField(min_value=0, max_value=1)


class ContentScoresSerializer(serializers.Serializer):
    music = serializers.FloatField()
    speech = serializers.FloatField()
    other = serializers.FloatField()


class ContentSerializer(serializers.Serializer):
    label = serializers.ChoiceField(
        choices=["music", "speech", "other"],
        help_text="What the audio is, as a sound-event model hears it: genres only describe music.",
    )
    scores = ContentScoresSerializer(help_text="Each family's mean score (0–1) over the frames heard.")


class ClassificationSerializer(serializers.Serializer):
    results = GenreScoreSerializer(many=True)
    model_version = serializers.CharField()
    trained = serializers.BooleanField(help_text="False: the genres are placeholders from an untrained model.")
    duration_s = serializers.FloatField(help_text="Length of the audio in seconds.")
    latency_ms = serializers.FloatField(help_text="Server-side time to answer.")
    warning = serializers.CharField(required=False, help_text="Present when the model is untrained.")
    content = ContentSerializer(allow_null=True, help_text="Music, speech or other; null when the check is off.")
    is_silent = serializers.BooleanField(help_text="True when the audio is (near) silence: its genres mean nothing.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not data.get("warning"):
            data.pop("warning", None)
        return data


# -- tracks ------------------------------------------------------------------------------------


class GenreRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Genre
        fields = ["slug", "name"]


class AnalysisSummarySerializer(serializers.ModelSerializer):
    model_version = serializers.CharField(source="model_version.name")
    trained = serializers.BooleanField(source="model_version.trained")
    top_k = serializers.SerializerMethodField()
    images = serializers.SerializerMethodField()
    warning = serializers.SerializerMethodField()
    content = serializers.SerializerMethodField()

    class Meta:
        model = Analysis
        fields = ["id", "model_version", "trained", "top_k", "is_silent", "content", "created_at", "images", "warning"]

    @extend_schema_field(ContentSerializer(allow_null=True))
    def get_content(self, analysis: Analysis) -> dict[str, Any] | None:
        return {"label": analysis.content, "scores": analysis.content_scores} if analysis.content else None

    @extend_schema_field(GenreScoreSerializer(many=True))
    def get_top_k(self, analysis: Analysis) -> list[dict[str, Any]]:
        return [{"genre": label, "confidence": round(p, 6)} for label, p in analysis.top_k(5)]

    @extend_schema_field(
        {
            "type": "object",
            "properties": {kind: {"type": "string", "format": "uri"} for kind in IMAGE_KINDS},
            "description": "PNG URLs (same authentication as the API); only those rendered.",
        }
    )
    def get_images(self, analysis: Analysis) -> dict[str, str]:
        request = self.context.get("request")
        urls = {}
        for kind, field in IMAGE_KINDS.items():
            if getattr(analysis, field):
                url = reverse("api:track-image", kwargs={"pk": analysis.track_id, "kind": kind})
                urls[kind] = request.build_absolute_uri(url) if request else url
        return urls

    @extend_schema_field(
        serializers.CharField(allow_null=True, help_text="Set when the model is untrained, else null.")
    )
    def get_warning(self, analysis: Analysis) -> str | None:
        return None if analysis.model_version.trained else UNTRAINED_ANALYSIS_WARNING


class TrackSerializer(serializers.ModelSerializer):
    reviewed_genre = GenreRefSerializer(allow_null=True)
    reviewed_at = serializers.DateTimeField(
        allow_null=True, read_only=True, help_text="When an editor last decided this track's genre."
    )
    latest_analysis = serializers.SerializerMethodField()

    class Meta:
        model = Track
        fields = [
            "id",
            "external_id",
            "title",
            "artist",
            "album",
            "status",
            "failure_reason",
            "duration_s",
            "format",
            "source",
            "original_filename",
            "created_at",
            "updated_at",
            "reviewed_genre",
            "reviewed_at",
            "latest_analysis",
        ]
        read_only_fields = fields

    @extend_schema_field(AnalysisSummarySerializer(allow_null=True))
    def get_latest_analysis(self, track: Track) -> dict[str, Any] | None:
        analyses = getattr(track, "latest_analyses", None)
        if analyses is None:  # not fetched through the API selector
            analyses = list(track.analyses.select_related("model_version").order_by("-created_at", "-pk")[:1])
        return AnalysisSummarySerializer(analyses[0], context=self.context).data if analyses else None


class TrackMetadataSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=300)
    artist = serializers.CharField(required=False, allow_blank=True, max_length=300)
    album = serializers.CharField(required=False, allow_blank=True, max_length=300)
    genre = GenreField(
        active_only=True,
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="The genre the CMS already knows (an active genre's name or slug). Recorded as a catalog label "
        "(a decision of source `catalog`, used by exports and training); the same genre again records "
        "nothing, and it never overrides an editor's decision (the answer's `reviewed_genre` shows what "
        "stands). Unknown: 400 `unknown_genre`; inactive: 400 `inactive_genre`.",
    )


class TrackCreateSerializer(TrackMetadataSerializer):
    audio = serializers.FileField(help_text=AUDIO_FORMATS_HELP)
    external_id = serializers.CharField(required=False, allow_blank=True, max_length=200)


class TrackUpsertSerializer(TrackMetadataSerializer):
    audio = serializers.FileField(
        required=False, help_text="Required only when no track has this external id yet. " + AUDIO_FORMATS_HELP
    )


class TrackUpsertJsonSerializer(TrackMetadataSerializer):
    """The upsert as JSON: metadata only (audio needs multipart)."""


class TrackFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=TrackStatus.choices, required=False)
    genre = GenreField(active_only=False, required=False, help_text="Reviewed genre: slug or name.")
    updated_since = serializers.DateTimeField(required=False, help_text="ISO 8601; tracks changed or decided since.")


# -- tag changes -------------------------------------------------------------------------------


class ChangesQuerySerializer(serializers.Serializer):
    cursor = CursorField(
        required=False, allow_blank=True, help_text="next_cursor of the previous page; omit to start at the beginning."
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)


class ProposalSerializer(serializers.Serializer):
    model_version = serializers.CharField(allow_null=True)
    trained = serializers.BooleanField(allow_null=True, help_text="False: an untrained model's placeholder.")
    top_k = GenreScoreSerializer(
        many=True,
        help_text="The Top-5 the editor was shown, `{genre, confidence}` as in `/api/genre` and track analyses.",
    )


class TagChangeSerializer(serializers.ModelSerializer):
    track_id = serializers.IntegerField()
    external_id = serializers.CharField(source="track.external_id", allow_null=True)
    genre = GenreRefSerializer(
        allow_null=True,
        help_text=(
            "The track's genre after this decision; null when it was rejected (`action` rejected, or undone back to a "
            "rejection: see `reject_reason`) or undone back to awaiting review."
        ),
    )
    secondary_genre = GenreRefSerializer(allow_null=True)
    action = serializers.ChoiceField(
        choices=DecisionAction.choices,
        help_text=(
            "accepted/corrected/other/labelled: a genre; rejected: not music / unusable (genre null); "
            "undone: the editor took back decision `undoes`, and the track is as `genre`/`reject_reason` say."
        ),
    )
    rejected = serializers.SerializerMethodField(
        help_text="True when the track is rejected (not music / unusable) after this decision: file no genre for it."
    )
    reject_reason = serializers.ChoiceField(
        choices=RejectReason.choices,
        allow_null=True,
        source="reject_reason_or_none",
        help_text="Why it is rejected; null unless `rejected`.",
    )
    undoes = serializers.IntegerField(
        source="undoes_id", allow_null=True, help_text="With action undone: the id of the change it takes back."
    )
    source = serializers.ChoiceField(
        choices=DecisionSource.choices, help_text="review, bulk, or catalog (a genre an import or a CMS already gave)."
    )
    proposal = serializers.SerializerMethodField()
    editor = serializers.CharField(source="editor.get_username")
    decided_at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Decision
        fields = [
            "id",
            "track_id",
            "external_id",
            "genre",
            "secondary_genre",
            "action",
            "rejected",
            "reject_reason",
            "undoes",
            "source",
            "proposal",
            "editor",
            "decided_at",
        ]

    def get_rejected(self, decision: Decision) -> bool:
        return bool(decision.reject_reason)

    @extend_schema_field(ProposalSerializer)
    def get_proposal(self, decision: Decision) -> dict[str, Any]:
        version = decision.model_version
        # Decisions store what was shown as {genre, probability} (an append-only record, also the
        # export manifest's format); the API says `confidence` for a Top-K score everywhere.
        top_k = [
            {"genre": item.get("genre"), "confidence": item.get("probability")} for item in decision.proposed or []
        ]
        return {
            "model_version": version.name if version else None,
            "trained": version.trained if version else None,
            "top_k": top_k,
        }


class TagChangesPageSerializer(serializers.Serializer):
    changes = TagChangeSerializer(many=True)
    next_cursor = serializers.CharField(help_text="Send as ?cursor= next time (also when there were no changes).")
    has_more = serializers.BooleanField(help_text="More changes are waiting: ask again at once.")
