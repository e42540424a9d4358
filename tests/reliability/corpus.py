"""The bad-audio corpus, generated at test time: small files (≤ a few hundred KB) that each break
one assumption a decoder or a header check makes."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.fixtures import wav_bytes
from tests.reliability.test_decoding_bounds import flac_declaring

# Files every door must refuse; the others (a truncated file still holds audio, silence is audio)
# may be accepted, and then must be analysed or failed with a reason, never stuck.
MUST_REFUSE = {
    "empty.wav",
    "random.mp3",
    "random.flac",
    "text.wav",
    "10ms.wav",
    "bomb-192k-8ch.flac",
    "declares-40h.flac",
    "nothing.exe",
    "header-only.flac",
}


def _encoded(fmt: str, seconds: float = 6.0, sr: int = 22_050) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr, format=fmt)
    return buffer.getvalue()


def _wav_declaring(data: bytes, data_bytes: int) -> bytes:
    """A WAV whose RIFF and data chunk sizes claim `data_bytes` of samples, whatever follows."""
    out = bytearray(data)
    out[4:8] = struct.pack("<I", min(data_bytes + 36, 0xFFFFFFFF))
    index = out.index(b"data")
    out[index + 4 : index + 8] = struct.pack("<I", min(data_bytes, 0xFFFFFFFF))
    return bytes(out)


def bad_audio_corpus(folder: Path) -> dict[str, bytes]:
    """Name → bytes of every case (folder is scratch space for the generators that need a path)."""
    rng = np.random.default_rng(17)
    mp3, ogg, flac = _encoded("MP3"), _encoded("OGG"), _encoded("FLAC")
    one_second = wav_bytes(seconds=1.0)
    cases = {
        "empty.wav": b"",
        "random.mp3": rng.bytes(20_000),
        "random.flac": rng.bytes(20_000),
        "text.wav": b"This is a text file with an audio extension.\n" * 200,
        "nothing.exe": b"MZ" + rng.bytes(2_000),
        "truncated.mp3": mp3[: len(mp3) * 3 // 10],  # its Xing header still declares 6 s
        "truncated.ogg": ogg[: len(ogg) // 3],
        "truncated.flac": flac[: len(flac) // 4],
        "header-only.flac": flac[:42],
        "lying-header.wav": _wav_declaring(one_second, 60 * 32_000),  # says 60 s, holds 1 s
        "declares-37h.wav": _wav_declaring(one_second, 0xFFFFFFF0 - 36),  # the largest a RIFF can say
        "10ms.wav": wav_bytes(seconds=0.01),
        "silence.wav": wav_bytes(seconds=3.0, freq=0.0),
        "bomb-192k-8ch.flac": flac_declaring(
            folder / "bomb.flac", seconds=19 * 60, sample_rate=192_000, channels=8
        ).read_bytes(),
        "declares-40h.flac": flac_declaring(
            folder / "long.flac", seconds=40 * 3600, sample_rate=44_100, channels=2
        ).read_bytes(),
    }
    return cases
