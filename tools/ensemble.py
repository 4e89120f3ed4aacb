"""Combine sentiment votes; confidence comes from how much the members agree."""

from __future__ import annotations

from collections.abc import Mapping

from core.records import Sentiment, SentimentLabel, SentimentVote

LABELS: tuple[SentimentLabel, ...] = ("bearish", "neutral", "bullish")


def label_for(score: float, neutral_band: float = 0.15) -> SentimentLabel:
    if score > neutral_band:
        return "bullish"
    if score < -neutral_band:
        return "bearish"
    return "neutral"


def combine(votes: Mapping[str, SentimentVote], weights: Mapping[str, float]) -> Sentiment:
    """Weighted vote on the label; score is the weighted mean of the agreeing members.

    Confidence is the weight share behind the winning label times those members' mean
    confidence: three members agreeing firmly is worth more than one confident member.
    """
    if not votes:
        return Sentiment(label="neutral", score=0.0, confidence=0.0, votes={})
    support = {label: 0.0 for label in LABELS}
    total = 0.0
    for name, vote in votes.items():
        weight = weights.get(name, 1.0)
        support[vote.label] += weight * vote.confidence
        total += weight
    winner = max(LABELS, key=lambda label: (support[label], label == "neutral"))
    agreeing = {n: v for n, v in votes.items() if v.label == winner}
    agree_weight = sum(weights.get(n, 1.0) for n in agreeing)
    score = sum(weights.get(n, 1.0) * v.score for n, v in agreeing.items()) / agree_weight
    mean_conf = sum(weights.get(n, 1.0) * v.confidence for n, v in agreeing.items()) / agree_weight
    confidence = (agree_weight / total) * mean_conf if total else 0.0
    return Sentiment(
        label=winner,
        score=round(max(-1.0, min(1.0, score)), 4),
        confidence=round(max(0.0, min(1.0, confidence)), 4),
        votes=dict(votes),
    )
