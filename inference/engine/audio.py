"""Decode uploaded audio to mono float32 at the model's sample rate, or say clearly why not.

libsndfile (bundled with the soundfile wheel) decodes WAV, FLAC, OGG, MP3, AIFF, AU, CAF, W64
and the other containers it lists in ``soundfile.available_formats()`` without system packages.
M4A/AAC/MP4/Opus/WebM go through an explicit ``ffmpeg`` subprocess when ffmpeg is installed,
and are rejected as unsupported otherwise (no silent fallback to audioread).
``supported_extensions()`` is the one list of what this install accepts: the upload page, the
workstation, the API schema and every refusal read it.

Decoding is bounded by work, not by bytes: a 2-MB FLAC can declare 19 minutes of 192 kHz ×
8 channels. The header's rate, channels and rate × channels × duration are checked before any
decoding, and the audio is decoded in blocks that are mixed to mono and resampled as they come
(soxr's stream resampler gives the same samples as a one-shot ``librosa.resample``), so memory
holds the mono result and one block, never the whole file at its native rate and channels.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .datatypes import AudioInfo
from .errors import AudioError, ErrorCode, format_duration

# libsndfile's container names (soundfile.available_formats()) → the extensions an upload of
# that container carries, the first one being the format name reported. Left out on purpose:
# RAW (headerless: rate and channels would be guesses), MAT4/MAT5 and HTK (numeric data, not
# recordings), XI, SDS and MPC2K (instrument samples; .mpc is Musepack elsewhere), SD2 (its
# header lives in a resource fork an upload does not carry), PVF and WVE (voice memos of dead devices).
_SNDFILE_CONTAINERS: dict[str, tuple[str, ...]] = {
    "WAV": ("wav",),
    "FLAC": ("flac",),
    "OGG": ("ogg", "oga"),
    "MP3": ("mp3",),
    "AIFF": ("aiff", "aif", "aifc"),
    "AU": ("au", "snd"),
    "CAF": ("caf",),
    "W64": ("w64",),
    "WAVEX": ("wav",),
    "RF64": ("wav", "rf64"),
    "NIST": ("sph", "nist"),
    "IRCAM": ("sf", "ircam"),
    "VOC": ("voc",),
    "PAF": ("paf",),
    "AVR": ("avr",),
    "SVX": ("8svx", "svx"),
}
# Order the lists people read by what they are most likely to hold: the familiar formats first.
SNDFILE_EXTENSIONS: tuple[str, ...] = tuple(
    dict.fromkeys(
        ext for container, exts in _SNDFILE_CONTAINERS.items() if container in sf.available_formats() for ext in exts
    )
)
FFMPEG_EXTENSIONS: tuple[str, ...] = ("m4a", "aac", "mp4", "opus", "webm", "weba", "mka", "wma", "ac3")
SILENCE_RMS_DBFS = -60.0
_FFMPEG_TIMEOUT_S = 120
# What a header may declare before decoding is refused (see the module docstring).
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 16
MAX_DECODE_SAMPLES = 192_000 * 2 * 20 * 60  # rate × channels × seconds: 20 minutes of 192 kHz stereo
BLOCK_FRAMES = 1 << 16
# Shorter than this is a click, not a track: no window of it says anything about a genre.
MIN_AUDIO_SECONDS = 0.5


def ffmpeg_available() -> bool:
    """True when both ffmpeg and ffprobe are on PATH."""
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def supported_extensions() -> tuple[str, ...]:
    """Extensions (lowercase, no dot) this install decodes, familiar ones first: libsndfile's
    (fixed at import) plus ffmpeg's when ffmpeg is on PATH now (a worker sees it once installed)."""
    return SNDFILE_EXTENSIONS + FFMPEG_EXTENSIONS if ffmpeg_available() else SNDFILE_EXTENSIONS


def supported_formats_text() -> str:
    """What this install accepts, for people: 'wav, flac, … (m4a, … need ffmpeg, not installed)'."""
    text = ", ".join(supported_extensions())
    if not ffmpeg_available():
        text += f" ({', '.join(FFMPEG_EXTENSIONS[:4])} … need ffmpeg, which is not installed)"
    return text


@dataclass
class DecodedAudio:
    """Mono float32 samples at the target rate, plus the original file's facts."""

    samples: np.ndarray
    sample_rate: int
    info: AudioInfo
    is_silent: bool


