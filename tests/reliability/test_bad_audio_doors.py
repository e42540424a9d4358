"""The bad-audio corpus through all five doors: the admin upload form, `import_tracks`, the tracks
API (POST and PUT by external id), the sync `/api/genre` and the workstation, against a live
gunicorn and a real worker. Every case gets a clear refusal (a 4xx with a JSON code, a form error,
a rejected line) or is accepted and then analysed or failed with a reason shown in the admin;
no 5xx, and the good track stored first keeps its row and its file."""

from __future__ import annotations

import hashlib
import html
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model
from django.forms.models import model_to_dict

from catalog.models import Analysis, Track, TrackStatus
from inference.jobs import analyze_track
from tests.fixtures import ROOT, wav_bytes
from tests.reliability.conftest import figures, logged_in_session
from tests.reliability.corpus import MUST_REFUSE, bad_audio_corpus

pytestmark = pytest.mark.slow
CLEAR_STATUSES = {400, 413, 415, 422}
DONE = {TrackStatus.AWAITING_REVIEW, TrackStatus.REVIEWED, TrackStatus.FAILED}


def snapshot(track: Track) -> dict:
    track.refresh_from_db()
    return {
        "row": model_to_dict(track),
        "sha256": hashlib.sha256(Path(track.audio.path).read_bytes()).hexdigest(),
        "analyses": list(Analysis.objects.filter(track=track).values_list("pk", flat=True)),
    }


def api_outcome(response: requests.Response) -> tuple[str, str]:
    """('refused', code) for a 4xx with a JSON error code, ('accepted', status) for a 2xx."""
    if response.ok:
        return "accepted", str(response.status_code)
    if response.status_code in CLEAR_STATUSES:
        code = response.json().get("error", {}).get("code")
        assert code and response.json()["error"].get("message"), response.text
        return "refused", code
    return "unclear", f"{response.status_code} {response.text[:200]}"


def test_the_bad_audio_corpus_gets_a_clear_answer_at_every_door_and_loses_nothing(
    tiny_model_version, live_web, cms_headers, run_worker, worker_env, tmp_path
):
    corpus = bad_audio_corpus(tmp_path)
    get_user_model().objects.create_superuser("lead", password="pw-lead")
    staff = logged_in_session(live_web, "lead", "pw-lead")
    good = requests.post(
        f"{live_web}/api/v1/tracks/",
        headers=cms_headers,
        timeout=60,
        files={"audio": ("good.wav", wav_bytes(seconds=4.0, freq=523.0))},
        data={"external_id": "good"},
    )
    assert good.status_code == 201, good.text
    good_track = Track.objects.get(pk=good.json()["id"])
    analyze_track(track_id=good_track.pk, model_version_id=tiny_model_version.pk)  # in-process: one worker start less
    before = snapshot(good_track)
    assert good_track.status == TrackStatus.AWAITING_REVIEW and before["analyses"]

    outcomes: dict[tuple[str, str], tuple[str, str]] = {}  # (door, file) -> (what happened, detail)
    server_errors: list[str] = []
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i, (name, data) in enumerate(corpus.items()):
        (folder / name).write_bytes(data)
        calls = {
            "api POST": requests.post(
                f"{live_web}/api/v1/tracks/", headers=cms_headers, timeout=60, files={"audio": (name, data)}
            ),
            "api PUT": requests.put(
                f"{live_web}/api/v1/tracks/by-external-id/bad-{i}",
                headers=cms_headers,
                timeout=60,
                files={"audio": (name, data)},
                data={"title": name},
            ),
            "/api/genre": requests.post(
                f"{live_web}/api/genre", headers=cms_headers, timeout=60, files={"audio": (name, data)}
            ),
            "workstation": staff.post(
                f"{live_web}/admin/review/workstation/analyse/", timeout=60, files={"audio": (name, data)}
            ),
        }
        for door, response in calls.items():
            if response.status_code >= 500:
                server_errors.append(f"{door} {name}: {response.status_code}")
            outcomes[door, name] = api_outcome(response)
        form = staff.post(
            f"{live_web}/admin/catalog/track/upload/",
            timeout=60,
            allow_redirects=False,
            files={"files": (name, data)},
            data={"csrfmiddlewaretoken": staff.cookies["csrftoken"]},
        )
        if form.status_code >= 500:
            server_errors.append(f"admin upload {name}: {form.status_code}")
        page = html.unescape(form.text)
        outcomes["admin upload", name] = (
            ("accepted", "302")
            if form.status_code == 302
            # the API doors stored these bytes already: nothing new, the upload page says which track has them
            else ("accepted", "duplicate")
            if form.status_code == 200 and f"Duplicate: {name} has the same audio" in page
            else ("refused", "form error")
            if form.status_code == 200 and f"{name}: " in page and "errorlist" in page
            else ("unclear", f"{form.status_code}")
        )

    imported = subprocess.run(
        [sys.executable, "manage.py", "import_tracks", *sorted(map(str, folder.iterdir())), "--name", "bad corpus"],
        cwd=ROOT,
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if imported.returncode != 0:
        server_errors.append(f"import_tracks exited {imported.returncode}: {imported.stderr[-500:]}")
    for name in corpus:
        rejected = [
            line
            for line in imported.stdout.splitlines()
            if line.strip().startswith("rejected") and line.rstrip().split(": ", 1)[0].endswith(name)
        ]
        outcomes["import_tracks", name] = ("refused", rejected[0].split(": ", 1)[1]) if rejected else ("accepted", "")

    run_worker()  # what the doors accepted is analysed, or failed with a reason
    after = snapshot(good_track)
    not_done = [f"track {t.pk} {t.original_filename}: {t.status}" for t in Track.objects.exclude(status__in=DONE)]
    failed = Track.objects.filter(status=TrackStatus.FAILED)
    without_reason = [t.original_filename for t in failed if not t.failure_reason]
    not_shown = [
        t.original_filename
        for t in failed
        if t.failure_reason[:60]
        not in html.unescape(staff.get(f"{live_web}/admin/catalog/track/{t.pk}/change/", timeout=30).text)
    ]
    unclear = [f"{door} {name}: {detail}" for (door, name), (what, detail) in outcomes.items() if what == "unclear"]
    let_in = [
        f"{door} {name}" for (door, name), (what, _) in outcomes.items() if name in MUST_REFUSE and what != "refused"
    ]
    lost = int(after != before) + sum(not Path(t.audio.path).is_file() for t in Track.objects.all())
    figures(
        "bad audio × doors",
        files=len(corpus),
        doors=6,
        tried=len(outcomes),
        refused=sum(what == "refused" for what, _ in outcomes.values()),
        accepted=sum(what == "accepted" for what, _ in outcomes.values()),
        held=len(outcomes) - len(unclear) - len(let_in),
        failed_with_reason=failed.count(),
        stuck=len(not_done),
        lost=lost,
        **{"5xx": len(server_errors)},
    )
    assert server_errors == []
    assert unclear == []
    assert let_in == [], "these must be refused at the door"
    assert not_done == [] and without_reason == [] and not_shown == []
    assert after == before, "the good track's row, file and analysis are untouched"
    assert lost == 0
    accepted = sorted({name for (door, name), (what, _) in outcomes.items() if what == "accepted"})
    print(f"[reliability] accepted somewhere: {', '.join(accepted)}")
