"""Several editors review one queue at once through a live gunicorn while CMS readers follow the
change feed: no track is decided twice, no decision is lost, forced conflicts are refused with a
409 and save nothing, and every decision reaches each reader exactly once, in order."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from catalog.models import Track, TrackStatus
from review.models import Claim, Decision
from tests.factories import GENRES16, make_analysis, make_model_version, make_track
from tests.reliability.conftest import figures, logged_in_session

pytestmark = pytest.mark.slow
EDITORS, READERS, TRACKS = 5, 2, 60
HIDDEN = re.compile(r'name="(seen_decision_id|analysis_id)" value="(\d*)"')


class Editor(threading.Thread):
    """One editor's morning: Start reviewing, then decide and be taken to the next track, until the
    queue is empty; every few tracks, try to decide a track a colleague holds (a forced conflict)."""

    def __init__(self, base: str, username: str, held: dict[int, str], lock: threading.Lock, start: threading.Barrier):
        super().__init__(name=username)
        self.base, self.username, self.held, self.lock, self.start_together = base, username, held, lock, start
        self.saved: list[int] = []
        self.conflicts: list[int] = []  # statuses of the forced conflicts
        self.errors: list[str] = []
        self.rng = random.Random(username)

    def run(self) -> None:
        try:
            self.session = logged_in_session(self.base, self.username, "pw")
            self.start_together.wait()
            response = self.session.post(f"{self.base}/admin/review/next/", allow_redirects=False, timeout=60)
            while (track_id := self._track_in(response)) is not None:
                with self.lock:
                    self.held[track_id] = self.username
                if len(self.saved) % 4 == 3:
                    self._force_a_conflict(track_id)
                page = self.session.get(f"{self.base}/admin/review/track/{track_id}/", timeout=60)
                fields = dict(HIDDEN.findall(page.text))
                response = self.session.post(
                    f"{self.base}/admin/review/track/{track_id}/",
                    allow_redirects=False,
                    timeout=60,
                    data={**fields, "genre": self.rng.choice(GENRES16[:4]), "seconds_on_screen": "1.5"},
                )
                if response.status_code != 302:
                    self.errors.append(f"decision on {track_id}: {response.status_code}")
                    return
                self.saved.append(track_id)
        except Exception as error:  # reported by the test, not lost in a thread
            self.errors.append(f"{type(error).__name__}: {error}")

    def _track_in(self, response: requests.Response) -> int | None:
        if response.status_code >= 500 or response.status_code != 302:
            self.errors.append(f"next: {response.status_code}")
            return None
        match = re.search(r"/admin/review/track/(\d+)/", response.headers["Location"])
        return int(match.group(1)) if match else None  # the queue: nothing left

    def _force_a_conflict(self, mine: int) -> None:
        with self.lock:
            theirs = [pk for pk, who in self.held.items() if who != self.username]
        if not theirs:
            return
        response = self.session.post(
            f"{self.base}/admin/review/track/{theirs[-1]}/",
            allow_redirects=False,
            timeout=60,
            data={"genre": "Jazz", "seen_decision_id": "0"},
        )
        self.conflicts.append(response.status_code)


class FeedReader(threading.Thread):
    """A CMS following /api/v1/tags/changes with small pages until told to stop and caught up."""

    def __init__(self, base: str, headers: dict[str, str], stop: threading.Event):
        super().__init__()
        self.base, self.headers, self.stop = base, headers, stop
        self.ids: list[int] = []
        self.errors: list[str] = []
        self.pages = 0

    def run(self) -> None:
        cursor = None
        while True:
            stopping = self.stop.is_set()
            params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
            response = requests.get(f"{self.base}/api/v1/tags/changes", headers=self.headers, params=params, timeout=60)
            if response.status_code != 200:
                self.errors.append(f"feed: {response.status_code}")
                return
            page = response.json()
            self.pages += 1
            self.ids += [change["id"] for change in page["changes"]]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                if stopping:
                    return
                time.sleep(0.05)


def test_editors_reviewing_one_queue_at_once_decide_each_track_once_and_the_feed_has_each_decision_once(
    live_web, cms_headers
):
    version = make_model_version(is_active=True)
    tracks = []
    for i in range(TRACKS):
        track = make_track(status=TrackStatus.AWAITING_REVIEW)
        top = 0.2 + 0.6 * i / TRACKS  # a spread of margins: the queue has an order to fight over
        make_analysis(
            track=track,
            model_version=version,
            probabilities=[top] + [(1 - top) / (len(GENRES16) - 1)] * (len(GENRES16) - 1),
        )
        tracks.append(track)
    reviewer = Group.objects.get(name="Reviewer")
    for n in range(EDITORS):
        get_user_model().objects.create_user(f"editor{n}", password="pw", is_staff=True).groups.add(reviewer)

    held, lock, start, stop = {}, threading.Lock(), threading.Barrier(EDITORS), threading.Event()
    editors = [Editor(live_web, f"editor{n}", held, lock, start) for n in range(EDITORS)]
    readers = [FeedReader(live_web, cms_headers, stop) for _ in range(READERS)]
    started = time.monotonic()
    for thread in [*readers, *editors]:
        thread.start()
    for editor in editors:
        editor.join(timeout=240)
    stop.set()
    for reader in readers:
        reader.join(timeout=60)
    seconds = time.monotonic() - started

    decisions = list(Decision.objects.values_list("pk", "track_id"))
    per_track = Counter(track_id for _, track_id in decisions)
    saved = [pk for editor in editors for pk in editor.saved]
    conflicts = [status for editor in editors for status in editor.conflicts]
    decision_ids = sorted(pk for pk, _ in decisions)
    feeds = [reader.ids for reader in readers]
    figures(
        "concurrent editors",
        editors=EDITORS,
        readers=READERS,
        tracks=TRACKS,
        saved=len(saved),
        decisions=len(decisions),
        double=sum(n > 1 for n in per_track.values()),
        lost=len(set(saved) - set(per_track)),
        undecided=TRACKS - len(per_track),
        forced_conflicts=len(conflicts),
        conflicts_refused=conflicts.count(409),
        feed_ids=[len(ids) for ids in feeds],
        feed_repeats=sum(len(ids) - len(set(ids)) for ids in feeds),
        feed_gaps=sum(len(set(decision_ids) - set(ids)) for ids in feeds),
        feed_pages=sum(r.pages for r in readers),
        seconds=f"{seconds:.1f}",
    )
    assert [e for editor in editors for e in editor.errors] == []
    assert [e for reader in readers for e in reader.errors] == []
    assert sorted(saved) == sorted(per_track) and len(saved) == len(set(saved)), "each save is one decision"
    assert set(per_track.values()) == {1} and len(per_track) == TRACKS, "every track decided exactly once"
    assert conflicts and set(conflicts) == {409}, "a colleague's track is refused, not overwritten"
    assert not Claim.objects.exists()
    for ids in feeds:
        assert ids == decision_ids, "each decision once, in order, none missing"
    assert set(Track.objects.filter(pk__in=[t.pk for t in tracks]).values_list("status", flat=True)) == {
        TrackStatus.REVIEWED
    }
