"""The groove table: which mma styles stand for which genre, their tempo ranges and harmony,
the chord progressions they are played over, and the parts written here for drum-only beats.

Styles were chosen by reading each library file in ``/usr/share/mma/lib`` (its Doc, its tracks
and voices): all have a bass or walking bass and chords, except the drum-only ``zoom`` beats,
which get a bass and chords written here (``+skank`` for reggae, ``+keys`` for hip-hop);
``own:OneDrop`` writes the drums as well. Tempo ranges follow the Doc notes ("double the tempo",
"advised tempo 115 - 130") and the finest drum subdivision of each style.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class GrooveStyle:
    name: str  # "stdlib/bossanova:BossaNova"; "+skank"/"+keys" adds parts written here; "own:…" is ours
    tempo: tuple[int, int]  # mma Tempo: beats per minute as the style counts them ("double the tempo" styles)
    harmony: str  # key into PROGRESSIONS
    beats: int = 4  # beats per bar (Time) of the style


def _table(harmony: str, *rows: tuple) -> tuple[GrooveStyle, ...]:
    return tuple(GrooveStyle(name, (lo, hi), harmony, *rest) for name, lo, hi, *rest in rows)


STYLES: dict[str, tuple[GrooveStyle, ...]] = {
    "Latin": _table(
        "latin",
        ("stdlib/bossanova:BossaNova", 110, 145),
        ("stdlib/bossanova:BossaNovaPlus", 110, 145),
        ("stdlib/samba:Samba", 170, 210),
        ("stdlib/samba:SambaPlus", 170, 210),
        ("stdlib/salsa:Salsa", 170, 210),
        ("stdlib/salsa:SalsaPlus", 170, 210),
        ("stdlib/mambo:Mambo", 150, 195),
        ("stdlib/mambo:Mambo1", 150, 195),
        ("stdlib/rhumba:Rhumba", 95, 125),
        ("stdlib/chacha:ChaCha", 110, 128),
        ("stdlib/tango:Tango", 110, 130),
        ("stdlib/lighttango:LightTango", 110, 130),
        ("stdlib/merengue:Merengue", 220, 280),
        ("stdlib/merengue:Merengue1", 220, 280),
        ("stdlib/slowbolero:SlowBolero", 80, 100),
        ("stdlib/son:Son", 100, 130),
        ("yamaha/salsa1:Salsa1MainA", 88, 108),
        ("yamaha/salsa2:Salsa2MainA", 88, 108),
        ("yamaha/mambo:MamboMainA", 88, 105),
        ("yamaha/jazzbossa:JazzBossaA", 110, 140),
        ("kara/kbossa:kbossaA", 115, 130),
        ("yamaha/quando-g.s280:QuandoGSMainA", 80, 100),
        ("casio/latinfusion:LatinFusion", 95, 120),
    ),
    "Reggae": _table(
        "reggae",
        ("stdlib/ska:Ska", 170, 250),
        ("stdlib/ska:Ska1", 170, 250),
        ("zoom/reggae:REGG01+skank", 70, 90),
        ("zoom/reggae:REGG02+skank", 65, 85),
        ("zoom/reggae:REGG03+skank", 65, 85),
        ("own:OneDrop", 62, 84),
    ),
    "Country": _table(
        "country",
        ("stdlib/bluegrass:BlueGrass", 150, 210),
        ("stdlib/bluegrass:BlueGrassClap", 150, 210),
        ("stdlib/countryswing:CountrySwing", 110, 150),
        ("stdlib/countryswing:CountrySwing1", 110, 150),
        ("stdlib/westernswing:WesternSwing", 120, 170),
        ("stdlib/slowcountry:SlowCountry", 60, 85),
        ("stdlib/countrywaltz:CountryWaltz", 95, 150, 3),
        ("stdlib/hillcountry:HillCountry", 100, 140),
        ("yamaha/western:WesternMainA", 100, 140),
        ("yamaha/jazzcountry:JazzCountryMainA", 60, 90),
        ("kara/kwestballad:kwestballadA", 65, 100),
    ),
    "Blues": _table(
        "blues",
        ("stdlib/blues:Blues", 70, 110),
        ("stdlib/blues:BluesTriple", 60, 90),
        ("stdlib/slowblues:SlowBlues", 50, 75),
        ("stdlib/fastblues:FastBlues", 120, 170),
        ("stdlib/blues128:Blues128", 55, 80),
        ("stdlib/blues68:Blues68", 130, 165, 6),
        ("stdlib/shuffleboggie:ShuffleBoggie", 100, 140),
        ("stdlib/boggiewoggie:BoggieWoggie", 120, 170),
        ("casio/blues:Blues", 80, 120),
        ("casio/shuffleboogie:ShuffleBoogie", 100, 140),
    ),
    # The product's Disco takes the teachers' "funk" tag (teacher.mapping), so funk grooves count.
    "Disco": _table(
        "disco",
        ("stdlib/dsoul:DSoul", 105, 125),
        ("stdlib/dsoul:DSoulPlus", 105, 125),
        ("casio/discosoul:DiscoSoul", 108, 126),
        ("stdlib/boneym:BoneyM", 110, 130),
    )
    + _table(
        "funk",
        ("stdlib/bvfunk:BVFunk", 90, 120),
        ("casio/funk1:Funk1", 90, 115),
        ("casio/funk2:Funk2", 90, 115),
        ("kara/Kfunk1:Kfunk1A", 100, 125),
    ),
    "R&B": _table(
        "rnb",
        ("stdlib/rb:R&B", 90, 130),
        ("stdlib/rb:R&BPlus", 90, 130),
        ("stdlib/rb-ballad:R&B-Ballad", 60, 85),
        ("casio/r+b:R&B", 95, 125),
        ("casio/modernrb:ModernR&B", 80, 105),
        ("casio/mellowrb:MellowRB", 70, 95),
        ("casio/60ssoul:60sSoul", 100, 130),
        ("casio/soul:Soul", 90, 120),
        ("kara/8beatmotown:8beatmotownA", 110, 135),
        ("kara/8beatmotown:8beatmotownB", 110, 135),
    ),
    "Hip-Hop": _table(
        "hiphop",
        ("alexis/hiphop:HipHop", 84, 98),
        ("alexis/hiphop:HipHopPlus1", 84, 98),
        ("alexis/hiphop:HipHopSusPlus2", 84, 98),
        ("casio/hip-hop:Hip-Hop", 85, 100),
        ("zoom/hiphop:HIP01+keys", 82, 98),
        ("zoom/hiphop:HIP02+keys", 82, 98),
        ("zoom/hiphop:HIP05+keys", 82, 98),
        ("zoom/hiphop:HIP06+keys", 82, 98),
        ("zoom/hiphop:HIP07+keys", 82, 98),
    ),
    "Jazz": _table(
        "jazz",
        ("stdlib/swing:Swing", 110, 180),
        ("stdlib/swing:SwingWalk", 110, 180),
        ("stdlib/jazzcombo:JazzCombo", 150, 210),
        ("stdlib/bebop:Bebop", 120, 150),
        ("stdlib/modernjazz:ModernJazz", 100, 140),
        ("stdlib/slowjazz:SlowJazz", 60, 85),
        ("stdlib/nitejazz:NiteJazz", 70, 110),
        ("stdlib/mellowjazz:MellowJazz", 55, 80),
        ("stdlib/evansish:Evansish", 70, 120),
        ("stdlib/jazzwaltz:JazzWaltz", 120, 180, 3),
        ("stdlib/bigband:BigBand", 130, 190),
        ("stdlib/dixie:Dixie", 180, 220),
        ("stdlib/gypsyjazz:GypsyJazz", 160, 220),
        ("stdlib/fastswing:FastSwing", 200, 260),
        ("yamaha/jazzswing:JazzSwingMainA", 110, 170),
        ("yamaha/jazztrio:JazzTrioMainA", 100, 150),
        ("yamaha/jazzbasie:JazzBasieA", 110, 150),
        ("yamaha/jazzGrtrio:JazzGrTrioMainA", 100, 150),
    ),
    "Folk": _table(
        "folk",
        ("stdlib/folk:Folk", 90, 130),
        ("stdlib/folk:FolkWalk", 90, 130),
        ("stdlib/folk:FolkArticulated", 90, 130),
        ("stdlib/folkballad:FolkBallad", 60, 90),
        ("stdlib/folkballad:FolkBalladPlus", 60, 90),
        ("stdlib/folkrock:FolkRock", 110, 140),
        ("stdlib/bluefolk:BlueFolk", 60, 85),
    ),
    "Rock": _table(
        "rock",
        ("stdlib/50srock:50sRock", 120, 170),
        ("stdlib/60srock:60sRock", 110, 150),
        ("stdlib/8beat:8Beat", 100, 140),
        ("stdlib/basicrock:BasicRock", 110, 150),
        ("pflib/rock1:rock1A", 110, 150),
        ("pflib/8beat1:8beat1A", 100, 140),
        ("casio/rock1:Rock1", 110, 150),
        ("casio/rock2:Rock2", 120, 160),
        ("yamaha/w-rock:W-RockMainA", 110, 150),
    ),
    "Pop": _table(
        "pop",
        ("stdlib/popballad:PopBallad", 65, 90),
        ("casio/pop:Pop", 100, 125),
        ("casio/80spop:80sPop", 105, 125),
        ("casio/60spop:60sPop", 110, 135),
        ("casio/8beatpop1:8BeatPop1", 100, 125),
        ("casio/poprock1:PopRock1", 105, 130),
        ("stdlib/bubblerock:BubbleRock", 115, 135),
        ("casio/16beat1:16Beat1", 90, 115),
    ),
    "Metal": _table(
        "metal",
        ("pflib/metal1:metal1A", 100, 160),
        ("pflib/metal2:metal2A", 90, 140),
        ("casio/heavymetal:HeavyMetal", 110, 160),
        ("casio/digitalrock:DigitalRock", 110, 150),
    ),
    "Electronic": _table(
        "electronic",
        ("stdlib/trance:Trance", 125, 140),
        ("casio/house:House", 118, 128),
        ("casio/techno:Techno", 125, 140),
        ("casio/trance1:Trance1", 128, 140),
        ("casio/dance1:Dance1", 120, 135),
        ("casio/rave:Rave", 130, 150),
        ("alexis/teamtechno:TeamTechno", 120, 135),
        ("casio/triphop:TripHop", 75, 95),
    ),
}
GROOVE_STYLES: dict[str, tuple[str, ...]] = {genre: tuple(s.name for s in styles) for genre, styles in STYLES.items()}
# Genres the teachers already cover get half the minutes: there only so that "sounds like a General
# MIDI synth" is not by itself a cue for the weak genres.
SHARE: dict[str, float] = {"Rock": 0.5, "Pop": 0.5, "Metal": 0.5, "Electronic": 0.5}
NO_GROOVES = {
    "Rap": "a beat without a rapped voice is Hip-Hop at best; Rap is left to human labels",
    "Classical": "no mma style is convincing as classical music",
    "World": "no mma style is convincing as world music",
}

# Progressions written in C (minor ones on C minor) and moved to the clip's key with mma's
# Transpose. One string per bar; two chords in a bar share it.
PROGRESSIONS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "latin": (
        ("major", ("Cmaj7", "Cmaj7", "D7", "D7", "Dm7", "G7", "Cmaj7", "Cmaj7")),
        ("major", ("Dm7", "G7", "Cmaj7", "Cmaj7")),
        ("major", ("C", "F", "G7", "F")),
        ("major", ("C", "C", "G7", "G7")),
        ("major", ("C6", "Am7", "Dm7", "G7")),
        ("minor", ("Cm", "Fm", "G7", "Cm")),
        ("minor", ("Cm", "Bb", "Ab", "G7")),
        ("minor", ("Cm", "Cm", "G7", "G7")),
        ("minor", ("Cm7", "Fm7", "Bb7", "Ebmaj7")),
        ("minor", ("Cm6", "Cm6", "Dm7b5", "G7")),
    ),
    "reggae": (
        ("major", ("C", "F")),
        ("major", ("C", "G")),
        ("major", ("C", "F", "G", "F")),
        ("major", ("C", "Am", "F", "G")),
        ("major", ("Dm", "G")),
        ("major", ("C", "C", "F", "G")),
        ("minor", ("Cm", "Fm")),
        ("minor", ("Cm", "Bb")),
        ("minor", ("Cm", "Ab", "Bb", "Cm")),
        ("minor", ("Cm7", "Fm7")),
    ),
    "country": (
        ("major", ("C", "C", "F", "F", "C", "C", "G7", "G7")),
        ("major", ("C", "F", "G7", "C")),
        ("major", ("C", "C7", "F", "C", "G7", "G7", "C", "C")),
        ("major", ("C", "F", "C", "G7")),
        ("major", ("C", "Am", "F", "G7")),
        ("major", ("C", "C", "D7", "D7", "G7", "G7", "C", "C")),
    ),
    "blues": (
        ("major", ("C7", "C7", "C7", "C7", "F7", "F7", "C7", "C7", "G7", "F7", "C7", "G7")),
        ("major", ("C7", "F7", "C7", "C7", "F7", "F7", "C7", "C7", "G7", "F7", "C7", "G7")),
        ("major", ("C7", "F7", "C7", "C7", "F7", "F7", "C7", "A7", "Dm7", "G7", "C7 A7", "Dm7 G7")),
        ("major", ("C7", "G7", "F7", "F7", "C7", "G7", "C7", "G7")),
        ("minor", ("Cm7", "Cm7", "Cm7", "Cm7", "Fm7", "Fm7", "Cm7", "Cm7", "Ab7", "G7", "Cm7", "G7")),
    ),
    "disco": (
        ("minor", ("Cm7", "Fm7", "Bb", "Eb")),
        ("minor", ("Cm7", "Cm7", "Fm7", "Fm7")),
        ("minor", ("Cm", "Ab", "Bb", "Cm")),
        ("major", ("Fmaj7", "Em7", "Dm7", "C")),
        ("major", ("Cmaj7", "Dm7", "Em7", "Dm7")),
        ("major", ("Dm7", "G7", "Cmaj7", "Am7")),
    ),
    "funk": (
        ("major", ("C7", "C7", "F7", "C7")),
        ("major", ("C9", "F9")),
        ("major", ("C7", "C7", "C7", "Bb7")),
        ("minor", ("Cm7", "F7")),
        ("minor", ("Cm7", "Cm7", "Fm7", "Fm7")),
        ("minor", ("Cm9", "Cm9", "Ab7", "G7")),
    ),
    "rnb": (
        ("major", ("Cmaj7", "Am7", "Dm7", "G7")),
        ("major", ("C", "Am", "F", "G")),
        ("major", ("Fmaj7", "Em7", "Dm7", "Cmaj7")),
        ("major", ("C", "C7", "F", "Fm")),
        ("major", ("Cmaj7", "Fmaj7")),
        ("major", ("Dm7", "G7", "Cmaj7", "Cmaj7")),
        ("minor", ("Cm7", "Fm7", "Cm7", "Fm7")),
        ("minor", ("Cm9", "Abmaj7", "Bb", "Cm9")),
    ),
    "hiphop": (
        ("minor", ("Cm7", "Cm7", "Abmaj7", "Abmaj7")),
        ("minor", ("Cm", "Ab", "Eb", "Bb")),
        ("minor", ("Cm7", "Fm7")),
        ("minor", ("Cm", "Cm", "Ab", "G7")),
        ("minor", ("Cm9", "Fm9")),
        ("minor", ("Cm7", "Bbm7", "Abmaj7", "G7")),
        ("major", ("Fmaj7", "Em7", "Dm7", "Cmaj7")),
        ("major", ("Cmaj7", "Am7", "Dm7", "G7")),
    ),
    "jazz": (
        ("major", ("Dm7", "G7", "Cmaj7", "A7")),
        ("major", ("Cmaj7", "Am7", "Dm7", "G7")),
        ("major", ("Cmaj7 A7", "Dm7 G7", "Em7 A7", "Dm7 G7")),
        ("major", ("Cmaj7", "C7", "Fmaj7", "Fm6", "Em7", "A7", "Dm7", "G7")),
        ("major", ("Em7", "A7", "Dm7", "G7", "C6", "C6")),
        ("major", ("C7", "F7", "C7", "Gm7 C7", "F7", "F7", "C7", "A7", "Dm7", "G7", "C7 A7", "Dm7 G7")),
        ("minor", ("Dm7b5", "G7", "Cm6", "Cm6")),
        ("minor", ("Cm7", "Fm7", "Dm7b5", "G7")),
        ("minor", ("Fm7", "Bb7", "Ebmaj7", "Abmaj7", "Dm7b5", "G7", "Cm6", "Cm6")),
    ),
    "folk": (
        ("major", ("C", "F", "C", "G")),
        ("major", ("C", "G", "Am", "F")),
        ("major", ("C", "F", "G", "C")),
        ("major", ("C", "Am", "Dm", "G")),
        ("major", ("C", "C", "F", "C", "C", "G", "C", "C")),
        ("minor", ("Cm", "Eb", "F", "Ab", "Cm", "Eb", "G", "G")),
        ("minor", ("Cm", "Bb", "Cm", "Cm")),
        ("minor", ("Cm", "Ab", "Bb", "Cm")),
    ),
    "rock": (
        ("major", ("C", "F", "G", "F")),
        ("major", ("C", "Bb", "F", "C")),
        ("major", ("C", "F", "C", "G")),
        ("major", ("C", "G", "F", "F")),
        ("major", ("C", "Eb", "F", "C")),
        ("minor", ("Cm", "Ab", "Bb", "Cm")),
        ("minor", ("Cm", "Bb", "Ab", "Bb")),
    ),
    "pop": (
        ("major", ("C", "G", "Am", "F")),
        ("major", ("Am", "F", "C", "G")),
        ("major", ("C", "Am", "F", "G")),
        ("major", ("C", "F", "Am", "G")),
        ("major", ("F", "G", "C", "Am")),
        ("major", ("C", "Em", "F", "G")),
        ("minor", ("Cm", "Ab", "Eb", "Bb")),
    ),
    "metal": (
        ("minor", ("C5", "Ab5", "Bb5", "C5")),
        ("minor", ("C5", "C5", "Db5", "C5")),
        ("minor", ("C5", "Eb5", "F5", "Db5")),
        ("minor", ("Cm", "Ab", "Bb", "Bb")),
        ("minor", ("C5", "G5", "Ab5", "F5")),
    ),
    "electronic": (
        ("minor", ("Cm", "Ab", "Eb", "Bb")),
        ("minor", ("Cm", "Cm", "Ab", "Bb")),
        ("minor", ("Cm7", "Cm7", "Fm7", "Fm7")),
        ("minor", ("Cm", "Eb", "Bb", "Ab")),
        ("major", ("Am", "F", "C", "G")),
        ("major", ("C", "G", "Am", "F")),
    ),
}
KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Parts written here, in mma's language. {…} fields are filled per clip with one of the listed voices.
_SKANK = """
Begin Bass-Reggae
  Voice {bass}
  Octave 3
  Sequence {{ 1.5 8 1 90; 2 4 1 100; 3 8 5 85; 3.5 8 3 80; 4.5 8 1 85 }} {{ 1 4. 1 100; 2.5 8 5 80; 3 4 8 90; 4 8 7 75; 4.5 8 5 80 }}
  Articulate 85
  RVolume 8
  RTime 4
