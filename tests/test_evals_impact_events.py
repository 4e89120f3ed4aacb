"""eval impact / events / tagging: the arithmetic on hand-built cases, the rest on real samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from core.eval_reports import EventsReport, ImpactReport, PrecisionRecallCounts, TaggingReport
from core.records import NewsItem
from core.settings import Settings
from evals.events_eval import evaluate_events, prf, score_events, split_positions
from evals.impact_eval import (
    PriceSeries,
    evaluate_impact,
    group_report,
    in_row_move_bps,
    lift_with_ci,
    parse_instant,
    preset_sources,
)
from evals.tables import read_rows
from evals.tagging_eval import (
    CatalogOnlyDeps,
    cashtag_symbols,
    column_symbols,
    evaluate_tagging,
    rewrite_cashtags,
)
from evals.tagging_eval import preset_sources as tagging_presets
from graph.deps import Deps
from graph.nodes.urgency import make_urgency
from tests.conftest import HACK
from tools.catalog import AssetCatalog
from tools.urgency_rules import tag_events

T0 = datetime(2021, 2, 4, 10, 0, tzinfo=UTC)


def minute_bars(closes: list[float], start: datetime = T0) -> PriceSeries:
    """Bars stamped with their minute start, as the DOGE file stamps them."""
    rows = [
        {"t": (start + timedelta(minutes=i)).isoformat(), "close": c} for i, c in enumerate(closes)
    ]
    return PriceSeries.from_rows(rows, "t", "close", bar_minutes=1, max_staleness_minutes=2)


# --- impact: time alignment and the lift ---------------------------------------------------


def test_a_bar_close_is_used_only_once_its_bar_has_ended() -> None:
    series = minute_bars([100.0 + i for i in range(11)])  # bars 10:00..10:10, close 100..110
    post = T0 + timedelta(minutes=3, seconds=30)
    # At 10:03:30 the last finished bar is 10:02 (close 102); 10:03 is still running.
    assert series.at(post) == 102.0
    # Five minutes later the 10:07 bar (close 107) is the last finished one.
    assert series.move_bps(post, 5) == pytest.approx(abs(107 / 102 - 1) * 1e4)
    # A post stamped exactly on a minute reads the previous bar's close, never its own.
    assert series.at(T0 + timedelta(minutes=3)) == 102.0


def test_posts_outside_the_price_windows_have_no_move() -> None:
    series = minute_bars([100.0] * 5 + [120.0] * 5)
    assert series.move_bps(T0 - timedelta(minutes=1), 5) is None  # before the first bar ends
    assert series.move_bps(T0 + timedelta(minutes=8), 30) is None  # horizon past the data
    # Half an hour after the last bar nothing is fresh enough, even though a close exists.
    assert series.at(T0 + timedelta(minutes=40)) is None


def test_a_gap_in_the_bars_is_not_a_flat_market() -> None:
    rows = [{"t": (T0 + timedelta(minutes=i)).isoformat(), "close": 100 + i} for i in range(3)]
    rows += [{"t": (T0 + timedelta(minutes=60)).isoformat(), "close": 200}]
    series = PriceSeries.from_rows(rows, "t", "close", max_staleness_minutes=120)
    # Both ends resolve to the 10:02 bar: a gap, so no move rather than a 0 bps move.
    assert series.move_bps(T0 + timedelta(minutes=4), 10) is None


def test_in_row_prices_and_empty_cells() -> None:
    assert in_row_move_bps({"a": "600", "b": "606"}, "a", "b") == pytest.approx(100.0)
    assert in_row_move_bps({"a": "600", "b": ""}, "a", "b") is None


def test_lift_is_a_ratio_of_means_with_a_seeded_interval() -> None:
    widen, rest = [30.0, 50.0, 40.0], [10.0, 10.0, 20.0, 0.0]
    lift, ci = lift_with_ci(widen, rest, resamples=500, seed=1)
    assert lift == pytest.approx(40.0 / 10.0)
    assert ci is not None and ci[0] <= lift <= ci[1]
    assert lift_with_ci(widen, rest, resamples=500, seed=1) == (lift, ci)  # seeded
    assert lift_with_ci(widen, [], resamples=10) == (None, None)
    report = group_report([30, 10, 50, 10], [True, False, True, False], 200, 1)
    assert (report.n, report.n_widen, report.n_rest) == (4, 2, 2)
    assert (report.mean_abs_move_widen, report.mean_abs_move_rest) == (40.0, 10.0)
    assert report.lift == 4.0


def test_real_times_line_up_with_the_real_bars(shared_data: Path) -> None:
    musk = shared_data / "musk_crypto_tweets_doge_minute"
    tweets = read_rows(musk / "elon_crypto_tweets_utc.csv")
    # The README's rule: Berlin local time as given, converted to UTC, is the datetime_utc column.
    for row in tweets:
        assert parse_instant(row["datetime_berlin_as_given"]) == parse_instant(row["datetime_utc"])
    bars = read_rows(musk / "dogeusdt_1m_event_windows.csv")
    close_at = {parse_instant(b["timestamp_utc"]): float(b["close"]) for b in bars}
    series = PriceSeries.from_rows(bars, "timestamp_utc", "close")
    tweet = next(r for r in tweets if r["No"] == "5")  # 2020-07-17 23:58 UTC, first in a window
    when = parse_instant(tweet["datetime_utc"])
    entry = close_at[when - timedelta(minutes=1)]  # the 23:57 bar ended at 23:58
    exit_ = close_at[when + timedelta(minutes=29)]  # the 00:27 bar ended at 00:28
    assert series.move_bps(when, 30) == pytest.approx(abs(exit_ / entry - 1) * 1e4)
    # 2019 tweets predate every price window: skipped, not scored as zero.
    assert series.move_bps(parse_instant("2019-04-02T20:16:00Z"), 30) is None

    trump = read_rows(shared_data / "trump_truthsocial_spy_2025" / "tomt_price_full.csv", limit=50)
    for row in trump:  # the New York offset and the epoch milliseconds agree
        assert parse_instant(row["Created_ET"]) == parse_instant(row["Timescale"])


def test_impact_runs_the_graph_on_real_posts(shared_data: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm_provider="none")
    report = evaluate_impact(
        preset_sources(["musk", "trump"], shared_data),
        settings,
        horizons=[15, 5],
        limit=12,
        resamples=200,
    )
    assert set(report.datasets) == {"musk", "trump"}
    musk, trump = report.datasets["musk"], report.datasets["trump"]
    for d in (musk, trump):
        rejected = d.verdicts.get("rejected", 0)
        assert d.n + d.skipped_no_price + rejected == d.n_items == 12
        assert d.n_widen + d.n_rest == d.n
        assert d.llm_tokens_per_item == 0 and d.latency_ms_per_item > 0
        scored = [(i, move) for i in d.items if (move := i.move_bps[d.horizon]) is not None]
        widen = [move for i, move in scored if i.widen]
        rest = [move for i, move in scored if not i.widen]
        if widen and rest:  # the headline is the ratio of the listed moves' means
            expected = (sum(widen) / len(widen)) / (sum(rest) / len(rest))
            assert d.lift == pytest.approx(expected, rel=1e-3)
        # widen means a material route that widens the priced asset
        assert all(i.route == "material" and i.asset_bps > 0 for i in d.items if i.widen)
    assert musk.horizon == "15m" and set(musk.horizons) == {"15m", "5m"}
    assert trump.horizon == "close_same" and trump.skipped_no_price == 0
    assert report.move_unit.startswith("multiple") and report.n_items == 24
    # Pooled over two datasets: the keys that describe a single dataset are left out.
    written = json.loads(report.to_json())
    assert not {"horizon", "asset", "verdicts", "n_material"} & set(written)
    assert set(written) >= {"n", "lift", "lift_ci95", "move_unit", "skipped_no_price"}
    assert not (tmp_path / "newsdesk.db").exists()  # a throwaway store, not the desk's


# --- events: the tagger and the scoring ---------------------------------------------------

# Real SentiFM sentences from the test part of the split (index: gold types).
SENTIFM_EXAMPLES = {
    9729: ["Turnover"],
    2476: ["Dividend"],
    3898: ["ShareRepurchase"],
    6014: ["Debt"],
    3616: ["BuyRating", "TargetPrice"],
    1327: ["QuarterlyResults", "SalesVolume"],
    8574: ["Dividend", "Profit"],
    5863: [],
}


def test_event_tagger_on_real_sentifm_sentences(shared_data: Path) -> None:
    path = shared_data / "sentifm_economic_events" / "sentifm_holdin.jsonl"
    rows = read_rows(path)
    _, test = split_positions(len(rows))
    by_index = {rows[i]["index"]: rows[i] for i in test}
    for index, expected in SENTIFM_EXAMPLES.items():
        row = by_index[index]
        assert sorted(row["event_types"]) == expected, "the gold label is what the test assumes"
        assert tag_events(row["sentence"]) == expected, row["sentence"]


def test_desk_event_types_and_the_urgency_node() -> None:
    assert tag_events("Trump: 25% tariffs on Canada and Mexico start Saturday") == ["tariff"]
    assert tag_events("FOMC holds rates steady; Powell sees two rate cuts") == ["rate_decision"]
    assert "depeg" in tag_events("USDe briefly de-pegs to $0.65 on Binance")
    urgency = make_urgency(cast(Deps, CatalogOnlyDeps(AssetCatalog.load())))
    item = NewsItem.model_validate(HACK)
    result = urgency({"item": item})["urgency"]
    assert result.events == ["hack", "outage"]  # "withdrawals halted" is an outage too
    assert result.level == "critical"  # the tagger adds a field; it does not move the score


def test_precision_recall_arithmetic() -> None:
    assert prf(3, 1, 2) == PrecisionRecallCounts(
        precision=0.75, recall=0.6, f1=round(2 * 0.75 * 0.6 / 1.35, 4), tp=3, fp=1, fn=2
    )
    assert prf(0, 0, 0).f1 == 0.0
    gold = [{"Profit"}, {"Profit", "Dividend"}, set(), {"Debt"}]
    predicted = [{"Profit", "hack"}, {"Dividend"}, {"Turnover"}, set()]
    scores = score_events(gold, predicted, ["Profit", "Dividend", "Debt", "Turnover"])
    # any event: rows 0 and 1 hit, row 2 a false alarm, row 3 a miss ("hack" is not scored)
    assert (scores.any_precision, scores.any_recall) == (round(2 / 3, 4), round(2 / 3, 4))
    # per (row, type): tp Profit, Dividend; fp Turnover; fn Profit (row 1), Debt
    assert (scores.micro_precision, scores.micro_recall) == (round(2 / 3, 4), 0.5)
    assert scores.per_type["Turnover"].support == 0
    # macro over the three types present in the gold: Profit 0.667, Dividend 1.0, Debt 0
    assert scores.macro_f1 == round((round(2 / 3, 4) + 1.0 + 0.0) / 3, 4)


def test_events_eval_reports_the_held_out_part(shared_data: Path) -> None:
    report = evaluate_events(
        shared_data / "sentifm_economic_events" / "sentifm_holdin.jsonl", limit=400
    )
    split = report.split
    assert split.evaluated_on == "test" and split.train_rows + split.test_rows == 8943
    train, test = split_positions(8943)
    assert not set(train) & set(test) and len(test) == split.test_rows
    assert report.n == 400 and report.llm_tokens_per_item == 0
    assert report.any_f1 > 0.55  # 0.70 on the whole test part
    assert report.per_type["BuyRating"].precision > 0.7


# --- tagging ----------------------------------------------------------------------------


def test_cashtag_ground_truth_and_rewriting() -> None:
    catalog = AssetCatalog.load()
    text = "$FB and $TSLA up, $ZZZZ flat, a $5B deal"
    assert cashtag_symbols(text, catalog) == {"META", "TSLA"}  # $FB is META's old ticker
    assert rewrite_cashtags(text, "bare") == "FB and TSLA up, ZZZZ flat, a $5B deal"
    assert rewrite_cashtags(text, "remove") == "and up, flat, a $5B deal"
    assert column_symbols("DOGE", catalog) == {"DOGE"} and column_symbols("", catalog) == set()


def test_tagging_on_real_tweets(shared_data: Path) -> None:
    sources = tagging_presets(["twitter", "musk"], shared_data)
    bare = evaluate_tagging(sources, "bare", limit=80)
    keep = evaluate_tagging(sources, "keep", limit=80)
    for report in (bare, keep):
        # 80 sampled tweets with a catalog cashtag; the Musk set has only 74 labelled tweets.
        assert report.n == 80 + 74 and report.llm_tokens_per_item == 0
        assert report.datasets["twitter"].cashtag_mode is not None
        assert report.datasets["musk"].cashtag_mode is None  # gold from a column
    # With the cashtags left in, every gold symbol is found: the trivial upper bound.
    assert keep.datasets["twitter"].recall == 1.0
    assert bare.datasets["twitter"].recall < 1.0  # "FB", "C" and "SPX" stay unnamed
    assert bare.datasets["twitter"].precision > 0.85
    # Musk mostly writes "Doge", which the catalog leaves out on purpose (DOGE the department).
    assert bare.datasets["musk"].recall < 0.7
    assert "cryptopanic" in bare.not_evaluated


# --- the command line -----------------------------------------------------------------------


def run_cli(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run one eval command with --report; returns the report's path."""
    from core.settings import get_settings
    from newsdesk import cli

    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NEWSDESK_LLM_PROVIDER", "none")
    get_settings.cache_clear()
    report = tmp_path / f"{argv[1]}.json"
    try:
        assert cli.main([*argv, "--report", str(report)]) == 0
    finally:
        get_settings.cache_clear()
    return report


