"""Replaying stored decisions: the proof that a decision can be explained later.

A replay runs gates, rules, caps and arbitration again on the decision's stored
inputs and scores, with the rule-set version it ran, and compares every offer,
factor, reason and funnel entry with what was stored. Where the stored model
version still loads, it also recomputes each score from the stored features
(and the model's reasons for the offers made) and compares them exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from decisioning.engine import decide, removed_summary
from decisioning.inputs import inputs_restored
from decisioning.models import Decision
from decisioning.rule_sets import rule_set_compiled
from modeling.models import ModelVersion
from modeling.propensity import LoadedModel
from modeling.registry import model_version_load
from modeling.scoring import values_reasons


@dataclass
class ReplayResult:
    decision_id: str
    match: bool
    scores_recomputed: int = 0  # scores whose model version loaded and was re-run
    scores_unavailable: int = 0  # scores whose model version no longer loads
    differences: list[str] = field(default_factory=list)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class _ModelCache:
    def __init__(self) -> None:
        self.loaded: dict[int, LoadedModel | None] = {}

    def get(self, version_id: int | None) -> LoadedModel | None:
        if version_id is None:
            return None
        if version_id not in self.loaded:
            version = ModelVersion.objects.filter(pk=version_id).first()
            try:
                self.loaded[version_id] = model_version_load(version) if version else None
            except Exception:  # an artifact deleted or unreadable: replay without recomputing
                self.loaded[version_id] = None
        return self.loaded[version_id]


def decision_replay(decision: Decision, *, models: _ModelCache | None = None) -> ReplayResult:
    models = models or _ModelCache()
    inputs: Mapping[str, Any] = inputs_restored(decision.inputs, decision.catalogue)
    scores: Mapping[str, Mapping[str, Any]] = decision.scores
    compiled = rule_set_compiled(decision.rule_set) if decision.rule_set_id else None
    reasons = {code: s.get("reasons", []) for code, s in scores.items()}
    result = decide(inputs, scores, compiled, model_reasons=reasons)
    out = ReplayResult(decision_id=str(decision.public_id), match=True)
    stored = decision.funnel or {}
    for name, again, kept in (
        ("offers", result["offers"], decision.offers),
        ("removed", removed_summary(result), stored.get("removed")),
        ("caps", result["caps"], stored.get("caps")),
        ("bundle", result["bundle"], stored.get("bundle")),
        ("upsell", result["upsell"], stored.get("upsell")),
    ):
        if _canonical(again) != _canonical(kept):
            out.differences.append(f"{name} differ")
    features = inputs.get("features") or {}
    for code, score in scores.items():
        model = models.get(score.get("model_version_id"))
        if model is None:
            out.scores_unavailable += 1
            continue
        raw = model.predict_raw(model.vector(features))
        propensity = float(model.calibrate(raw)[0])
        out.scores_recomputed += 1
        if propensity != score["propensity"] or float(raw[0]) != score["raw"]:
            out.differences.append(f"score of {code}: stored {score['propensity']!r}, recomputed {propensity!r}")
        if "reasons" in score:
            again = [r.text for r in values_reasons(model, features)]
            if again != score["reasons"]:
                out.differences.append(f"reasons of {code} differ")
    out.match = not out.differences
    return out


def decisions_replay(decisions: Iterable[Decision]) -> list[ReplayResult]:
    models = _ModelCache()
    return [decision_replay(d, models=models) for d in decisions]
