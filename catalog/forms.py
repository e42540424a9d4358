"""Forms for the admin upload page."""

from __future__ import annotations

from django import forms
from django.conf import settings

from inference.engine.audio import supported_extensions, supported_formats_text


def accept_attribute() -> str:
    """The file picker's ``accept``: the extensions this install decodes, so the picker offers those."""
    return ",".join(f".{ext}" for ext in supported_extensions())


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def __init__(self, *args: object, **kwargs: object) -> None:
        # Empty files pass the form: the ingest service rejects each one by name, so one bad
        # file never stops the others in the same upload.
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data: object, initial: object = None) -> list:
        single = super().clean
        files = data if isinstance(data, (list, tuple)) else [data]
        return [single(item, initial) for item in files]


class TrackUploadForm(forms.Form):
    files = MultipleFileField(label="Audio files")
    batch_name = forms.CharField(max_length=200, required=False, help_text="Optional name for this upload batch.")
    title = forms.CharField(max_length=300, required=False, help_text="Only used when uploading one file.")
    artist = forms.CharField(max_length=300, required=False)
    album = forms.CharField(max_length=300, required=False)
    external_id = forms.CharField(max_length=200, required=False, label="External id (CMS)")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # Per form, not per import: the page lists what this install decodes now (ffmpeg may come later).
        files = self.fields["files"]
        files.help_text = (
            f"One or many, up to {settings.MAX_UPLOAD_BYTES // (1024 * 1024)} MB each. "
            f"This install accepts: {supported_formats_text()}."
        )
        files.widget.attrs["accept"] = accept_attribute()
