"""Decode uploaded audio to mono float32 at the model's sample rate, or say clearly why not.

libsndfile (bundled with the soundfile wheel) decodes WAV, FLAC, OGG and MP3 without system
packages. M4A/AAC/MP4 go through an explicit ``ffmpeg`` subprocess when ffmpeg is installed,
and are rejected as unsupported otherwise (no silent fallback to audioread).
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import AudioError, ErrorCode, format_duration

SNDFILE_EXTENSIONS = frozenset({"wav", "mp3", "flac", "ogg"})
FFMPEG_EXTENSIONS = frozenset({"m4a", "aac", "mp4", "opus"})
SILENCE_RMS_DBFS = -60.0
_FFMPEG_TIMEOUT_S = 120
# libsndfile's container names → the format name we report.
_SNDFILE_FORMATS = {"WAV": "wav", "WAVEX": "wav", "RF64": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}


def ffmpeg_available() -> bool:
    """True when both ffmpeg and ffprobe are on PATH."""
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def supported_extensions() -> frozenset[str]:
    """Extensions (lowercase, no dot) this machine can decode right now."""
    return SNDFILE_EXTENSIONS | FFMPEG_EXTENSIONS if ffmpeg_available() else SNDFILE_EXTENSIONS


SUPPORTED_EXTENSIONS: frozenset[str] = supported_extensions()


@dataclass(frozen=True)
class AudioInfo:
    """What the file is, before any resampling or mixing."""

    duration_s: float
    sample_rate: int
    channels: int
    format: str


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
        raise AudioError(
            ErrorCode.UNSUPPORTED_FORMAT,
            format=shown,
            supported=", ".join(sorted(supported_extensions())),
        )
    return ext


def _check_info(info: AudioInfo, max_duration_s: float) -> AudioInfo:
    if info.duration_s <= 0:
        raise AudioError(ErrorCode.EMPTY_FILE, detail="no audio frames")
    if info.duration_s > max_duration_s:
        raise AudioError(
            ErrorCode.TOO_LONG,
            duration=format_duration(info.duration_s),
            limit=format_duration(max_duration_s),
        )
    return info


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
        format=_SNDFILE_FORMATS.get(raw.format, ext),
    )


def _ffprobe_info(path: Path, ext: str) -> AudioInfo:
    cmd = [
        "ffprobe", "-v", "error", "-select_streams", "a:0",
        "-show_entries", "stream=sample_rate,channels,duration:format=duration",
        "-of", "json", str(path),
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
    info = _ffprobe_info(path, ext) if ext in FFMPEG_EXTENSIONS else _sndfile_info(path, ext)
    return _check_info(info, max_duration_s)


def _decode_ffmpeg(path: Path, info: AudioInfo) -> np.ndarray:
    cmd = [
        "ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:a:0",
        "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(info.channels), "pipe:1",
    ]
    proc = subprocess.run(cmd, capture_output=True, timeout=_FFMPEG_TIMEOUT_S)
    if proc.returncode != 0:
        raise AudioError(ErrorCode.UNDECODABLE, detail=f"ffmpeg could not decode this {info.format} file")
    data = np.frombuffer(proc.stdout, dtype="<f4")
    usable = len(data) - len(data) % info.channels
    return data[:usable].reshape(-1, info.channels)


def _decode_sndfile(path: Path, info: AudioInfo) -> np.ndarray:
    try:
        return sf.read(str(path), dtype="float32", always_2d=True)[0]
    except (sf.SoundFileError, RuntimeError) as exc:
        raise AudioError(ErrorCode.UNDECODABLE, detail=f"the {info.format} data is corrupt") from exc


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
    rms = math.sqrt(float(np.mean(np.square(samples, dtype=np.float64))))
    return rms < 10 ** (SILENCE_RMS_DBFS / 20)


def load_audio(path: str | Path, *, target_sr: int, max_duration_s: float = 1200) -> DecodedAudio:
    """Decode, mix to mono (mean of channels) and resample to ``target_sr`` when it differs."""
    path = Path(path)
    info = probe_audio(path, max_duration_s=max_duration_s)
    if info.format in FFMPEG_EXTENSIONS:
        frames = _decode_ffmpeg(path, info)
    else:
        frames = _decode_sndfile(path, info)
    if frames.shape[0] == 0:
        raise AudioError(ErrorCode.EMPTY_FILE, detail="no audio frames")
    samples = _mono(frames)
    if not np.isfinite(samples).all():  # corrupt float WAVs exist; NaN would poison every window
        np.nan_to_num(samples, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    if info.sample_rate != target_sr:
        import librosa  # lazy: ≈2 s of imports, only paid when resampling is needed

        samples = librosa.resample(samples, orig_sr=info.sample_rate, target_sr=target_sr, res_type="soxr_hq")
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    return DecodedAudio(samples=samples, sample_rate=target_sr, info=info, is_silent=is_silent(samples))