def _extension(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def _check_file(path: Path) -> str:
    """Cheap checks shared by probe and load; returns the lowercase extension."""
    size = path.stat().st_size  # a missing file is a storage problem: FileNotFoundError
    ext = _extension(path)
    if size == 0:
        raise AudioError(ErrorCode.EMPTY_FILE, detail="0 bytes")
    if ext not in supported_extensions():
        shown = ext or "(no extension)"
        if ext in FFMPEG_EXTENSIONS:
            shown += " (needs ffmpeg, which is not installed)"
        raise AudioError(ErrorCode.UNSUPPORTED_FORMAT, format=shown, supported=", ".join(supported_extensions()))
    return ext


def _check_info(info: AudioInfo, max_duration_s: float) -> AudioInfo:
    if info.duration_s <= 0:
        raise AudioError(ErrorCode.EMPTY_FILE, detail="no audio frames")
    _check_length(info.duration_s)
    if info.sample_rate > MAX_SAMPLE_RATE:
        raise AudioError(ErrorCode.UNSUPPORTED_LAYOUT, detail=f"{info.sample_rate} Hz; at most {MAX_SAMPLE_RATE} Hz")
    if info.channels > MAX_CHANNELS:
        raise AudioError(ErrorCode.UNSUPPORTED_LAYOUT, detail=f"{info.channels} channels; at most {MAX_CHANNELS}")
    # Length first: a CD-quality file that is simply too long is too_long, not a layout problem.
    if info.duration_s > max_duration_s:
        raise AudioError(
            ErrorCode.TOO_LONG,
            duration=format_duration(info.duration_s),
            limit=format_duration(max_duration_s),
        )
    if info.sample_rate * info.channels * info.duration_s > MAX_DECODE_SAMPLES:
        raise AudioError(
            ErrorCode.UNSUPPORTED_LAYOUT,
            detail=f"{format_duration(info.duration_s)} of {info.sample_rate} Hz × {info.channels} "
            "channels; at most 20 minutes of 192 kHz stereo or its equivalent",
        )
    return info


def _check_length(seconds: float) -> None:
    if seconds < MIN_AUDIO_SECONDS - 1e-6:
        raise AudioError(
            ErrorCode.TOO_SHORT, duration=format_duration(seconds), limit=format_duration(MIN_AUDIO_SECONDS)
        )


def _sndfile_info(path: Path, ext: str) -> AudioInfo:
    try:
        raw = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError) as exc:
        raise AudioError(ErrorCode.UNDECODABLE, detail=f"not a readable {ext} file") from exc
    if raw.samplerate <= 0 or raw.channels <= 0:
        raise AudioError(ErrorCode.UNDECODABLE, detail="invalid sample rate or channel count")
    return AudioInfo(
        duration_s=raw.frames / raw.samplerate,
        sample_rate=int(raw.samplerate),
        channels=int(raw.channels),
        format=_SNDFILE_CONTAINERS.get(raw.format, (ext,))[0],
    )


def _ffprobe_info(path: Path, ext: str) -> AudioInfo:
    cmd = [
        "ffprobe",
        "-v",
        "error",
        "-select_streams",
        "a:0",
        "-show_entries",
        "stream=sample_rate,channels,duration:format=duration",
        "-of",
        "json",
        str(path),
    ]
    proc = subprocess.run(cmd, capture_output=True, timeout=_FFMPEG_TIMEOUT_S)
    try:
        data = json.loads(proc.stdout or b"{}")
        stream = data["streams"][0]
        duration = float(stream.get("duration") or data["format"]["duration"])
        info = AudioInfo(duration, int(stream["sample_rate"]), int(stream["channels"]), ext)
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise AudioError(ErrorCode.UNDECODABLE, detail=f"no audio stream in this {ext} file") from exc
    if proc.returncode != 0 or info.sample_rate <= 0 or info.channels <= 0:
        raise AudioError(ErrorCode.UNDECODABLE, detail=f"not a readable {ext} file")
    return info


def probe_audio(path: str | Path, *, max_duration_s: float = 1200) -> AudioInfo:
    """Read duration, rate, channels and format without decoding; raise AudioError if unusable."""
    path = Path(path)
    ext = _check_file(path)
    if ext in FFMPEG_EXTENSIONS:
        return _check_info(_ffprobe_info(path, ext), max_duration_s)
    info = _check_info(_sndfile_info(path, ext), max_duration_s)
    _first_frames_decode(path, info)
    return info


def _first_frames_decode(path: Path, info: AudioInfo, frames: int = 4096) -> None:
    """A header alone is not audio: a FLAC cut after its STREAMINFO declares seconds it does not
    hold. Decoding the first few thousand frames (bounded by the checks above) refuses it at the door."""
    try:
        with sf.SoundFile(str(path)) as audio:
            decoded = len(audio.read(frames, dtype="float32", always_2d=True))
    except (sf.SoundFileError, RuntimeError) as exc:
        raise AudioError(ErrorCode.UNDECODABLE, detail=f"the {info.format} data is corrupt from its start") from exc
    if decoded == 0:
        raise AudioError(ErrorCode.UNDECODABLE, detail=f"the {info.format} file holds no decodable audio")


