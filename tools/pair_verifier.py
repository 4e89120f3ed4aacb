"""Dedup pair verifier: a MiniLM cross-encoder that reads two items together and says whether
they report the same story.

The bi-encoder compares two vectors made apart; in the gray zone between the dedup thresholds
that is not enough (the "muddy middle"). Reading both texts in one pass, with attention across
them, ranks same-story pairs better (held-out story pairs: AUC 0.815 against cosine's 0.726). It
costs one encoder pass per gray-zone item (milliseconds on the CPU), far less than an LLM call,
so the gray-zone policy (or the LLM) is left only the pairs the verifier does not settle.
``material_difference`` keeps it from calling a different event on the same asset a copy.

The committed model (``tools/data/pair_verifier/``) is trained by ``python -m
evals.train_pair_verifier`` on permissively licensed pairs only (story-cluster headlines, public
domain; STS-B news headlines, CC BY-SA), with its probability cuts calibrated on stories the
training never saw and stored in its ``training.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from tools.adapted_minilm import AdaptedMiniLM, cached_loader
from tools.lexicon import NEUTRAL_BAND, LexiconSentiment
from tools.urgency_rules import tag_events

CLASSES = ("distinct", "same_story")
MAX_TOKENS = 128


def default_verifier_path() -> Path:
    return Path(__file__).parent / "data" / "pair_verifier"


class PairVerifier(AdaptedMiniLM):
    """Probability that two texts report the same story, and the calibrated cuts to act on."""

    classes = CLASSES
    max_tokens = MAX_TOKENS
    committed = default_verifier_path()
    trained_by = "evals.train_pair_verifier"

    def __init__(self, path: str | Path | None = None, batch_size: int = 32) -> None:
        super().__init__(path, batch_size)
        cuts = self.metadata.get("thresholds", {})
        # Verdicts need P(same) strictly above `same_cut` or below `distinct_cut`; without
        # calibrated cuts (1 and 0) no probability passes and the verifier never acts.
        self.same_cut = float(cuts.get("same", 1.0))
        self.distinct_cut = float(cuts.get("distinct", 0.0))
        if not 0 <= self.distinct_cut <= self.same_cut <= 1:
            raise ValueError(
                f"{self.path}: verifier cuts out of order: distinct {self.distinct_cut}, "
                f"same {self.same_cut}"
            )

    def probability(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """P(same story) per pair."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        return self.predict_proba(list(pairs))[:, CLASSES.index("same_story")]


def material_difference(a: str, b: str) -> str | None:
    """Why `b` cannot be a copy of `a` whatever the verifier says, or None.

    The story clusters the verifier learned from group an entity's news loosely ("Bitcoin jumps
    on ETF inflows" and "Bitcoin falls after exchange hack" can share a cluster), but for the desk
    a different event type or an opposite direction is new information that must be analysed.
    """
    events_a, events_b = set(tag_events(a)), set(tag_events(b))
    # Disjoint, not merely different: a fuller report of one event may name a second one.
    if events_a and events_b and not events_a & events_b:
        return f"events differ ({', '.join(sorted(events_a))} vs {', '.join(sorted(events_b))})"
    lexicon = _lexicon()
    score_a, score_b = lexicon.score(a).score, lexicon.score(b).score
    if min(abs(score_a), abs(score_b)) >= NEUTRAL_BAND and score_a * score_b < 0:
        return f"directions differ (lexicon {score_a:+.2f} vs {score_b:+.2f})"
    return None


@lru_cache(maxsize=1)
def _lexicon() -> LexiconSentiment:
    return LexiconSentiment()


# One loaded model per folder and process; "" is the committed one.
get_pair_verifier = cached_loader(PairVerifier)
