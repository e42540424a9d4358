"""Review pages. Thin: parse input, call one service or selector, render."""
from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from catalog.models import Genre, Track
from review.claims import claim_next, claim_open, claim_release, current_claim, ensure_reviewable
from review.decisions import DecisionInput, decision_submit
from review.errors import ReviewError, ReviewErrorCode
from review.forms import DecisionForm, QueueFilterForm
from review.selectors import (
    QueueFilters,
    can_review,
    editor_statistics,
    last_decision_id,
    latest_analysis,
    queue_counts,
    review_queue,
    track_history,
)
from review.timeline import genre_timeline, spectrogram_geometry

SKIPPED = "review_skipped_track_ids"
OTHER = "__other__"


def require_reviewer(request: HttpRequest) -> None:
    if not can_review(request.user):
        raise PermissionDenied("Reviewing needs the Reviewer role.")


def _filters(request: HttpRequest) -> tuple[QueueFilterForm, QueueFilters]:
    form = QueueFilterForm(request.GET or None)
    if not form.is_valid():
        return form, QueueFilters()
    data = form.cleaned_data
    return form, QueueFilters(genre=data["genre"], band=data["band"],
                              model_version=data["model_version"].pk if data["model_version"] else None,
                              batch=data["batch"].pk if data["batch"] else None,
                              since=data["since"], until=data["until"], labelled=data["labelled"] or "skip")


def queue(request: HttpRequest) -> HttpResponse:
    require_reviewer(request)
    form, filters = _filters(request)
    request.session.pop(SKIPPED, None)  # back at the queue: skipped tracks come round again
    context = {**admin.site.each_context(request), "title": "Review queue", "form": form,
               "tracks": review_queue(filters=filters).select_related("import_batch")[:25],
               "counts": queue_counts(filters=filters), "query": request.GET.urlencode()}
    return TemplateResponse(request, "admin/review/queue.html", context)


def _suffix(request: HttpRequest) -> str:
    return f"?{request.GET.urlencode()}" if request.GET else ""


def _open_next(request: HttpRequest) -> HttpResponse:
    """Claim the next track for this editor and open it; back to the queue when none is left.
    Called only from POSTs: a GET never takes a track (a link prefetcher would)."""
    _, filters = _filters(request)
    track = claim_next(editor=request.user, filters=filters, exclude_ids=request.session.get(SKIPPED, []))
    if track is None:
        messages.info(request, "Nothing left to review with these filters.")
        return HttpResponseRedirect(reverse("review_queue") + _suffix(request))
    return HttpResponseRedirect(reverse("review_track", args=[track.pk]) + _suffix(request))


def next_track(request: HttpRequest) -> HttpResponse:
    """POST claims the next track and opens it; GET (a bookmark, a prefetcher) claims nothing and
    shows the queue, whose Start button POSTs here."""
    require_reviewer(request)
    if request.method != "POST":
        return HttpResponseRedirect(reverse("review_queue") + _suffix(request))
    return _open_next(request)


def _context(request: HttpRequest, track: Track, form: DecisionForm) -> dict[str, object]:
    analysis = latest_analysis(track)
    top = analysis.top_k(5) if analysis else []
    top_names = {label for label, _ in top}
    geometry = spectrogram_geometry(analysis)  # a long track's picture is wider: the page zooms and scrolls it
    return {
        **admin.site.each_context(request), "title": str(track), "track": track, "analysis": analysis, "form": form,
        "top": [(rank, label, f"{p:.1%}", round(p * 100)) for rank, (label, p) in enumerate(top, start=1)],
        "other_genres": [g.name for g in Genre.objects.filter(active=True) if g.name not in top_names],
        "all_genres": list(Genre.objects.filter(active=True).values_list("name", flat=True)),
        "history": track_history(track)[:5], "claim": current_claim(track),
        "plot_area": geometry.plot_area, "geometry": geometry, "query": request.GET.urlencode(),
        "timeline": genre_timeline(analysis=analysis, duration_s=track.duration_s) if analysis else None,
        "claim_minutes": settings.REVIEW_CLAIM_MINUTES,
    }


def review_track(request: HttpRequest, track_id: int) -> HttpResponse:
    require_reviewer(request)
    track = get_object_or_404(Track.objects.select_related("import_batch", "known_genre", "reviewed_genre"),
                              pk=track_id)
    if request.method == "POST":
        return _submit(request, track)
    try:  # a GET claims nothing (a link prefetcher would take tracks): the queue's links POST to hold/
        ensure_reviewable(track)
    except ReviewError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(reverse("review_queue"))
    analysis = latest_analysis(track)
    form = DecisionForm(initial={"seen_decision_id": last_decision_id(track),
                                 "analysis_id": analysis.pk if analysis else None})
    track.refresh_from_db()
    return TemplateResponse(request, "admin/review/track.html", _context(request, track, form))


def _submit(request: HttpRequest, track: Track) -> HttpResponse:
    data = request.POST.copy()
    if data.get("genre") == OTHER:
        data["genre"] = data.get("other_genre", "").strip()
    form = DecisionForm(data)
    if form.is_valid():
        clean = form.cleaned_data
        try:
            decision = decision_submit(editor=request.user, track=track, data=DecisionInput(
                genre=clean["genre"], secondary_genre=clean["secondary_genre"], note=clean["note"],
                analysis_id=clean["analysis_id"], seen_decision_id=clean["seen_decision_id"],
                seconds_on_screen=clean["seconds_on_screen"]))
        except ReviewError as error:
            form.add_error(None, error.message)
            if error.code == ReviewErrorCode.STALE:
                track.refresh_from_db()
        else:
            messages.success(request, f"Saved {decision.genre} for “{track}”.")
            return _open_next(request)
    response = TemplateResponse(request, "admin/review/track.html", _context(request, track, form))
    response.status_code = 409 if form.non_field_errors() else 400
    return response


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
    return _open_next(request)


def editor_stats(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("review.view_editor_statistics"):
        raise PermissionDenied
    include_catalog = request.GET.get("catalog") == "1"
    context = {**admin.site.each_context(request), "title": "Editor statistics", "include_catalog": include_catalog,
               "rows": editor_statistics(include_catalog=include_catalog)}
    return TemplateResponse(request, "admin/review/stats.html", context)
