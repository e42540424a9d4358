"""Live agreement between each model version and the editors, computed from real decisions.

A decision counts for the model version whose analysis the editor was shown. Bulk acceptances
are left out: they copy the model's top-1 by construction and would only inflate agreement.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import QuerySet

from catalog.models import ModelVersion
from review.models import Decision, DecisionSource


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
    by_genre: dict[str, Agreement] = field(default_factory=dict)   # by the editor's genre
    by_week: dict[date, Agreement] = field(default_factory=dict)   # Monday of the decision's week
    labels: list[str] = field(default_factory=list)                # confusion axes, in order
    confusion: list[list[int]] = field(default_factory=list)       # [editor's genre][model's top-1]


def _decisions(model_version: ModelVersion) -> QuerySet[Decision]:
    return (Decision.objects.filter(model_version=model_version).exclude(source=DecisionSource.BULK)
            .select_related("genre").order_by("pk"))


def version_agreement(*, model_version: ModelVersion) -> VersionAgreement:
    """Top-1 / top-3 agreement overall, per editor's genre and per week, plus the confusion matrix
    of the model's top-1 against the editor's choice."""
    result = VersionAgreement(model_version=model_version)
    by_genre: dict[str, Agreement] = defaultdict(Agreement)
    by_week: dict[date, Agreement] = defaultdict(Agreement)
    pairs: list[tuple[str, str]] = []
    for decision in _decisions(model_version):
        proposed = [item["genre"] for item in decision.proposed]
        chosen = decision.genre.name
        week = decision.created_at.date() - timedelta(days=decision.created_at.weekday())
        for bucket in (result.overall, by_genre[chosen], by_week[week]):
            bucket.add(chosen, proposed)
        if proposed:
            pairs.append((proposed[0], chosen))
    result.by_genre = dict(sorted(by_genre.items()))
    result.by_week = dict(sorted(by_week.items()))
    present = {name for pair in pairs for name in pair}
    result.labels = [label for label in model_version.labels if label in present] + sorted(
        present - set(model_version.labels))
    index = {label: i for i, label in enumerate(result.labels)}
    result.confusion = [[0] * len(result.labels) for _ in result.labels]
    for predicted, chosen in pairs:
        result.confusion[index[chosen]][index[predicted]] += 1
    return result


def agreement_overview() -> list[VersionAgreement]:
    """Every model version that editors have judged, newest first."""
    judged = Decision.objects.exclude(source=DecisionSource.BULK).values("model_version")
    return [version_agreement(model_version=v) for v in ModelVersion.objects.filter(pk__in=judged)]
