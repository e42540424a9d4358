"""The promotion gate: may this model version replace the active one without a written override?

A candidate passes when it is trained, evaluated, and on no evaluation set worse than the active
model on top-1 or macro F1. Figures are compared only on the same set (same evaluation key), and
only with the active model's figures measured on it: either stored beside the candidate's (the
then-active model, if that is still the active one) or the active model's own evaluation under
the same key. An evaluation made against another model counts as no comparison with the active
one. An untrained active model is a placeholder: there is nothing to be worse than.

Evaluations are written by inference.retraining (``metrics["evaluations"][KEY]``, and for an
export's test split also the older top-level ``test`` block); this module only reads them and
treats anything it does not recognise as "not evaluated" rather than failing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from catalog.models import ModelVersion

COMPARED = {"top1": "top-1", "macro_f1": "macro F1"}


class GateCode(str, Enum):
    """Why a promotion needs an override; stable, stored with the promotion."""

    UNTRAINED = "untrained"
    UNEVALUATED = "unevaluated"
    NOT_COMPARED = "not_compared_with_active"
    WORSE = "worse_than_active"


@dataclass(frozen=True)
class GateFinding:
    code: GateCode
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


@dataclass(frozen=True)
class Comparison:
    """The candidate's and the active model's figures on one evaluation set."""

    key: str
    candidate: dict[str, float | None]
    active: dict[str, float | None]
    origin: str  # where the active model's figures come from

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "candidate": self.candidate, "active": self.active, "origin": self.origin}


@dataclass(frozen=True)
class GateResult:
    candidate: str
    active: str | None
    evaluations: tuple[str, ...] = ()  # keys of the sets the candidate was evaluated on
    comparisons: tuple[Comparison, ...] = ()
    findings: tuple[GateFinding, ...] = ()
    notes: tuple[str, ...] = ()  # for people; never block

    @property
    def passed(self) -> bool:
        return not self.findings

    def as_record(self) -> dict[str, Any]:
        """What a promotion stores about the gate."""
        return {
            "passed": self.passed,
            "candidate": self.candidate,
            "active": self.active,
            "evaluations": list(self.evaluations),
            "comparisons": [c.as_dict() for c in self.comparisons],
            "findings": [f.as_dict() for f in self.findings],
            "notes": list(self.notes),
        }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _figures(scores: Any) -> dict[str, float | None] | None:
    """top-1 and macro F1 of one model's scores, or None when neither is there."""
    if not isinstance(scores, dict):
        return None
    figures = {name: _number(scores.get(name)) for name in COMPARED}
    return figures if any(v is not None for v in figures.values()) else None


def _legacy_key(metrics: dict[str, Any]) -> str | None:
    """The key of the older top-level evaluation (an export's test split)."""
    key = metrics.get("evaluation_key")
    if isinstance(key, str) and key.strip():
        return key.strip()
    export_id, split = metrics.get("export_id"), metrics.get("split")
    if isinstance(export_id, bool) or not isinstance(export_id, int):
        return None
    return f"export:{export_id}:{split if isinstance(split, str) and split else 'test'}"


def stored_evaluations(model_version: ModelVersion) -> dict[str, dict[str, Any]]:
    """{evaluation key: {"candidate": scores, "active": scores or None}} for every set the version
    was evaluated on with figures to show."""
    metrics = model_version.metrics if isinstance(model_version.metrics, dict) else {}
    found: dict[str, dict[str, Any]] = {}
    entries = metrics.get("evaluations")
    for key, entry in entries.items() if isinstance(entries, dict) else ():
        if isinstance(key, str) and isinstance(entry, dict) and _figures(entry.get("candidate")):
            found[key] = {"candidate": entry["candidate"], "active": entry.get("active")}
    test, key = metrics.get("test"), _legacy_key(metrics)
    if key and key not in found and isinstance(test, dict) and _figures(test.get("candidate")):
        found[key] = {"candidate": test["candidate"], "active": test.get("active")}
    return found


def _active_figures(
    key: str, entry: dict[str, Any], active: ModelVersion, own: dict[str, dict[str, Any]]
) -> tuple[dict[str, float | None] | None, str]:
    stored = entry.get("active")
    if isinstance(stored, dict) and stored.get("model_version") == active.name and _figures(stored):
        return _figures(stored), "measured beside the candidate"
    if key in own:
        return _figures(own[key]["candidate"]), "the active model's own evaluation on this set"
    return None, ""


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def promotion_gate(*, candidate: ModelVersion, active: ModelVersion | None) -> GateResult:
    """What stands between `candidate` and becoming the active model (findings), with the figures."""
    findings: list[GateFinding] = []
    notes: list[str] = []
    if not candidate.trained:
        findings.append(GateFinding(GateCode.UNTRAINED, f"{candidate.name} is untrained: its genres are placeholders."))
    evaluations = stored_evaluations(candidate)
    if not evaluations:
        findings.append(
            GateFinding(
                GateCode.UNEVALUATED,
                f"{candidate.name} has no evaluation: run "
                f"`manage.py evaluate_model --model {candidate.name} --export N`.",
            )
        )
    base = {
        "candidate": candidate.name,
        "active": active.name if active else None,
        "evaluations": tuple(sorted(evaluations)),
    }
    if active is None or not active.trained or not evaluations:
        if active is None:
            notes.append("No model is active: nothing to compare with.")
        elif not active.trained:
            notes.append(f"The active model {active.name} is untrained (placeholder genres): nothing to be worse than.")
        return GateResult(**base, findings=tuple(findings), notes=tuple(notes))
    own = stored_evaluations(active)
    comparisons = []
    for key, entry in sorted(evaluations.items()):
        theirs, origin = _active_figures(key, entry, active, own)
        mine = _figures(entry["candidate"])
        if theirs and any(mine[n] is not None and theirs[n] is not None for n in COMPARED):
            comparisons.append(Comparison(key=key, candidate=mine, active=theirs, origin=origin))
    if not comparisons:
        against = sorted(
            {
                e["active"]["model_version"]
                for e in evaluations.values()
                if isinstance(e.get("active"), dict) and isinstance(e["active"].get("model_version"), str)
            }
        )
        was = f" (compared with {', '.join(against)})" if against else ""
        findings.append(
            GateFinding(
                GateCode.NOT_COMPARED,
                (
                    f"{candidate.name} was evaluated on {', '.join(sorted(evaluations))}{was} but never against "
                    f"the active model {active.name}: re-run `manage.py evaluate_model --model {candidate.name}` "
                    "on one of those sets."
                ),
            )
        )
    for comparison in comparisons:
        notes.append(f"On {comparison.key}: {active.name}'s figures are {comparison.origin}.")
        for name, label in COMPARED.items():
            mine, theirs = comparison.candidate[name], comparison.active[name]
            if mine is not None and theirs is not None and mine < theirs:
                findings.append(
                    GateFinding(
                        GateCode.WORSE,
                        f"On {comparison.key}, {label} {_fmt(mine)} is below the active {active.name}'s "
                        f"{_fmt(theirs)}.",
                    )
                )
    return GateResult(**base, comparisons=tuple(comparisons), findings=tuple(findings), notes=tuple(notes))


class PromotionRefused(Exception):
    """The gate found reasons against the promotion and no override reason was given."""

    def __init__(self, gate: GateResult) -> None:
        super().__init__("; ".join(f.message for f in gate.findings))
        self.gate = gate
