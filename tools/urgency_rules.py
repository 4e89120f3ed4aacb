"""Rule-based urgency: event keywords plus the author's reach. Transparent and instant."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from graph.state import NewsItem, UrgencyLevel

# (level score, patterns). Word-bounded, case-insensitive; the first matching tier wins.
_TIERS: list[tuple[float, str, tuple[str, ...]]] = [
    (
        0.9,
        "critical event",
        (
            r"hack(ed|s)?",
            r"exploit(ed)?",
            r"drain(ed)?",
            r"halt(s|ed)? (trading|withdrawals)",
            r"withdrawals? (halted|paused|suspended)",
            r"bankrupt(cy)?",
            r"insolven(t|cy)",
            r"de-?peg(ged|s)?",
            r"emergency (rate|meeting|cut)",
            r"circuit breaker",
            r"rug ?pull",
            r"seized?",
            r"breaking",
        ),
    ),
    (
        0.7,
        "market-moving event",
        (
            r"tariffs?",
            r"trade war",
            r"fomc",
            r"rate (cut|hike)s?",
            r"interest rates?",
            r"federal reserve",
            r"the fed",
            r"powell",
            r"cpi",
            r"inflation",
            r"jobs report",
            r"nonfarm",
            r"sec (approves?|rejects?|sues|charges)",
            r"etfs?",
            r"lawsuit",
            r"sued",
            r"indict(ed|ment)",
            r"delist(s|ed|ing)?",
            r"outage",
            r"liquidat(ed|ions?)",
            r"guidance",
            r"earnings",
            r"acquir(e|es|ed|ition)",
            r"merger",
            r"takeover",
            r"ban(s|ned)?",
            r"sanctions?",
            r"executive order",
            r"crash(es|ed)?",
            r"plunge[sd]?",
            r"soar(s|ed)?",
            r"surge[sd]?",
            r"all[- ]time high",
            r"record high",
        ),
    ),
    (
        0.45,
        "company or project news",
        (
            r"upgrade[sd]?",
            r"downgrade[sd]?",
            r"price target",
            r"partnership",
            r"launch(es|ed)?",
            r"listing",
            r"lists?",
            r"buyback",
            r"dividend",
            r"ipo",
            r"layoffs?",
            r"recall",
            r"investigation",
            r"probe",
            r"fine[sd]?",
            r"approv(e|es|ed|al)",
        ),
    ),
]
_COMPILED = [
    (score, label, re.compile(r"\b(" + "|".join(patterns) + r")\b", re.IGNORECASE))
    for score, label, patterns in _TIERS
]
# Accounts whose posts have moved markets on their own (see the shared Musk and Trump sets).
MARKET_MOVERS = {"elonmusk", "realdonaldtrump", "potus", "federalreserve", "sec_news", "cz_binance"}


@dataclass(frozen=True)
class UrgencyRead:
    level: UrgencyLevel
    score: float
    reasons: list[str]


def level_for(score: float) -> UrgencyLevel:
    if score >= 0.8:
        return "critical"
    if score >= 0.6:
        return "high"
    if score >= 0.35:
        return "medium"
    return "low"


def rule_urgency(item: NewsItem, asset_count: int = 0) -> UrgencyRead:
    body = item.body
    score, reasons = 0.15, []
    for tier_score, label, pattern in _COMPILED:
        found = pattern.search(body)
        if found:
            score = tier_score
            reasons.append(f"{label}: '{found.group(0)}'")
            break
    author = (item.author or "").lstrip("@").lower()
    if author in MARKET_MOVERS:
        score += 0.25
        reasons.append(f"market-moving author @{author}")
    elif item.author_followers:
        # A million followers adds 0.12, ten million 0.14; reach matters but saturates.
        boost = min(0.2, 0.02 * math.log10(max(item.author_followers, 1)))
        if item.author_verified:
            boost += 0.03
        score += boost
        reasons.append(f"author reach {item.author_followers:,} followers")
    if asset_count == 0:
        score *= 0.8
        reasons.append("no tradable asset named")
    score = round(min(1.0, max(0.0, score)), 3)
    return UrgencyRead(level_for(score), score, reasons)
