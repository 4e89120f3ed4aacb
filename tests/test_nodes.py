"""Each node of the news graph, with the real embedding model, catalog and classifiers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from core.records import NewsItem, Sentiment, Urgency
from graph.deps import Deps
from graph.nodes.asset_tagging import make_asset_tagging
from graph.nodes.dedup import after_dedup, make_dedup
from graph.nodes.embed import make_embed
from graph.nodes.impact_reasoning import make_impact_reasoning
from graph.nodes.normalize import make_normalize
from graph.nodes.sentiment import make_sentiment
from graph.nodes.spread_recommendation import make_spread_recommendation
from graph.nodes.urgency import make_urgency
from graph.state import ANALYSIS_NODES
from tests.fake_llm import fake_llm
from tools.spread_policy import within_bounds

T0 = datetime(2025, 2, 7, 8, 0, tzinfo=UTC)


def item(item_id: str, title: str, minutes: float = 0, **fields: Any) -> NewsItem:
    return NewsItem(
        id=item_id,
        source="test",
        title=title,
        published_at=T0 + timedelta(minutes=minutes),
        **fields,
    )


def merge(state: dict[str, Any], update: dict[str, Any]) -> None:
    """Apply a node's update the way the graph's reducers do."""
    for key, value in update.items():
        if key in ("degraded", "errors"):
            state[key] = state.get(key, []) + value
        elif key == "llm_calls":
            state[key] = state.get(key, 0) + value
        elif key == "timings_ms":
            state[key] = {**state.get(key, {}), **value}
        else:
            state[key] = value


def analyse(deps: Deps, news: NewsItem) -> dict[str, Any]:
    """Run the nodes up to the recommendation by hand, in the graph's order."""
    state: dict[str, Any] = {"item": news}
    for make in (make_normalize, make_embed, make_dedup):
        merge(state, make(deps)(state))
    parallel = [make(deps)(state) for make in (make_asset_tagging, make_urgency, make_sentiment)]
    for update in parallel:
        merge(state, update)
    merge(state, make_impact_reasoning(deps)(state))
    merge(state, make_spread_recommendation(deps)(state))
    return state


@pytest.fixture
def deps(make_deps: Callable[..., Deps]) -> Deps:
    return make_deps()


def test_normalize_strips_html_and_rejects_empty(deps: Deps) -> None:
    normalize = make_normalize(deps)
    out = normalize({"item": item("n1", "Tariffs <b>now</b> &amp; forever<br/>")})
    assert out["item"].title == "Tariffs now & forever"
    assert "normalize" in out["timings_ms"]
    rejected = normalize({"item": {"id": "x", "source": "s", "published_at": "2025-01-01"}})
    assert rejected["item"] is None and "rejected" in rejected["errors"][0]
    html_only = normalize({"item": item("n2", "<a href='x'></a>")})
    assert html_only["item"] is None


def test_embed_gives_unit_vectors_and_link_blind_hash(deps: Deps) -> None:
    embed = make_embed(deps)
    a = embed({"item": item("e1", "Bitcoin ETF approved https://t.co/abc")})
    b = embed({"item": item("e2", "BITCOIN   ETF approved https://t.co/xyz")})
    assert len(a["embedding"]) == 384
    assert np.linalg.norm(a["embedding"]) == pytest.approx(1.0, abs=1e-4)
    assert a["content_hash"] == b["content_hash"]


def run_dedup(deps: Deps, news: NewsItem) -> Any:
    state: dict[str, Any] = {"item": news}
    state.update(make_embed(deps)(state))
    return make_dedup(deps)(state)["dedup"]


def test_dedup_verdicts_on_real_headlines(deps: Deps) -> None:
    first = run_dedup(deps, item("d1", "GM recalls 1.5 million more vehicles over airbag problems"))
    assert first.verdict == "unique" and first.story_id
    copy = run_dedup(
        deps, item("d2", "GM recalls another 1.5 million vehicles over airbag problem", minutes=5)
    )
    assert copy.verdict == "duplicate" and copy.nearest_id == "d1"
    assert copy.story_id == first.story_id and copy.similarity > 0.75
    exact = run_dedup(
        deps,
        item(
            "d3",
            "gm recalls 1.5 million more vehicles over airbag problems https://t.co/zz",
            minutes=6,
        ),
    )
    assert (exact.verdict, exact.method, exact.nearest_id) == ("duplicate", "exact_hash", "d1")
    other = run_dedup(deps, item("d4", "Dogecoin rallies after Elon Musk tweet", minutes=7))
    assert other.verdict == "unique" and other.story_id != first.story_id
    story = deps.store.story_view(first.story_id)
    assert story is not None and story.item_count == 3


