"""The musicnn teacher taggers (PyTorch port), their preprocessing and the tag → genre mapping.

The tag vocabularies live here so that ``mapping`` (and anything reading stored teacher
scores) needs neither torch nor librosa; import ``inference.engine.teacher.musicnn`` for the model
and ``inference.engine.teacher.preprocess`` for the audio front end.
"""
from __future__ import annotations

# The HDF5 files carry no label names; these are the published top-50 vocabularies, in output order.
MSD_LABELS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill",
    "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental",
    "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy",
    "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop",
    "sad", "House", "happy",
)
MTT_LABELS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)
LABELS_BY_DATASET: dict[str, tuple[str, ...]] = {"MSD": MSD_LABELS, "MTT": MTT_LABELS}
