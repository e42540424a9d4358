"""The review pages and the roles, through the admin site."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from catalog.models import Genre, Track, TrackStatus
from review.claims import claim_open
from review.models import Claim, Decision

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer_client(client, make_editor):
    client.force_login(make_editor("rita"))
    return client


def test_start_reviewing_opens_the_most_uncertain_track_and_claims_it(reviewer_client, awaiting):
    awaiting({"Jazz": 0.9})
    hard = awaiting({"Jazz": 0.41, "Blues": 0.40})
    queue = reviewer_client.get(reverse("review_queue"))
    assert queue.status_code == 200 and 'id="queue-total">2<' in queue.content.decode()
    response = reviewer_client.post(reverse("review_next"))
    assert response.url == reverse("review_track", args=[hard.pk])
    page = reviewer_client.get(response.url).content.decode()
    assert Claim.objects.get(track=hard).editor.username == "rita"
    for text in ("<kbd>1</kbd>", "Jazz", "41.0%", "Blues", "40.0%", "Accept top-1", "Skip", "Earlier decisions"):
        assert text in page


def test_a_get_of_next_claims_nothing_so_a_link_prefetcher_cannot_take_tracks(reviewer_client, awaiting):
    awaiting({"Jazz": 0.41, "Blues": 0.40})
    response = reviewer_client.get(reverse("review_next") + "?genre=Jazz")
    assert response.status_code == 302 and response.url == reverse("review_queue") + "?genre=Jazz"
    assert not Claim.objects.exists()
    assert reviewer_client.head(reverse("review_next")).status_code == 302 and not Claim.objects.exists()


def test_opening_a_track_by_its_link_claims_nothing_and_a_queue_link_posts_to_hold_it(
    reviewer_client, awaiting, make_editor
):
    track, other = awaiting({"Jazz": 0.41, "Blues": 0.40}), awaiting({"Rock": 0.9})
    page = reviewer_client.get(reverse("review_track", args=[track.pk]))
    assert page.status_code == 200 and not Claim.objects.exists()  # a prefetched link takes nothing
    assert 'id="hold-track"' in page.content.decode()
    queue = reviewer_client.get(reverse("review_queue") + "?genre=Jazz").content.decode()
    assert f'action="{reverse("review_hold", args=[track.pk])}?genre=Jazz"' in queue and 'method="post"' in queue
    assert reviewer_client.get(reverse("review_hold", args=[track.pk])).status_code == 405

    response = reviewer_client.post(reverse("review_hold", args=[track.pk]) + "?genre=Jazz")
    assert response.url == reverse("review_track", args=[track.pk]) + "?genre=Jazz"
    assert Claim.objects.get().track == track
    assert "held by you until" in reviewer_client.get(response.url).content.decode()

    bob = Client()
    bob.force_login(make_editor("bob"))
    seen = bob.get(reverse("review_track", args=[track.pk]))
    assert seen.status_code == 200 and "rita is reviewing this track until" in seen.content.decode()
    refused = bob.post(reverse("review_hold", args=[track.pk]))
    assert refused.url == reverse("review_queue") and Claim.objects.get().editor.username == "rita"
    assert bob.post(reverse("review_hold", args=[other.pk])).url == reverse("review_track", args=[other.pk])


def test_saving_a_choice_records_it_and_opens_the_next_track(reviewer_client, awaiting):
    first, second = awaiting({"Jazz": 0.41, "Blues": 0.40}), awaiting({"Rock": 0.9})
    reviewer_client.get(reverse("review_track", args=[first.pk]))
    response = reviewer_client.post(
        reverse("review_track", args=[first.pk]),
        {"genre": "Blues", "seen_decision_id": 0, "analysis_id": first.analyses.get().pk, "seconds_on_screen": "7.5"},
    )
    assert response.url == reverse("review_track", args=[second.pk])  # the POST claimed the next one
    assert Claim.objects.get().track == second
    decision = Decision.objects.get()
    assert (decision.genre.name, decision.action, decision.seconds_on_screen) == ("Blues", "corrected", 7.5)


def test_other_genre_by_name_and_a_stale_form_gets_a_clear_refusal(reviewer_client, awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    reviewer_client.get(reverse("review_track", args=[track.pk]))
    Claim.objects.all().delete()  # rita's claim ran out and ...
    from review.decisions import DecisionInput, decision_submit

    decision_submit(
        editor=make_editor("bob"),
        track=track,  # ... bob decided meanwhile
        data=DecisionInput(genre=Genre.objects.get(name="Jazz"), seen_decision_id=0),
    )
    response = reviewer_client.post(
        reverse("review_track", args=[track.pk]), {"genre": "__other__", "other_genre": "Reggae", "seen_decision_id": 0}
    )
    assert response.status_code == 409
    assert "bob decided Jazz on this track after you opened it" in response.content.decode()
    assert Track.objects.get(pk=track.pk).reviewed_genre.name == "Jazz"


def test_an_unknown_genre_is_a_form_error(reviewer_client, awaiting):
    track = awaiting({"Jazz": 0.5})
    response = reviewer_client.post(
        reverse("review_track", args=[track.pk]), {"genre": "__other__", "other_genre": "Polka", "seen_decision_id": 0}
    )
    assert response.status_code == 400 and "not an active genre" in response.content.decode()
    assert not Decision.objects.exists()


def test_opening_a_track_someone_holds_sends_you_back_with_a_message(reviewer_client, awaiting, make_editor):
    track = awaiting({"Jazz": 0.5})
    claim_open(editor=make_editor("bob"), track=track)
    response = reviewer_client.get(reverse("review_track", args=[track.pk]), follow=True)
    assert "bob is reviewing this track" in response.content.decode().lower()


def test_skip_releases_the_claim_and_moves_on(reviewer_client, awaiting):
    first, second = awaiting({"Jazz": 0.41, "Blues": 0.40}), awaiting({"Rock": 0.9})
    reviewer_client.get(reverse("review_track", args=[first.pk]))
    response = reviewer_client.post(reverse("review_skip", args=[first.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("review_track", args=[second.pk])
    assert list(Claim.objects.values_list("track_id", flat=True)) == [second.pk]


def test_a_reviewer_can_review_and_nothing_more(reviewer_client, awaiting):
    track = awaiting({"Jazz": 0.5})
    assert reviewer_client.get(reverse("review_queue")).status_code == 200
    assert reviewer_client.get(reverse("admin:catalog_track_change", args=[track.pk])).status_code == 200  # view
    for url in (
        reverse("admin:catalog_genre_change", args=[Genre.objects.first().pk]),
        reverse("admin:catalog_modelversion_changelist"),
        reverse("admin:auth_user_changelist"),
        reverse("review_stats"),
    ):
        response = reviewer_client.get(url)
        assert response.status_code == 403 or ("/change/" in url and "Save" not in response.content.decode()), url
    genre = Genre.objects.get(name="Jazz")
    reviewer_client.post(
        reverse("admin:catalog_genre_change", args=[genre.pk]),
        {"name": "Jazz!", "slug": "jazz", "active": "on", "order": 1},
    )
    assert Genre.objects.get(pk=genre.pk).name == "Jazz"
    changelist = reviewer_client.get(reverse("admin:catalog_track_changelist")).content.decode()
    assert "bulk_accept" not in changelist and "retry_analysis" not in changelist
    assert reviewer_client.get(reverse("admin:catalog_track_upload")).status_code == 403


def test_staff_without_the_reviewer_role_cannot_review(client, django_user_model, awaiting):
    client.force_login(django_user_model.objects.create_user("visitor", is_staff=True))
    assert client.get(reverse("review_queue")).status_code == 403


def test_a_lead_bulk_accepts_after_a_confirmation_page(client, make_editor, awaiting):
    client.force_login(make_editor("lena", "Editorial lead"))
    sure, unsure = awaiting({"Jazz": 0.95}), awaiting({"Rock": 0.6})
    url = reverse("admin:catalog_track_changelist")
    selected = {"action": "bulk_accept", "_selected_action": [sure.pk, unsure.pk]}
    confirm_page = client.post(url, selected)
    assert confirm_page.status_code == 200 and 'id="qualifying">1<' in confirm_page.content.decode()
    assert not Decision.objects.exists()
    done = client.post(url, {**selected, "threshold": "0.9", "counted_at": "0.9", "confirm": "yes"}, follow=True)
    assert "Accepted the model&#x27;s top-1 for 1 track(s)" in done.content.decode()
    decision = Decision.objects.get()
    assert (decision.track, decision.editor.username, decision.source) == (sure, "lena", "bulk")
    assert Track.objects.get(pk=unsure.pk).status == TrackStatus.AWAITING_REVIEW
    assert client.get(reverse("review_stats")).status_code == 200
    history = client.get(reverse("admin:catalog_track_change", args=[sure.pk])).content.decode()
    assert "lena</a>" in history and "Bulk accept" in history


def test_the_bulk_accept_count_is_exactly_what_confirming_accepts_at_the_threshold_shown(client, make_editor, awaiting):
    lead = make_editor("lena", "Editorial lead")
    client.force_login(lead)
    tracks = [awaiting({"Jazz": 0.95}), awaiting({"Rock": 0.75}), awaiting({"Pop": 0.72}), awaiting({"Folk": 0.6})]
    mine, held = awaiting({"Latin": 0.99}), awaiting({"Metal": 0.9})
    claim_open(editor=lead, track=mine)  # her own claim does not stop her
    claim_open(editor=make_editor("rita"), track=held)  # a colleague's does: left alone, so not counted
    tracks.append(mine)
    url = reverse("admin:catalog_track_changelist")
    selected = {"action": "bulk_accept", "_selected_action": [t.pk for t in (*tracks, held)]}

    def counted(page) -> tuple[str, int]:
        html = page.content.decode()
        return (
            re.search(r'id="counted-at">([^<]+)<', html).group(1),
            int(re.search(r'id="qualifying">(\d+)<', html).group(1)),
        )

    assert counted(client.post(url, selected)) == ("0.9", 2)  # the form's default threshold
    recount = {**selected, "threshold": "0.7", "counted_at": "0.9", "recount": "1"}
    assert counted(client.post(url, recount)) == ("0.7", 4)
    # Confirming a threshold other than the one counted counts again instead of accepting.
    page = client.post(url, {**selected, "threshold": "0.74", "counted_at": "0.7", "confirm": "1"})
    assert counted(page) == ("0.74", 3) and "counted again" in page.content.decode()
    assert not Decision.objects.exists()
    client.post(url, {**selected, "threshold": "0.74", "counted_at": "0.74", "confirm": "1"})
    assert set(Decision.objects.values_list("track_id", flat=True)) == {tracks[0].pk, tracks[1].pk, mine.pk}


def test_the_review_screen_says_when_the_audio_is_not_music(reviewer_client, awaiting):
    spoken = awaiting({"Hip-Hop": 0.6})
    spoken.analyses.update(content="speech", content_scores={"music": 0.01, "speech": 0.98, "other": 0.01})
    sung = awaiting({"Folk": 0.7})
    sung.analyses.update(content="music", content_scores={"music": 0.9, "speech": 0.05, "other": 0.05})
    page = reviewer_client.get(reverse("review_track", args=[spoken.pk])).content.decode()
    assert 'id="content-verdict" class="as-warn"' in page and "speech — not music?" in page
    page = reviewer_client.get(reverse("review_track", args=[sung.pk])).content.decode()
    assert "not music?" not in page and ">music</span>" in page


def test_the_bulk_accept_page_says_why_each_track_is_left_alone(client, make_editor, awaiting):
    """An editor must see why a confident whale is not accepted, not just "No"."""
    lead = make_editor("lena", "Editorial lead")
    client.force_login(lead)
    sure, unsure, held = awaiting({"Jazz": 0.95}), awaiting({"Rock": 0.6}), awaiting({"Metal": 0.99})
    whale, silent = awaiting({"Electronic": 0.97}), awaiting({"Pop": 0.96})
    whale.analyses.update(content="other")
    silent.analyses.update(is_silent=True)
    weak = awaiting({"Jazz": 0.98})  # what YAMNet said of the humpback whale: music, barely
    weak.analyses.update(content="music", content_scores={"music": 0.19, "speech": 0.04, "other": 0.14})
    loud = awaiting({"Rock": 0.98})
    loud.analyses.update(content="music", content_scores={"music": 0.9, "speech": 0.0, "other": 0.03})
    claim_open(editor=make_editor("rita"), track=held)
    url = reverse("admin:catalog_track_changelist")
    tracks = (sure, unsure, held, whale, silent, weak, loud)
    page = client.post(url, {"action": "bulk_accept", "_selected_action": [t.pk for t in tracks]})
    rows = dict(
        re.findall(r"<tr><td>([^<]+)</td><td>[^<]*</td><td>[^<]*</td><td>([^<]+)</td></tr>", page.content.decode())
    )
    assert {
        name: rows[str(t)] for name, t in zip(("sure", "unsure", "held", "whale", "silent", "weak", "loud"), tracks)
    } == {
        "sure": "Yes",
        "unsure": "No: below the threshold",
        "held": "No: another editor holds it",
        "whale": "No: heard other, not music: needs a person to reject or confirm",
        "silent": "No: silent audio: needs a person",
        "weak": "No: barely heard as music (0.19): needs a person to reject or confirm",
        "loud": "Yes",
    }
    assert 'id="qualifying">2<' in page.content.decode()