def test_dedup_gray_zone_links_to_story_and_routes_by_policy(
    make_deps: Callable[..., Deps],
) -> None:
    deps = make_deps(dedup_verifier="none")
    run_dedup(deps, item("g1", "Apple to buy Beats Electronics for $3 billion"))
    related = run_dedup(
        deps, item("g2", "Apple's Beats deal: what it means for music streaming", minutes=30)
    )
    assert related.verdict == "related", related
    assert 0.5 <= related.similarity <= 0.75
    assert related.verifier_probability is None
    assert after_dedup("link_stop")({"dedup": related}) == "record_duplicate"
    assert after_dedup("link_continue")({"dedup": related}) == ANALYSIS_NODES


def test_dedup_llm_policy_opens_a_new_story_when_the_llm_says_different_event(
    make_deps: Callable[..., Deps],
) -> None:
    with fake_llm("json", {"same_event": False}) as server:
        deps = make_deps(
            dedup_verifier="none",
            gray_zone_policy="llm",
            llm_provider="llamacpp",
            llm_base_url=server["base_url"],
            llm_nodes={"gray_zone"},
        )
        first = run_dedup(deps, item("l1", "Apple to buy Beats Electronics for $3 billion"))
        second = run_dedup(
            deps, item("l2", "Apple's Beats deal: what it means for music streaming", minutes=30)
        )
    assert len(server["requests"]) == 1
    assert second.verdict == "unique" and second.nearest_id == "l1", second
    assert 0.5 <= second.similarity <= 0.75
    assert second.reason.endswith("LLM: a different event")
    assert second.verifier_probability is None
    assert second.story_id != first.story_id


def test_dedup_verifier_settles_a_gray_zone_copy(deps: Deps) -> None:
    verifier = deps.verifier()
    assert verifier is not None
    first = run_dedup(deps, item("v1", "Apple to buy Beats Electronics for $3 billion"))
    # Cosine alone leaves this in the gray zone; read together, it is the same story.
    copy = run_dedup(
        deps, item("v2", "Apple's Beats deal: what it means for music streaming", minutes=30)
    )
    assert 0.5 < copy.similarity < 0.75
    assert copy.verdict == "duplicate" and copy.nearest_id == "v1", copy
    assert copy.story_id == first.story_id
    assert copy.verifier_probability is not None
    assert copy.verifier_probability > verifier.same_cut
    assert "verifier P(same story)" in copy.reason


def test_dedup_never_calls_a_different_event_a_copy(deps: Deps) -> None:
    run_dedup(deps, item("h1", "Bitcoin jumps 5% as ETF inflows surge"))
    hack = run_dedup(deps, item("h2", "Bitcoin falls 5% after exchange hack", minutes=10))
    # Same coin, same day: the cross-encoder (trained on loose story clusters) leans "same
    # story", but a hack is not a copy of an ETF story; it must reach the analysis.
    assert 0.5 < hack.similarity < 0.75
    assert hack.verdict == "related", hack
    assert "not a copy: events differ (etf vs hack)" in hack.reason
    assert after_dedup("link_continue")({"dedup": hack}) != "record_duplicate"


def test_dedup_rerun_keeps_the_first_verdict(deps: Deps) -> None:
    first = run_dedup(deps, item("x1", "Coinbase lists Solana meme coin after record volume"))
    again = run_dedup(deps, item("x1", "Coinbase lists Solana meme coin after record volume"))
    assert again.verdict == "unique" and again.story_id == first.story_id
    story = deps.store.story_view(first.story_id)
    assert story is not None and (story.item_count, story.duplicate_count) == (1, 0)


def test_dedup_checks_historical_uniques_beyond_the_window(deps: Deps) -> None:
    run_dedup(deps, item("h1", "Binance halts withdrawals after hack"))
    # Two days later: outside the 24 h window, but the historical unique collection remembers.
    late = run_dedup(deps, item("h2", "Binance halts withdrawals after a hack", minutes=2 * 1440))
    assert late.verdict == "duplicate" and late.method == "historical"


