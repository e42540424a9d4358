"""Review pages. Thin: parse input, call one service or selector, render."""

from __future__ import annotations

import time
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from catalog.models import Genre, Track
from review.claims import claim_next, claim_open, claim_release, current_claim, ensure_reviewable
from review.decisions import UNDO_SECONDS, DecisionInput, RejectInput, decision_reject, decision_submit, decision_undo
from review.errors import ReviewError, ReviewErrorCode
from review.forms import DecisionForm, QueueFilterForm, RejectForm
from review.models import Decision, RejectReason
from review.selectors import (
    QueueFilters,
    can_review,
    editor_statistics,
    last_decision_id,
    latest_analysis,
    queue_counts,
    review_progress,
    review_queue,
    track_history,
)
from review.timeline import genre_timeline, spectrogram_geometry

SKIPPED = "review_skipped_track_ids"
SAVED = "review_last_saved"  # the decision the Undo banner offers to take back
DECIDED = "review_decided_track_ids"  # tracks decided in this session, for Back
OTHER = "__other__"


def require_reviewer(request: HttpRequest) -> None:
    if not can_review(request.user):
        raise PermissionDenied("Reviewing needs the Reviewer role.")


def _filters(request: HttpRequest) -> tuple[QueueFilterForm, QueueFilters]:
    form = QueueFilterForm(request.GET or None)
    if not form.is_valid():
        return form, QueueFilters()
    data = form.cleaned_data
    return form, QueueFilters(
        genre=data["genre"],
        band=data["band"],
        model_version=data["model_version"].pk if data["model_version"] else None,
        batch=data["batch"].pk if data["batch"] else None,
        since=data["since"],
        until=data["until"],
        labelled=data["labelled"] or "skip",
        content=data["content"],
    )


def queue(request: HttpRequest) -> HttpResponse:
    require_reviewer(request)
    form, filters = _filters(request)
    request.session.pop(SKIPPED, None)  # back at the queue: skipped tracks come round again
    context = {
        **admin.site.each_context(request),
        "title": "Review queue",
        "form": form,
        "tracks": review_queue(filters=filters).select_related("import_batch")[:25],
        "counts": queue_counts(filters=filters),
        "query": request.GET.urlencode(),
        "undo": _undo_offer(request),
    }
    return TemplateResponse(request, "admin/review/queue.html", context)


def _suffix(request: HttpRequest) -> str:
    return f"?{request.GET.urlencode()}" if request.GET else ""


def _open_next(request: HttpRequest) -> HttpResponse:
    """Claim the next track for this editor and open it; back to the queue when none is left.
    Called only from POSTs: a GET never takes a track (a link prefetcher would)."""
    _, filters = _filters(request)
    skipped = request.session.get(SKIPPED, [])
    track = claim_next(editor=request.user, filters=filters, exclude_ids=skipped)
    if track is None:
        # The queue page puts skipped tracks back, so say so rather than "nothing left" above a list.
        waiting = review_queue(filters=filters).count()
        if waiting:
            messages.info(
                request, f"You have been through this queue; the {waiting} track(s) you skipped are listed below again."
            )
        else:
            messages.info(request, "Nothing left to review" + (" with these filters." if request.GET else "."))
        return HttpResponseRedirect(reverse("review_queue") + _suffix(request))
    return HttpResponseRedirect(reverse("review_track", args=[track.pk]) + _suffix(request))


def next_track(request: HttpRequest) -> HttpResponse:
    """POST claims the next track and opens it; GET (a bookmark, a prefetcher) claims nothing and
    shows the queue, whose Start button POSTs here."""
    require_reviewer(request)
    if request.method != "POST":
        return HttpResponseRedirect(reverse("review_queue") + _suffix(request))
    return _open_next(request)


def _saved(request: HttpRequest, decision: Decision, track: Track) -> None:
    """Remember the save for the next page's Undo banner and for Back."""
    verb = "Rejected" if decision.reject_reason else "Saved"
    what = (
        f"“{track}” as not music ({decision.get_reject_reason_display().lower()})"
        if decision.reject_reason
        else f"{decision.genre} for “{track}”"
    )
    request.session[SAVED] = {
        "decision": decision.pk,
        "track": track.pk,
        "text": f"{verb} {what}",
        "until": decision.created_at.timestamp() + UNDO_SECONDS,
    }
    request.session[DECIDED] = [*[pk for pk in request.session.get(DECIDED, []) if pk != track.pk], track.pk][-50:]


