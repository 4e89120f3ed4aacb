"""`newsdesk eval impact`: are the posts the graph says "widen" followed by larger moves?

Every post goes through the real news graph (normalize -> ... -> spread_recommendation) in time
order, in a throwaway store. A post is flagged **widen** when the graph routes it material (some
asset's recommendation reaches NEWSDESK_MATERIAL_BPS, the trader-approval threshold) and, when
the dataset names the priced asset (`--asset`), that asset is among its recommendations with
widen_bps > 0: widening BTC says nothing about the DOGE price being measured. Everything else
(routine, duplicates, a material story about another asset) is **rest**.

The realised move of a post is |price after / price before - 1| in basis points:
- minute prices (`--prices`): "before" is the last bar close known at the post time (a bar
  stamped with its start is known when it ends, so there is no look-ahead), "after" the last
  close known at post time + horizon. A post with no bar within `max_staleness` of either
  instant (outside the price windows, a gap in the data) is skipped and counted.
- prices in the post's own row (`--entry-price-field`, `--exit-price-field`), e.g. the Trump
  set's SPY close at the post minute and the same day's close: one horizon, named by the field.

lift = mean move after widen posts / mean move after the rest, with a seeded bootstrap 95%
interval (both groups resampled with replacement).
"""

from __future__ import annotations

import tempfile
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from core.eval_reports import (
    Bootstrap,
    ImpactDataset,
    ImpactHorizon,
    ImpactItem,
    ImpactReport,
    LiftScores,
)
from core.records import NewsItem
from core.settings import Settings
from evals.datasets import shared_data_dir
from evals.tables import field as row_field
from evals.tables import read_rows

BOOTSTRAP_RESAMPLES = 2000
SEED = 13
# The desk's recommendations last ~30-45 minutes (default_horizon_minutes x (0.5 + urgency)),
# so the headline horizon is 30 minutes; the first horizon listed is the headline one.
DEFAULT_HORIZONS = (30, 15, 5)
WIDEN_DEFINITION = (
    "route == material (some recommendation >= material_bps) and, when an asset is named, "
    "that asset has a recommendation with widen_bps > 0"
)

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ImpactSource:
    """One dataset: the posts, who wrote them, and where their prices come from."""

    name: str
    data: Path
    text_field: str
    time_field: str
    id_field: str | None = None
    author: str | None = None
    source: str = "eval"
    asset: str | None = None
    prices: Path | None = None
    price_time_field: str = "timestamp"
    price_field: str = "close"
    bar_minutes: float = 1.0
    max_staleness_minutes: float = 2.0
    entry_price_field: str | None = None
    exit_price_field: str | None = None
    naive_time_zone: str = "UTC"

    def __post_init__(self) -> None:
        in_row = self.entry_price_field is not None and self.exit_price_field is not None
        if (self.prices is None) == (not in_row):
            raise ValueError(
                f"{self.name}: give either a price file (--prices) or both "
                "--entry-price-field and --exit-price-field"
            )


def preset_sources(names: Sequence[str], root: Path | None = None) -> list[ImpactSource]:
    """The shared sets, read as their READMEs describe them."""
    root = root or shared_data_dir()
    musk = root / "musk_crypto_tweets_doge_minute"
    trump = root / "trump_truthsocial_spy_2025"
    presets = {
        # Tweet times to the minute, already converted from Berlin time to UTC by the README's
        # rule (`datetime_utc`); Binance DOGE/USDT bars are stamped with their UTC minute start.
        "musk": ImpactSource(
            name="musk",
            data=musk / "elon_crypto_tweets_utc.csv",
            text_field="tweet",
            time_field="datetime_utc",
            id_field="No",
            author="elonmusk",
            source="x",
            asset="DOGE",
            prices=musk / "dogeusdt_1m_event_windows.csv",
            price_time_field="timestamp_utc",
            price_field="close",
        ),
        # Only daily prices after a post exist: the move runs from the close of the SPY minute
        # candle containing the post (`post_price`) to the same day's close (`close_same`).
        # Created_ET carries its New York offset, so no zone guessing.
        "trump": ImpactSource(
            name="trump",
            data=trump / "tomt_price_full.csv",
            text_field="Text",
            time_field="Created_ET",
            id_field="Tweet_ID",
            author="realDonaldTrump",
            source="truthsocial",
            asset="SPY",
            entry_price_field="post_price",
            exit_price_field="close_same",
        ),
    }
    unknown = set(names) - set(presets)
    if unknown:
        raise ValueError(f"unknown presets {sorted(unknown)}; choose from {sorted(presets)}")
    return [presets[n] for n in names]


