"""The eval harness on small samples of the real labelled sets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.eval_reports import Confusion, PairsReport, SentimentReport, SentimentRow
from core.settings import Settings
from evals.pairs_eval import evaluate_pairs, pair_metrics, verifier_metrics
from evals.report import compare_reports
from evals.sentiment_eval import evaluate_sentiment
from evals.tables import parse_label_map, read_rows, sentiment_label

# The keys `eval pairs --report` wrote before its report became a model (the verifier on, a
# plot beside the report): the JSON files keep them.
PAIRS_REPORT_KEYS = {
    "n",
    "positives",
    "auc",
    "muddy_middle",
    "threshold",
    "unique_threshold",
    "f1_at_threshold",
    "best_f1",
    "best_threshold",
    "data",
    "model",
    "latency_ms_per_pair",
    "llm_tokens_per_item",
    "verifier_auc",
    "verifier_gray_auc",
    "verifier_f1_at_cut",
    "verifier_best_f1",
    "verifier_best_cut",
    "verifier_same_cut",
    "verifier_distinct_cut",
    "verifier_call_share",
    "muddy_middle_after_verifier",
    "desk_precision",
    "desk_recall",
    "desk_f1",
    "verifier_ms_per_pair",
    "verifier_model",
    "plot",
}
# And those of `eval sentiment`: the report, a member's row and the ensemble's row.
SENTIMENT_REPORT_KEYS = {"data", "split", "n", "analyzers"}
MEMBER_KEYS = {"n", "accuracy", "weighted_f1", "macro_f1", "confusion"}
SENTIMENT_ROW_KEYS = {
    "lexicon": MEMBER_KEYS | {"failures", "latency_ms_per_item"},
    "ensemble": MEMBER_KEYS | {"mean_confidence", "members"},
}


def test_pairs_on_sts_news_headlines(shared_data: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm_provider="none")
    # STS-B has no header: the reader names the TSV columns from a header we add.
    raw = shared_data / "stsb_news_headlines" / "sts-dev.news_headlines.tsv"
    data = tmp_path / "sts.tsv"
    lines = [line.split("\t")[:7] for line in raw.read_text(encoding="utf-8").splitlines()]
    data.write_text(
        "\n".join(
            "\t".join(c) for c in [["genre", "file", "year", "id", "score", "a", "b"], *lines]
        ),
        encoding="utf-8",
    )
    report = evaluate_pairs(
        data, "a", "b", "score", settings, limit=150, label_cutoff=4.0, plot=tmp_path / "sts.png"
    )
    assert report.n == 150
    assert 0 < report.positives < 150
    # Off-the-shelf MiniLM separates same-story headlines well but leaves a gray zone.
    assert report.auc > 0.8
    assert 0.05 < report.muddy_middle < 0.6
    assert 0.3 <= report.best_threshold <= 0.95
    assert report.plot == str(tmp_path / "sts.png")
    assert (tmp_path / "sts.png").stat().st_size > 10_000


def test_sentiment_members_are_reported_one_by_one(shared_data: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm_provider="none")
    data = shared_data / "twitter_financial_news_sentiment" / "sent_train.csv"
    report = evaluate_sentiment(
        data,
        "text",
        "label",
        settings,
        analyzers=["lexicon", "classifier", "ensemble"],
        limit=200,
        label_map=parse_label_map("0=bearish,1=bullish,2=neutral"),
    )
    assert set(report.analyzers) == {"lexicon", "classifier", "ensemble"}
    for metrics in report.analyzers.values():
        assert metrics.n == 200
        assert sum(map(sum, metrics.confusion.matrix)) == 200
    assert report.analyzers["lexicon"].weighted_f1 > 0.55
    assert report.analyzers["classifier"].weighted_f1 > 0.65
    assert report.analyzers["ensemble"].members == ["classifier", "lexicon"]
    # Without the LLM the report has no token count; members and the ensemble keep their keys.
    written = json.loads(report.to_json())
    assert set(written) == SENTIMENT_REPORT_KEYS
    for name, keys in SENTIMENT_ROW_KEYS.items():
        assert set(written["analyzers"][name]) == keys, name


def test_labels_map_explicitly_by_word_or_by_sign() -> None:
    assert sentiment_label("Positive") == "bullish"
    assert sentiment_label("2", parse_label_map("0=bearish,2=neutral")) == "neutral"
    assert sentiment_label("-0.4", numeric=True) == "bearish"
    assert sentiment_label("0.05", numeric=True) == "neutral"
    with pytest.raises(ValueError, match="--label-map"):
        sentiment_label("1")
    with pytest.raises(ValueError, match="bearish, neutral or bullish"):
        parse_label_map("0=sell")


def test_limit_is_a_seeded_sample(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps({"i": i}) for i in range(100)))
    first, again = read_rows(data, limit=10), read_rows(data, limit=10)
    assert first == again and len(first) == 10
    assert [r["i"] for r in first] == sorted(r["i"] for r in first)


def sentiment_with_classifier_f1(weighted_f1: float) -> SentimentReport:
    row = SentimentRow(
        n=10,
        accuracy=0.7,
        weighted_f1=weighted_f1,
        macro_f1=0.6,
        confusion=Confusion(labels=["bearish", "neutral", "bullish"], matrix=[[3, 0, 0]] * 3),
    )
    return SentimentReport(data="d.csv", split="all rows", n=10, analyzers={"classifier": row})


def test_compare_reports_lists_changes() -> None:
    old, new = sentiment_with_classifier_f1(0.70), sentiment_with_classifier_f1(0.75)
    changes = compare_reports(old, new)
    assert "classifier weighted_f1 0.7 -> 0.75 (+0.0500)" in changes
    assert "classifier n 10 -> 10 (+0.0000)" in changes


def test_optional_keys_are_written_only_where_the_eval_set_them() -> None:
    similarity = np.array([0.9, 0.6, 0.6, 0.3, 0.2])
    probability = np.array([0.9, 0.95, 0.5, 0.1, 0.2])
    labels = np.array([1, 1, 1, 0, 0])
    checked = verifier_metrics(similarity, probability, labels, 0.75, 0.5, 0.9, 0.05)
    assert checked.verifier_gray_auc is None  # the gray zone holds copies only
    common = {
        **pair_metrics(similarity, labels, 0.75, 0.5).model_dump(),
        "data": "pairs.tsv",
        "model": "all-MiniLM-L6-v2",
        "latency_ms_per_pair": 1.0,
        "llm_tokens_per_item": 0,
    }
    # Without the verifier none of its keys is written; with it, a null it set is.
    without = json.loads(PairsReport(**common).to_json())
    assert not {"verifier_auc", "desk_f1", "verifier_model", "plot", "compared_with"} & set(without)
    with_verifier = json.loads(PairsReport(**common, **checked.model_dump()).to_json())
    assert with_verifier["verifier_gray_auc"] is None and with_verifier["desk_f1"] > 0


def test_eval_cli_writes_a_report(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings
    from newsdesk import cli

    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NEWSDESK_LLM_PROVIDER", "none")
    get_settings.cache_clear()
    report = tmp_path / "mrpc.json"
    try:
        assert (
            cli.main(
                [
                    "eval",
                    "pairs",
                    "--data",
                    str(shared_data / "mrpc_paraphrase" / "msr_paraphrase_train.tsv"),
                    "--a",
                    "#1 String",
                    "--b",
                    "#2 String",
                    "--label",
                    "Quality",
                    "--limit",
                    "100",
                    "--report",
                    str(report),
                ]
            )
            == 0
        )
    finally:
        get_settings.cache_clear()
    # The file validates into its model, and has exactly the keys the dict code wrote.
    written = PairsReport.model_validate_json(report.read_text())
    assert written.n == 100 and written.verifier_auc is not None
    assert set(json.loads(report.read_text())) == PAIRS_REPORT_KEYS
    assert written.plot is not None and Path(written.plot) == report.with_suffix(".png")
    assert report.with_suffix(".png").exists()


def test_stream_replays_story_clusters_through_the_dedup_node(
    shared_data: Path, tmp_path: Path
) -> None:
    from evals.stream_eval import evaluate_stream

    settings = Settings(data_dir=tmp_path, llm_provider="none")
    report = evaluate_stream(
        shared_data / "news_aggregator_story_clusters" / "newsCorpora_bt_storybucket0.tsv",
        "TITLE",
        "TIMESTAMP",
        "STORY",
        settings,
        limit=400,
    )
    verdicts = report.verdicts
    assert report.n == verdicts.duplicate + verdicts.related + verdicts.unique == 400
    # Copies are matched to their own story far more often than not (measured: 0.79 on this
    # 400-row sample, 0.94 on 2,000 rows; sparse samples hold fewer true copies).
    assert report.precision > 0.7 and 0 < report.recall < 1
    assert report.llm_calls_saved == verdicts.duplicate * 2  # default LLM nodes
    assert set(json.loads(report.to_json())) == {
        "data",
        "n",
        "groups",
        "precision",
        "recall",
        "f1",
        "verdicts",
        "verifier_calls",
        "llm_calls_saved",
        "threshold",
        "unique_threshold",
        "latency_ms_per_item",
        "llm_tokens_per_item",
    }
    assert not (tmp_path / "newsdesk.db").exists()  # the desk's own store is untouched