End
Begin Chord-Skank
  Voice {skank}
  Octave 5
  Voicing Mode=Optimal
  Sequence {skank_pattern}
  Articulate 55
  RVolume 10
  RTime 3
End
Begin Chord-Bubble
  Voice {organ}
  Octave 4
  Voicing Mode=Optimal
  Sequence {bubble_pattern}
  Articulate 60
  RVolume 10
End
"""
_ONE_DROP_DRUMS = """
Time 4
SeqSize 2
Begin Drum-Kick
  Tone KickDrum1
  Sequence { 3 0 110 }
End
Begin Drum-Rim
  Tone SideKick
  Sequence { 3 0 100 } { 3 0 100; 4.66 0 60 }
End
Begin Drum-Hat
  Tone ClosedHiHat
  Sequence { 1 0 80; 1.66 0 50; 2 0 75; 2.66 0 50; 3 0 80; 3.66 0 50; 4 0 75; 4.66 0 55 }
  RVolume 12
  RTime 3
End
Begin Drum-Open
  Tone OpenHiHat
  Sequence z { 4.66 0 60 }
End
"""
_KEYS = """
Begin Bass-Hop
  Voice {bass}
  Octave 3
  Sequence {{ 1 4. 1 100; 2.75 16 1 70; 3.5 4 1 90 }} {{ 1 4 1 100; 2.5 8 5 80; 3.75 8 1 85; 4.5 8 8 70 }}
  Articulate 90
  RVolume 8
