"""Fine-tuned models: the committed sentiment adapter, and fine-tuning the dedup embeddings."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.records import SentimentLabel
from core.settings import THRESHOLDS_FILE, Settings
from evals.datasets import load_twitter_financial_news, twitter_split
from evals.finetune_embeddings import calibrate_thresholds, similarities, train
from evals.pair_data import (
    load_headlines,
    mrpc_pairs,
    split_stories,
    story_pairs,
    stsb_pairs,
    write_headlines,
    write_pairs,
)
from evals.tables import read_rows
from evals.train_sentiment import main as train_regression
from evals.train_sentiment_model import main as train_adapter
from graph.deps import load_classifier
from tools.embeddings import get_embedder
from tools.sentiment_classifier import CLASSES
from tools.sentiment_model import FineTunedSentiment, default_adapter_path, get_sentiment_model

HELD_OUT_SAMPLE = 300
HELD_OUT_SAMPLE_SEED = 7


@pytest.fixture(scope="module")
def sentiment_model() -> FineTunedSentiment:
    return get_sentiment_model()


# --- the committed sentiment adapter -------------------------------------------------------------


def test_adapter_is_small_and_permissively_trained(sentiment_model: FineTunedSentiment) -> None:
    """The size and the licence guard are checks; the held-out score is a documentation check:
    it reads what the adapter's ``training.json`` reports about itself, which no code change can
    break. The tests below run the model."""
    size = sum(p.stat().st_size for p in default_adapter_path().iterdir())
    assert size < 5_000_000
    meta = sentiment_model.metadata
    assert meta["classes"] == list(CLASSES)
    # Licence guard: the committed adapter must not have seen Financial PhraseBank.
    assert all("twitter_financial_news" in d for d in meta["training_data"])
    assert not any("phrasebank" in d for d in meta["training_data"])
    assert meta["held_out_metrics"]["twitter_financial_news"]["weighted_f1"] >= MIN_TWITTER_F1


def test_adapter_beats_the_regression_on_held_out_tweets(
    shared_data: Path, sentiment_model: FineTunedSentiment
) -> None:
    from sklearn.metrics import f1_score

    rows = load_twitter_financial_news()
    _, held = twitter_split()
    sample = sorted(random.Random(HELD_OUT_SAMPLE_SEED).sample(held, HELD_OUT_SAMPLE))
    texts = [rows[i].text for i in sample]
    gold = [rows[i].label for i in sample]
    votes = sentiment_model.predict(texts)
    tuned_f1 = f1_score(gold, [v.label for v in votes], average="weighted")

    regression = load_classifier(Settings(sentiment_classifier="embedding-logreg"))
    old_f1 = f1_score(
        gold,
        [v.label for v in regression.classify(texts, get_embedder().encode(texts))],
        average="weighted",
    )
    assert tuned_f1 >= MIN_TWITTER_F1 - 0.04, tuned_f1
    assert tuned_f1 > old_f1 + 0.03, (tuned_f1, old_f1)


def test_votes_are_consistent_probabilities(sentiment_model: FineTunedSentiment) -> None:
    texts = [
        "$AAPL beats estimates, raises guidance; shares jump 6% after hours",
        "Exchange hacked, withdrawals halted; token plunges 30%",
        "Company to hold annual meeting on Tuesday",
    ]
    proba = sentiment_model.predict_proba(texts)
    assert proba.shape == (3, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    votes = sentiment_model.classify(texts, None)
    assert [v.label for v in votes] == ["bullish", "bearish", "neutral"]
    bull, bear = CLASSES.index("bullish"), CLASSES.index("bearish")
    for vote, p in zip(votes, proba, strict=True):
        assert vote.score == pytest.approx(p[bull] - p[bear], abs=1e-6)
        assert vote.confidence == pytest.approx(p.max(), abs=1e-6)
    # Batching must not change an answer (padding is masked out of the pooling).
    alone = sentiment_model.predict_proba(texts[2:])
    np.testing.assert_allclose(alone[0], proba[2], atol=1e-5)
    assert sentiment_model.predict_proba([]).shape == (0, 3)


# Held-out rows of Twitter Financial News (MIT): ``twitter_split()`` keeps them out of training.
# Each is plain to a reader, so a model that loads right is sure of every one.
CLEAR_HEADLINES: dict[SentimentLabel, tuple[str, ...]] = {
    "bearish": (
        "Urban Outfitters stock down 9% after Q3 results",
        "Canada Goose Drops After Cutting Forecast on Drag From Virus",
        "H&P downgraded at Argus as drilling industry weakness seen persisting",
        "Peloton stock plummets after the company reports widening loss, slowing revenue",
    ),
    "bullish": (
        "Ocular Therapeutix up 11% premarket on encouraging OTX-TIC data",
        "Uber stock price target raised to $50 from $45 at Oppenheimer",
        "AMD launches 7nm GPU for workstations; shares +4%",
        "Audentes Therapeutics upgraded to outperform from in line at Evercore ISI",
    ),
    "neutral": (
        "What to look for when Fed Chair Powell meets with Congress this week",
        "Item 9 Labs reports Q4 results",
        "Bitcoin Cash ABC, EOS and Ethereum – Daily Tech Analysis – 15/12/19",
        "Will Five Below Continue to Be Volatile in 2020?",
    ),
}


def test_committed_adapter_reads_clear_headlines(sentiment_model: FineTunedSentiment) -> None:
    # Unlike the training.json checks, this runs the model: a wrong head, a wrong pooling or an
    # adapter left unapplied turns these answers.
    texts = [text for texts in CLEAR_HEADLINES.values() for text in texts]
    expected = [label for label, texts in CLEAR_HEADLINES.items() for _ in texts]
    votes = sentiment_model.predict(texts)
    assert [v.label for v in votes] == expected
    confidences = [round(v.confidence, 3) for v in votes]
    assert min(confidences) > 0.9, confidences


def test_missing_adapter_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train_sentiment_model"):
        FineTunedSentiment(tmp_path)


@pytest.mark.parametrize("train_main", [train_regression, train_adapter])
def test_training_on_phrasebank_refuses_the_committed_artifacts(
    train_main: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    # Financial PhraseBank is non-commercial: a model that saw it is never the committed one.
    with pytest.raises(SystemExit):
        train_main(["--include-fpb"])
    assert "must not overwrite the committed" in capsys.readouterr().err


def test_regression_refuses_a_fine_tuned_embedding_space(tmp_path: Path) -> None:
    settings = Settings(sentiment_classifier="embedding-logreg", embedding_model=str(tmp_path))
    with pytest.raises(ValueError, match="base MiniLM"):
        load_classifier(settings)


# --- threshold calibration and pair data ----------------------------------------------------------


def test_calibration_picks_the_lowest_cut_at_target_precision() -> None:
    # Duplicates at 0.80-0.99, distinct pairs at 0.20-0.60 plus one distinct pair at 0.85.
    duplicates = np.linspace(0.80, 0.99, 40)
    distinct = np.concatenate([np.linspace(0.20, 0.60, 59), [0.85]])
    similarity = np.concatenate([duplicates, distinct])
    labels = np.array([1] * 40 + [0] * 60)
    found = calibrate_thresholds(similarity, labels, target_precision=0.97, max_missed=0.05)
    # Above 0.60 only the one distinct pair is wrong: 1 of 41 flagged = precision 0.976.
    assert found["duplicate"] == 0.60
    assert found["calibration_precision"] == pytest.approx(40 / 41, abs=1e-4)
    assert found["calibration_recall"] == 1.0
    # No duplicate lies below 0.80, so the unique cut can rise to the duplicate cut.
    assert found["unique"] == 0.60
    strict = calibrate_thresholds(similarity, labels, target_precision=1.0)
    assert strict["duplicate"] == 0.85 and strict["calibrated"]
    assert strict["unique"] <= strict["duplicate"]
    # Distinct pairs above every duplicate: no cut is precise enough, the fallback stays.
    hopeless = calibrate_thresholds(1 - similarity, labels, fallback=(0.8, 0.4))
    assert (hopeless["duplicate"], hopeless["unique"], hopeless["calibrated"]) == (0.8, 0.4, False)


def test_story_split_keeps_stories_whole(shared_data: Path) -> None:
    headlines = load_headlines()
    train_part, held = split_stories(headlines)
    assert {h.story for h in train_part}.isdisjoint({h.story for h in held})
    assert len(train_part) + len(held) == len(headlines)
    assert 0.2 < len({h.story for h in held}) / len({h.story for h in headlines}) < 0.4
    assert split_stories(headlines)[1] == held  # deterministic


def test_story_pairs_have_hard_negatives_from_other_stories(shared_data: Path) -> None:
    stories = _first_stories(6)
    headlines = [h for h in load_headlines() if h.story in stories]
    embedder = get_embedder()
    pairs = story_pairs(headlines, embedder.encode, seed=1, positives_per_story=5)
    story_of = {h.title: h.story for h in headlines}
    positives = [p for p in pairs if p.score == 1]
    hard = [p for p in pairs if p.source == "story-hard"]
    assert len(positives) == 30 and len(hard) == 30
    assert all(story_of[p.a] == story_of[p.b] for p in positives)
    assert all(story_of[p.a] != story_of[p.b] for p in pairs if p.score == 0)
    # A hard negative is the closest other-story headline, so closer than a random one on average.
    randoms = [p for p in pairs if p.source == "story-random"]
    model = embedder._model
    assert similarities(model, hard).mean() > similarities(model, randoms).mean()

    # Nearest positives: each anchor with its closest same-story headline, closer than random.
    nearest = story_pairs(
        headlines, embedder.encode, seed=1, positives_per_story=5, nearest_positive=True
    )
    near_positives = [p for p in nearest if p.score == 1]
    assert [p.a for p in near_positives] == [p.a for p in positives]
    assert all(story_of[p.a] == story_of[p.b] and p.a != p.b for p in near_positives)
    assert similarities(model, near_positives).mean() > similarities(model, positives).mean()


def test_pair_files_round_trip_through_the_eval_reader(shared_data: Path, tmp_path: Path) -> None:
    train_part, held = mrpc_pairs()
    assert len(held) == round((len(train_part) + len(held)) * 0.3)
    assert not {(p.a, p.b) for p in held} & {(p.a, p.b) for p in train_part}
    stsb_train, stsb_dev = stsb_pairs()
    assert stsb_train and stsb_dev and all(0 <= p.score <= 1 for p in stsb_dev)
    rows = read_rows(write_pairs(held[:50] + stsb_dev[:50], tmp_path / "pairs.tsv"))
    assert len(rows) == 100
    assert [r["a"] for r in rows[:3]] == [" ".join(p.a.split()) for p in held[:3]]
    assert {r["label"] for r in rows} == {"0", "1"}
    stream = read_rows(write_headlines(load_headlines()[:20], tmp_path / "stream.tsv"))
    assert set(stream[0]) == {"title", "timestamp", "story"}


# --- a small real fine-tune -----------------------------------------------------------------------


def test_a_short_fine_tune_moves_similarities_and_settings_pick_up_thresholds(
    shared_data: Path, tmp_path: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    base = get_embedder()
    model = SentenceTransformer(str(base.model_path), device="cpu", local_files_only=True)
    pairs = mrpc_pairs()[0][:96]
    before = similarities(model, pairs)
    history = train(model, pairs, epochs=1, lr=5e-5, batch_size=16, seed=1)
    after = similarities(model, pairs)
    labels = np.array([p.score for p in pairs])
    assert history[0]["train_loss"] > 0
    # The contrastive loss pulls paraphrases together and pushes the rest apart: the gap grows.
    gap_before = before[labels == 1].mean() - before[labels == 0].mean()
    gap_after = after[labels == 1].mean() - after[labels == 0].mean()
    assert gap_after > gap_before

    out = tmp_path / "model"
    model.save(str(out))
    (out / THRESHOLDS_FILE).write_text(json.dumps({"duplicate": 0.81, "unique": 0.42}))
    tuned = Settings(embedding_model=str(out))
    assert (tuned.dedup_duplicate_threshold, tuned.dedup_unique_threshold) == (0.81, 0.42)
    # An explicit setting still wins over the model's calibration.
    explicit = Settings(embedding_model=str(out), dedup_duplicate_threshold=0.9)
    assert (explicit.dedup_duplicate_threshold, explicit.dedup_unique_threshold) == (0.9, 0.42)
    copied = Settings().model_copy(update={"embedding_model": str(out)}).with_model_thresholds()
    assert copied.dedup_duplicate_threshold == 0.81
    # Switching a copy back to the base model brings the base cuts back, not the tuned ones.
    back = tuned.model_copy(update={"embedding_model": ""}).with_model_thresholds()
    assert (back.dedup_duplicate_threshold, back.dedup_unique_threshold) == (0.75, 0.5)
    assert (
        explicit.model_copy(update={"embedding_model": ""})
        .with_model_thresholds()
        .dedup_duplicate_threshold
        == 0.9
    )
    assert get_embedder(str(out)).encode(["a headline"]).shape == (1, 384)


def _first_stories(n: int) -> set[str]:
    stories: list[str] = []
    for h in load_headlines():
        if h.story not in stories:
            stories.append(h.story)
        if len(stories) == n:
            break
    return set(stories)


# The committed adapter's measured held-out weighted F1, less a margin for library/float drift.
MIN_TWITTER_F1 = 0.84
