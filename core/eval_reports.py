"""The reports `newsdesk eval ...` writes as JSON: a key is defined here once, for the eval that
fills it, the tables and comparisons that print it and the tests that read it back.

Two rules shape every model:

- **Optional keys.** A field with a default is a key only some runs have (the LLM's tokens when
  the LLM was asked, the verifier's numbers when the verifier ran, the horizon of a single
  dataset). `EvalReport.to_json` writes only the fields the eval set, in the constructor or by
  assignment (``exclude_unset``), so a file carries exactly the keys the eval produced, and a
  ``null`` the eval set (no asset named, no lift without a rest group) is still written.
  Required fields are always written; a report read back and written again keeps its keys.
- **Headline numbers.** Fields made with `headline()` are the columns of the printed tables and
  of the HTML page, and what ``--compare`` compares; nothing else lists them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic_core import PydanticUndefined


def headline(default: Any = PydanticUndefined) -> Any:
    """A headline number: a table column, compared by ``--compare``. Required unless given a
    default."""
    return Field(default, json_schema_extra={"headline": True})


class Scores(BaseModel):
    """A row of numbers that prints as one line of a table."""

    @classmethod
    def headline_fields(cls) -> list[str]:
        return [
            name
            for name, info in cls.model_fields.items()
            if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("headline")
        ]

    def headline_numbers(self) -> dict[str, Any]:
        """The headline numbers this row carries, in field order (optional ones where set)."""
        return {
            name: getattr(self, name)
            for name in self.headline_fields()
            if name in self.model_fields_set
        }


def all_headline_fields() -> frozenset[str]:
    """Every field any eval model marks as a headline number (the HTML page reads reports of any
    version as plain JSON and picks their columns with this)."""
    found: set[str] = set()
    models: list[type[Scores]] = [Scores]
    while models:
        model = models.pop()
        found.update(model.headline_fields())
        models.extend(model.__subclasses__())
    return frozenset(found)


class EvalReport(Scores):
    """What every eval report has: the data it read and, after ``--compare``, the changes."""

    data: str
    compared_with: list[str] = Field(default_factory=list)

    def rows(self) -> dict[str, Scores]:
        """The main table: one row for the whole report unless the eval has several members."""
        return {"all": self}

    def breakdowns(self) -> list[tuple[str, dict[str, Scores]]]:
        """Further tables (per dataset, per horizon, per type), each with its title."""
        return []

    def to_dict(self) -> dict[str, Any]:
        """The report as its JSON file holds it."""
        return self.model_dump(mode="json", exclude_unset=True)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_unset=True)


# --- shared scores ------------------------------------------------------------------------


class PrecisionRecall(Scores):
    precision: float = headline()
    recall: float = headline()
    f1: float = headline()


class PrecisionRecallCounts(PrecisionRecall):
    """Precision, recall and F1 with the counts they came from."""

    tp: int
    fp: int
    fn: int


# --- eval sentiment -----------------------------------------------------------------------


class Confusion(BaseModel):
    labels: list[str]
    matrix: list[list[int]]  # rows: gold label, columns: predicted label


class Classification(Scores):
    n: int = headline()
    accuracy: float = headline()
    weighted_f1: float = headline()
    macro_f1: float = headline()
    confusion: Confusion


class SentimentRow(Classification):
    """One analyzer: a member has its failures and speed, the ensemble its mean confidence and
    the members it combined."""

    failures: int | None = headline(None)
    latency_ms_per_item: float | None = headline(None)
    mean_confidence: float | None = None
    members: list[str] | None = None


class SentimentReport(EvalReport):
    split: str
    n: int
    analyzers: dict[str, SentimentRow]
    llm_tokens_per_item: float | None = None  # only when the LLM was asked

    def rows(self) -> dict[str, Scores]:
        return dict(self.analyzers)


# --- eval pairs ---------------------------------------------------------------------------


class PairScores(Scores):
    """How well cosine similarity alone separates duplicate from distinct pairs."""

    n: int = headline()
    positives: int
    auc: float = headline()
    muddy_middle: float = headline()
    threshold: float = headline()
    unique_threshold: float
    f1_at_threshold: float = headline()
    best_f1: float = headline()
    best_threshold: float = headline()


class VerifierScores(Scores):
    """The pair verifier alone, and the desk as it decides (cosine cuts, the verifier in the
    gray zone). Optional because a pairs report has these keys only when the verifier ran."""

    verifier_auc: float | None = headline(None)
    verifier_gray_auc: float | None = None  # null when the gray zone holds one class only
    verifier_f1_at_cut: float | None = None
    verifier_best_f1: float | None = headline(None)
    verifier_best_cut: float | None = None
    verifier_same_cut: float | None = None
    verifier_distinct_cut: float | None = None
    verifier_call_share: float | None = headline(None)
    muddy_middle_after_verifier: float | None = headline(None)
    desk_precision: float | None = headline(None)
    desk_recall: float | None = headline(None)
    desk_f1: float | None = headline(None)
    verifier_ms_per_pair: float | None = None


class PairsReport(EvalReport, VerifierScores, PairScores):
    model: str
    latency_ms_per_pair: float = headline()
    llm_tokens_per_item: int = headline()
    verifier_model: str | None = None
    plot: str | None = None


# --- eval stream --------------------------------------------------------------------------


class VerdictCounts(BaseModel):
    duplicate: int
    related: int
    unique: int


class StreamReport(EvalReport, PrecisionRecall):
    n: int = headline()
    groups: int
    verdicts: VerdictCounts
    verifier_calls: int = headline()
    llm_calls_saved: int = headline()
    threshold: float = headline()
    unique_threshold: float
    latency_ms_per_item: float = headline()
    llm_tokens_per_item: int = headline()


# --- eval impact --------------------------------------------------------------------------


class LiftScores(Scores):
    """Moves after widen posts against the rest; None where a group is empty."""

    n: int = headline()
    n_widen: int = headline()
    n_rest: int = headline()
    mean_abs_move_widen: float | None = headline()
    mean_abs_move_rest: float | None = headline()
    lift: float | None = headline()
    lift_ci95: list[float] | None = headline()


class ImpactHorizon(LiftScores):
    skipped_no_price: int = headline()


class ImpactItem(BaseModel):
    """One post: what the graph said and the moves that followed (bps, per horizon)."""

    id: str
    time: str
    text: str
    verdict: str
    route: str | None
    widen: bool
    asset_bps: float
    max_bps: float
    events: list[str]
    move_bps: dict[str, float | None]


class ImpactDataset(ImpactHorizon):
    """One dataset: its headline horizon's numbers, every horizon, every post."""

    data: str
    horizon: str
    asset: str | None
    n_items: int
    verdicts: dict[str, int]
    n_material: int
    latency_ms_per_item: float = headline()
    llm_tokens_per_item: float = headline()
    horizons: dict[str, ImpactHorizon]
    items: list[ImpactItem]


