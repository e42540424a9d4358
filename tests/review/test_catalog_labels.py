"""Known labels: a genre the catalog already gave is a decision of source catalog. It is training
data, never overrides an editor, and stays out of the editors' numbers unless asked for."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Genre, Track, TrackStatus
from review.agreement import agreement_overview, version_agreement
from review.decisions import CatalogLabelOutcome, DecisionInput, catalog_label_record, decision_submit
from review.exports import export_rows, label_export_create
from review.models import Decision, DecisionAction, DecisionSource
from review.selectors import QueueFilters, editor_statistics, last_decision_id, queue_counts, review_queue
from review.system_users import CATALOG_IMPORT_USERNAME, catalog_import_user

pytestmark = pytest.mark.django_db


def genre(name: str) -> Genre:
    return Genre.objects.get(name=name)


def label(track: Track, name: str, editor=None):
    return catalog_label_record(editor=editor or catalog_import_user(), track=track, genre=genre(name))


def decide(editor, track: Track, name: str) -> Decision:
    return decision_submit(
        editor=editor, track=track, data=DecisionInput(genre=genre(name), seen_decision_id=last_decision_id(track))
    )


def test_a_catalog_label_is_a_decision_by_a_system_user_nobody_can_sign_in_as(awaiting):
    track = awaiting({"Jazz": 0.6, "Blues": 0.2})
    result = label(track, "Blues")

    assert result.outcome == CatalogLabelOutcome.RECORDED
    decision = Decision.objects.get()
    assert (decision.source, decision.action, decision.genre.name) == (
        DecisionSource.CATALOG,
        DecisionAction.LABELLED,
        "Blues",
    )
    assert decision.proposed == [] and decision.model_version is None
    assert decision.editor.username == CATALOG_IMPORT_USERNAME
    assert not decision.editor.is_active and not decision.editor.has_usable_password()
    track.refresh_from_db()
    assert (track.status, track.reviewed_genre.name, track.known_genre.name) == (TrackStatus.REVIEWED, "Blues", "Blues")


def test_the_same_catalog_genre_again_records_nothing_and_a_changed_one_a_new_decision(awaiting):
    track = awaiting({"Jazz": 0.6})
    assert label(track, "Jazz").outcome == CatalogLabelOutcome.RECORDED
    assert label(track, "Jazz").outcome == CatalogLabelOutcome.UNCHANGED
    assert Decision.objects.count() == 1
    assert label(track, "Reggae").outcome == CatalogLabelOutcome.RECORDED
    assert list(track.decisions.order_by("pk").values_list("genre__name", flat=True)) == ["Jazz", "Reggae"]
    assert Track.objects.get(pk=track.pk).reviewed_genre.name == "Reggae"


def test_an_editors_later_decision_wins_and_a_changed_catalog_genre_never_overrides_it(awaiting, make_editor):
    track = awaiting({"Jazz": 0.6})
    ann = make_editor("ann")
    form_seen = last_decision_id(track)  # ann opened the track ...
    label(track, "Blues")  # ... the catalog's label arrived meanwhile: her form is not stale
    decision_submit(editor=ann, track=track, data=DecisionInput(genre=genre("Jazz"), seen_decision_id=form_seen))
    assert Track.objects.get(pk=track.pk).reviewed_genre.name == "Jazz"

    assert label(track, "Blues").outcome == CatalogLabelOutcome.UNCHANGED  # the same catalog as before
    changed = label(track, "Rock")
    assert changed.outcome == CatalogLabelOutcome.KEPT_EDITOR and changed.editor_decision.editor == ann
    assert label(track, "Jazz").outcome == CatalogLabelOutcome.UNCHANGED  # the catalog now agrees with ann
    track.refresh_from_db()
    assert track.reviewed_genre.name == "Jazz" and track.known_genre.name == "Jazz"
    assert track.decisions.count() == 2


def test_a_track_can_be_labelled_before_its_analysis_and_keeps_its_pipeline_status(model_version):
    from tests.factories import make_track

    track = make_track(status=TrackStatus.QUEUED)
    assert label(track, "Folk").outcome == CatalogLabelOutcome.RECORDED
    track.refresh_from_db()
    # The worker files an analysed track with a genre as reviewed (inference.results).
    assert (track.status, track.reviewed_genre.name) == (TrackStatus.QUEUED, "Folk")


def test_the_queue_skips_labelled_tracks_by_default_and_can_include_them(awaiting, make_editor):
    plain = awaiting({"Jazz": 0.5, "Blues": 0.45})
    labelled = awaiting({"Rock": 0.41, "Pop": 0.40})
    label(labelled, "Rock")
    reviewed = awaiting({"Pop": 0.9})
    decide(make_editor("ann"), reviewed, "Pop")

    assert list(review_queue()) == [plain]
    assert list(review_queue(filters=QueueFilters(labelled="include"))) == [labelled, plain]
    assert list(review_queue(filters=QueueFilters(labelled="only"))) == [labelled]
    assert queue_counts()["total"] == 1 and queue_counts()["labelled"] == 1

    decide(make_editor("bob"), Track.objects.get(pk=labelled.pk), "Pop")  # an editor verified it
    assert list(review_queue(filters=QueueFilters(labelled="include"))) == [plain]


def test_the_queue_page_filters_labelled_tracks(client, make_editor, awaiting):
    awaiting({"Jazz": 0.5})
    label(awaiting({"Rock": 0.5}), "Rock")
    client.force_login(make_editor("rita"))
    page = client.get(reverse("review_queue")).content.decode()
    assert 'id="queue-total">1<' in page and 'id="queue-labelled">1<' in page and "Catalog-labelled" in page
    assert 'id="queue-total">2<' in client.get(reverse("review_queue") + "?labelled=include").content.decode()


@pytest.fixture
def judged(awaiting, make_editor, model_version):
    """Two editor decisions (one agrees with the model) and two standing catalog labels (both
    disagree with the model's top-1, one is in its top-3)."""
    ann = make_editor("ann")
    decide(ann, awaiting({"Jazz": 0.6, "Blues": 0.2}), "Jazz")
    decide(ann, awaiting({"Rock": 0.6, "Pop": 0.2}), "Folk")
    label(awaiting({"Jazz": 0.6, "Blues": 0.2, "Rock": 0.1}), "Blues")
    label(awaiting({"Metal": 0.6, "Rock": 0.2}), "Classical")
    return model_version


def test_agreement_leaves_catalog_labels_out_by_default_and_includes_them_on_request(judged):
    editors_only = version_agreement(model_version=judged)
    assert (editors_only.overall.decisions, editors_only.overall.top1, editors_only.overall.top3) == (2, 1, 1)
    with_catalog = version_agreement(model_version=judged, include_catalog=True)
    assert (with_catalog.overall.decisions, with_catalog.overall.top1, with_catalog.overall.top3) == (4, 1, 2)
    assert with_catalog.by_genre["Classical"].decisions == 1 and "Classical" not in editors_only.by_genre
    assert [a.overall.decisions for a in agreement_overview(include_catalog=True)] == [4]


def test_a_catalog_label_an_editor_overrode_no_longer_counts(judged, make_editor):
    blues = Decision.objects.get(source=DecisionSource.CATALOG, genre__name="Blues").track
    decide(make_editor("bob"), blues, "Jazz")
    result = version_agreement(model_version=judged, include_catalog=True)
    assert (result.overall.decisions, result.overall.top1) == (4, 2)  # bob's decision instead of the label


def test_the_agreement_page_has_a_filter_for_catalog_labels(client, judged, make_editor):
    client.force_login(make_editor("lena", "Editorial lead"))
    page = client.get(reverse("review_agreement")).content.decode()
    assert "<td>2</td><td>50 %</td>" in page and "?catalog=1" in page
    page = client.get(reverse("review_agreement") + "?catalog=1").content.decode()
    assert "<td>4</td><td>25 %</td>" in page and "Leave them out" in page
    image = client.get(reverse("review_agreement_confusion", args=[judged.pk]) + "?catalog=1")
    assert image["Content-Type"] == "image/png"


def test_editor_statistics_leave_catalog_labels_out_by_default(judged, client, make_editor):
    assert [(r.editor, r.decisions, r.correction_rate) for r in editor_statistics()] == [("ann", 2, 0.5)]
    rows = {r.editor: r for r in editor_statistics(include_catalog=True)}
    assert rows[CATALOG_IMPORT_USERNAME].decisions == 2 and rows[CATALOG_IMPORT_USERNAME].correction_rate is None
    client.force_login(make_editor("lena", "Editorial lead"))
    cell = f"<td>{CATALOG_IMPORT_USERNAME}</td><td>2</td><td>–</td>"
    assert cell not in client.get(reverse("review_stats")).content.decode()
    assert cell in client.get(reverse("review_stats") + "?catalog=1").content.decode()


def test_a_catalog_label_is_an_export_row_of_source_catalog(judged, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    rows = {row["genre"]: row for row in export_rows(label_export_create())}
    assert rows["Classical"]["source"] == "catalog" and rows["Classical"]["action"] == "labelled"
    assert rows["Classical"]["editor"] == CATALOG_IMPORT_USERNAME and rows["Classical"]["proposed"] == []
    assert rows["Classical"]["label_index"] is not None  # a training example like any other
    assert rows["Folk"]["source"] == "review"


@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_of_the_same_label_record_it_once():
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite serialises writers")
    from tests.factories import make_track
    from tests.fixtures import restore_data_migrations

    restore_data_migrations()
    track = make_track(status=TrackStatus.QUEUED)
    importer = catalog_import_user()
    barrier = threading.Barrier(4)
    outcomes: list[CatalogLabelOutcome] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            outcomes.append(
                catalog_label_record(editor=importer, track=track, genre=Genre.objects.get(name="Jazz")).outcome
            )
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(outcomes) == sorted([CatalogLabelOutcome.RECORDED] + [CatalogLabelOutcome.UNCHANGED] * 3)
    assert Decision.objects.filter(track=track).count() == 1
