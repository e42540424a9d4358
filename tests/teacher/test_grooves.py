"""Synthetic grooves: the style table, and a real mma + fluidsynth render of one short clip for
each of two genres (skipped, saying which Debian package is missing, where the tools are not)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import inference.engine.starter.grooves as grooves
from inference.engine.starter.grooves import (
    GROOVE_STYLES,
    check_tools,
    missing_packages,
    read_groove_manifest,
    render_grooves,
)
from inference.engine.teacher import mapping

SMALL_FONT = ("timgm6mb-soundfont",)  # 6 MB: the quickest to load


def test_grooves_cover_the_weak_genres_and_never_rap(tmp_path):
    assert set(GROOVE_STYLES) <= set(mapping.GENRES)
    weak = {"Latin", "Reggae", "Country", "Blues", "Disco", "R&B", "Hip-Hop", "Jazz", "Folk"}
    assert weak <= set(GROOVE_STYLES)
    assert "Rap" not in GROOVE_STYLES
    assert all(len(styles) >= 4 for styles in GROOVE_STYLES.values())
    with pytest.raises(ValueError, match="Rap"):
        render_grooves(tmp_path, genres=["Rap"])
    assert not (tmp_path / "grooves").exists()


def test_a_clip_is_the_same_for_the_same_seed_and_differs_for_another():
    plan = grooves._plan("Latin", 3, 0, 30.0, list(grooves.SOUNDFONTS))
    assert plan == grooves._plan("Latin", 3, 0, 30.0, list(grooves.SOUNDFONTS))
    assert plan.seed != grooves._plan("Latin", 3, 1, 30.0, list(grooves.SOUNDFONTS)).seed
    low, high = plan.style.tempo
    assert low <= plan.tempo <= high


@pytest.fixture
def tools():
    missing = missing_packages(SMALL_FONT)
    if missing:
        pytest.skip(f"cannot render grooves here: Debian package(s) {', '.join(missing)} not installed")


def test_every_style_is_in_the_installed_mma_library_and_the_licences_are_as_recorded(tools):
    check_tools(SMALL_FONT)


def test_rendered_clips_decode_sound_and_are_listed_and_a_rerun_renders_nothing(tools, tmp_path, monkeypatch):
    seconds = 4.0
    options = {
        "minutes_per_genre": seconds / 60,
        "clip_seconds": seconds,
        "genres": ["Reggae", "Latin"],
        "soundfonts": SMALL_FONT,
        "progress": False,
    }
    clips = render_grooves(tmp_path, **options)

    assert [c.genre for c in clips] == ["Reggae", "Latin"]
    for clip in clips:
        assert clip.path.parent == tmp_path / "grooves" / clip.genre.lower()
        audio, rate = sf.read(clip.path)
        assert rate == grooves.SAMPLE_RATE and audio.ndim == 1
        assert len(audio) == int(seconds * rate)
        assert np.sqrt(np.mean(audio**2)) > 0.01
        assert clip.style in GROOVE_STYLES[clip.genre]
        assert "soundfont timgm6mb-soundfont GPL-2" in clip.licence and "mma" in clip.licence
    assert read_groove_manifest(tmp_path) == sorted(clips, key=lambda c: str(c.path))

    def must_not_render(*args, **kwargs):
        raise AssertionError("a listed clip was rendered again")

    monkeypatch.setattr(grooves, "_render_clip", must_not_render)
    assert render_grooves(tmp_path, **options) == clips


def test_the_recipe_turns_grooves_into_hard_labelled_recordings(tools, tmp_path):
    from inference.engine.starter.build import groove_recordings, groove_split
    from tests.fixtures import TINY

    seconds = 7.0
    found = groove_recordings(
        tmp_path,
        TINY,
        minutes_per_genre=seconds / 60,
        seed=0,
        progress=False,
        clip_seconds=seconds,
        genres=["Reggae", "Latin"],
        soundfonts=SMALL_FONT,
    )
    recordings = found["train"] + found["test"]
    assert sorted(r.file_id.split(":")[0] for r in recordings) == ["groove", "groove"]
    for recording in recordings:
        assert recording.synthetic and recording.mel.shape[0] == TINY.n_mels
        genre = mapping.GENRES[int(recording.scores.sum(axis=0).argmax())]
        assert genre in {"Reggae", "Latin"} and np.all(recording.scores.sum(axis=1) == 1.0)
        assert recording in found[groove_split(recording.file_id.split(":", 1)[1])]
    assert {mapping.GENRES[int(r.scores[0].argmax())] for r in recordings} == {"Reggae", "Latin"}
