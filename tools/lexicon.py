"""A hand-written finance/crypto sentiment lexicon: the cheap, explainable baseline vote.

It needs no model, never fails, and says "neutral, low confidence" when it sees nothing it knows,
which keeps it honest next to the embedding classifier and the LLM.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from core.records import SentimentLabel, SentimentVote

# Single words are inflected automatically (surge → surges, surged, surging); phrases are not,
# so list their variants explicitly. Longer matches win over shorter ones ("rate cut" over "cut").
BULLISH_WORDS = """
    surge soar rally jump climb spike skyrocket rocket rebound recover recovery gain rise rose
    risen grow grew growth increase boost beat exceed surpass outperform outperformance upgrade
    approve approval greenlight partnership partner buyback repurchase moon pump adopt adoption
    inflow bullish breakout upbeat optimism optimistic strong stronger strength robust
    higher raise upside overweight accumulate accumulation win award profitable
    expand expansion record-breaking ath boom booming lift gainers
""".split()

BULLISH_PHRASES = [
    "record high",
    "record highs",
    "all-time high",
    "all-time highs",
    "all time high",
    "new high",
    "new highs",
    "52-week high",
    "record profit",
    "record revenue",
    "record earnings",
    "tops estimates",
    "top estimates",
    "topped estimates",
    "tops expectations",
    "above estimates",
    "above expectations",
    "better than expected",
    "better-than-expected",
    "raises guidance",
    "raised guidance",
    "raises outlook",
    "raised outlook",
    "raises forecast",
    "price target raised",
    "raises price target",
    "upgraded to buy",
    "upgrades to buy",
    "upgrade to buy",
    "buy rating",
    "green light",
    "rate cut",
    "rate cuts",
    "bull run",
    "bull market",
    "to the moon",
    "dividend increase",
    "dividend hike",
    "raises dividend",
    "short squeeze",
    "etf inflows",
    "higher-than-expected",
    "stronger-than-expected",
]

BEARISH_WORDS = """
    plunge crash hack hacked exploit breach lawsuit sue sued ban downgrade miss bankrupt
    bankruptcy insolvent insolvency delist tariff selloff sell-off dump liquidation liquidate
    halt probe fraud outflow slump tumble sink sank sunk slide slid plummet tank crater collapse
    drop decline fall fell fallen decrease loss lose lost weak weaker weakness lower lowered
    downside underperform underweight warn warning concern fear worry recession layoff default
    investigation subpoena fined penalty scandal resign recall shortage delay suspend
    outage crackdown sanction reject rejection denial theft stolen scam rugpull depeg bearish
    cut slash negative disappoint disappointing shortfall turmoil panic capitulation
    correction slowdown struggle exodus bleed slip worsen losers