def parse_instant(value: Any, naive_zone: tzinfo = UTC) -> datetime:
    """ISO 8601 (offset honoured; naive read in `naive_zone`) or epoch s/ms, returned in UTC."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=naive_zone)
        return parsed.astimezone(UTC)
    return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)


class PriceSeries:
    """Bar closes, each known from the moment its bar ends, looked up "as of" an instant."""

    def __init__(
        self, known_at: Sequence[datetime], prices: Sequence[float], max_staleness: timedelta
    ) -> None:
        order = sorted(range(len(known_at)), key=lambda i: known_at[i])
        self._times = [known_at[i] for i in order]
        self._prices = [float(prices[i]) for i in order]
        self.max_staleness = max_staleness

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[dict[str, Any]],
        time_field: str,
        price_field: str,
        bar_minutes: float = 1.0,
        max_staleness_minutes: float = 2.0,
        naive_zone: tzinfo = UTC,
    ) -> PriceSeries:
        bar = timedelta(minutes=bar_minutes)
        known_at = [parse_instant(row_field(r, time_field), naive_zone) + bar for r in rows]
        prices = [float(row_field(r, price_field)) for r in rows]
        return cls(known_at, prices, timedelta(minutes=max_staleness_minutes))

    def _index(self, when: datetime) -> int | None:
        i = bisect_right(self._times, when) - 1
        if i < 0 or when - self._times[i] > self.max_staleness:
            return None
        return i

    def at(self, when: datetime) -> float | None:
        """The last close known at `when`, or None when there is no fresh enough bar."""
        i = self._index(when)
        return None if i is None else self._prices[i]

    def move_bps(self, start: datetime, minutes: float) -> float | None:
        """|close at start + minutes / close at start - 1| in bps; None without both bars."""
        i, j = self._index(start), self._index(start + timedelta(minutes=minutes))
        # The same bar at both ends means a gap in the data, not a flat market.
        if i is None or j is None or j <= i or self._prices[i] <= 0:
            return None
        return abs(self._prices[j] / self._prices[i] - 1) * 1e4


def in_row_move_bps(row: dict[str, Any], entry_field: str, exit_field: str) -> float | None:
    try:
        entry, exit_ = float(row_field(row, entry_field)), float(row_field(row, exit_field))
    except (TypeError, ValueError):
        return None  # an empty cell: no price for this post
    if entry <= 0 or exit_ != exit_ or entry != entry:
        return None
    return abs(exit_ / entry - 1) * 1e4


def lift_with_ci(
    widen: Sequence[float],
    rest: Sequence[float],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
) -> tuple[float | None, list[float] | None]:
    """mean(widen) / mean(rest) and a percentile bootstrap 95% interval, seeded."""
    if not widen or not rest or float(np.mean(rest)) <= 0:
        return None, None
    w, r = np.asarray(widen, dtype=float), np.asarray(rest, dtype=float)
    rng = np.random.default_rng(seed)
    w_means = rng.choice(w, size=(resamples, len(w)), replace=True).mean(axis=1)
    r_means = rng.choice(r, size=(resamples, len(r)), replace=True).mean(axis=1)
    ok = r_means > 0  # a resample of all-zero rest moves has no ratio
    low, high = np.percentile(w_means[ok] / r_means[ok], [2.5, 97.5])
    return round(float(w.mean() / r.mean()), 4), [round(float(low), 4), round(float(high), 4)]


def group_report(
    moves: Sequence[float], widen: Sequence[bool], resamples: int, seed: int
) -> LiftScores:
    """The headline numbers for one set of (move, widen?) pairs."""
    w = [m for m, flag in zip(moves, widen, strict=True) if flag]
    r = [m for m, flag in zip(moves, widen, strict=True) if not flag]
    lift, ci = lift_with_ci(w, r, resamples, seed)
    return LiftScores(
        n=len(moves),
        n_widen=len(w),
        n_rest=len(r),
        mean_abs_move_widen=round(float(np.mean(w)), 3) if w else None,
        mean_abs_move_rest=round(float(np.mean(r)), 3) if r else None,
        lift=lift,
        lift_ci95=ci,
    )


@dataclass
class GraphRead:
    """What the graph said about one post."""

    item_id: str
    text: str
    verdict: str
    route: str | None
    widen: bool
    asset_bps: float
    max_bps: float
    latency_ms: float
    events: list[str] = field(default_factory=list)


@contextmanager
def throwaway_runner(settings: Settings, with_llm: bool) -> Iterator[Any]:
    """The real graph over a scratch store: the eval never reads or writes the desk's history,
    never posts to Slack and never publishes overrides."""
    from langgraph.checkpoint.memory import InMemorySaver

    from graph.runner import open_runner
    from tools.checkpoints import state_serializer

    with tempfile.TemporaryDirectory() as scratch:
        update: dict[str, Any] = {
            "data_dir": Path(scratch),
            "database_url": "",
            "checkpoint_url": "",
            "slack_bot_token": "",
            "slack_channel": "",
            "nats_url": "",
        }
        if not with_llm:
            update["llm_provider"] = "none"
        with open_runner(
            settings.model_copy(update=update),
            checkpointer=InMemorySaver(serde=state_serializer()),
        ) as runner:
            yield runner


def read_post(
    outcome: Any, item: NewsItem, asset: str | None, urgency_events: list[str]
) -> GraphRead:
    recs = outcome.recommendations
    asset_bps = max((r.widen_bps for r in recs if r.symbol == asset), default=0.0)
    material = outcome.route == "material"
    return GraphRead(
        item_id=item.id,
        text=item.body[:100],
        verdict=outcome.verdict,
        route=outcome.route,
        widen=material and (asset is None or asset_bps > 0),
        asset_bps=float(asset_bps),
        max_bps=float(max((r.widen_bps for r in recs), default=0.0)),
        latency_ms=outcome.latency_ms,
        events=urgency_events,
    )


def run_posts(
    source: ImpactSource,
    rows: Sequence[dict[str, Any]],
    times: Sequence[datetime],
    settings: Settings,
    with_llm: bool,
    progress: ProgressFn | None = None,
) -> tuple[list[GraphRead], int]:
    """Each post through the graph in time order; returns the reads and the LLM tokens used."""
    from graph.runner import graph_config

    reads: list[GraphRead] = []
    with throwaway_runner(settings, with_llm) as runner:
        for done, (row, when) in enumerate(zip(rows, times, strict=True), 1):
            raw_id = row_field(row, source.id_field) if source.id_field else done
            item = NewsItem(
                id=f"{source.name}-{raw_id}",
                source=source.source,
                author=source.author,
                text=str(row_field(row, source.text_field) or ""),
                published_at=when,
            )
            outcome = runner.process(item, source.name)
            state = runner.graph.get_state(graph_config(item.id))
            urgency = state.values.get("urgency") if state else None
            events = list(getattr(urgency, "events", []))
            reads.append(read_post(outcome, item, source.asset, events))
            if progress:
                progress(source.name, done, len(rows))
        usage = runner.deps.llm.usage if runner.deps.llm else None
        tokens = (usage.input_tokens + usage.output_tokens) if usage else 0
    return reads, tokens


def horizon_names(source: ImpactSource, horizons: Sequence[int]) -> list[str]:
    if source.prices is None:
        return [str(source.exit_price_field)]
    return [f"{h}m" for h in horizons]


def realised_moves(
    source: ImpactSource,
    rows: Sequence[dict[str, Any]],
    times: Sequence[datetime],
    horizons: Sequence[int],
) -> dict[str, list[float | None]]:
    """Per horizon name, each post's move in bps (None where the prices do not cover it)."""
    if source.prices is None:
        entry, exit_ = str(source.entry_price_field), str(source.exit_price_field)
        return {exit_: [in_row_move_bps(r, entry, exit_) for r in rows]}
    series = PriceSeries.from_rows(
        read_rows(source.prices),
        source.price_time_field,
        source.price_field,
        source.bar_minutes,
        source.max_staleness_minutes,
        ZoneInfo(source.naive_time_zone),
    )
    return {f"{h}m": [series.move_bps(t, h) for t in times] for h in horizons}


