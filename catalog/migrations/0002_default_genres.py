"""The 16 default genres of the brief. Staff may edit or deactivate them afterwards."""
from django.db import migrations
from django.utils.text import slugify

DEFAULT_GENRES = [
    ("Blues", "12-bar forms, blue notes, call and response."),
    ("Classical", "Western art music: orchestral, chamber, solo and choral works."),
    ("Country", "American roots: twang, steel guitar, narrative songs."),
    ("Disco", "Four-on-the-floor dance music of the 1970s and its revivals, funk included."),
    ("Electronic", "Synthesised and sequenced music: house, techno, ambient, electro."),
    ("Folk", "Traditional and acoustic song, singer-songwriter."),
    ("Hip-Hop", "Beat-driven production with rapping, sampling and scratching."),
    ("Jazz", "Swing, improvisation, extended harmony."),
    ("Latin", "Salsa, bossa nova, reggaeton, tango and other Latin American styles."),
    ("Metal", "Heavy distorted guitars, aggressive drums and vocals."),
    ("Pop", "Mainstream song-form music built around hooks."),
    ("R&B", "Rhythm and blues, soul and contemporary R&B."),
    ("Rap", "Vocal-first rap where the lyrics lead the track."),
    ("Reggae", "Offbeat skank, ska, dub and dancehall."),
    ("Rock", "Guitar-band music: classic, hard, alternative, punk."),
    ("World", "Traditional and regional music from around the world."),
]


def slug_for(name: str) -> str:
    return slugify(name.replace("&", " and "))


def add_genres(apps, schema_editor):
    Genre = apps.get_model("catalog", "Genre")
    for order, (name, description) in enumerate(DEFAULT_GENRES, start=1):
        Genre.objects.get_or_create(
            slug=slug_for(name), defaults={"name": name, "description": description, "order": order * 10}
        )


def remove_genres(apps, schema_editor):
    Genre = apps.get_model("catalog", "Genre")
    Genre.objects.filter(slug__in=[slug_for(name) for name, _ in DEFAULT_GENRES]).delete()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(add_genres, remove_genres)]
