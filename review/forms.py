"""Forms of the review screen and the staff tools."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from catalog.models import Genre, ImportBatch, ModelVersion
from review.models import RejectReason
from review.selectors import CONFIDENCE_BANDS, CONTENT_CHOICES, LABELLED_CHOICES


class QueueFilterForm(forms.Form):
    genre = forms.ChoiceField(required=False, label="Predicted genre")
    band = forms.ChoiceField(
        required=False,
        label="Confidence",
        choices=[("", "any")] + [(k, f"{k} ({lo:.0%}–{min(hi, 1):.0%})") for k, (lo, hi) in CONFIDENCE_BANDS.items()],
    )
    model_version = forms.ModelChoiceField(ModelVersion.objects.all(), required=False, label="Model version")
    batch = forms.ModelChoiceField(ImportBatch.objects.all(), required=False, label="Import batch")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Added from")
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Added until")
    labelled = forms.ChoiceField(
        required=False,
        label="Catalog-labelled",
        choices=list(LABELLED_CHOICES.items()),
        help_text="Tracks whose genre the catalog already gave.",
    )
    content = forms.ChoiceField(
        required=False,
        label="Content verdict",
        choices=[("", "any")] + list(CONTENT_CHOICES.items()),
        help_text="What the sound-event model heard; not music comes first anyway.",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["genre"].choices = [("", "any")] + [(g.name, g.name) for g in Genre.objects.all()]


class _ReviewScreenForm(forms.Form):
    """What both of the review screen's forms post besides the outcome: a note, the analysis shown,
    the decision seen when the page opened (it catches stale forms) and the time on screen."""

    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    analysis_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    seen_decision_id = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
    seconds_on_screen = forms.FloatField(required=False, min_value=0, widget=forms.HiddenInput)


class DecisionForm(_ReviewScreenForm):
    """What the review screen posts for a genre."""

    genre = forms.ModelChoiceField(
        Genre.objects.filter(active=True),
        to_field_name="name",
        error_messages={
            "required": "Pick a genre first: 1–5, O, or X to reject.",
            "invalid_choice": "That genre is not an active genre.",
        },
    )
    secondary_genre = forms.ModelChoiceField(Genre.objects.filter(active=True), to_field_name="name", required=False)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("genre") and data.get("secondary_genre") == data.get("genre"):
            self.add_error("secondary_genre", "The secondary genre must differ from the main genre.")
        return data


class RejectForm(_ReviewScreenForm):
    """What the review screen's *Not music / unusable* panel posts (key X)."""

    reason = forms.ChoiceField(
        choices=RejectReason.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Pick why the track is unusable."},
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("reason") == RejectReason.OTHER and not (data.get("note") or "").strip():
            self.add_error("note", "Say why in the note (reason “other”).")
        return data


BULK_DEFAULT_THRESHOLD = 0.9


class BulkAcceptForm(forms.Form):
    threshold = forms.FloatField(
        min_value=0.5,
        max_value=1.0,
        initial=BULK_DEFAULT_THRESHOLD,
        help_text="Accept the model's top-1 where its probability is at least this (0.5–1).",
    )


class ReassignForm(forms.Form):
    editor = forms.ModelChoiceField(get_user_model().objects.filter(is_active=True, is_staff=True))
