"""The transparent policy core behind every spread recommendation, and the bounds it obeys.

widen_bps = cap(vol class) x urgency x |sentiment| x confidence x strength, where |sentiment|
has a floor: an urgent story whose direction is unclear is uncertainty, and a market maker
prices uncertainty. Everything that leaves this module passes `clamp`, whatever an LLM said.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.records import AssetImpact, Recommendation, Sentiment, Urgency
from core.settings import SpreadBounds

UNCERTAIN_MOVE_FLOOR = 0.3


@dataclass(frozen=True)
class PolicyInputs:
    impact: AssetImpact
    vol_class: str
    urgency: Urgency
    sentiment: Sentiment


def intensity(inputs: PolicyInputs) -> float:
    magnitude = max(abs(inputs.sentiment.score), UNCERTAIN_MOVE_FLOOR)
    # Low agreement between sentiment models widens less, never below half.
    confidence = 0.5 + 0.5 * inputs.sentiment.confidence
    return inputs.urgency.score * magnitude * confidence * inputs.impact.strength


def propose(inputs: PolicyInputs, bounds: SpreadBounds) -> Recommendation:
    level = intensity(inputs)
    bps = bounds.bps_cap(inputs.vol_class) * level
    horizon = bounds.default_horizon_minutes * (0.5 + inputs.urgency.score)
    impact = inputs.impact
    rationale = (
        f"{inputs.urgency.level} urgency ({inputs.urgency.score:.2f}) x "
        f"{inputs.sentiment.label} {inputs.sentiment.score:+.2f} "
        f"(conf {inputs.sentiment.confidence:.2f}) x {impact.relation} strength "
        f"{impact.strength:.2f} on a {inputs.vol_class}-volatility asset"
    )
    return clamp(
        Recommendation.model_construct(
            symbol=impact.symbol,
            widen_bps=bps,
            horizon_minutes=round(horizon),
            move_probability=0.05 + 0.9 * min(1.0, level * 1.5),
            confidence=inputs.sentiment.confidence * impact.strength,
            rationale=rationale,
            policy_bps=bps,
            llm_adjusted=False,
            clamped=False,
        ),
        inputs.vol_class,
        bounds,
    )


def _bounded(value: float, low: float, high: float) -> float:
    if value != value:  # NaN from a garbage answer is treated as the low bound
        return low
    return max(low, min(high, value))


def clamp(rec: Recommendation, vol_class: str, bounds: SpreadBounds) -> Recommendation:
    """Force a recommendation inside the configured bounds and say whether that bit."""
    cap = bounds.bps_cap(vol_class)
    bps = round(_bounded(float(rec.widen_bps), 0.0, cap), 2)
    horizon = int(
        _bounded(float(rec.horizon_minutes), bounds.min_horizon_minutes, bounds.max_horizon_minutes)
    )
    clamped = rec.clamped or bps != round(float(rec.widen_bps), 2) or horizon != rec.horizon_minutes
    return Recommendation(
        symbol=rec.symbol,
        widen_bps=bps,
        horizon_minutes=horizon,
        move_probability=round(_bounded(float(rec.move_probability), 0.0, 1.0), 3),
        confidence=round(_bounded(float(rec.confidence), 0.0, 1.0), 3),
        rationale=str(rec.rationale)[:500],
        policy_bps=round(_bounded(float(rec.policy_bps), 0.0, cap), 2),
        llm_adjusted=rec.llm_adjusted,
        clamped=clamped,
    )


def within_bounds(rec: Recommendation, vol_class: str, bounds: SpreadBounds) -> bool:
    return (
        0 <= rec.widen_bps <= bounds.bps_cap(vol_class)
        and bounds.min_horizon_minutes <= rec.horizon_minutes <= bounds.max_horizon_minutes
        and 0 <= rec.move_probability <= 1
    )


def adjustment_error(
    field: str, value: float, max_bps: float, min_h: int, max_h: int
) -> str | None:
    """Why a trader's edit is outside the bounds, or None when it is acceptable."""
    if field == "bps":
        return None if 0 <= value <= max_bps else f"must be between 0 and {max_bps:g} bps"
    if field == "horizon_minutes":
        if min_h <= value <= max_h and float(value).is_integer():
            return None
        return f"whole minutes between {min_h} and {max_h}"
    return f"unknown field {field!r}"