def keys(path: Path) -> set[str]:
    return set(json.loads(path.read_text(encoding="utf-8")))


# What the evals wrote before their reports became models: the JSON files keep these keys.
EVENTS_KEYS = {
    "data",
    "n",
    "with_event",
    "any_precision",
    "any_recall",
    "any_f1",
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "per_type",
    "split",
    "unscored_gold_types",
    "latency_ms_per_item",
    "llm_tokens_per_item",
}
EVENT_TYPE_KEYS = {"precision", "recall", "f1", "tp", "fp", "fn", "support"}
TAGGING_KEYS = {
    "data",
    "n",
    "precision",
    "recall",
    "f1",
    "latency_ms_per_item",
    "llm_tokens_per_item",
    "path",
    "datasets",
    "not_evaluated",
}
TAGGING_DATASET_KEYS = {
    "data",
    "n",
    "eligible",
    "gold",
    "cashtag_mode",
    "precision",
    "recall",
    "f1",
    "tp",
    "fp",
    "fn",
    "precision_with_topics",
    "recall_with_topics",
    "latency_ms_per_item",
    "llm_tokens_per_item",
    "misses",
}
LIFT_KEYS = {
    "n",
    "n_widen",
    "n_rest",
    "mean_abs_move_widen",
    "mean_abs_move_rest",
    "lift",
    "lift_ci95",
    "skipped_no_price",
}
# What a dataset's row says about itself, beside its lift numbers.
IMPACT_DATASET_OWN_KEYS = LIFT_KEYS | {
    "data",
    "horizon",
    "asset",
    "n_items",
    "verdicts",
    "n_material",
    "latency_ms_per_item",
    "llm_tokens_per_item",
}
# One dataset: its numbers with what it says about itself, then the run's own keys.
IMPACT_ONE_DATASET_KEYS = IMPACT_DATASET_OWN_KEYS | {
    "move_unit",
    "widen_definition",
    "material_bps",
    "llm",
    "bootstrap",
    "datasets",
}
IMPACT_DATASET_KEYS = IMPACT_DATASET_OWN_KEYS | {"horizons", "items"}
IMPACT_ITEM_KEYS = {
    "id",
    "time",
    "text",
    "verdict",
    "route",
    "widen",
    "asset_bps",
    "max_bps",
    "events",
    "move_bps",
}