def _undo_offer(request: HttpRequest) -> dict[str, object] | None:
    """The Undo banner while the last save can still be taken back (the service decides for real)."""
    saved = request.session.get(SAVED)
    if not saved or saved["until"] <= time.time():
        return None
    return {**saved, "seconds_left": max(0.0, saved["until"] - time.time())}


def _back_to(request: HttpRequest, current: Track) -> Track | None:
    """The track decided last in this session, other than the one open."""
    for pk in reversed(request.session.get(DECIDED, [])):
        if pk != current.pk:
            return Track.objects.filter(pk=pk).first()
    return None


def _context(
    request: HttpRequest, track: Track, form: DecisionForm, reject_form: RejectForm | None = None
) -> dict[str, object]:
    analysis = latest_analysis(track)
    _, filters = _filters(request)
    reject_form = reject_form or RejectForm(
        initial={"seen_decision_id": form["seen_decision_id"].value(), "analysis_id": form["analysis_id"].value()}
    )
    top = analysis.top_k(5) if analysis else []
    top_names = {label for label, _ in top}
    geometry = spectrogram_geometry(analysis)  # a long track's picture is wider: the page zooms and scrolls it
    return {
        **admin.site.each_context(request),
        "title": str(track),
        # The review screen is a workspace of its own (the breadcrumbs lead back): a superuser's
        # long app list in the admin's sidebar would make it scroll at 1366×768.
        "is_nav_sidebar_enabled": False,
        "track": track,
        "analysis": analysis,
        "form": form,
        "top": [(rank, label, f"{p:.1%}", round(p * 100)) for rank, (label, p) in enumerate(top, start=1)],
        "other_genres": [g.name for g in Genre.objects.filter(active=True) if g.name not in top_names],
        "all_genres": list(Genre.objects.filter(active=True).values_list("name", flat=True)),
        "history": track_history(track)[:5],
        "claim": current_claim(track),
        "plot_area": geometry.plot_area,
        "geometry": geometry,
        "query": request.GET.urlencode(),
        "timeline": genre_timeline(analysis=analysis, duration_s=track.duration_s) if analysis else None,
        "claim_minutes": settings.REVIEW_CLAIM_MINUTES,
        "reject_form": reject_form,
        "reject_reasons": RejectReason.choices,
        "reject_open": reject_form.is_bound,
        "undo": _undo_offer(request),
        "back": _back_to(request, track),
        "progress": review_progress(editor=request.user, filters=filters),
    }


def review_track(request: HttpRequest, track_id: int) -> HttpResponse:
    require_reviewer(request)
    track = get_object_or_404(
        Track.objects.select_related("import_batch", "known_genre", "reviewed_genre"), pk=track_id
    )
    if request.method == "POST":
        return _submit(request, track)
    try:  # a GET claims nothing (a link prefetcher would take tracks): the queue's links POST to hold/
        ensure_reviewable(track)
    except ReviewError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("review_queue"))
    analysis = latest_analysis(track)
    form = DecisionForm(
        initial={"seen_decision_id": last_decision_id(track), "analysis_id": analysis.pk if analysis else None}
    )
    track.refresh_from_db()
    return TemplateResponse(request, "admin/review/track.html", _context(request, track, form))


def _save_then_next(
    request: HttpRequest, track: Track, form: forms.Form, record: Callable[[dict], Decision]
) -> HttpResponse | None:
    """Record a valid form's decision and open the next track; None when the form is invalid or the
    service refused (its message is then on the form, and a stale track is reloaded)."""
    if not form.is_valid():
        return None
    try:
        decision = record(form.cleaned_data)
    except ReviewError as error:
        form.add_error(None, error.message)
        if error.code == ReviewErrorCode.STALE:
            track.refresh_from_db()
        return None
    _saved(request, decision, track)
    return _open_next(request)