def test_dedup_survives_a_restart(make_deps: Callable[..., Deps]) -> None:
    first = make_deps()
    run_dedup(first, item("r1", "SEC approves spot bitcoin ETFs in landmark decision"))
    restarted = make_deps()  # same data dir: the index is rebuilt from the database
    again = run_dedup(
        restarted, item("r2", "SEC approves spot bitcoin ETFs in landmark ruling", minutes=1)
    )
    assert again.verdict == "duplicate" and again.nearest_id == "r1"


def test_asset_tagging_uses_the_catalog(deps: Deps) -> None:
    tag = make_asset_tagging(deps)
    out = tag({"item": item("a1", "$BTC and Ethereum jump as Coinbase lists new pairs")})
    symbols = {a.symbol for a in out["assets"]}
    assert {"BTC", "ETH", "COIN"} <= symbols
    said = tag({"item": item("a2", "He SAID the committee on ethics was sold out")})
    assert said["assets"] == []


def test_urgency_rules(deps: Deps) -> None:
    urgency = make_urgency(deps)
    hack = urgency({"item": item("u1", "Bybit hacked: $1.4B in ETH drained")})["urgency"]
    assert hack.level == "critical"
    musk = urgency({"item": item("u2", "Dogecoin is the people's crypto", author="elonmusk")})
    plain = urgency({"item": item("u3", "Dogecoin is the people's crypto", author="someone")})
    assert musk["urgency"].score > plain["urgency"].score
    dull = urgency({"item": item("u4", "Company to hold annual meeting on Tuesday")})["urgency"]
    assert dull.level == "low"


def test_sentiment_ensemble_keeps_every_vote(deps: Deps) -> None:
    state: dict[str, Any] = {"item": item("s1", "Bitcoin soars to record high after ETF approval")}
    state.update(make_embed(deps)(state))
    sentiment = make_sentiment(deps)(state)["sentiment"]
    assert set(sentiment.votes) == {"classifier", "lexicon"}  # no LLM configured here
    assert sentiment.label == "bullish" and sentiment.score > 0
    state = {"item": item("s2", "Exchange hacked, withdrawals halted, token plunges 40%")}
    state.update(make_embed(deps)(state))
    assert make_sentiment(deps)(state)["sentiment"].label == "bearish"


def test_impact_reaches_related_assets(deps: Deps) -> None:
    state = analyse(deps, item("i1", "Bitcoin plunges 10% as miners capitulate"))
    impact = state["impact"]
    assert [d.symbol for d in impact.direct] == ["BTC"]
    spill = {s.symbol: s for s in impact.spillover}
    assert {"MSTR", "IBIT"} & set(spill)
    assert all(0 < s.strength <= 1 and s.via == "BTC" for s in impact.spillover)
    assert all(s.direction == "down" for s in impact.spillover if s.relation != "macro")


def test_spread_recommendations_are_bounded_and_explained(deps: Deps) -> None:
    state = analyse(
        deps,
        item(
            "p1",
            "Bybit hacked: $1.4 billion in ether drained, withdrawals halted",
            author="zachxbt",
            author_followers=900_000,
        ),
    )
    recs = state["recommendations"]
    assert recs and state["route"] == "material"
    by_symbol = {r.symbol: r for r in recs}
    assert "ETH" in by_symbol
    for rec in recs:
        asset = deps.catalog.get(rec.symbol)
        assert asset is not None and within_bounds(
            rec, asset.vol_class, deps.settings.spread_bounds
        )
        assert rec.rationale and rec.horizon_minutes >= deps.settings.min_horizon_minutes
    # Spill-overs are widened less than the asset the news is about.
    assert max(r.widen_bps for r in recs) == by_symbol["ETH"].widen_bps
    quiet = analyse(deps, item("p2", "Company to hold annual meeting on Tuesday"))
    assert quiet["recommendations"] == [] and quiet["route"] == "routine"


def test_policy_core_never_exceeds_bounds(deps: Deps) -> None:
    from core.records import AssetImpact
    from tools.spread_policy import PolicyInputs, propose

    extreme = PolicyInputs(
        impact=AssetImpact(symbol="PEPE", direction="down", strength=1.0),
        vol_class="extreme",
        urgency=Urgency(level="critical", score=1.0),
        sentiment=Sentiment(label="bearish", score=-1.0, confidence=1.0),
    )
    rec = propose(extreme, deps.settings.spread_bounds)
    assert rec.widen_bps == deps.settings.bps_cap("extreme")
    assert rec.move_probability <= 1 and rec.horizon_minutes <= deps.settings.max_horizon_minutes
