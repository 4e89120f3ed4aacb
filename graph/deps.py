"""What the nodes need, built once per process and handed to each node factory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from newsdesk.settings import Settings
from tools.bus import OverridePublisher, build_publisher
from tools.catalog import AssetCatalog
from tools.db import Store
from tools.embeddings import Embedder, get_embedder
from tools.lexicon import LexiconSentiment
from tools.llm import LLMClient
from tools.news_index import ExactIndex, NewsIndex
from tools.notify import LogNotifier, Notifier
from tools.pair_verifier import PairVerifier, get_pair_verifier
from tools.sentiment_classifier import EmbeddingSentimentClassifier, SentimentClassifier


@dataclass
class Deps:
    settings: Settings
    store: Store
    embedder: Embedder
    index: NewsIndex
    catalog: AssetCatalog
    lexicon: LexiconSentiment
    classifier: SentimentClassifier
    llm: LLMClient | None
    notifier: Notifier
    publisher: OverridePublisher
    # Reads gray-zone pairs jointly; None when dedup_verifier is "none".
    verifier: PairVerifier | None = None

    def llm_for(self, node: str) -> LLMClient | None:
        """The LLM client when this node is configured to use it, else None."""
        if self.llm is not None and self.settings.llm_enabled_for(node):
            return self.llm
        return None


def load_index(store: Store, dimension: int, window: timedelta) -> ExactIndex:
    """Rebuild the in-memory index from the database so dedup survives a restart."""
    index = ExactIndex(dimension, window)
    for row in store.indexed_embeddings(dimension=dimension):
        index.add(row.item_id, row.story_id, row.vector, row.published_at, row.verdict == "unique")
    return index


def build_notifier(settings: Settings) -> Notifier:
    """Slack when it is configured, else the log (stories wait in `newsdesk approvals`)."""
    if settings.slack_bot_token and settings.slack_channel:
        from tools.slack import SlackNotifier, slack_client

        client = slack_client(settings.slack_bot_token, settings.slack_api_url)
        return SlackNotifier(client, settings.slack_channel)
    return LogNotifier()


def build_classifier(settings: Settings) -> SentimentClassifier:
    """The configured sentiment classifier; a mismatch is refused at start-up, not per item."""
    if settings.sentiment_classifier == "minilm-lora":
        from tools.sentiment_model import get_sentiment_model

        return get_sentiment_model(settings.sentiment_adapter)
    if settings.embedding_model:
        # Same dimension, different space: the regression would answer, wrongly, on every item.
        raise ValueError(
            "sentiment_classifier=embedding-logreg reads the base MiniLM embedding space, but "
            f"embedding_model is {settings.embedding_model!r}; use minilm-lora (it reads the "
            "text itself) or retrain the regression with `python -m evals.train_sentiment`"
        )
    return EmbeddingSentimentClassifier.load()


def build_deps(settings: Settings, llm: LLMClient | None = None, migrate: bool = True) -> Deps:
    store = Store(settings.resolved_database_url)
    if migrate:
        store.migrate()
    embedder = get_embedder(settings.embedding_model, settings.embedding_batch_size)
    classifier = build_classifier(settings)
    if llm is None and settings.llm_provider != "none":
        llm = LLMClient(settings)
    return Deps(
        settings=settings,
        store=store,
        embedder=embedder,
        index=load_index(
            store, embedder.dimension, timedelta(minutes=settings.dedup_window_minutes)
        ),
        catalog=AssetCatalog.load(),
        lexicon=LexiconSentiment(),
        classifier=classifier,
        llm=llm,
        notifier=build_notifier(settings),
        publisher=build_publisher(settings.nats_url, settings.nats_subject),
        verifier=None
        if settings.dedup_verifier == "none"
        else get_pair_verifier(settings.dedup_verifier_model),
    )
