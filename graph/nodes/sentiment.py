"""sentiment: an ensemble of the LLM, the trained classifier and the lexicon; every vote kept."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from core.records import SentimentLabel, SentimentVote
from graph.deps import Deps
from graph.nodes._common import NodeFn, ask_llm, timed
from graph.state import NewsState
from tools.ensemble import combine, label_for

# The trained classifier is the strongest member on the CPU default; the 135M LLM the weakest.
MEMBER_WEIGHTS = {"classifier": 0.5, "llm": 0.3, "lexicon": 0.2}
LLM_MAX_CONFIDENCE = 0.7


# The answer is about 24 tokens; a little room, and no more (see ask_llm).
ANSWER_TOKENS = 48


class SentimentAnswer(BaseModel):
    label: SentimentLabel
    score: float = Field(description="number from -1 (very bearish) to 1 (very bullish)")
    confidence: float = Field(0.5, description="number from 0 to 1")


def clamp_answer(answer: SentimentAnswer) -> SentimentVote:
    """Bound the model's numbers; a score that contradicts the label is replaced.

    The model reads untrusted text, so its self-reported confidence is capped: one injected
    "100% sure" must not outvote the classifier on its own. NaN counts as no confidence.
    """
    score = answer.score if math.isfinite(answer.score) else 0.0
    score = max(-1.0, min(1.0, score))
    if label_for(score) != answer.label:
        score = {"bearish": -0.5, "neutral": 0.0, "bullish": 0.5}[answer.label]
    confidence = answer.confidence if math.isfinite(answer.confidence) else 0.0
    return SentimentVote(
        label=answer.label, score=score, confidence=max(0.0, min(LLM_MAX_CONFIDENCE, confidence))
    )


def make_sentiment(deps: Deps) -> NodeFn:
    @timed("sentiment")
    def sentiment(state: NewsState) -> dict[str, Any]:
        body = state["item"].body
        vector = np.asarray(state["embedding"], dtype=np.float32)[None, :]
        votes = {
            "classifier": deps.classifier().classify([body], vector)[0],
            "lexicon": deps.lexicon.score(body),
        }
        update: dict[str, Any] = {}
        answer = ask_llm(
            deps, "sentiment", body, SentimentAnswer, update, answer_tokens=ANSWER_TOKENS
        )
        if answer is not None:
            votes["llm"] = clamp_answer(answer)
        return {**update, "sentiment": combine(votes, MEMBER_WEIGHTS)}

    return sentiment