# A dataset's scored (move, widen?) pairs at one horizon, unrounded: the headline one is pooled.
ScoredMoves = list[tuple[float, bool]]


def evaluate_source(
    source: ImpactSource,
    settings: Settings,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    limit: int | None = None,
    with_llm: bool = False,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
    progress: ProgressFn | None = None,
) -> tuple[ImpactDataset, ScoredMoves]:
    zone = ZoneInfo(source.naive_time_zone)
    rows = read_rows(source.data, limit, seed)
    times = [parse_instant(row_field(r, source.time_field), zone) for r in rows]
    order = sorted(range(len(rows)), key=lambda i: times[i])  # the desk reads a stream in order
    rows, times = [rows[i] for i in order], [times[i] for i in order]
    reads, tokens = run_posts(source, rows, times, settings, with_llm, progress)
    moves = realised_moves(source, rows, times, horizons)
    names = horizon_names(source, horizons)

    by_horizon: dict[str, ImpactHorizon] = {}
    scored_by_horizon: dict[str, ScoredMoves] = {}
    for name in names:
        # Rejected posts (nothing left after clean-up) were never read by the desk.
        scored = scored_by_horizon[name] = [
            (m, r.widen)
            for m, r in zip(moves[name], reads, strict=True)
            if m is not None and r.verdict != "rejected"
        ]
        one = group_report([m for m, _ in scored], [w for _, w in scored], resamples, seed)
        by_horizon[name] = ImpactHorizon(
            **one.model_dump(),
            skipped_no_price=sum(
                m is None
                for m, r in zip(moves[name], reads, strict=True)
                if r.verdict != "rejected"
            ),
        )

    verdicts: dict[str, int] = {}
    for r in reads:
        verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
    headline = names[0]
    dataset = ImpactDataset(
        **by_horizon[headline].model_dump(),
        data=str(source.data),
        horizon=headline,
        asset=source.asset,
        n_items=len(rows),
        verdicts=verdicts,
        n_material=sum(r.route == "material" for r in reads),
        latency_ms_per_item=round(float(np.mean([r.latency_ms for r in reads])), 2)
        if reads
        else 0.0,
        llm_tokens_per_item=round(tokens / max(len(rows), 1), 1),
        horizons=by_horizon,
        items=[
            ImpactItem(
                id=r.item_id,
                time=t.isoformat(),
                text=r.text,
                verdict=r.verdict,
                route=r.route,
                widen=r.widen,
                asset_bps=r.asset_bps,
                max_bps=r.max_bps,
                events=r.events,
                move_bps={n: None if moves[n][i] is None else round(moves[n][i], 2) for n in names},
            )
            for i, (t, r) in enumerate(zip(times, reads, strict=True))
        ],
    )
    return dataset, scored_by_horizon[headline]


