"""Rule-based urgency: event keywords plus the author's reach. Transparent and instant."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from core.records import NewsItem, UrgencyLevel

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


# --- event types ------------------------------------------------------------------------
# Which kind of event an item reports, as readable regex lists. Two families share one tagger:
# SentiFM's ten company-event types (Jacobs, Lefever & Hoste, ECONLP 2018; names kept exactly so
# `newsdesk eval events` can score them) and the desk's own crypto/macro types (snake_case).
# The SentiFM lists were chosen on a seeded train part of sentifm_holdin.jsonl (evals/events_eval.py
# holds the split); broad words that fired mostly on sentences the annotators left unlabelled
# ("deal", "bid", "stake in", "upgrade", "bonds", a bare "debt") were dropped there.
# A space in a pattern matches any whitespace run; every pattern is case-insensitive and
# bounded by "no word character either side".
_QUOTE = "[\"“”'‘’]"
SENTIFM_EVENT_TYPES: tuple[str, ...] = (
    "BuyRating",
    "Debt",
    "Dividend",
    "MergerAcquisition",
    "Profit",
    "QuarterlyResults",
    "SalesVolume",
    "ShareRepurchase",
    "TargetPrice",
    "Turnover",
)
EVENT_PATTERNS: dict[str, tuple[str, ...]] = {
    # --- SentiFM company events ---
    "BuyRating": (
        # Broker advice is quoted in financial prose: an upgrade to " buy " from " hold ".
        _QUOTE
        + r"\s?(?:buy|sell|hold|add|reduce|outperform|underperform|over-?weight|under-?weight"
        r"|equal-?\s?weight|neutral|accumulate|conviction buy|top pick)\s?" + _QUOTE,
        r"(?:cut|raised|lifted|upped|moved|slashed|lowered) (?:its|the) (?:rating|recommendation)",
        r"advised clients to (?:buy|sell)",
    ),
    "Debt": (
        r"net debt",
        r"loan notes",
        r"(?:pay|pays|paying|paid) down (?:its |the |\S+ 's )?debt",
        r"reduc\w+ (?:its |the )?debt",
        r"debt (?:facility|facilities|pile|burden|levels?|gearing|reduction)",
    ),
    "Dividend": (r"dividends?", r"payout ratio"),
    "MergerAcquisition": (
        r"takeovers?(?! panel)",
        r"acquisitions?",
        r"acquir\w+",
        r"mergers?",
        r"merge[ds]?",
        r"demerger",
        r"bid for",
        r"sold (?:its|the|a)",
        r"sale of (?:its|the)",
        r"buy(?:ing)? (?:a|the|its) (?:\w+ )?(?:per cent )?stake",
        r"(?:to|will) buy \S+ for",
    ),
    "Profit": (
        r"profits?",
        r"earnings",
        r"pre-?tax (?:profit|loss)",
        r"net (?:income|loss|profit)",
        r"ebit",
        r"(?:annual|quarterly|first-half|half-year|full-year|interim) loss(?:es)?",
        r"(?:net|pre-?tax|operating) losses",
        r"loss-making",
        r"made a loss",
        r"(?:swung|plunged|fell|slumped) (?:in)?to (?:a )?loss",
    ),
    "QuarterlyResults": (
        r"(?:first|second|third|fourth|1st|2nd|3rd|4th|final)[- ]quarter",
        r"quarter(?:ly)?",
    ),
    "SalesVolume": (r"sales", r"same-store", r"shipments"),
    "ShareRepurchase": (r"buy-?\s?backs?", r"bought back"),
    "TargetPrice": (r"(?:price )?target price", r"price target", r"\d[\d.,/\s]*p target"),
    "Turnover": (r"revenues?", r"turnover"),
    # --- the desk's crypto and macro events ---
    "hack": (
        r"hack(?:ed|s|ers?)?",
        r"exploit(?:ed|s)?",
        r"drained",
        r"stolen (?:funds|crypto|tokens|assets)",
        r"security breach",
        r"rug\s?pull(?:ed)?",
    ),
    "tariff": (
        r"tariffs?",
        r"trade wars?",
        r"import (?:duties|taxes)",
        r"customs duties",
        r"reciprocal levies",
    ),
    "rate_decision": (
        r"(?-i:FOMC)",
        r"rate (?:cut|hike|decision)s?",
        r"(?:raise[sd]?|lower(?:s|ed)?|cut|cuts|held|holds|kept|keeps) (?:interest )?rates",
        r"basis[- ]points? (?:cut|hike)",
        r"monetary policy",
    ),
    "macro_data": (
        r"(?-i:CPI|PCE|GDP)",
        r"inflation (?:data|report|figures|print|rate)",
        r"consumer prices",
        r"jobs report",
        r"non-?farm payrolls?",
        r"unemployment rate",
        r"jobless claims",
    ),
    "regulatory_action": (
        r"(?-i:SEC) (?:sues|sued|charges|charged|approves?|approved|rejects?|rejected|delays?)",
        r"lawsuit",
        r"indict(?:ed|ment)",
        r"enforcement action",
        r"(?:was |been |is )?fined",
        r"cease[- ]and[- ]desist",
    ),
    "bankruptcy": (r"bankrupt(?:cy)?", r"insolven(?:t|cy)", r"chapter 11"),
    "depeg": (r"de-?peg(?:ged|s)?", r"los(?:t|es) (?:its|the) peg"),
    "listing": (r"delist(?:s|ed|ing)?", r"(?:will )?list(?:s|ed|ing)? on"),
    "outage": (
        r"outage",
        r"(?:withdrawals|trading|deposits) (?:halted|paused|suspended)",
        r"halt(?:s|ed)? (?:trading|withdrawals|deposits)",
    ),
    "etf": (r"(?-i:ETF)s? (?:approval|approved|inflows?|outflows?|filing|launch)",),
    "geopolitical": (
        r"missile strikes?",
        r"air\s?strikes?",
        r"invasion",
        r"ceasefire",
        r"sanctions",
    ),
}


def _event_regex(patterns: tuple[str, ...]) -> re.Pattern[str]:
    # Tokenised corpora write "company 's" and feeds wrap lines: any whitespace run is a space.
    body = "|".join(p.replace(" ", r"\s+") for p in patterns)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


_EVENT_RES: dict[str, re.Pattern[str]] = {
    name: _event_regex(patterns) for name, patterns in EVENT_PATTERNS.items()
}


def tag_events(text: str) -> list[str]:
    """The event types `text` reports, in EVENT_PATTERNS order (empty: no event recognised)."""
    return [name for name, pattern in _EVENT_RES.items() if pattern.search(text)]
