"""One small factory per model; tests override only what they are about."""

from __future__ import annotations

import hashlib
import itertools

from catalog.models import Analysis, ModelVersion, Track

_counter = itertools.count(1)
GENRES16 = [
    "Blues",
    "Classical",
    "Country",
    "Disco",
    "Electronic",
    "Folk",
    "Hip-Hop",
    "Jazz",
    "Latin",
    "Metal",
    "Pop",
    "R&B",
    "Rap",
    "Reggae",
    "Rock",
    "World",
]


def make_track(**fields: object) -> Track:
    n = next(_counter)
    sha = hashlib.sha256(f"track-{n}".encode()).hexdigest()
    defaults: dict[str, object] = {
        "title": f"Track {n}",
        "artist": "Test Artist",
        "sha256": sha,
        "audio": f"tracks/{sha}.wav",
        "original_filename": f"track-{n}.wav",
        "duration_s": 30.0,
        "sample_rate": 22050,
        "channels": 1,
        "format": "wav",
    }
    return Track.objects.create(**{**defaults, **fields})


def make_model_version(**fields: object) -> ModelVersion:
    n = next(_counter)
    defaults: dict[str, object] = {
        "name": f"model-{n}",
        "architecture": "vit_tiny_patch16_224",
        "checkpoint_path": f"model-{n}.safetensors",
        "checkpoint_sha256": hashlib.sha256(f"model-{n}".encode()).hexdigest(),
        "labels": list(GENRES16),
        "preprocessing": {},
        "trained": True,
    }
    return ModelVersion.objects.create(**{**defaults, **fields})


def make_analysis(
    *, track: Track, model_version: ModelVersion, probabilities: list[float] | None = None, **fields: object
) -> Analysis:
    labels = model_version.labels
    probabilities = probabilities or [1.0 / len(labels)] * len(labels)
    ranked = sorted(zip(labels, probabilities), key=lambda pair: pair[1], reverse=True)
    defaults: dict[str, object] = {
        "probabilities": probabilities,
        "top_label": ranked[0][0],
        "top_probability": ranked[0][1],
        "margin": ranked[0][1] - ranked[1][1],
    }
    return Analysis.objects.create(track=track, model_version=model_version, **{**defaults, **fields})