def _submit(request: HttpRequest, track: Track) -> HttpResponse:
    data = request.POST.copy()
    if data.get("genre") == OTHER:
        data["genre"] = data.get("other_genre", "").strip()
    form = DecisionForm(data)

    def record(clean: dict) -> Decision:
        return decision_submit(
            editor=request.user,
            track=track,
            data=DecisionInput(
                genre=clean["genre"],
                secondary_genre=clean["secondary_genre"],
                note=clean["note"],
                analysis_id=clean["analysis_id"],
                seen_decision_id=clean["seen_decision_id"],
                seconds_on_screen=clean["seconds_on_screen"],
            ),
        )

    if (saved := _save_then_next(request, track, form, record)) is not None:
        return saved
    response = TemplateResponse(request, "admin/review/track.html", _context(request, track, form))
    response.status_code = 409 if form.non_field_errors() else 400
    return response


@require_POST
def reject_track(request: HttpRequest, track_id: int) -> HttpResponse:
    """*Not music / unusable* (key X) with a reason; then the next track, as a save does."""
    require_reviewer(request)
    track = get_object_or_404(
        Track.objects.select_related("import_batch", "known_genre", "reviewed_genre"), pk=track_id
    )
    form = RejectForm(request.POST)

    def record(clean: dict) -> Decision:
        return decision_reject(
            editor=request.user,
            track=track,
            data=RejectInput(
                reason=clean["reason"],
                note=clean["note"],
                analysis_id=clean["analysis_id"],
                seen_decision_id=clean["seen_decision_id"],
                seconds_on_screen=clean["seconds_on_screen"],
            ),
        )

    if (saved := _save_then_next(request, track, form, record)) is not None:
        return saved
    decision_form = DecisionForm(
        initial={
            "seen_decision_id": form.data.get("seen_decision_id") or 0,
            "analysis_id": form.data.get("analysis_id") or None,
        }
    )
    response = TemplateResponse(request, "admin/review/track.html", _context(request, track, decision_form, form))
    response.status_code = 409 if form.non_field_errors() else 400
    return response


@require_POST
def undo_decision(request: HttpRequest, decision_id: int) -> HttpResponse:
    """Undo (key U) the editor's last save: a new decision restores the track's previous state,
    and the track opens again, held for the editor."""
    require_reviewer(request)
    decision = get_object_or_404(Decision.objects.select_related("track"), pk=decision_id)
    try:
        undo = decision_undo(editor=request.user, decision=decision)
    except ReviewError as error:
        request.session.pop(SAVED, None)
        messages.error(request, f"Not undone: {error.message}")
        back = request.POST.get("next", "")
        safe = url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return HttpResponseRedirect(back if safe else reverse("review_queue"))
    request.session.pop(SAVED, None)
    track = decision.track
    try:
        claim_open(editor=request.user, track=track)
    except ReviewError as error:  # someone took it in the meantime: the undo stands, say who holds it
        messages.warning(request, error.message)
    messages.success(request, f"Undone: “{track}” is {undo.outcome} again; decide it anew.")
    return HttpResponseRedirect(reverse("review_track", args=[track.pk]) + _suffix(request))


@require_POST
def hold_track(request: HttpRequest, track_id: int) -> HttpResponse:
    """Claim this track for the editor (a queue link, the track page's *Hold* button) and open it."""
    require_reviewer(request)
    track = get_object_or_404(Track, pk=track_id)
    try:
        claim_open(editor=request.user, track=track)
    except ReviewError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("review_queue") + _suffix(request))
    return HttpResponseRedirect(reverse("review_track", args=[track.pk]) + _suffix(request))


@require_POST
def skip_track(request: HttpRequest, track_id: int) -> HttpResponse:
    require_reviewer(request)
    track = get_object_or_404(Track, pk=track_id)
    claim_release(track=track, editor=request.user)
    request.session[SKIPPED] = [*request.session.get(SKIPPED, []), track.pk][-500:]
    messages.info(request, f"Skipped “{track}”; it comes back when you return to the queue.")
    return _open_next(request)


def editor_stats(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("review.view_editor_statistics"):
        raise PermissionDenied
    include_catalog = request.GET.get("catalog") == "1"
    context = {
        **admin.site.each_context(request),
        "title": "Editor statistics",
        "include_catalog": include_catalog,
        "rows": editor_statistics(include_catalog=include_catalog),
    }
    return TemplateResponse(request, "admin/review/stats.html", context)
