"""What a recording is, before what genre it is: music, speech or other sound (YAMNet classes).

A genre model answers a genre for anything, whale song and audiobooks included; editors need to
know when the question does not apply. YAMNet's AudioSet classes fall into three families:
speech (Speech, Child speech, Conversation, Narration, Babbling, Speech synthesizer), music
(Singing … Rapping, and Music with every instrument, genre and mood class, indices 132–276) and
everything else (animals, nature, vehicles, noise, silence). A frame's family score is the
largest class score in it; a recording's is the mean over the frames analysed. The verdict is
the family with the highest score.

numpy only: the frame scores come from ``inference.engine.teacher.yamnet``.
"""

from __future__ import annotations

import numpy as np

CONTENT_VERSION = "yamnet-content-v1"
CONTENT_LABELS: tuple[str, ...] = ("music", "speech", "other")
SPEECH_CLASSES: tuple[int, ...] = tuple(range(0, 6))
MUSIC_CLASSES: tuple[int, ...] = (*range(24, 32), *range(132, 277))
N_CLASSES = 521
OTHER_CLASSES: tuple[int, ...] = tuple(sorted(set(range(N_CLASSES)) - set(SPEECH_CLASSES) - set(MUSIC_CLASSES)))
CONTENT_MAX_FRAMES = 32  # frames spread over the track: ≤ 10 % of an analysis


def content_scores(frame_scores: np.ndarray) -> dict[str, float]:
    """{"music", "speech", "other"} → mean over frames of each family's largest class score."""
    scores = np.asarray(frame_scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != N_CLASSES or scores.shape[0] == 0:
        raise ValueError(f"expected (frames, {N_CLASSES}) YAMNet scores, got {scores.shape}")
    families = {"music": MUSIC_CLASSES, "speech": SPEECH_CLASSES, "other": OTHER_CLASSES}
    return {name: round(float(scores[:, list(classes)].max(axis=1).mean()), 4) for name, classes in families.items()}


def content_verdict(scores: dict[str, float]) -> str:
    """The family that scores highest; ties go to music (the product's normal case)."""
    return max(CONTENT_LABELS, key=lambda label: (scores[label], label == "music"))
