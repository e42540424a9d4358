"""Decoding is bounded by work, not bytes: what a header declares is checked before decoding, and
an accepted file is decoded block by block into mono at the model's rate.

The audit's file: 2.3 MB of FLAC declaring 19 minutes at 192 kHz × 8 channels took a worker
from 0.76 to 8.4 GB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from inference.engine.audio import load_audio, probe_audio
from inference.engine.errors import AudioError, ErrorCode
from tests.reliability.conftest import figures

PEAK_LIMIT_MB = 300


def flac_declaring(path: Path, *, seconds: float, sample_rate: int, channels: int) -> Path:
    """A one-second FLAC whose STREAMINFO claims ``seconds`` of audio (as a crafted upload would)."""
    sf.write(path, np.zeros((sample_rate, channels), dtype=np.float32), sample_rate, format="FLAC")
    data = bytearray(path.read_bytes())
    # STREAMINFO starts after "fLaC" + a 4-byte block header; total samples are the low 36 bits of bytes 13–17.
    offset = 8 + 13
    packed = int.from_bytes(data[offset : offset + 5], "big")
    packed = (packed & ~((1 << 36) - 1)) | int(seconds * sample_rate)
    data[offset : offset + 5] = packed.to_bytes(5, "big")
    path.write_bytes(bytes(data))
    return path


def test_a_small_flac_declaring_19_minutes_of_192_khz_8_channels_is_refused_before_decoding(tmp_path):
    path = flac_declaring(tmp_path / "bomb.flac", seconds=19 * 60, sample_rate=192_000, channels=8)
    assert path.stat().st_size < 1_000_000
    info = sf.info(str(path))
    assert (info.samplerate, info.channels) == (192_000, 8) and info.frames == 19 * 60 * 192_000
    with pytest.raises(AudioError) as refused:
        probe_audio(path, max_duration_s=20 * 60)
    assert refused.value.code == ErrorCode.UNSUPPORTED_LAYOUT
    assert "192000 Hz × 8 channels" in refused.value.message


def test_a_cd_quality_file_that_is_simply_too_long_is_too_long_not_a_layout_problem(tmp_path):
    path = flac_declaring(tmp_path / "mix.flac", seconds=2 * 3600, sample_rate=44_100, channels=2)
    with pytest.raises(AudioError) as refused:
        probe_audio(path, max_duration_s=20 * 60)
    assert refused.value.code == ErrorCode.TOO_LONG
    assert refused.value.message == "The audio is too long (120:00; the limit is 20:00)."


def test_a_10_ms_clip_is_too_short_and_says_how_long_it_is(tmp_path):
    path = tmp_path / "blip.wav"
    sf.write(path, np.zeros(160, dtype=np.float32), 16_000, format="WAV")
    with pytest.raises(AudioError) as refused:
        probe_audio(path)
    assert refused.value.code == ErrorCode.TOO_SHORT
    assert refused.value.message == "The audio is too short (0.01 s; the minimum is 0.5 s)."


def test_a_flac_cut_after_its_header_is_refused_at_the_door_not_failed_later(tmp_path):
    whole = tmp_path / "whole.flac"
    sf.write(whole, np.zeros(22_050 * 6, dtype=np.float32), 22_050, format="FLAC")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[:42])  # "fLaC" and STREAMINFO: 6 s declared, no frames
    assert sf.info(str(cut)).frames == 22_050 * 6
    with pytest.raises(AudioError) as refused:
        probe_audio(cut)
    assert refused.value.code == ErrorCode.UNDECODABLE


@pytest.mark.parametrize("rate, channels", [(768_000, 1), (44_100, 32)])
def test_absurd_rates_and_channel_counts_are_refused(tmp_path, rate, channels):
    path = tmp_path / "odd.wav"
    sf.write(path, np.zeros((rate, channels), dtype=np.float32), rate, format="WAV")  # one second
    with pytest.raises(AudioError) as refused:
        probe_audio(path)
    assert refused.value.code == ErrorCode.UNSUPPORTED_LAYOUT


def test_block_decoding_gives_the_samples_of_a_whole_file_decode(tmp_path):
    import librosa

    rng = np.random.default_rng(1)
    stereo = (0.3 * rng.standard_normal((44_100 * 7 + 123, 2))).astype(np.float32)
    path = tmp_path / "stereo.flac"
    sf.write(path, stereo, 44_100, format="FLAC", subtype="PCM_24")
    whole = sf.read(str(path), dtype="float32", always_2d=True)[0]
    expected = librosa.resample(
        whole.mean(axis=1, dtype=np.float32), orig_sr=44_100, target_sr=22_050, res_type="soxr_hq"
    )
    decoded = load_audio(path, target_sr=22_050)
    assert decoded.samples.shape == expected.shape
    assert np.abs(decoded.samples - expected).max() < 1e-6
    assert decoded.info.duration_s == pytest.approx(len(expected) / 22_050, abs=1e-3)


def test_a_truncated_mp3_reports_the_length_it_decodes_to_not_its_header(tmp_path):
    seconds = np.arange(22_050 * 10) / 22_050
    whole = tmp_path / "whole.mp3"
    sf.write(whole, (0.3 * np.sin(2 * np.pi * 440 * seconds)).astype(np.float32), 22_050, format="MP3")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 3 // 10])  # the Xing header still says 10 s
    assert probe_audio(cut).duration_s == pytest.approx(10.0, abs=0.1)
    assert 2.0 < load_audio(cut, target_sr=22_050).info.duration_s < 3.5


@pytest.mark.slow
def test_decoding_a_long_high_rate_file_stays_within_a_bounded_peak(tmp_path):
    """Ten minutes of 96 kHz stereo (230 MB as float32 frames) decode with a peak near the mono
    result; numpy's allocations are traced (libsndfile's and soxr's own buffers are a few MB)."""
    import tracemalloc

    path = tmp_path / "long.flac"
    rng = np.random.default_rng(2)
    block = np.round(rng.standard_normal((96_000 * 10, 2)) * 2) / 32768  # tiny noise: compresses well
    with sf.SoundFile(path, "w", samplerate=96_000, channels=2, format="FLAC", subtype="PCM_16") as out:
        for _ in range(60):
            out.write(block.astype(np.float32))
    del block
    tracemalloc.start()
    try:
        decoded = load_audio(path, target_sr=22_050, max_duration_s=1200)
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    figures(
        "decoding bounds",
        file_mb=round(path.stat().st_size / 1e6, 1),
        native_frames_mb=230,
        peak_mb=round(peak_mb),
        limit_mb=PEAK_LIMIT_MB,
    )
    assert decoded.info.duration_s == pytest.approx(600, abs=0.1)
    assert peak_mb < 100, peak_mb  # the mono result at 22.05 kHz is 53 MB; the file at 96 kHz stereo, 230 MB
