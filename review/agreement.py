"""Live agreement between each model version and the editors, computed from real decisions.

A decision counts for the model version whose analysis the editor was shown. Bulk acceptances
are left out: they copy the model's top-1 by construction and would only inflate agreement.
Catalog labels (genres an import or the CMS already gave) are left out unless asked for; then a
track's standing catalog label (its latest decision) counts for every version that analysed
the track, against that analysis's Top-5, in the week the later of the two was made.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Max, QuerySet

from catalog.models import Analysis, ModelVersion
from review.models import GENRELESS_ACTIONS, Decision, DecisionSource


@dataclass
class Agreement:
    """Counts over a set of decisions; rates are None when there is nothing to rate."""

    decisions: int = 0
    top1: int = 0
    top3: int = 0

    def add(self, chosen: str, proposed: list[str]) -> None:
        self.decisions += 1
        self.top1 += bool(proposed) and proposed[0] == chosen
        self.top3 += chosen in proposed[:3]

    @property
    def top1_rate(self) -> float | None:
        return self.top1 / self.decisions if self.decisions else None

    @property
    def top3_rate(self) -> float | None:
        return self.top3 / self.decisions if self.decisions else None


@dataclass
class VersionAgreement:
    model_version: ModelVersion
    overall: Agreement = field(default_factory=Agreement)
    by_genre: dict[str, Agreement] = field(default_factory=dict)  # by the editor's genre
    by_week: dict[date, Agreement] = field(default_factory=dict)  # Monday of the decision's week
    labels: list[str] = field(default_factory=list)  # confusion axes, in order
    confusion: list[list[int]] = field(default_factory=list)  # [editor's genre][model's top-1]


def _decisions(model_version: ModelVersion) -> QuerySet[Decision]:
    # A rejection judges the audio, not the genres; an undo and the decision it took back judge nothing.
    return (
        Decision.objects.filter(model_version=model_version, genre__isnull=False, undone_by__isnull=True)
        .exclude(source__in=(DecisionSource.BULK, DecisionSource.CATALOG))
        .exclude(action__in=GENRELESS_ACTIONS)
        .select_related("genre")
        .order_by("pk")
    )


def _standing_catalog_labels() -> QuerySet[Decision]:
    """Catalog decisions that are still their track's latest decision (no editor overrode them)."""
    latest = Decision.objects.order_by().values("track").annotate(latest=Max("pk")).values("latest")
    return Decision.objects.filter(pk__in=latest, source=DecisionSource.CATALOG)


def _judgements(model_version: ModelVersion, include_catalog: bool) -> Iterator[tuple[str, list[str], datetime]]:
    """(chosen genre, the model's proposed genres, when) for each decision that judges the version."""
    for decision in _decisions(model_version):
        yield decision.genre.name, [item["genre"] for item in decision.proposed], decision.created_at
    if not include_catalog:
        return
    standing = _standing_catalog_labels()
    labels = {track: (genre, when) for track, genre, when in standing.values_list("track", "genre__name", "created_at")}
    analyses = (
        Analysis.objects.filter(model_version=model_version, track__in=standing.values("track"))
        .values_list("track", "probabilities", "created_at")
        .order_by("pk")
    )
    names = model_version.labels
    for track, probabilities, analysed_at in analyses:
        if track not in labels:  # labelled between the two reads
            continue
        genre, labelled_at = labels[track]
        ranked = sorted(zip(names, probabilities), key=lambda pair: pair[1], reverse=True)[:5]
        yield genre, [name for name, _ in ranked], max(labelled_at, analysed_at)


def version_agreement(*, model_version: ModelVersion, include_catalog: bool = False) -> VersionAgreement:
    """Top-1 / top-3 agreement overall, per editor's genre and per week, plus the confusion matrix
    of the model's top-1 against the editor's choice (catalog labels too with ``include_catalog``)."""
    result = VersionAgreement(model_version=model_version)
    by_genre: dict[str, Agreement] = defaultdict(Agreement)
    by_week: dict[date, Agreement] = defaultdict(Agreement)
    pairs: list[tuple[str, str]] = []
    for chosen, proposed, when in _judgements(model_version, include_catalog):
        week = when.date() - timedelta(days=when.weekday())
        for bucket in (result.overall, by_genre[chosen], by_week[week]):
            bucket.add(chosen, proposed)
        if proposed:
            pairs.append((proposed[0], chosen))
    result.by_genre = dict(sorted(by_genre.items()))
    result.by_week = dict(sorted(by_week.items()))
    present = {name for pair in pairs for name in pair}
    result.labels = [label for label in model_version.labels if label in present] + sorted(
        present - set(model_version.labels)
    )
    index = {label: i for i, label in enumerate(result.labels)}
    result.confusion = [[0] * len(result.labels) for _ in result.labels]
    for predicted, chosen in pairs:
        result.confusion[index[chosen]][index[predicted]] += 1
    return result


def agreement_overview(*, include_catalog: bool = False) -> list[VersionAgreement]:
    """Every model version that editors (or, with ``include_catalog``, catalog labels) have judged,
    newest first."""
    judged = set(
        Decision.objects.exclude(source__in=(DecisionSource.BULK, DecisionSource.CATALOG))
        .exclude(model_version=None)
        .exclude(action__in=GENRELESS_ACTIONS)
        .filter(undone_by__isnull=True)
        .values_list("model_version", flat=True)
    )
    if include_catalog:
        labelled = _standing_catalog_labels().values("track")
        judged |= set(Analysis.objects.filter(track__in=labelled).values_list("model_version", flat=True))
    return [
        version_agreement(model_version=v, include_catalog=include_catalog)
        for v in ModelVersion.objects.filter(pk__in=judged)
    ]