def test_eval_cli_events_tagging_and_impact(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_path = run_cli(["eval", "events", "--limit", "200"], tmp_path, monkeypatch)
    events = EventsReport.model_validate_json(events_path.read_text(encoding="utf-8"))
    assert events.n == 200 and events.split.evaluated_on == "test"
    written = json.loads(events_path.read_text(encoding="utf-8"))
    assert set(written) == EVENTS_KEYS
    assert all(set(row) == EVENT_TYPE_KEYS for row in written["per_type"].values())

    first = run_cli(["eval", "tagging", "--limit", "40"], tmp_path, monkeypatch)
    assert keys(first) == TAGGING_KEYS  # no comparison asked, no compared_with key
    old = tmp_path / "old-tagging.json"
    old.write_text(first.read_text(encoding="utf-8"), encoding="utf-8")
    again_path = run_cli(
        ["eval", "tagging", "--limit", "40", "--compare", str(old)], tmp_path, monkeypatch
    )
    again = TaggingReport.model_validate_json(again_path.read_text(encoding="utf-8"))
    assert "all f1" in " ".join(again.compared_with)
    assert any(c.startswith("musk ") for c in again.compared_with)  # per dataset too
    written = json.loads(again_path.read_text(encoding="utf-8"))
    assert set(written) == TAGGING_KEYS | {"compared_with"}
    assert all(set(d) == TAGGING_DATASET_KEYS for d in written["datasets"].values())
    assert set(written["datasets"]["twitter"]["misses"][0]) == {"text", "gold", "tagged"}

    impact_path = run_cli(
        ["eval", "impact", "--preset", "musk", "--limit", "6", "--horizon-minutes", "5"],
        tmp_path,
        monkeypatch,
    )
    impact = ImpactReport.model_validate_json(impact_path.read_text(encoding="utf-8"))
    assert impact.horizon == "5m" and impact.n_items == 6 and impact.llm is False
    written = json.loads(impact_path.read_text(encoding="utf-8"))
    assert set(written) == IMPACT_ONE_DATASET_KEYS
    assert set(written["bootstrap"]) == {"resamples", "seed", "interval"}
    musk = written["datasets"]["musk"]
    assert set(musk) == IMPACT_DATASET_KEYS
    assert set(musk["horizons"]["5m"]) == LIFT_KEYS
    assert all(set(item) == IMPACT_ITEM_KEYS for item in musk["items"])


def test_compare_needs_a_report_of_the_same_eval(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = run_cli(["eval", "events", "--limit", "50"], tmp_path, monkeypatch)
    old = tmp_path / "old-events.json"
    old.write_text(events.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(SystemExit, match="not a TaggingReport"):
        run_cli(["eval", "tagging", "--limit", "10", "--compare", str(old)], tmp_path, monkeypatch)