""".split()

BEARISH_PHRASES = [
    "record low",
    "record lows",
    "new low",
    "new lows",
    "52-week low",
    "record loss",
    "misses estimates",
    "missed estimates",
    "below estimates",
    "below expectations",
    "worse than expected",
    "worse-than-expected",
    "lowers guidance",
    "lowered guidance",
    "cuts guidance",
    "cut guidance",
    "lowers outlook",
    "cuts outlook",
    "profit warning",
    "price target cut",
    "price target lowered",
    "cuts price target",
    "lowers price target",
    "downgraded to sell",
    "downgrades to sell",
    "sell rating",
    "cuts to neutral",
    "downgraded to neutral",
    "rate hike",
    "rate hikes",
    "bear market",
    "rug pull",
    "lays off",
    "job cuts",
    "sell off",
    "going concern",
    "etf outflows",
    "short seller",
    "lower-than-expected",
    "weaker-than-expected",
    "charged with",
]

# Regexes for what word lists cannot express; "up 5%" and "-4%" are headline staples.
BULLISH_PATTERNS = [r"\bup \d+(?:\.\d+)?\s?%", r"(?<![\w.])\+\d+(?:\.\d+)?%"]
BEARISH_PATTERNS = [r"\bdown \d+(?:\.\d+)?\s?%", r"(?<![\w.])-\d+(?:\.\d+)?%"]

NEGATORS = frozenset(
    "not no never neither nor without cannot denies denied deny n't isn't wasn't aren't weren't "
    "won't doesn't didn't don't hasn't haven't hadn't can't couldn't shouldn't wouldn't".split()
)
# "no longer" is covered by "no"; look this many words back ("no longer plans to delist").
NEGATION_WINDOW = 4
# A negated cue is weaker evidence than a plain one: "not approved" is bearish, but less clearly
# than "rejected".
NEGATED_WEIGHT = 0.6

INTENSIFIERS = frozenset(
    "sharply strongly massive massively huge big biggest major significantly heavily steep "
    "steeply deep deeply record sweeping dramatic dramatically extremely very".split()
)
INTENSIFIER_WEIGHT = 1.5

# score = (pos - neg) / (pos + neg + SMOOTHING): one plain hit gives ±0.5, agreeing hits approach 1.
SMOOTHING = 1.0
NEUTRAL_BAND = 0.2
NO_HIT_CONFIDENCE = 0.2
MAX_CONFIDENCE = 0.9

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CLAUSE_BREAK_RE = re.compile(r"[.;:!?,|()\[\]]")


def _inflections(word: str) -> set[str]:
    """Common English inflections; over-generating ("beated") is harmless, missing one is not."""
    forms = {word, word + "s", word + "es", word + "ed", word + "d", word + "ing"}
    if word.endswith("e"):
        forms |= {word[:-1] + "ing"}
    if word.endswith("y"):
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    # Doubled final consonant: drop → dropped, slip → slipping, ban → banned.
    vowels = "aeiou"
    cvc = len(word) >= 3 and word[-3] not in vowels and word[-2] in vowels
    if cvc and word[-1] not in vowels + "ywx":
        forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    return forms


@lru_cache(maxsize=1)
def _compiled() -> tuple[re.Pattern[str], dict[str, int]]:
    polarity: dict[str, int] = {}
    for words, sign in ((BEARISH_WORDS, -1), (BULLISH_WORDS, 1)):
        for word in words:
            for form in _inflections(word):
                polarity[form] = sign
    for phrases, sign in ((BEARISH_PHRASES, -1), (BULLISH_PHRASES, 1)):
        for phrase in phrases:
            polarity[phrase] = sign
    alternatives = [re.escape(term) for term in sorted(polarity, key=len, reverse=True)]
    # Patterns go first so that "up 5%" is not split; named groups tell their polarity apart.
    pattern = (
        r"(?:(?P<bull>" + "|".join(BULLISH_PATTERNS) + r")"
        r"|(?P<bear>" + "|".join(BEARISH_PATTERNS) + r")"
        r"|\b(?P<term>" + "|".join(alternatives) + r"))(?!\w)"
    )
    return re.compile(pattern), polarity


class LexiconSentiment:
    """Counts bullish and bearish cues with word-boundary matching and simple negation."""

    def hits(self, text: str) -> list[tuple[str, float]]:
        """(matched text, signed weight) for each cue: the explanation behind a score."""
        pattern, polarity = _compiled()
        lowered = text.lower().replace("\u2019", "'")
        found: list[tuple[str, float]] = []
        for match in pattern.finditer(lowered):
            if match.group("bull"):
                sign = 1
            elif match.group("bear"):
                sign = -1
            else:
                sign = polarity[match.group("term")]
            weight = float(sign)
            # Negators and intensifiers only count inside the same clause as the cue.
            clause = _CLAUSE_BREAK_RE.split(lowered[: match.start()])[-1]
            before = _WORD_RE.findall(clause)[-NEGATION_WINDOW:]
            if any(w in NEGATORS or w.endswith("n't") for w in before):
                weight *= -NEGATED_WEIGHT
            elif any(w in INTENSIFIERS for w in before[-2:]):
                weight *= INTENSIFIER_WEIGHT
            found.append((match.group(0), weight))
        return found

    def score(self, text: str) -> SentimentVote:
        found = self.hits(text or "")
        if not found:
            return SentimentVote(label="neutral", score=0.0, confidence=NO_HIT_CONFIDENCE)
        pos = sum(w for _, w in found if w > 0)
        neg = -sum(w for _, w in found if w < 0)
        score = (pos - neg) / (pos + neg + SMOOTHING)
        label: SentimentLabel = "neutral"
        if score >= NEUTRAL_BAND:
            label = "bullish"
        elif score <= -NEUTRAL_BAND:
            label = "bearish"
        # More evidence raises confidence, disagreement between cues lowers it.
        agreement = abs(pos - neg) / (pos + neg)
        volume = 1.0 - math.exp(-(pos + neg) / 1.5)
        if label == "neutral":
            # A balanced mix is weak evidence for "neutral", not strong evidence.
            confidence = NO_HIT_CONFIDENCE + 0.2 * volume * (1.0 - agreement)
        else:
            span = MAX_CONFIDENCE - NO_HIT_CONFIDENCE
            confidence = NO_HIT_CONFIDENCE + span * agreement * volume
        return SentimentVote(
            label=label,
            score=max(-1.0, min(1.0, score)),
            confidence=max(0.0, min(MAX_CONFIDENCE, confidence)),
        )
