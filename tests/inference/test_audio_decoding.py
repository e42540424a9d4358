"""What an uploader sees: which files decode, and which error code each bad file gets."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from inference.engine import audio
from inference.engine.audio import load_audio, probe_audio
from inference.engine.errors import AudioError, ErrorCode


def test_wav_decodes_to_mono_float32_at_the_model_rate(write_audio, tone):
    path = write_audio("a.wav", tone(2.0, 16000), 16000)
    decoded = load_audio(path, target_sr=16000)
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert decoded.samples.shape == (32000,)
    assert decoded.info == audio.AudioInfo(duration_s=2.0, sample_rate=16000, channels=1, format="wav")
    assert not decoded.is_silent


def test_stereo_44k_reports_two_channels_and_original_rate_and_is_resampled(write_audio, tone):
    left, right = tone(1.0, 44100, amp=0.4), np.zeros(44100, np.float32)
    path = write_audio("stereo.flac", np.stack([left, right], axis=1), 44100)
    decoded = load_audio(path, target_sr=22050)
    assert (decoded.info.channels, decoded.info.sample_rate, decoded.info.format) == (2, 44100, "flac")
    assert decoded.sample_rate == 22050 and abs(len(decoded.samples) - 22050) <= 2
    # mono mix is the mean of channels: a 0.4 tone beside silence peaks near 0.2
    assert 0.18 < np.abs(decoded.samples).max() < 0.22


@pytest.mark.parametrize("fmt, ext", [("OGG", "ogg"), ("MP3", "mp3"), ("FLAC", "flac")])
def test_compressed_formats_decode_and_report_their_format(write_audio, fmt, ext, tone):
    path = write_audio(f"a.{ext}", tone(1.5, 22050), 22050, format=fmt)
    decoded = load_audio(path, target_sr=22050)
    assert decoded.info.format == ext
    assert abs(decoded.info.duration_s - 1.5) < 0.1
    assert np.abs(decoded.samples).max() > 0.3


def test_empty_file_is_rejected_as_empty(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError) as err:
        load_audio(path, target_sr=22050)
    assert err.value.code is ErrorCode.EMPTY_FILE
    assert str(err.value) == err.value.message == "The file is empty (0 bytes)."


def test_wav_with_a_valid_header_and_zero_frames_is_rejected_as_empty(write_audio):
    path = write_audio("zero.wav", np.zeros((0, 1), np.float32), 22050)
    assert path.stat().st_size > 0
    with pytest.raises(AudioError) as err:
        probe_audio(path)
    assert err.value.code is ErrorCode.EMPTY_FILE


def test_text_renamed_to_mp3_is_undecodable(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("These are my notes, not a song.\n" * 20)
    with pytest.raises(AudioError) as err:
        load_audio(path, target_sr=22050)
    assert err.value.code is ErrorCode.UNDECODABLE
    assert "could not be decoded" in err.value.message


def test_random_bytes_named_wav_are_undecodable(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError) as err:
        load_audio(path, target_sr=22050)
    assert err.value.code is ErrorCode.UNDECODABLE


def test_unknown_extension_is_unsupported_and_lists_what_is(write_audio, tmp_path, tone):
    path = tmp_path / "song.xyz"
    path.write_bytes(write_audio("ok.wav", tone(0.5, 8000), 8000).read_bytes())
    with pytest.raises(AudioError) as err:
        probe_audio(path)
    assert err.value.code is ErrorCode.UNSUPPORTED_FORMAT
    assert "'xyz'" in err.value.message and "wav" in err.value.message


def test_m4a_without_ffmpeg_is_unsupported_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "ffmpeg_available", lambda: False)
    path = tmp_path / "song.m4a"
    path.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(64))
    with pytest.raises(AudioError) as err:
        probe_audio(path)
    assert err.value.code is ErrorCode.UNSUPPORTED_FORMAT
    assert err.value.message.startswith(
        "Unsupported audio format 'm4a (needs ffmpeg, which is not installed)'. Supported: wav, flac, ogg"
    )
    assert "au, snd" in err.value.message and "aiff" in err.value.message and "m4a, " not in err.value.message


# GTZAN ships .au; Logic and Pro Tools write AIFF and CAF; long recorders write W64.
LIBSNDFILE_CONTAINERS = [("AU", "au"), ("AU", "snd"), ("AIFF", "aiff"), ("AIFF", "aif"), ("CAF", "caf"), ("W64", "w64")]


@pytest.mark.parametrize(("container", "ext"), LIBSNDFILE_CONTAINERS)
def test_au_aiff_caf_and_w64_decode_to_the_samples_of_the_same_wav(write_audio, tone, container, ext):
    stereo = np.stack([tone(1.5, 44100, amp=0.4), tone(1.5, 44100, freq=660, amp=0.2)], axis=1)
    wav = load_audio(write_audio("same.wav", stereo, 44100, subtype="PCM_16"), target_sr=22050)
    other = load_audio(write_audio(f"same.{ext}", stereo, 44100, format=container, subtype="PCM_16"), target_sr=22050)
    np.testing.assert_array_equal(other.samples, wav.samples)
    reported = {"snd": "au", "aif": "aiff"}.get(ext, ext)  # the container's name, whatever the extension
    assert other.info == audio.AudioInfo(wav.info.duration_s, 44100, 2, reported)


@pytest.mark.parametrize("container", sorted(audio._SNDFILE_CONTAINERS.keys() - {"MP3", "OGG", "FLAC"}))
def test_every_advertised_libsndfile_container_decodes_a_file_written_in_it(write_audio, tone, container):
    """What the upload page lists, this install reads: no extension is advertised on trust."""
    data = tone(1.0, 22050, amp=0.4)
    reference = load_audio(write_audio("ref.wav", data, 22050, subtype="PCM_16"), target_sr=22050).samples
    for ext in audio._SNDFILE_CONTAINERS[container]:
        assert ext in audio.supported_extensions()
        path = write_audio(f"clip.{ext}", data, 22050, format=container, subtype="PCM_16")
        np.testing.assert_array_equal(load_audio(path, target_sr=22050).samples, reference)


@pytest.mark.parametrize(("container", "ext"), [("AU", "au"), ("AIFF", "aiff"), ("CAF", "caf"), ("W64", "w64")])
def test_new_formats_meet_the_same_header_limits_as_wav(write_audio, tone, container, ext):
    short = write_audio(f"click.{ext}", tone(0.2, 8000), 8000, format=container)
    many = write_audio(f"many.{ext}", np.zeros((8000, audio.MAX_CHANNELS + 1), np.float32), 8000, format=container)
    long = write_audio(f"long.{ext}", tone(3.0, 8000), 8000, format=container)
    for path, max_duration_s, code in (
        (short, 10, ErrorCode.TOO_SHORT),
        (many, 10, ErrorCode.UNSUPPORTED_LAYOUT),
        (long, 2.5, ErrorCode.TOO_LONG),
    ):
        with pytest.raises(AudioError) as err:
            probe_audio(path, max_duration_s=max_duration_s)
        assert err.value.code is code, path.name


def test_a_truncated_aiff_is_refused_like_a_truncated_wav(write_audio, tone, tmp_path):
    whole = write_audio("whole.aiff", tone(2.0, 8000), 8000, format="AIFF")
    cut = tmp_path / "cut.aiff"
    cut.write_bytes(whole.read_bytes()[:200])  # the header promises 2 s; 0.01 s of frames are left
    with pytest.raises(AudioError) as err:
        load_audio(cut, target_sr=8000)
    assert err.value.code is ErrorCode.TOO_SHORT


def test_ffmpeg_formats_are_listed_only_where_ffmpeg_is(monkeypatch):
    monkeypatch.setattr(audio, "ffmpeg_available", lambda: True)
    assert {"m4a", "aac", "mp4", "opus", "webm"} <= set(audio.supported_extensions())
    assert "m4a" in audio.supported_formats_text() and "not installed" not in audio.supported_formats_text()
    monkeypatch.setattr(audio, "ffmpeg_available", lambda: False)
    assert not set(audio.FFMPEG_EXTENSIONS) & set(audio.supported_extensions())
    assert {"wav", "flac", "ogg", "mp3", "au", "aiff", "caf", "w64"} <= set(audio.supported_extensions())
    assert audio.supported_formats_text().endswith("need ffmpeg, which is not installed)")


def test_too_long_audio_is_rejected_with_the_limit(write_audio, tone):
    path = write_audio("long.wav", tone(3.0, 8000), 8000)
    with pytest.raises(AudioError) as err:
        load_audio(path, target_sr=8000, max_duration_s=2.5)
    assert err.value.code is ErrorCode.TOO_LONG
    assert err.value.message == "The audio is too long (3.0 s; the limit is 2.5 s)."
    assert probe_audio(path, max_duration_s=3.5).duration_s == pytest.approx(3.0)


def test_silent_audio_is_flagged_not_rejected(write_audio, tone):
    path = write_audio("silence.wav", np.zeros(8000, np.float32), 8000)
    decoded = load_audio(path, target_sr=8000)
    assert decoded.is_silent
    assert not audio.is_silent(tone(1.0, 8000, amp=0.01))  # -43 dBFS is quiet, not silent


def test_error_codes_are_stable_strings_for_api_clients():
    assert {c.value for c in ErrorCode} >= {
        "empty_file",
        "undecodable",
        "unsupported_format",
        "too_long",
        "bad_checkpoint",
    }
    err = AudioError(ErrorCode.EMPTY_FILE, detail="0 bytes")
    assert err.to_dict() == {"code": "empty_file", "message": "The file is empty (0 bytes)."}
    assert sf.__libsndfile_version__  # the bundled decoder these tests rely on is present


needs_ffmpeg = pytest.mark.skipif(not audio.ffmpeg_available(), reason="ffmpeg/ffprobe not on PATH")


@needs_ffmpeg
def test_m4a_decodes_through_ffmpeg_when_it_is_installed(write_audio, tone, tmp_path):
    import subprocess

    stereo = np.stack([tone(2.0, 44100, amp=0.4)] * 2, axis=1)
    wav = write_audio("src.wav", stereo, 44100)
    m4a = tmp_path / "song.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    assert "m4a" in audio.supported_extensions()
    decoded = load_audio(m4a, target_sr=22050)
    assert (decoded.info.format, decoded.info.channels, decoded.info.sample_rate) == ("m4a", 2, 44100)
    assert abs(decoded.info.duration_s - 2.0) < 0.1 and abs(len(decoded.samples) / 22050 - 2.0) < 0.1
    middle = decoded.samples[5000:-5000]
    assert 0.25 < np.sqrt(np.mean(middle**2)) < 0.31  # RMS of a 0.4 sine survives the AAC trip


@needs_ffmpeg
def test_opus_decodes_through_ffmpeg_when_it_is_installed(write_audio, tone, tmp_path):
    import subprocess

    wav = write_audio("src.wav", tone(2.0, 48000, amp=0.4), 48000)
    opus = tmp_path / "song.opus"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(wav), "-c:a", "libopus", str(opus)], check=True)
    decoded = load_audio(opus, target_sr=22050)
    assert (decoded.info.format, decoded.info.sample_rate) == ("opus", 48000)
    assert abs(len(decoded.samples) / 22050 - 2.0) < 0.1
    assert 0.25 < np.sqrt(np.mean(decoded.samples[5000:-5000] ** 2)) < 0.31


@needs_ffmpeg
def test_text_renamed_to_m4a_is_undecodable(tmp_path):
    path = tmp_path / "notes.m4a"
    path.write_text("not audio\n" * 50)
    with pytest.raises(AudioError) as err:
        probe_audio(path)
    assert err.value.code is ErrorCode.UNDECODABLE


def test_a_10_ms_clip_is_refused_as_too_short_with_the_minimum(tmp_path):
    path = tmp_path / "click.wav"
    sf.write(path, np.full(160, 0.5, dtype=np.float32), 16000)
    with pytest.raises(AudioError) as refused:
        probe_audio(path)
    assert refused.value.code == ErrorCode.TOO_SHORT and "minimum is 0.5 s" in refused.value.message
    assert audio.MIN_AUDIO_SECONDS == 0.5
