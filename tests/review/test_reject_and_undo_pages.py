"""The review screen's reject, undo, back, progress and feedback, and the links into it from the admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import Track, TrackStatus
from review.claims import claim_open
from review.models import Claim, Decision, DecisionAction

pytestmark = pytest.mark.django_db


@pytest.fixture
def rita(make_editor):
    return make_editor("rita")


@pytest.fixture
def reviewer_client(client, rita):
    client.force_login(rita)
    return client


def form_fields(page: str, form_id: str) -> dict[str, str]:
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', page, re.S).group(0)
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


def open_track(client, track: Track) -> str:
    client.post(reverse("review_hold", args=[track.pk]))
    return client.get(reverse("review_track", args=[track.pk])).content.decode()


def save(client, track: Track, genre: str):
    page = open_track(client, track)
    return client.post(reverse("review_track", args=[track.pk]), {**form_fields(page, "decision-form"), "genre": genre})


def test_rejecting_records_the_reason_and_opens_the_next_track_with_an_undo_banner(reviewer_client, awaiting):
    whale = awaiting({"Electronic": 0.41, "Pop": 0.40})
    nxt = awaiting({"Jazz": 0.9})
    page = open_track(reviewer_client, whale)
    assert 'id="reject-form"' in page and 'value="noise"' in page and "<kbd>X</kbd>" in page
    response = reviewer_client.post(
        reverse("review_reject", args=[whale.pk]),
        {**form_fields(page, "reject-form"), "reason": "noise", "note": "whale song"},
    )
    assert response.status_code == 302 and response.url == reverse("review_track", args=[nxt.pk])
    decision = Decision.objects.get()
    assert (decision.action, decision.reject_reason, decision.genre, decision.editor.username) == (
        DecisionAction.REJECTED,
        "noise",
        None,
        "rita",
    )
    assert Track.objects.get(pk=whale.pk).status == TrackStatus.REJECTED
    banner = reviewer_client.get(response.url).content.decode()
    assert 'id="undo-banner"' in banner and "as not music (nature / noise)" in banner
    assert reverse("review_undo", args=[decision.pk]) in banner


def test_reject_other_without_a_note_is_refused_with_the_panel_open(reviewer_client, awaiting):
    track = awaiting({"Jazz": 0.5})
    page = open_track(reviewer_client, track)
    response = reviewer_client.post(
        reverse("review_reject", args=[track.pk]), {**form_fields(page, "reject-form"), "reason": "other"}
    )
    body = response.content.decode()
    assert response.status_code == 400 and "Say why in the note" in body
    assert re.search(r'<form[^>]*id="decision-form"[^>]*hidden', body)  # the reject panel stays open
    assert not Decision.objects.exists()


def test_undo_records_a_new_decision_and_reopens_the_track_held_for_the_editor(reviewer_client, awaiting):
    first, second = awaiting({"Jazz": 0.41, "Blues": 0.40}), awaiting({"Rock": 0.9})
    response = save(reviewer_client, first, "Blues")
    assert response.url == reverse("review_track", args=[second.pk])
    saved = Decision.objects.get()
    page = reviewer_client.get(response.url).content.decode()
    assert "Saved Blues for “" in page and 'id="undo"' in page

    undone = reviewer_client.post(reverse("review_undo", args=[saved.pk]))
    assert undone.status_code == 302 and undone.url == reverse("review_track", args=[first.pk])
    undo = Decision.objects.latest("pk")
    assert (undo.action, undo.undoes, undo.genre) == (DecisionAction.UNDONE, saved, None)
    assert Track.objects.get(pk=first.pk).status == TrackStatus.AWAITING_REVIEW
    assert Claim.objects.get(track=first).editor.username == "rita"
    reopened = reviewer_client.get(undone.url).content.decode()
    assert "is awaiting review again" in reopened and 'id="undo-banner"' not in reopened


def test_undo_is_refused_for_another_editor_and_after_the_window_with_a_clear_message(
    client, reviewer_client, awaiting, make_editor
):
    track = awaiting({"Jazz": 0.5})
    save(reviewer_client, track, "Jazz")
    saved = Decision.objects.get()
    client.force_login(make_editor("bob"))
    refused = client.post(reverse("review_undo", args=[saved.pk]), follow=True)
    assert "Not undone: Only the editor who made a decision can undo it." in refused.content.decode()
    client.force_login(saved.editor)
    Decision.objects.filter(pk=saved.pk).update(created_at=timezone.now() - timedelta(seconds=31))
    late = client.post(reverse("review_undo", args=[saved.pk]), follow=True).content.decode()
    assert "Not undone: Undo is possible for 30 s after saving" in late
    assert Decision.objects.count() == 1 and Track.objects.get(pk=track.pk).status == TrackStatus.REVIEWED


def test_the_banner_is_gone_once_the_window_is_over(reviewer_client, awaiting):
    first, second = awaiting({"Jazz": 0.41, "Blues": 0.40}), awaiting({"Rock": 0.9})
    save(reviewer_client, first, "Jazz")
    session = reviewer_client.session
    session["review_last_saved"]["until"] -= 31
    session.save()
    assert 'id="undo-banner"' not in reviewer_client.get(reverse("review_track", args=[second.pk])).content.decode()


def test_back_opens_the_track_decided_before_and_holds_it(reviewer_client, awaiting):
    first, second = awaiting({"Jazz": 0.41, "Blues": 0.40}), awaiting({"Rock": 0.9})
    assert 'id="back-form"' not in open_track(reviewer_client, first)  # nothing decided yet
    save(reviewer_client, first, "Jazz")
    page = reviewer_client.get(reverse("review_track", args=[second.pk])).content.decode()
    back = re.search(r'<form method="post" id="back-form" class="as-inline" action="([^"]+)"', page).group(1)
    assert back == reverse("review_hold", args=[first.pk])
    response = reviewer_client.post(back)
    assert response.url == reverse("review_track", args=[first.pk])
    assert Claim.objects.get(track=first).editor.username == "rita"


def test_the_progress_line_says_what_is_left_and_what_you_did_today(reviewer_client, awaiting):
    tracks = [awaiting({"Jazz": 0.41 + i / 100, "Blues": 0.40}) for i in range(3)]
    page = open_track(reviewer_client, tracks[0])
    assert "2 left in this queue · 0 done by you today · your median – s" in page
    reviewer_client.post(
        reverse("review_track", args=[tracks[0].pk]),
        {**form_fields(page, "decision-form"), "genre": "Jazz", "seconds_on_screen": "12"},
    )
    page = reviewer_client.get(reverse("review_track", args=[tracks[1].pk])).content.decode()
    assert "1 left in this queue · 1 done by you today · your median 12 s" in page


def test_skip_says_the_track_comes_back(reviewer_client, awaiting):
    track, _next = awaiting({"Jazz": 0.41, "Blues": 0.40}), awaiting({"Rock": 0.9})
    open_track(reviewer_client, track)
    response = reviewer_client.post(reverse("review_skip", args=[track.pk]), follow=True)
    assert f"Skipped “{track}”; it comes back when you return to the queue." in response.content.decode()


def test_after_skipping_everything_the_queue_does_not_say_nothing_is_left_above_the_list(reviewer_client, awaiting):
    tracks = [awaiting({"Jazz": 0.41, "Blues": 0.40}), awaiting({"Rock": 0.9})]
    reviewer_client.post(reverse("review_next"))
    for track in tracks:
        response = reviewer_client.post(reverse("review_skip", args=[track.pk]), follow=True)
    page = response.content.decode()
    assert "Nothing left to review" not in page
    assert "the 2 track(s) you skipped are listed below again" in page and str(tracks[0]) in page


def test_when_the_queue_is_really_empty_it_says_so(reviewer_client, awaiting):
    track = awaiting({"Jazz": 0.5})
    page = save(reviewer_client, track, "Jazz")
    queue = reviewer_client.get(page.url).content.decode()
    assert "Nothing left to review." in queue and 'id="undo-banner"' in queue  # the undo still offered
    filtered = reviewer_client.post(reverse("review_next") + "?genre=Rock", follow=True).content.decode()
    assert "Nothing left to review with these filters." in filtered


def test_enter_with_nothing_picked_has_a_visible_hint_and_the_server_says_the_same(reviewer_client, awaiting):
    track = awaiting({"Jazz": 0.5})
    page = open_track(reviewer_client, track)
    assert re.search(r'id="pick-hint"[^>]*hidden>Pick a genre first: 1–5, O, or X to reject<', page)
    response = reviewer_client.post(reverse("review_track", args=[track.pk]), form_fields(page, "decision-form"))
    assert response.status_code == 400 and "Pick a genre first: 1–5, O, or X to reject." in response.content.decode()


def test_the_queue_filters_on_the_content_verdict_and_lists_not_music_first(reviewer_client, awaiting):
    music = awaiting({"Jazz": 0.41, "Blues": 0.40})
    music.analyses.update(content="music")
    talk = awaiting({"Hip-Hop": 0.9})
    talk.analyses.update(content="speech")
    page = reviewer_client.get(reverse("review_queue")).content.decode()
    assert 'name="content"' in page and page.index(str(talk)) < page.index(str(music))
    assert '<span class="as-warn">speech — not music?</span>' in page
    filtered = reviewer_client.get(reverse("review_queue") + "?content=music").content.decode()
    assert str(music) in filtered and str(talk) not in filtered
    assert reviewer_client.post(reverse("review_next") + "?content=speech").url.startswith(
        reverse("review_track", args=[talk.pk])
    )


def test_the_track_admin_and_the_decision_list_link_to_the_review_screen(client, make_editor, awaiting):
    lead = make_editor("lena", "Editorial lead")
    track = awaiting({"Jazz": 0.5})
    claim_open(editor=lead, track=track)
    client.force_login(lead)
    change = client.get(reverse("admin:catalog_track_change", args=[track.pk])).content.decode()
    link = reverse("review_track", args=[track.pk])
    assert f'href="{link}" id="open-in-review"' in change and "Open in review screen" in change
    client.post(link, {"genre": "Jazz", "seen_decision_id": "0"})
    decisions = client.get(reverse("admin:review_decision_changelist")).content.decode()
    assert f'href="{link}" class="as-review-link"' in decisions


def test_the_stats_page_shows_rejections(client, make_editor, awaiting):
    lead = make_editor("lena", "Editorial lead")
    track = awaiting({"Jazz": 0.5})
    client.force_login(lead)
    client.post(reverse("review_reject", args=[track.pk]), {"reason": "speech", "seen_decision_id": "0"})
    page = client.get(reverse("review_stats")).content.decode()
    assert "Rejected (not music)" in page and '<td class="as-rejected">1</td>' in page


def test_a_rejected_track_can_be_opened_again_and_its_history_says_not_music(reviewer_client, awaiting):
    track = awaiting({"Jazz": 0.5})
    page = open_track(reviewer_client, track)
    reviewer_client.post(
        reverse("review_reject", args=[track.pk]), {**form_fields(page, "reject-form"), "reason": "speech"}
    )
    page = reviewer_client.get(reverse("review_track", args=[track.pk])).content.decode()
    assert "rita → not music (speech) (rejected)" in page and 'id="decision-form"' in page


def test_the_review_screen_leaves_out_the_admin_sidebar_even_for_a_superuser(client, django_user_model, awaiting):
    """A superuser's sidebar lists every app and is taller than 768 px: the screen must not scroll."""
    track = awaiting({"Jazz": 0.9})
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    assert 'id="nav-sidebar"' in client.get(reverse("review_queue")).content.decode()  # elsewhere it stays
    assert 'id="nav-sidebar"' not in open_track(client, track)


