"""What the nodes need, built once per process and handed to each node factory.

The models (embedder, sentiment classifier, pair verifier) and the news index built from them
load on first use: a process that only lists or decides approvals never pays for them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.settings import Settings
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


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    """What every node gets. The models and the index are methods, not attributes: they load
    on the first call, and LangGraph's compile, which follows the attribute chains in a node's
    code looking for subgraphs, would load a lazy attribute at compile time."""

    settings: Settings
    store: Store
    catalog: AssetCatalog
    lexicon: LexiconSentiment
    llm: LLMClient | None
    notifier: Notifier
    publisher: OverridePublisher
    # The server's clock: approval expiry and override windows are judged on it.
    clock: Callable[[], datetime] = field(default=utc_now)
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)
    _loading: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def embedder(self) -> Embedder:
        settings = self.settings
        return self._load(
            "embedder",
            lambda: get_embedder(settings.embedding_model, settings.embedding_batch_size),
        )

    def index(self) -> NewsIndex:
        window = timedelta(minutes=self.settings.dedup_window_minutes)
        # The embedder first: loading the index asks it for its dimension.
        dimension = self.embedder().dimension
        return self._load("index", lambda: load_index(self.store, dimension, window))

    def classifier(self) -> SentimentClassifier:
        return self._load("classifier", lambda: load_classifier(self.settings))

    def verifier(self) -> PairVerifier | None:
        """Reads gray-zone pairs jointly; None when dedup_verifier is "none"."""
        if self.settings.dedup_verifier == "none":
            return None
        return self._load("verifier", lambda: get_pair_verifier(self.settings.dedup_verifier_model))

    def load_models(self) -> None:
        """Load now what the graph would load on its first item (a worker, before it pulls)."""
        self.index()  # the embedder with it
        self.classifier()
        self.verifier()

    def llm_for(self, node: str) -> LLMClient | None:
        """The LLM client when this node is configured to use it, else None."""
        if self.llm is not None and self.settings.llm_enabled_for(node):
            return self.llm
        return None

    def _load(self, name: str, load: Callable[[], Any]) -> Any:
        with self._loading:
            if name not in self._loaded:
                self._loaded[name] = load()
            return self._loaded[name]


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


def check_classifier_settings(settings: Settings) -> None:
    """Refuse a classifier that cannot read the configured embeddings at start-up, not per item."""
    if settings.sentiment_classifier == "embedding-logreg" and settings.embedding_model:
        # Same dimension, different space: the regression would answer, wrongly, on every item.
        raise ValueError(
            "sentiment_classifier=embedding-logreg reads the base MiniLM embedding space, but "
            f"embedding_model is {settings.embedding_model!r}; use minilm-lora (it reads the "
            "text itself) or retrain the regression with `python -m evals.train_sentiment`"
        )


def load_classifier(settings: Settings) -> SentimentClassifier:
    """The configured sentiment classifier."""
    check_classifier_settings(settings)
    if settings.sentiment_classifier == "minilm-lora":
        from tools.sentiment_model import get_sentiment_model

        return get_sentiment_model(settings.sentiment_adapter)
    return EmbeddingSentimentClassifier.load()


def build_deps(settings: Settings, llm: LLMClient | None = None, migrate: bool = True) -> Deps:
    check_classifier_settings(settings)
    store = Store(settings.resolved_database_url)
    if migrate:
        store.migrate()
    if llm is None and settings.llm_provider != "none":
        llm = LLMClient(settings.llm_config)
    return Deps(
        settings=settings,
        store=store,
        catalog=AssetCatalog.load(),
        lexicon=LexiconSentiment(),
        llm=llm,
        notifier=build_notifier(settings),
        publisher=build_publisher(settings.nats_url, settings.nats_subject),
    )
