"""The two non-LLM sentiment votes: the hand-written lexicon and the embedding classifier."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from evals.datasets import load_twitter_financial_news, twitter_split
from tools.lexicon import LexiconSentiment
from tools.sentiment_classifier import (
    CLASSES,
    EmbeddingSentimentClassifier,
    default_artifact_path,
)

# Measured with the committed artifact (seed 13): weighted F1 0.772 on all 1,431 held-out rows and
# 0.741 on this 300-row sample; the floor leaves room for sampling noise and library/float drift.
HELD_OUT_SAMPLE = 300
HELD_OUT_SAMPLE_SEED = 7
MIN_WEIGHTED_F1 = 0.70


@pytest.fixture(scope="module")
def lexicon() -> LexiconSentiment:
    return LexiconSentiment()


@pytest.fixture(scope="module")
def embedder():
    from tools.embeddings import get_embedder

    return get_embedder()


@pytest.fixture(scope="module")
def classifier() -> EmbeddingSentimentClassifier:
    return EmbeddingSentimentClassifier.load()


# --- lexicon -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Bitcoin surges to record high after ETF approval", "bullish"),
        ("Apple beats estimates and announces $90B buyback", "bullish"),
        ("Analyst upgrades Nvidia to Buy, shares up 4%", "bullish"),
        ("Exchange hacked, withdrawals halted", "bearish"),
        ("Shares plunge after company files for bankruptcy", "bearish"),
        ("SEC opens probe into token sale; Coinbase to delist coin", "bearish"),
        ("Company to hold annual meeting on Tuesday", "neutral"),
        ("Fed chair to speak at Jackson Hole", "neutral"),
    ],
)
def test_lexicon_clear_headlines(lexicon: LexiconSentiment, text: str, label: str) -> None:
    vote = lexicon.score(text)
    assert vote.label == label, (text, vote, lexicon.hits(text))
    if label == "bullish":
        assert vote.score > 0
    elif label == "bearish":
        assert vote.score < 0


def test_lexicon_negation(lexicon: LexiconSentiment) -> None:
    assert lexicon.score("SEC does not approve the ETF").label != "bullish"
    assert lexicon.score("SEC does not approve the ETF").score < 0
    assert lexicon.score("Exchange says it was not hacked").label != "bearish"
    assert lexicon.score("Binance no longer plans to delist the token").score > 0
    # A negator in an earlier clause must not flip a later cue.
    assert lexicon.score("No surprises: stocks rally").label == "bullish"


def test_lexicon_word_boundaries(lexicon: LexiconSentiment) -> None:
    # "ban" inside "Bank", "hack" inside "hackathon", "halt" inside "Halterman" are not cues.
    for text in ("Bank of America hosts hackathon", "Halterman named CFO"):
        assert lexicon.hits(text) == [], text
    assert lexicon.score("Bank of America hosts hackathon").label == "neutral"


def test_lexicon_confidence(lexicon: LexiconSentiment) -> None:
    nothing = lexicon.score("Company to hold annual meeting on Tuesday")
    assert (nothing.score, nothing.confidence) == (0.0, pytest.approx(0.2))
    one = lexicon.score("Bitcoin surges")
    three = lexicon.score("Bitcoin surges to record high after ETF approval")
    mixed = lexicon.score("Bitcoin surges then crashes")
    assert nothing.confidence < one.confidence < three.confidence
    assert three.score > one.score
    assert mixed.label == "neutral" and mixed.confidence < one.confidence
    for text in ("", "   ", "crash crash crash crash crash crash crash crash"):
        vote = lexicon.score(text)
        assert -1 <= vote.score <= 1 and 0 <= vote.confidence <= 1


# --- embedding classifier ------------------------------------------------------------------------


def test_artifact_is_small_and_permissively_trained(classifier) -> None:
    path = default_artifact_path()
    assert path.stat().st_size < 100_000
    assert classifier.coef.shape == (3, 384)
    assert classifier.intercept.shape == (3,)
    meta = classifier.metadata
    assert meta["classes"] == list(CLASSES)
    # Licence guard: the committed model must not have seen Financial PhraseBank (non-commercial).
    assert all("twitter_financial_news" in d for d in meta["training_data"])
    assert not any("phrasebank" in d for d in meta["training_data"])
    # A documentation check: the score the artifact reports about itself (no code change can
    # break it); test_classifier_held_out_weighted_f1 measures it.
    assert meta["held_out_metrics"]["classifier"]["weighted_f1"] >= MIN_WEIGHTED_F1


def test_classifier_shapes_and_probabilities(classifier, embedder) -> None:
    texts = [
        "Bitcoin surges to record high after ETF approval",
        "Exchange hacked, withdrawals halted",
        "Company to hold annual meeting on Tuesday",
    ]
    x = embedder.encode(texts)
    proba = classifier.predict_proba(x)
    assert proba.shape == (3, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert (proba >= 0).all()
    assert classifier.predict_proba(x[0]).shape == (1, 3)

    votes = classifier.predict(x)
    assert len(votes) == 3
    bull, bear = CLASSES.index("bullish"), CLASSES.index("bearish")
    for vote, p in zip(votes, proba, strict=True):
        assert vote.label == CLASSES[int(np.argmax(p))]
        assert vote.score == pytest.approx(p[bull] - p[bear], abs=1e-6)
        assert vote.confidence == pytest.approx(p.max(), abs=1e-6)
    assert votes[0].score > 0 > votes[1].score

    with pytest.raises(ValueError):
        classifier.predict_proba(np.zeros((2, 10), dtype=np.float32))


def test_twitter_split_is_deterministic_and_stratified(shared_data: Path) -> None:
    train, held = twitter_split(13)
    assert (train, held) == twitter_split(13)
    assert not set(train) & set(held)
    assert len(train) + len(held) == len(load_twitter_financial_news())
    assert abs(len(held) / (len(train) + len(held)) - 0.15) < 0.005
    assert twitter_split(14)[1] != held


def test_classifier_held_out_weighted_f1(classifier, embedder, shared_data: Path) -> None:
    from sklearn.metrics import f1_score

    rows = load_twitter_financial_news()
    # Recompute exactly the split the artifact was scored on, from the seed it records.
    _, held = twitter_split(classifier.metadata["seed"])
    sample = random.Random(HELD_OUT_SAMPLE_SEED).sample(held, HELD_OUT_SAMPLE)
    x = embedder.encode([rows[i].text for i in sample])
    predicted = [vote.label for vote in classifier.predict(x)]
    expected = [rows[i].label for i in sample]
    weighted_f1 = f1_score(expected, predicted, average="weighted")
    assert weighted_f1 >= MIN_WEIGHTED_F1, f"weighted F1 {weighted_f1:.3f} < {MIN_WEIGHTED_F1}"