End
Begin Chord-Keys
  Voice {keys}
  Octave 5
  Voicing Mode=Optimal
  Sequence {{ 1 2. 80; 4.5 8 60 }} {{ 1 2 75; 3 4 70 }}
  Articulate 95
  RVolume 10
End
"""


def written_parts(style: GrooveStyle, rng: random.Random) -> str:
    """The mma source of the parts a ``+skank``/``+keys``/``own:`` style adds, voices chosen per clip."""
    if style.name.endswith("+keys"):
        return _KEYS.format(
            bass=rng.choice(("FingeredBass", "SynthBass1", "AcousticBass", "FretlessBass")),
            keys=rng.choice(("RhodesPiano", "EPiano", "Piano1", "WarmPad", "Vibraphone")),
        )
    if style.name.endswith("+skank") or style.name == "own:OneDrop":
        parts = _SKANK.format(
            bass=rng.choice(("FingeredBass", "PickedBass", "SynthBass1", "FretlessBass")),
            skank=rng.choice(("CleanGuitar", "MutedGuitar", "JazzGuitar", "Piano1")),
            organ=rng.choice(("Organ1", "Organ2", "Organ3", "Piano2")),
            skank_pattern=rng.choice(("{ 2 16 90; 4 16 90 }", "{ 2 16 90; 2.5 16 45; 4 16 90; 4.5 16 45 }")),
            bubble_pattern=rng.choice(("{ 1.5 16 60; 2.5 16 50; 3.5 16 60; 4.5 16 50 }", "z")),
        )
        return (_ONE_DROP_DRUMS if style.name == "own:OneDrop" else "") + parts
    return ""


_OVERLAYS = ("+skank", "+keys")


def library_groove(style: GrooveStyle) -> str:
    """The mma groove a style starts from ("casio/r+b:R&B" has a plus of its own)."""
    return next((style.name[: -len(o)] for o in _OVERLAYS if style.name.endswith(o)), style.name)
