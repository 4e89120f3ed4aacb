"""`newsdesk eval sentiment`: every member of the sentiment ensemble on a labelled file.

Each analyzer is reported on its own and as the ensemble the graph uses, so a strong member can
never hide a weak one. The analyzers are the generations the desk went through: a hand-written
lexicon, a logistic regression on the dedup embedding (``embedding_logreg``), the configured
classifier (the fine-tuned MiniLM by default) and the LLM.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from core.eval_reports import Classification, Confusion, SentimentReport, SentimentRow
from core.records import SentimentLabel, SentimentVote
from core.settings import Settings
from evals.tables import field, read_rows, sentiment_label
from graph.deps import load_classifier
from graph.nodes.sentiment import MEMBER_WEIGHTS, SentimentAnswer, clamp_answer
from prompts import load_prompt, node_prompt
from tools.embeddings import get_embedder
from tools.ensemble import LABELS, combine
from tools.lexicon import LexiconSentiment
from tools.llm import LLMClient, LLMError
from tools.sentiment_classifier import EmbeddingSentimentClassifier

ANALYZERS = ("lexicon", "embedding_logreg", "classifier", "llm", "ensemble")
# The ensemble is what the graph runs: its members are the graph's, never embedding_logreg
# (unless it is the configured classifier).
ENSEMBLE_MEMBERS = ("lexicon", "classifier", "llm")


def classification_metrics(gold: Sequence[str], predicted: Sequence[str]) -> Classification:
    return Classification(
        n=len(gold),
        accuracy=round(float(accuracy_score(gold, predicted)), 4),
        weighted_f1=round(
            float(
                f1_score(gold, predicted, average="weighted", labels=list(LABELS), zero_division=0)
            ),
            4,
        ),
        macro_f1=round(
            float(f1_score(gold, predicted, average="macro", labels=list(LABELS), zero_division=0)),
            4,
        ),
        confusion=Confusion(
            labels=list(LABELS),
            matrix=confusion_matrix(gold, predicted, labels=list(LABELS)).tolist(),
        ),
    )


def held_out_indices(split: str) -> list[int]:
    """Rows the committed models never trained on, for the files they were trained from."""
    from evals.datasets import fpb_split, twitter_split

    if split == "twitter-heldout":
        return twitter_split()[1]
    if split == "fpb-heldout":
        # Indices into the agreement>=50 rows, which is every row of fpb_dev.csv.
        return fpb_split()[1]
    raise ValueError(f"unknown split {split!r}: twitter-heldout or fpb-heldout")


def evaluate_sentiment(
    data: Path,
    text_field: str,
    label_field: str,
    settings: Settings,
    analyzers: Sequence[str] = ANALYZERS,
    limit: int | None = None,
    label_map: dict[str, SentimentLabel] | None = None,
    numeric: bool = False,
    llm: LLMClient | None = None,
    progress: Callable[[int, int], None] | None = None,
    split: str | None = None,
) -> SentimentReport:
    rows = read_rows(data, limit, keep=held_out_indices(split) if split else None)
    texts = [str(field(r, text_field)) for r in rows]
    gold = [sentiment_label(field(r, label_field), label_map, numeric=numeric) for r in rows]
    unknown = set(analyzers) - set(ANALYZERS)
    if unknown:
        raise ValueError(f"unknown analyzers {sorted(unknown)}; choose from {ANALYZERS}")
    members = [a for a in analyzers if a != "ensemble"]
    if "ensemble" in analyzers:
        # The ensemble needs the non-LLM members; the LLM joins only when asked for (slow).
        members = sorted(set(members) | {"lexicon", "classifier"})
    votes: dict[str, list[SentimentVote | None]] = {}
    seconds: dict[str, float] = {}

    if "lexicon" in members:
        lexicon = LexiconSentiment()
        started = time.perf_counter()
        votes["lexicon"] = [lexicon.score(t) for t in texts]
        seconds["lexicon"] = time.perf_counter() - started
    if "embedding_logreg" in members:
        # Always on the base MiniLM: the space the regression was trained in.
        embedder = get_embedder("", settings.embedding_batch_size)
        regression = EmbeddingSentimentClassifier.load()
        started = time.perf_counter()
        vectors = embedder.encode(texts, show_progress=True)
        votes["embedding_logreg"] = list(regression.predict(vectors))
        seconds["embedding_logreg"] = time.perf_counter() - started
    if "classifier" in members:
        classifier = load_classifier(settings)
        started = time.perf_counter()
        vectors = None
        if classifier.reads_embeddings:
            embedder = get_embedder(settings.embedding_model, settings.embedding_batch_size)
            vectors = embedder.encode(texts, show_progress=True)
        votes["classifier"] = list(classifier.classify(texts, vectors))
        seconds["classifier"] = time.perf_counter() - started
    if "llm" in members:
        client = llm or LLMClient(settings.llm_config)
        started = time.perf_counter()
        answers: list[SentimentVote | None] = []
        for done, text in enumerate(texts, 1):
            try:
                answers.append(
                    clamp_answer(
                        client.structured(
                            load_prompt("system"),
                            text,
                            node_prompt("sentiment", SentimentAnswer),
                            SentimentAnswer,
                        )
                    )
                )
            except LLMError:
                answers.append(None)  # counted as a failure, scored as neutral
            if progress:
                progress(done, len(texts))
        votes["llm"] = answers
        seconds["llm"] = time.perf_counter() - started

    by_analyzer: dict[str, SentimentRow] = {}
    for name, member_votes in votes.items():
        if name not in analyzers:
            continue
        predicted = [v.label if v else "neutral" for v in member_votes]
        by_analyzer[name] = SentimentRow(
            **classification_metrics(gold, predicted).model_dump(),
            failures=sum(v is None for v in member_votes),
            latency_ms_per_item=round(1000 * seconds[name] / max(len(rows), 1), 2),
        )
    if "ensemble" in analyzers:
        in_graph = [n for n in ENSEMBLE_MEMBERS if n in votes]
        combined = [
            combine({n: votes[n][i] for n in in_graph if votes[n][i] is not None}, MEMBER_WEIGHTS)
            for i in range(len(rows))
        ]
        by_analyzer["ensemble"] = SentimentRow(
            **classification_metrics(gold, [c.label for c in combined]).model_dump(),
            mean_confidence=round(float(np.mean([c.confidence for c in combined])), 4),
            members=sorted(in_graph),
        )
    report = SentimentReport(
        data=str(data), split=split or "all rows", n=len(rows), analyzers=by_analyzer
    )
    if "llm" in votes:
        usage = (llm or client).usage
        report.llm_tokens_per_item = round(
            (usage.input_tokens + usage.output_tokens) / max(len(rows), 1), 1
        )
    return report