def test_bad_rejects_and_undos_get_a_clear_answer_and_change_nothing(reviewer_client, awaiting, rita):
    track = awaiting({"Jazz": 0.6})
    page = open_track(reviewer_client, track)
    reject = reverse("review_reject", args=[track.pk])
    fields = form_fields(page, "reject-form")
    for bad, message in (({"reason": "whale"}, "whale is not one of the available choices"), ({}, "Pick why")):
        response = reviewer_client.post(reject, {**fields, **bad})
        assert response.status_code == 400 and message in response.content.decode(), bad
    assert (
        reviewer_client.post(reverse("review_reject", args=[987654]), {**fields, "reason": "noise"}).status_code == 404
    )
    assert reviewer_client.get(reject).status_code == 405  # a link or a prefetcher rejects nothing
    assert reviewer_client.post(reverse("review_undo", args=[987654])).status_code == 404
    assert not Decision.objects.exists() and Track.objects.get(pk=track.pk).status == TrackStatus.AWAITING_REVIEW

    saved = save(reviewer_client, track, "Jazz")
    decision = Decision.objects.get()
    undo = reverse("review_undo", args=[decision.pk])
    assert saved.status_code == 302 and reviewer_client.get(undo).status_code == 405
    off_site = reviewer_client.post(undo, {"next": "https://evil.example/"})  # first undo works
    again = reviewer_client.post(undo, {"next": "https://evil.example/"}, follow=True)
    assert off_site.status_code == 302 and again.redirect_chain[0][0] == reverse("review_queue")  # never off-site
    assert "Not undone: This decision has already been undone." in again.content.decode()
    assert Decision.objects.filter(action=DecisionAction.UNDONE).count() == 1

    Track.objects.filter(pk=track.pk).update(status=TrackStatus.FAILED, failure_reason="undecodable")
    fields = form_fields(open_track(reviewer_client, awaiting({"Rock": 0.5})), "reject-form")
    response = reviewer_client.post(reject, {**fields, "reason": "broken", "seen_decision_id": 2})
    assert response.status_code == 409 and "cannot be decided now" in response.content.decode()
    assert Track.objects.get(pk=track.pk).status == TrackStatus.FAILED
    assert Decision.objects.count() == 2  # the decision and its undo, nothing for the failed track