def _blocks_ffmpeg(path: Path, info: AudioInfo) -> Iterator[np.ndarray]:
    """[n, channels] float32 blocks read from ffmpeg's stdout as it decodes."""
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-nostdin",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-f",
        "f32le",
        "-acodec",
        "pcm_f32le",
        "-ac",
        str(info.channels),
        "pipe:1",
    ]
    block_bytes = BLOCK_FRAMES * info.channels * 4
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        try:
            while chunk := proc.stdout.read(block_bytes):
                data = np.frombuffer(chunk[: len(chunk) - len(chunk) % (4 * info.channels)], dtype="<f4")
                yield data.reshape(-1, info.channels)
            returncode = proc.wait(timeout=_FFMPEG_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
    if returncode != 0:
        raise AudioError(ErrorCode.UNDECODABLE, detail=f"ffmpeg could not decode this {info.format} file")


def _blocks_sndfile(path: Path, info: AudioInfo) -> Iterator[np.ndarray]:
    try:
        with sf.SoundFile(str(path)) as audio:
            # read() until it returns nothing: blocks() trusts the header's length and pads a truncated file
            while len(block := audio.read(BLOCK_FRAMES, dtype="float32", always_2d=True)):
                yield block
    except (sf.SoundFileError, RuntimeError) as exc:
        raise AudioError(ErrorCode.UNDECODABLE, detail=f"the {info.format} data is corrupt") from exc


def _mono_resampled(blocks: Iterator[np.ndarray], info: AudioInfo, target_sr: int) -> np.ndarray:
    """Mix each block to mono and resample it as it arrives, into one growing mono array."""
    stream = None
    if info.sample_rate != target_sr:
        import soxr  # librosa's "soxr_hq" is soxr's HQ; the stream gives the one-shot's samples

        stream = soxr.ResampleStream(info.sample_rate, target_sr, 1, dtype="float32", quality="HQ")
    out = np.empty(int(info.duration_s * target_sr) + target_sr, dtype=np.float32)
    filled = 0

    def append(part: np.ndarray) -> None:
        nonlocal out, filled
        if filled + len(part) > len(out):  # the header understated the length
            out = np.concatenate([out[:filled], np.empty(max(len(part), len(out) // 2), dtype=np.float32)])
        out[filled : filled + len(part)] = part
        filled += len(part)

    decoded = 0
    for block in blocks:
        decoded += len(block)
        mono = _mono(block)
        append(stream.resample_chunk(mono) if stream else mono)
    if decoded == 0:
        raise AudioError(ErrorCode.EMPTY_FILE, detail="no audio frames")
    if stream is not None:
        append(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return out[:filled]


def _mono(frames: np.ndarray) -> np.ndarray:
    """Mean over channels of [n, channels] frames; a per-channel loop is ≈20× faster than mean(axis=1)."""
    mono = np.array(frames[:, 0], dtype=np.float32)
    for channel in range(1, frames.shape[1]):
        mono += frames[:, channel]
    if frames.shape[1] > 1:
        mono /= frames.shape[1]
    return mono


def is_silent(samples: np.ndarray) -> bool:
    """True when the RMS level is below -60 dBFS: analysed anyway, but flagged for editors."""
    if samples.size == 0:
        return True
    # In chunks: a float64 square of a 20-minute track would be a 200-MB temporary.
    energy = sum(
        float(np.dot(part, part))
        for part in np.array_split(samples.astype(np.float32, copy=False), max(1, samples.size // (1 << 20)))
    )
    rms = math.sqrt(energy / samples.size)
    return rms < 10 ** (SILENCE_RMS_DBFS / 20)


def load_audio(path: str | Path, *, target_sr: int, max_duration_s: float = 1200) -> DecodedAudio:
    """Decode, mix to mono (mean of channels) and resample to ``target_sr`` when it differs.

    ``info.duration_s`` is the decoded length: a truncated file's header may promise more.
    """
    path = Path(path)
    info = probe_audio(path, max_duration_s=max_duration_s)
    blocks = _blocks_ffmpeg(path, info) if info.format in FFMPEG_EXTENSIONS else _blocks_sndfile(path, info)
    samples = _mono_resampled(blocks, info, target_sr)
    if samples.size == 0:
        raise AudioError(ErrorCode.EMPTY_FILE, detail="no audio frames")
    if not np.isfinite(np.sum(samples, dtype=np.float64)):  # corrupt float WAVs exist; NaN would poison every window
        np.nan_to_num(samples, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    _check_length(samples.size / target_sr)  # a truncated file can promise more than it holds
    decoded = AudioInfo(round(samples.size / target_sr, 3), info.sample_rate, info.channels, info.format)
    return DecodedAudio(samples=samples, sample_rate=target_sr, info=decoded, is_silent=is_silent(samples))