class Bootstrap(BaseModel):
    resamples: int
    seed: int
    interval: str


class ImpactReport(EvalReport, ImpactHorizon):
    """One dataset: its numbers in bps and what it says about itself (horizon, asset, verdicts,
    n_material). Several: the pooled numbers in `move_unit`, without those four keys."""

    move_unit: str
    latency_ms_per_item: float = headline()
    llm_tokens_per_item: float = headline()
    horizon: str | None = None
    asset: str | None = None
    verdicts: dict[str, int] | None = None
    n_material: int | None = None
    n_items: int
    widen_definition: str
    material_bps: float
    llm: bool
    bootstrap: Bootstrap
    datasets: dict[str, ImpactDataset]

    def breakdowns(self) -> list[tuple[str, dict[str, Scores]]]:
        if not self.datasets:
            return []
        tables: list[tuple[str, dict[str, Scores]]] = [("per dataset", dict(self.datasets))]
        horizons: dict[str, Scores] = {
            f"{name} {h}": row for name, d in self.datasets.items() for h, row in d.horizons.items()
        }
        if len(horizons) > len(self.datasets):
            tables.append(("per dataset and horizon", horizons))
        return tables


# --- eval events --------------------------------------------------------------------------


class EventTypeScores(PrecisionRecallCounts):
    support: int  # gold sentences of this type


class EventScores(Scores):
    """Any-event detection, then per-type scores averaged micro and macro."""

    n: int = headline()
    with_event: int
    any_precision: float = headline()
    any_recall: float = headline()
    any_f1: float = headline()
    micro_precision: float
    micro_recall: float
    micro_f1: float = headline()
    macro_precision: float
    macro_recall: float
    macro_f1: float = headline()
    per_type: dict[str, EventTypeScores]


class EventsSplit(BaseModel):
    evaluated_on: str
    seed: int
    sample_seed: int
    test_fraction: float
    train_rows: int
    test_rows: int
    method: str
    note: str


class EventsReport(EvalReport, EventScores):
    split: EventsSplit
    unscored_gold_types: list[str]
    latency_ms_per_item: float = headline()
    llm_tokens_per_item: int = headline()

    def breakdowns(self) -> list[tuple[str, dict[str, Scores]]]:
        return [("per event type", dict(self.per_type))]


# --- eval tagging -------------------------------------------------------------------------


class TaggingMiss(BaseModel):
    text: str
    gold: list[str]
    tagged: list[str]


class TaggingDataset(PrecisionRecallCounts):
    data: str
    n: int = headline()
    eligible: int
    gold: str
    cashtag_mode: str | None  # null where the gold is a column, not the cashtags
    precision_with_topics: float = headline()
    recall_with_topics: float
    latency_ms_per_item: float = headline()
    llm_tokens_per_item: int = headline()
    misses: list[TaggingMiss]


class TaggingReport(EvalReport, PrecisionRecall):
    n: int = headline()
    latency_ms_per_item: float = headline()
    llm_tokens_per_item: int = headline()
    path: str
    datasets: dict[str, TaggingDataset]
    not_evaluated: dict[str, str]

    def breakdowns(self) -> list[tuple[str, dict[str, Scores]]]:
        return [("per dataset", dict(self.datasets))] if self.datasets else []
