"""`newsdesk eval tagging`: the asset_tagging node's catalog path against tickers from the data.

Ground truth comes from the data, never from us:
- a symbols column (the Musk set's `coin`: DOGE / BTC / ETH), or
- the `$CASHTAGS` in the text (Twitter Financial News), kept where the catalog knows them (its own
  cashtag table, so `$FB` counts as META). Scoring the untouched text would mostly re-run the
  cashtag regex, so by default each `$TAG` is replaced by the bare `TAG` (`--cashtag-mode bare`):
  the catalog must then find the asset from bare symbols (>= 3 letters, outside its stoplist)
  and names. `remove` drops the tags (only names are left); `keep` is the trivial upper bound.

Scored on direct mentions (cashtag, symbol, alias). Topic tags (a tariff post -> SPY) are not
mentions and the gold cannot confirm them, so they are reported apart (`precision_with_topics`).
Counts are micro over (item, symbol) pairs. The CryptoPanic set has no currency columns (Time,
Title, Source, Votes), so it gives no ground truth and is listed under `not_evaluated`.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from core.eval_reports import TaggingDataset, TaggingMiss, TaggingReport
from core.records import NewsItem, TaggedAsset
from evals.datasets import shared_data_dir
from evals.events_eval import prf
from evals.tables import field, read_rows
from graph.deps import Deps
from graph.nodes.asset_tagging import make_asset_tagging
from tools.catalog import AssetCatalog

CashtagMode = Literal["bare", "remove", "keep"]
SEED = 13
# The catalog's own cashtag shape: "$btc" counts, "$5B" and "US$BTC" do not.
CASHTAG_RE = re.compile(r"(?<![\w$])\$([A-Za-z]{1,10})(?![A-Za-z0-9])")
NOT_EVALUATED = {
    "cryptopanic": "no currency columns in cryptopanic_news_dev.csv (Time, Title, Source, Votes)"
}
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TaggingSource:
    name: str
    data: Path
    text_field: str
    symbols_field: str | None = None
    gold_from_cashtags: bool = False

    def __post_init__(self) -> None:
        if (self.symbols_field is None) == (not self.gold_from_cashtags):
            raise ValueError(f"{self.name}: give --symbols-field or --gold-from-cashtags")


def preset_sources(names: Sequence[str], root: Path | None = None) -> list[TaggingSource]:
    root = root or shared_data_dir()
    presets = {
        "twitter": TaggingSource(
            "twitter",
            root / "twitter_financial_news_sentiment" / "sent_train.csv",
            "text",
            gold_from_cashtags=True,
        ),
        "musk": TaggingSource(
            "musk",
            root / "musk_crypto_tweets_doge_minute" / "elon_crypto_tweets_utc.csv",
            "tweet",
            symbols_field="coin",
        ),
    }
    unknown = set(names) - set(presets)
    if unknown:
        raise ValueError(f"unknown presets {sorted(unknown)}; choose from {sorted(presets)}")
    return [presets[n] for n in names]


def cashtag_symbols(text: str, catalog: AssetCatalog) -> set[str]:
    """Catalog symbols named by the text's cashtags (through the catalog's cashtag aliases)."""
    found: set[str] = set()
    for tag in CASHTAG_RE.finditer(text):
        found.update(m.asset.symbol for m in catalog.match(tag.group(0)) if m.via == "cashtag")
    return found


def column_symbols(value: Any, catalog: AssetCatalog) -> set[str]:
    """'DOGE', 'BTC, ETH' or '$TSLA' -> catalog symbols (unknown ones are dropped)."""
    parts = re.split(r"[\s,;|]+", str(value or "").strip())
    return {a.symbol for p in parts if p and (a := catalog.get(p.lstrip("$"))) is not None}


def rewrite_cashtags(text: str, mode: CashtagMode) -> str:
    if mode == "keep":
        return text
    if mode == "bare":
        return CASHTAG_RE.sub(lambda m: m.group(1), text)
    return " ".join(CASHTAG_RE.sub(" ", text).split())


class CatalogOnlyDeps:
    """What the asset_tagging node reads when no LLM is configured for it: the catalog."""

    def __init__(self, catalog: AssetCatalog) -> None:
        self.catalog = catalog

    def llm_for(self, node: str) -> None:
        return None


def tag_with_node(catalog: AssetCatalog) -> Callable[[str], list[TaggedAsset]]:
    """The real node function, so the eval measures exactly what the graph runs."""
    node = make_asset_tagging(cast(Deps, CatalogOnlyDeps(catalog)))
    stamp = datetime(2025, 1, 1, tzinfo=UTC)

    def tag(text: str) -> list[TaggedAsset]:
        item = NewsItem(id="eval", source="eval", text=text, published_at=stamp)
        return list(node({"item": item})["assets"])

    return tag


def evaluate_source(
    source: TaggingSource,
    catalog: AssetCatalog,
    cashtag_mode: CashtagMode = "bare",
    limit: int | None = None,
    seed: int = SEED,
    progress: ProgressFn | None = None,
) -> TaggingDataset:
    rows = read_rows(source.data)
    items: list[tuple[str, set[str]]] = []
    for row in rows:
        text = str(field(row, source.text_field) or "")
        if source.gold_from_cashtags:
            gold = cashtag_symbols(text, catalog)
            text = rewrite_cashtags(text, cashtag_mode)
        else:
            gold = column_symbols(field(row, str(source.symbols_field)), catalog)
        # Only items the data says something about: an unlabelled row cannot score a tag.
        if gold and text.strip():
            items.append((text, gold))
    eligible = len(items)
    if limit is not None and limit < len(items):
        items = [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), limit))]

    tag = tag_with_node(catalog)
    direct = [0, 0, 0]
    topics = [0, 0]  # topic-only tags confirmed / not confirmed by the gold
    misses: list[TaggingMiss] = []
    started = time.perf_counter()
    for done, (text, gold) in enumerate(items, 1):
        tagged = tag(text)
        found = {t.symbol for t in tagged if not t.via.startswith("topic:")}
        topical = {t.symbol for t in tagged if t.via.startswith("topic:")} - found
        direct[0] += len(found & gold)
        direct[1] += len(found - gold)
        direct[2] += len(gold - found)
        topics[0] += len(topical & gold)
        topics[1] += len(topical - gold)
        if found != gold and len(misses) < 15:
            misses.append(TaggingMiss(text=text[:160], gold=sorted(gold), tagged=sorted(found)))
        if progress and (done % 100 == 0 or done == len(items)):
            progress(source.name, done, len(items))
    elapsed = time.perf_counter() - started
    with_topics = prf(direct[0] + topics[0], direct[1] + topics[1], direct[2] - topics[0])
    return TaggingDataset(
        data=str(source.data),
        n=len(items),
        eligible=eligible,
        gold="cashtags" if source.gold_from_cashtags else f"column {source.symbols_field}",
        cashtag_mode=cashtag_mode if source.gold_from_cashtags else None,
        **prf(*direct).model_dump(),
        precision_with_topics=with_topics.precision,
        recall_with_topics=with_topics.recall,
        latency_ms_per_item=round(1000 * elapsed / max(len(items), 1), 3),
        llm_tokens_per_item=0,
        misses=misses,
    )


def evaluate_tagging(
    sources: Sequence[TaggingSource],
    cashtag_mode: CashtagMode = "bare",
    limit: int | None = None,
    seed: int = SEED,
    progress: ProgressFn | None = None,
    catalog: AssetCatalog | None = None,
) -> TaggingReport:
    catalog = catalog or AssetCatalog.load()
    datasets = {
        s.name: evaluate_source(s, catalog, cashtag_mode, limit, seed, progress) for s in sources
    }
    scores = prf(
        sum(d.tp for d in datasets.values()),
        sum(d.fp for d in datasets.values()),
        sum(d.fn for d in datasets.values()),
    )
    n = sum(d.n for d in datasets.values())
    return TaggingReport(
        data=", ".join(datasets),
        n=n,
        precision=scores.precision,
        recall=scores.recall,
        f1=scores.f1,
        latency_ms_per_item=round(
            sum(d.latency_ms_per_item * d.n for d in datasets.values()) / max(n, 1), 3
        ),
        llm_tokens_per_item=0,
        path="asset_tagging node, catalog only (no LLM)",
        datasets=datasets,
        not_evaluated=NOT_EVALUATED,
    )