def pooled(moves_by_dataset: Sequence[ScoredMoves], resamples: int, seed: int) -> LiftScores:
    """All datasets together, each move divided by its dataset's mean move: a DOGE half hour and
    an SPY afternoon differ in scale, and raw bps would let the wilder market decide the lift."""
    moves: list[float] = []
    flags: list[bool] = []
    for pairs in moves_by_dataset:
        scale = float(np.mean([m for m, _ in pairs])) if pairs else 0.0
        if scale <= 0:
            continue
        moves.extend(m / scale for m, _ in pairs)
        flags.extend(w for _, w in pairs)
    return group_report(moves, flags, resamples, seed)


def evaluate_impact(
    sources: Sequence[ImpactSource],
    settings: Settings,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    limit: int | None = None,
    with_llm: bool = False,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
    progress: ProgressFn | None = None,
) -> ImpactReport:
    if not horizons or any(h <= 0 for h in horizons):
        raise ValueError("horizons must be positive minutes")
    evaluated = {
        s.name: evaluate_source(s, settings, horizons, limit, with_llm, resamples, seed, progress)
        for s in sources
    }
    datasets = {name: dataset for name, (dataset, _) in evaluated.items()}
    n_items = sum(d.n_items for d in datasets.values())
    overall: dict[str, Any]
    if len(datasets) == 1:
        # One dataset: its own numbers in bps, with what it says about itself.
        (only,) = datasets.values()
        overall = only.model_dump(exclude={"data", "n_items", "horizons", "items"})
        overall["move_unit"] = "bps"
    else:
        overall = pooled([moves for _, moves in evaluated.values()], resamples, seed).model_dump()
        overall["move_unit"] = "multiple of each dataset's mean |move| at its headline horizon"
        overall["latency_ms_per_item"] = round(
            sum(d.latency_ms_per_item * d.n_items for d in datasets.values()) / max(n_items, 1),
            2,
        )
        overall["llm_tokens_per_item"] = round(
            sum(d.llm_tokens_per_item * d.n_items for d in datasets.values()) / max(n_items, 1),
            1,
        )
        overall["skipped_no_price"] = sum(d.skipped_no_price for d in datasets.values())
    return ImpactReport(
        **overall,
        data=", ".join(s.name for s in sources),
        n_items=n_items,
        widen_definition=WIDEN_DEFINITION,
        material_bps=settings.material_bps,
        llm=with_llm,
        bootstrap=Bootstrap(resamples=resamples, seed=seed, interval="percentile 95%"),
        datasets=datasets,
    )
